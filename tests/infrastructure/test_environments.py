"""Many environments from one app: a guard stack per environment, each self-contained, and a control stack in the
home region that receives every guard's halts and forwards halt requests to every guard."""

from __future__ import annotations

import json

import pytest

from rollout_guard_cdk.config import ConfigError
from tests.conftest import IN_THE_CDK_WORKER
from tests.infrastructure.cfn import one, resources, statements
from tests.infrastructure.conftest import CONTEXT

pytestmark = IN_THE_CDK_WORKER

ACCOUNT_A, ACCOUNT_B = "111111111111", "222222222222"
ENVIRONMENTS = [{"name": "eu", "account": ACCOUNT_A, "region": "eu-west-1"},
                {"name": "us", "account": ACCOUNT_B, "region": "us-east-1", "overrides": {"dryRun": True}}]
CONTROL = {"account": ACCOUNT_A, "region": "eu-west-1"}


def synth_all(tmp_path, **deployment) -> dict[str, dict]:
    from aws_cdk import App

    import app as cdk_app

    context = {**CONTEXT, "rollout-guard": {**CONTEXT["rollout-guard"], **deployment},
               "aws:cdk:bundling-stacks": []}
    application = App(outdir=str(tmp_path / "cdk.out"), context=context)
    stacks = cdk_app.build(application)
    application.synth()
    return {stack.stack_name: json.loads((tmp_path / "cdk.out" / f"{stack.artifact_id}.template.json").read_text())
            for stack in stacks}


@pytest.fixture(scope="module")
def folder(deployed_environments):
    return deployed_environments[1]


@pytest.fixture(scope="module")
def deployed(deployed_environments):
    return deployed_environments[0]


def test_every_template_of_the_deployment_is_lint_clean_and_its_policies_valid_iam(deployed, folder, checked):
    from tests.infrastructure.test_iam_lint import EXPLAINED, findings

    assert len(list((folder / "cdk.out").glob("*.template.json"))) == 3
    assert [checked[name]["lint"] for name in ("eu", "us", "control")] == [[], [], []]
    for name, template in deployed.items():
        assert [f for f in findings(template) if f[:2] not in EXPLAINED] == [], name


def test_one_guard_stack_per_environment_with_its_own_overrides_and_a_control_stack(deployed, tmp_path):
    from aws_cdk import App

    import app as cdk_app

    assert list(deployed) == ["RolloutGuard-eu", "RolloutGuard-us", "RolloutGuardControl"]
    variables = {name: one(deployed[name], "AWS::Lambda::Function")[1]["Environment"]["Variables"]
                 for name in ("RolloutGuard-eu", "RolloutGuard-us")}
    assert variables["RolloutGuard-eu"]["ROLLOUT_GUARD_DRY_RUN"] == "false"
    assert variables["RolloutGuard-us"]["ROLLOUT_GUARD_DRY_RUN"] == "true"
    application = App(context={**CONTEXT, "rollout-guard": {**CONTEXT["rollout-guard"], "environments": ENVIRONMENTS,
                                                            "control": CONTROL}, "aws:cdk:bundling-stacks": []})
    stacks = cdk_app.build(application)
    assert [(s.account, s.region) for s in stacks] == [(ACCOUNT_A, "eu-west-1"), (ACCOUNT_B, "us-east-1"),
                                                       (ACCOUNT_A, "eu-west-1")]


def test_each_guard_sends_its_halts_to_the_control_bus_through_a_role(deployed):
    for name in ("RolloutGuard-eu", "RolloutGuard-us"):
        template = deployed[name]
        _, rule = one(template, "AWS::Events::Rule", "ControlLinkRule")
        (target,) = rule["Targets"]
        assert rule["EventPattern"] == {"source": ["rollout-guard"], "detail-type": ["Rollout Halted"]}
        assert target["Arn"] == f"arn:${{AWS::Partition}}:events:eu-west-1:{ACCOUNT_A}:event-bus/rollout-guard-control"
        assert "RoleArn" in target and "DeadLetterConfig" in target
        (put,) = [s for s in statements(template, "ControlLinkRole") if s["Action"] == ["events:PutEvents"]]
        assert put["Resource"] == target["Arn"]


def test_the_control_bus_admits_only_the_listed_accounts_or_the_organisation(deployed, tmp_path):
    policies = resources(deployed["RolloutGuardControl"], "AWS::Events::EventBusPolicy")
    principals = sorted(principal for p in policies.values() for principal in p["Statement"]["Principal"]["AWS"])
    assert principals == [f"arn:${{AWS::Partition}}:iam::{ACCOUNT_A}:root",
                          f"arn:${{AWS::Partition}}:iam::{ACCOUNT_B}:root"]

    organisation = synth_all(tmp_path, environments=ENVIRONMENTS, control={**CONTROL, "organizationId": "o-abcdef1234"})
    (policy,) = resources(organisation["RolloutGuardControl"], "AWS::Events::EventBusPolicy").values()
    assert policy["Statement"]["Principal"] == {"AWS": "*"}
    assert policy["Statement"]["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-abcdef1234"}}


def test_halt_requests_on_the_control_bus_go_to_every_guards_default_bus(deployed):
    control = deployed["RolloutGuardControl"]
    (rule,) = [r for k, r in resources(control, "AWS::Events::Rule").items() if "ForwardHaltRequests" in k]

    assert rule["EventPattern"] == {"source": ["rollout-guard.operator"], "detail-type": ["Rollout Halt Requested"]}
    assert sorted(t["Arn"] for t in rule["Targets"]) == [
        f"arn:${{AWS::Partition}}:events:eu-west-1:{ACCOUNT_A}:event-bus/default",
        f"arn:${{AWS::Partition}}:events:us-east-1:{ACCOUNT_B}:event-bus/default"]
    for name in ("RolloutGuard-eu", "RolloutGuard-us"):
        _, guard_rule = one(deployed[name], "AWS::Events::Rule", "HaltRequestRule")
        assert guard_rule["EventPattern"] == rule["EventPattern"]
        assert "Function" in guard_rule["Targets"][0]["Arn"]


def test_every_halt_is_a_line_with_its_region_on_the_control_topic_and_the_dashboard_sees_every_guard(deployed):
    control = deployed["RolloutGuardControl"]
    _, rule = one(control, "AWS::Events::Rule", "HaltLineRule")
    (target,) = rule["Targets"]
    _, dashboard = one(control, "AWS::CloudWatch::Dashboard")
    body = json.dumps(dashboard["DashboardBody"])

    assert target["InputTransformer"]["InputTemplate"].startswith('"rollout-guard halted job <')
    assert set(target["InputTransformer"]["InputPathsMap"].values()) >= {"$.region", "$.account", "$.detail.jobId"}
    for region, account in (("eu-west-1", ACCOUNT_A), ("us-east-1", ACCOUNT_B)):
        assert region in body and account in body
    alarms = resources(control, "AWS::CloudWatch::Alarm")
    assert alarms and all(alarm["AlarmActions"] for alarm in alarms.values())


def test_without_environments_the_app_is_the_one_guard_it_was(template):
    assert "ControlLinkRule" not in json.dumps(template)


@pytest.mark.parametrize(("deployment", "problem"), [
    ({"environments": [{"name": "eu", "account": "1", "region": "eu-west-1"}]},
     "environments[0]: account '1' is not a 12-digit account id"),
    ({"environments": ENVIRONMENTS + [{"name": "eu", "account": ACCOUNT_B, "region": "eu-west-2"}]},
     "environments: each name must be unique"),
    ({"environments": ENVIRONMENTS, "control": {"account": ACCOUNT_A, "region": "moon-1"}},
     "control: region 'moon-1' is not a region code"),
    ({"control": CONTROL}, "control needs environments: it gathers their guards"),
])
def test_a_bad_deployment_is_refused_at_synth(tmp_path, deployment, problem):
    with pytest.raises(ConfigError) as caught:
        synth_all(tmp_path, **deployment)
    assert str(caught.value) == f"cdk.json context 'rollout-guard': {problem}"


def test_the_control_key_lets_its_alarms_and_rules_write_to_its_topic_and_queue(deployed):
    _, key = one(deployed["RolloutGuardControl"], "AWS::KMS::Key")
    by_sid = {s.get("Sid"): s for s in key["KeyPolicy"]["Statement"]}

    assert by_sid["CloudWatchAndSnsOfThisAccount"]["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "${AWS::AccountId}"}}
    assert set(by_sid["EventBridgeToThisStacksTopics"]["Condition"]["StringLike"]) == {
        "kms:EncryptionContext:aws:sns:topicArn"}
    assert set(by_sid["EventBridgeToThisStacksQueues"]["Condition"]["StringLike"]) == {
        "kms:EncryptionContext:aws:sqs:arn"}


def test_a_guard_in_another_account_admits_only_the_control_accounts_halt_requests(deployed):
    assert not resources(deployed["RolloutGuard-eu"], "AWS::Events::EventBusPolicy")  # the control's own account
    (policy,) = resources(deployed["RolloutGuard-us"], "AWS::Events::EventBusPolicy").values()

    assert policy["EventBusName"] == "default"
    statement = policy["Statement"]
    assert statement["Principal"] == {"AWS": f"arn:${{AWS::Partition}}:iam::{ACCOUNT_A}:root"}
    assert statement["Action"] == "events:PutEvents" and statement["Effect"] == "Allow"
    assert statement["Resource"] == "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"
    assert statement["Condition"] == {"StringEquals": {"events:source": "rollout-guard.operator",
                                                       "events:detail-type": "Rollout Halt Requested"}}


def test_control_alarms_watch_the_metric_eventbridge_publishes_for_custom_bus_rules(deployed):
    control = deployed["RolloutGuardControl"]
    rules = {logical_id for logical_id, resource in control["Resources"].items()
             if resource["Type"] == "AWS::Events::Rule"}
    failed = [alarm for alarm in resources(control, "AWS::CloudWatch::Alarm").values()
              if alarm["MetricName"] == "FailedInvocations"]

    assert len(failed) == len(rules) == 2
    for alarm in failed:
        dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
        assert dimensions["EventBusName"] == "rollout-guard-control"
        (rule,) = [r for r in rules if "${" + r + "}" in json.dumps(dimensions["RuleName"])]
        assert dimensions["RuleName"] == {"Fn::Select": [1, {"Fn::Split": ["|", "${" + rule + "}"]}]}


def test_the_longest_environment_name_keeps_every_encrypted_queue_and_topic_inside_the_key_policy(tmp_path):
    """EventBridge may encrypt only for `arn:...:<stack name>-*` (the key policy): every queue and topic is named
    so, whole, even for the longest environment name the config allows, and within SQS's 80 characters."""
    from fnmatch import fnmatchcase

    longest = "e" * 40
    built = synth_all(tmp_path, environments=[{"name": longest, "account": ACCOUNT_B, "region": "us-east-1"}],
                      control=CONTROL)

    assert f"RolloutGuard-{longest}" in built
    for stack_name, template in built.items():
        key_statements = [s for key in resources(template, "AWS::KMS::Key").values()
                          for s in key["KeyPolicy"]["Statement"] if s.get("Sid", "").startswith("EventBridgeTo")]
        patterns = [value.replace("${AWS::StackName}", stack_name).replace("${AWS::Partition}", "aws")
                    .replace("${AWS::Region}", "r").replace("${AWS::AccountId}", "a")
                    for s in key_statements for value in s["Condition"]["StringLike"].values()]
        named = [(f"arn:aws:sqs:r:a:{props['QueueName']}", 80, props["QueueName"])
                 for props in resources(template, "AWS::SQS::Queue").values()]
        named += [(f"arn:aws:sns:r:a:{props['TopicName']}", 256, props["TopicName"])
                  for props in resources(template, "AWS::SNS::Topic").values()]
        assert named and len(patterns) == 2, stack_name
        for arn, limit, name in named:
            assert name.startswith(f"{stack_name}-") and len(name) <= limit, name
            assert any(fnmatchcase(arn, pattern) for pattern in patterns), (arn, patterns)


def test_a_stack_name_too_long_for_its_queue_names_fails_the_synth_saying_so(tmp_path):
    from aws_cdk import App

    from rollout_guard_cdk.config import GuardConfig
    from rollout_guard_cdk.guard_stack import RolloutGuardStack
    from tests.conftest import ROOT

    config = GuardConfig.from_context(CONTEXT["rollout-guard"], ROOT)
    app = App(outdir=str(tmp_path), context={"aws:cdk:bundling-stacks": []})

    with pytest.raises(ValueError, match=r"is 68 characters: .* SQS allows 80, so at most 67"):
        RolloutGuardStack(app, "S" * 68, config=config)
