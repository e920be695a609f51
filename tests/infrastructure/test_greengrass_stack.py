"""Greengrass v2 in the synthesized template: the function may list, read and cancel deployments and nothing more
than CancelDeployment's dependent actions need; the status events reach the fleet queue with the alerts' delivery
guarantees and alarms; a policy that names no deployment gets none of it."""

from __future__ import annotations

from tests.conftest import IN_THE_CDK_WORKER
from tests.infrastructure.cfn import one, resources, statements

pytestmark = IN_THE_CDK_WORKER

PREFIX = "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}"


def by_sid(template: dict) -> dict[str, dict]:
    return {statement.get("Sid"): statement for statement in statements(template)}


def test_the_function_lists_reads_and_cancels_deployments_and_touches_only_greengrass_jobs(template):
    from rollout_guard_cdk.function import DEPLOYMENT_JOB_ID

    found = by_sid(template)

    assert found["ListDeployments"]["Action"] == ["greengrass:ListDeployments"]
    assert found["ListDeployments"]["Resource"] == "*"
    assert sorted(found["StopDeployments"]["Action"]) == ["greengrass:CancelDeployment", "greengrass:GetDeployment"]
    assert found["StopDeployments"]["Resource"] == (
        "arn:${AWS::Partition}:greengrass:${AWS::Region}:${AWS::AccountId}:deployments:*")
    assert sorted(found["DeploymentJobs"]["Action"]) == ["iot:CancelJob", "iot:DescribeJob", "iot:UpdateJob"]
    assert found["DeploymentJobs"]["Resource"] == f"{PREFIX}:job/{DEPLOYMENT_JOB_ID}"
    assert DEPLOYMENT_JOB_ID == "????????-????-????-????-????????????"  # a UUID's shape: no project job id fits
    assert sorted(found["DeploymentTargets"]["Action"]) == [
        "iot:DeleteThingShadow", "iot:DescribeThing", "iot:DescribeThingGroup", "iot:GetThingShadow",
        "iot:UpdateThingShadow"]
    assert sorted(found["DeploymentTargets"]["Resource"]) == [f"{PREFIX}:thing/*", f"{PREFIX}:thinggroup/*"]
    greengrass = [action for statement in statements(template) for action in statement["Action"]
                  if action.startswith("greengrass:")]
    assert sorted(greengrass) == ["greengrass:CancelDeployment", "greengrass:GetDeployment",
                                  "greengrass:ListDeployments"]


def test_the_status_events_reach_the_fleet_queue_with_retries_dead_letters_and_alarms(template):
    from rollout_guard.fleet.events import COMPONENT_STATUS, DEPLOYMENT_STATUS, GREENGRASS

    rule_id, rule = one(template, "AWS::Events::Rule", "GreengrassStatusRule")
    (target,) = rule["Targets"]
    queue_id, _ = one(template, "AWS::SQS::Queue", "FleetQueue")
    errors_id, _ = one(template, "AWS::SQS::Queue", "FleetErrorQueue")

    assert rule["EventPattern"] == {"source": [GREENGRASS], "detail-type": [DEPLOYMENT_STATUS, COMPONENT_STATUS]}
    assert target["Arn"] == "${" + queue_id + ".Arn}"
    assert target["DeadLetterConfig"]["Arn"] == "${" + errors_id + ".Arn}"
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 2}  # the alerts'
    queue_policies = [statement for policy in resources(template, "AWS::SQS::QueuePolicy").values()
                      for statement in policy["PolicyDocument"]["Statement"]
                      if statement.get("Condition", {}).get("ArnEquals", {}).get("aws:SourceArn") == "${" + rule_id + ".Arn}"]
    assert {statement["Principal"]["Service"] for statement in queue_policies} == {"events.amazonaws.com"}
    alarms = {props["MetricName"] for props in resources(template, "AWS::CloudWatch::Alarm").values()
              if props.get("Dimensions") == [{"Name": "RuleName", "Value": "${" + rule_id + "}"}]}
    assert alarms == {"FailedInvocations", "InvocationsFailedToBeSentToDLQ"}


def test_a_policy_that_names_no_deployment_gets_no_greengrass_permission_or_rule(variant, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  - name: a\n    match: {alarm_name: 'fw-*'}\n    jobs: ['fw-*']\n")

    found = variant(policyFile=str(policy))

    assert not [action for statement in statements(found) for action in statement["Action"]
                if action.startswith("greengrass:") or action.endswith("ThingShadow")]
    assert not [logical_id for logical_id in resources(found, "AWS::Events::Rule") if "Greengrass" in logical_id]
