"""The fleet signal and the pre-start gate in the synthesized template: the topic rules, the fleet queue, who may
write to it, the function reading it in batches, the dark-check path, the gate's rule; each can be turned off."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from rollout_guard.halts import alert_kinds, alerts
from rollout_guard_local import samples
from tests.conftest import IN_THE_CDK_WORKER
from tests.infrastructure.cfn import one, resources, statements

pytestmark = IN_THE_CDK_WORKER

ACCOUNT = "${AWS::AccountId}"


def fleet_queue(template: dict) -> tuple[str, dict]:
    return one(template, "AWS::SQS::Queue", "FleetQueue")


def test_topic_rules_select_the_execution_outcomes_and_the_lifecycle_events(template):
    from rollout_guard_cdk.fleet import EXECUTION_STATUSES, PRESENCE_SQL  # the stack modules load jsii

    rules = {logical_id: rule["TopicRulePayload"] for logical_id, rule in resources(template, "AWS::IoT::TopicRule").items()}
    execution = next(rule for logical_id, rule in rules.items() if "JobExecutionRule" in logical_id)
    presence = next(rule for logical_id, rule in rules.items() if "PresenceRule" in logical_id)

    assert execution["Sql"].startswith("SELECT *, topic() AS topic FROM '$aws/events/jobExecution/+/+' WHERE ")
    for status in ("FAILED", "REJECTED", "TIMED_OUT", "SUCCEEDED"):
        assert f"status = '{status}'" in execution["Sql"]
    assert set(EXECUTION_STATUSES) == {"FAILED", "REJECTED", "TIMED_OUT", "SUCCEEDED"}
    assert presence["Sql"] == PRESENCE_SQL == "SELECT *, topic() AS topic FROM '$aws/events/presence/+/+'"
    queue_id, _ = fleet_queue(template)
    errors = one(template, "AWS::SQS::Queue", "FleetErrorQueue")[0]
    role = "${" + one(template, "AWS::IAM::Role", "FleetRuleRole")[0] + ".Arn}"
    for rule in (execution, presence):
        assert rule["AwsIotSqlVersion"] == "2016-03-23" and rule["RuleDisabled"] is False
        assert rule["Actions"] == [{"Sqs": {"QueueUrl": "${" + queue_id + "}", "RoleArn": role, "UseBase64": False}}]
        assert rule["ErrorAction"] == {"Sqs": {"QueueUrl": "${" + errors + "}", "RoleArn": role,
                                               "UseBase64": False}}


def test_fleet_messages_go_to_a_queue_of_their_own_never_the_alerts_dead_letters(template):
    errors = "${" + one(template, "AWS::SQS::Queue", "FleetErrorQueue")[0] + "}"
    rules = resources(template, "AWS::Events::Rule")
    rule_dead_letters = {str(target.get("DeadLetterConfig", {}).get("Arn"))
                         for rule_id, rule in rules.items() if "GreengrassStatus" not in rule_id
                         for target in rule.get("Targets", [])}
    greengrass = {str(target["DeadLetterConfig"]["Arn"]) for rule_id, rule in rules.items()
                  if "GreengrassStatus" in rule_id for target in rule["Targets"]}
    assert greengrass == {errors.removesuffix("}") + ".Arn}"}  # the fleet's events (Greengrass's) go with them
    subscription_dead_letters = {str(s.get("RedrivePolicy")) for s in resources(template, "AWS::SNS::Subscription")
                                 .values()}
    error_queues = {rule["TopicRulePayload"]["ErrorAction"]["Sqs"]["QueueUrl"]
                    for rule in resources(template, "AWS::IoT::TopicRule").values()}

    assert error_queues == {errors}
    assert not any(errors.removesuffix("}") in arn for arn in rule_dead_letters | subscription_dead_letters)
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    (depth,) = [a for k, a in alarms.items() if k.startswith("GuardFleetErrorsAlarm")]
    assert depth["Dimensions"] == [{"Name": "QueueName", "Value": errors.replace("}", ".QueueName}")}]


def test_the_topic_rules_role_is_iots_for_this_accounts_rules_and_may_only_send_to_the_two_queues(template):
    role_id, role = one(template, "AWS::IAM::Role", "FleetRuleRole")
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    queue_id, _ = fleet_queue(template)
    errors = one(template, "AWS::SQS::Queue", "FleetErrorQueue")[0]

    assert trust["Principal"] == {"Service": "iot.amazonaws.com"}
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:rule/*"}}
    allowed = {s["Sid"]: s for s in statements(template, "FleetRuleRole")}
    assert allowed["SendFleetEvents"]["Action"] == ["sqs:SendMessage"]
    assert sorted(allowed["SendFleetEvents"]["Resource"], key=str) == sorted(
        ["${" + queue_id + ".Arn}", "${" + errors + ".Arn}"], key=str)
    assert allowed["EncryptForTheQueues"]["Resource"] == "${" + one(template, "AWS::KMS::Key")[0] + ".Arn}"
    assert set(allowed) == {"SendFleetEvents", "EncryptForTheQueues"}


def test_the_fleet_queue_is_encrypted_redriven_and_read_in_batches_with_partial_failures(template):
    queue_id, queue = fleet_queue(template)
    errors = one(template, "AWS::SQS::Queue", "FleetErrorQueue")[0]
    _, mapping = one(template, "AWS::Lambda::EventSourceMapping")
    _, function = one(template, "AWS::Lambda::Function")

    assert queue["KmsMasterKeyId"] == "${" + one(template, "AWS::KMS::Key")[0] + ".Arn}"
    assert queue["RedrivePolicy"] == {"deadLetterTargetArn": "${" + errors + ".Arn}",
                                      "maxReceiveCount": 3}
    assert queue["VisibilityTimeout"] == 6 * function["Timeout"]
    assert mapping["EventSourceArn"] == "${" + queue_id + ".Arn}"
    assert mapping["BatchSize"] == 10 and mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "MaximumBatchingWindowInSeconds" not in mapping  # no waiting for a fuller batch before a halt


def test_the_dark_checks_go_back_to_the_fleet_queue_through_the_functions_own_grant(template):
    queue_id, _ = fleet_queue(template)
    _, function = one(template, "AWS::Lambda::Function")
    senders = [s for s in statements(template) if "sqs:SendMessage" in s["Action"]
               and s["Resource"] == "${" + queue_id + ".Arn}"]
    readers = [s for s in statements(template) if "sqs:ReceiveMessage" in s["Action"]]

    assert function["Environment"]["Variables"]["ROLLOUT_GUARD_FLEET_QUEUE_URL"] == "${" + queue_id + "}"
    assert len(senders) == 1 and [s["Resource"] for s in readers] == ["${" + queue_id + ".Arn}"]


def test_the_fleet_queue_alarms_when_events_wait(template):
    queue_id, _ = fleet_queue(template)
    _, alarm = one(template, "AWS::CloudWatch::Alarm", "FleetQueueAge")

    assert alarm["MetricName"] == "ApproximateAgeOfOldestMessage" and alarm["Threshold"] == 120
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": "${" + queue_id + ".QueueName}"}]
    assert alarm["AlarmActions"] == ["${" + one(template, "AWS::SNS::Topic", "OperationsTopic")[0] + "}"]


def test_jobs_events_are_turned_on_by_a_custom_resource_only_when_asked(template, variant):
    from rollout_guard_cdk.fleet import JOB_EVENTS

    assert not resources(template, "Custom::AWS")

    asked = variant(enableJobEvents=True)
    _, resource = one(asked, "Custom::AWS")
    call = json.loads(resource["Create"])  # the SDK call, as JSON text in the template
    assert (call["service"], call["action"]) == ("Iot", "updateEventConfigurations")
    assert call["parameters"] == {"eventConfigurations": JOB_EVENTS}
    (policy,) = [p for p in resources(asked, "AWS::IAM::Policy").values()
                 if p["PolicyDocument"]["Statement"][0]["Action"] == "iot:UpdateEventConfigurations"]
    assert policy["PolicyDocument"]["Statement"][0]["Resource"] == "*"


def test_the_fleet_signal_and_the_gate_can_each_be_turned_off(variant):
    off = variant(fleetSignal=False, preStartGate=False)
    patterns = [rule["EventPattern"] for rule in resources(off, "AWS::Events::Rule").values()]

    assert not resources(off, "AWS::IoT::TopicRule") and not resources(off, "AWS::Lambda::EventSourceMapping")
    assert [queue for queue in resources(off, "AWS::SQS::Queue") if "FleetQueue" in queue] == []
    assert all(pattern.get("source") != ["aws.iot"] for pattern in patterns)
    # only the throttles' timers read the alarms then (the operator rule may throttle)
    assert [s["Sid"] for s in statements(off) if "cloudwatch:DescribeAlarms" in s["Action"]] == ["AlarmsStillFiring"]


def test_a_feature_without_a_rule_to_serve_is_refused_at_synth(variant, tmp_path):

    from rollout_guard_cdk.config import ConfigError

    plain = tmp_path / "policy.yaml"
    plain.write_text("rules: [{name: any, match: {source: 'com.acme.*'}}]")
    with pytest.raises(ConfigError, match="fleetSignal is on, but no rule of the policy has match.signal"):
        variant(policyFile=str(plain), fleetSignal=True)
    with pytest.raises(ConfigError, match="preStartGate is on, but no rule of the policy has match.alarm_name"):
        variant(policyFile=str(plain), preStartGate=True)


def test_the_gate_rule_passes_created_jobs_only_as_the_guard_reads_them(template):
    """The rule's pattern on moto's EventBridge against the guard's own parsing: a created job passes both, a failed
    CreateJob and another IoT call pass neither."""
    (pattern,) = [rule["EventPattern"] for rule in resources(template, "AWS::Events::Rule").values()
                  if rule["EventPattern"].get("source") == ["aws.iot"]]
    other = samples.job_created()
    other["detail"]["eventName"] = "DescribeJob"
    cases = [(samples.job_created(), True), (samples.job_created(error_code="LimitExceededException"), False),
             (other, False)]
    with mock_aws():
        bus, sqs = boto3.client("events", region_name="eu-west-1"), boto3.client("sqs", region_name="eu-west-1")
        queue = sqs.create_queue(QueueName="matched")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        bus.put_rule(Name="gate", EventPattern=json.dumps(pattern))
        bus.put_targets(Rule="gate", Targets=[{"Id": "queue", "Arn": arn}])
        for event, passes in cases:
            bus.put_events(Entries=[{"Source": event["source"], "DetailType": event["detail-type"],
                                     "Detail": json.dumps(event["detail"])}])
            received = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get("Messages", [])
            for message in received:
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
            matched = bool(received)
            try:
                read = alerts.parse(event).kind == alert_kinds.JOB_CREATED
            except alerts.UnrecognisedAlert:
                read = False
            assert matched is passes is read, event["detail"]["eventName"]


def test_the_fleet_consumers_and_their_iot_calls_are_bounded_so_that_halts_keep_their_rate(template, variant):
    _, mapping = one(template, "AWS::Lambda::EventSourceMapping")
    _, function = one(template, "AWS::Lambda::Function")
    environment = function["Environment"]["Variables"]
    allowed = {s["Sid"]: s for s in statements(template) if "Sid" in s}

    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 5}
    assert float(environment["ROLLOUT_GUARD_FLEET_IOT_RATE"]) * 5 == 5.0  # of IoT's planning rate of 10 a second
    assert "ROLLOUT_GUARD_IOT_RATE" not in environment  # halts keep the default 10 a second
    # Many dark things: one listing of the fleet jobs' IN_PROGRESS executions instead of a call per thing.
    assert allowed["ListActiveJobs"]["Action"] == ["iot:ListJobs"]
    assert allowed["ListJobExecutions"]["Action"] == ["iot:ListJobExecutionsForJob"]
    wider = variant(fleetConsumers=20, fleetIotRate=2)
    _, wider_function = one(wider, "AWS::Lambda::Function")
    assert one(wider, "AWS::Lambda::EventSourceMapping")[1]["ScalingConfig"] == {"MaximumConcurrency": 20}
    assert wider_function["Environment"]["Variables"]["ROLLOUT_GUARD_FLEET_IOT_RATE"] == "0.1"


def test_fleet_bounds_out_of_range_are_refused_at_synth(variant):

    from rollout_guard_cdk.config import ConfigError

    with pytest.raises(ConfigError, match="fleetConsumers must be a whole number from 2 to 20"):
        variant(fleetConsumers=1)
    with pytest.raises(ConfigError, match="fleetIotRate must be a number of requests a second above 0 and at most 10"):
        variant(fleetIotRate=11)


def test_the_topic_rules_are_created_after_their_roles_grants(template):
    policy_id, _ = one(template, "AWS::IAM::Policy", "FleetRuleRoleDefaultPolicy")
    rules = [logical_id for logical_id, r in template["Resources"].items() if r["Type"] == "AWS::IoT::TopicRule"]

    assert len(rules) == 3  # executions, presence, and the $package shadow (the policy watches after success)
    assert all(policy_id in template["Resources"][rule].get("DependsOn", []) for rule in rules)


def test_each_topic_rule_has_alarms_on_its_action_and_error_action_failures(template):
    from rollout_guard_cdk.monitoring import rule_metric_query

    rules = [logical_id for logical_id, r in template["Resources"].items() if r["Type"] == "AWS::IoT::TopicRule"]
    topic = one(template, "AWS::SNS::Topic", "OperationsTopic")[0]
    alarms = resources(template, "AWS::CloudWatch::Alarm").values()

    for rule in rules:
        for metric in ("Failure", "ErrorActionFailure"):
            (alarm,) = [a for a in alarms if "Metrics" in a and f"SUM({metric})" in json.dumps(a["Metrics"])
                        and "${" + rule + "}" in json.dumps(a["Metrics"])]
            (query,) = alarm["Metrics"]
            expected = f"""SELECT SUM({metric}) FROM SCHEMA("AWS/IoT", ActionType, RuleName) WHERE RuleName = '${{{rule}}}'"""  # noqa: S608, E501
            assert query["Expression"] == expected == rule_metric_query(metric, "${" + rule + "}")
            assert query["Period"] == 60 and query["ReturnData"] is True
            assert alarm["Threshold"] == 1 and alarm["AlarmActions"] == ["${" + topic + "}"]


def test_a_policy_that_watches_after_success_reads_the_package_shadow(template):
    """The project policy's fleet rule watches a day after success: the `$package` reserved shadow's accepted
    updates reach the fleet queue (a device reporting another version than its job's is a casualty)."""
    sqls = {logical_id: r["Properties"]["TopicRulePayload"]["Sql"] for logical_id, r in template["Resources"].items()
            if r["Type"] == "AWS::IoT::TopicRule"}

    (package,) = [sql for logical_id, sql in sqls.items() if "PackageShadowRule" in logical_id]
    assert package == "SELECT *, topic() AS topic FROM '$aws/things/+/shadow/name/$package/update/accepted'"
