"""Each delivery path of the README's table, asserted in the template: who writes, and the statements on the topic,
queue, key and function that let it. Moto enforces none of these; a real account enforces all of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from rollout_guard_cdk.config import ConfigError
from tests.conftest import IN_THE_CDK_WORKER
from tests.infrastructure.cfn import one, resources, resources_of, statements

pytestmark = IN_THE_CDK_WORKER

ACCOUNT = "${AWS::AccountId}"


def key_statements(template: dict) -> list[dict]:
    return one(template, "AWS::KMS::Key")[1]["KeyPolicy"]["Statement"]


def key_statement_for(template: dict, service: str, context_key: str | None = None) -> dict:
    found = [s for s in key_statements(template)
             if service in json.dumps(s.get("Principal", {}))
             and (context_key is None or context_key in json.dumps(s.get("Condition", {})))]
    assert len(found) == 1, found
    assert set(found[0]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    return found[0]


def queue_statements(template: dict) -> list[dict]:
    return one(template, "AWS::SQS::QueuePolicy", "GuardDeadLetter")[1]["PolicyDocument"]["Statement"]


def topic_statements(template: dict, named: str) -> list[dict]:
    return one(template, "AWS::SNS::TopicPolicy", named=named)[1]["PolicyDocument"]["Statement"]


def rule_ids(template: dict) -> dict[str, dict]:
    return resources(template, "AWS::Events::Rule")


def test_eventbridge_rule_to_function_is_allowed_per_rule(template):
    permissions = [p for p in resources(template, "AWS::Lambda::Permission").values()
                   if p["Principal"] == "events.amazonaws.com"]
    function_rules = [rule_id for rule_id, rule in rule_ids(template).items()
                      if "Function" in rule["Targets"][0]["Arn"]]

    assert sorted(p["SourceArn"] for p in permissions) == sorted("${" + r + ".Arn}" for r in function_rules)
    assert all(p["Action"] == "lambda:InvokeFunction" for p in permissions) and len(function_rules) == 5


def test_eventbridge_rule_to_dead_letters_is_allowed_per_rule_and_by_encryption_context(template):
    senders = {s["Condition"]["ArnEquals"]["aws:SourceArn"] for s in queue_statements(template)
               if s.get("Principal") == {"Service": "events.amazonaws.com"} and s["Action"] == "sqs:SendMessage"}

    alert_rules = [rule_id for rule_id in rule_ids(template) if "GreengrassStatus" not in rule_id]
    assert senders == {"${" + rule_id + ".Arn}" for rule_id in alert_rules}
    # the fleet's own events (Greengrass's) reach the fleet queue, and dead-letter to the fleet's errors, by rule
    (greengrass,) = set(rule_ids(template)) - set(alert_rules)
    for queue in ("FleetQueue", "FleetErrorQueue"):
        statements = one(template, "AWS::SQS::QueuePolicy", queue)[1]["PolicyDocument"]["Statement"]
        assert {str(s["Condition"]["ArnEquals"]["aws:SourceArn"]) for s in statements
                if s.get("Principal") == {"Service": "events.amazonaws.com"}} == {"${" + greengrass + ".Arn}"}
    key = key_statement_for(template, "events.amazonaws.com", "aws:sqs:arn")
    assert key["Condition"] == {"StringLike": {"kms:EncryptionContext:aws:sqs:arn":
                                               "arn:${AWS::Partition}:sqs:${AWS::Region}:" + ACCOUNT
                                               + ":${AWS::StackName}-*"}}


def test_no_key_statement_for_eventbridge_uses_the_source_conditions_it_does_not_send(template):
    for statement in key_statements(template):
        if "events.amazonaws.com" in json.dumps(statement.get("Principal", {})):
            conditions = json.dumps(statement.get("Condition", {}))
            assert "aws:Source" not in conditions and "kms:EncryptionContext" in conditions


def test_cloudwatch_to_the_alert_topic_is_this_account_only(template):
    (allow,) = [s for s in topic_statements(template, "AlertTopic")
                if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]

    assert allow["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    key = key_statement_for(template, "cloudwatch.amazonaws.com")
    assert key["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_device_defender_publishes_through_its_own_role_scoped_to_the_policy_profiles(template):
    role_id, role = one(template, "AWS::IAM::Role", named="DefenderAlertRole")
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    allowed = {action: s for s in statements(template, role="DefenderAlertRole") for action in s["Action"]}

    assert trust["Principal"] == {"Service": "iot.amazonaws.com"}
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": ["arn:${AWS::Partition}:iot:${AWS::Region}:" + ACCOUNT + ":securityprofile/fw-*"]}}
    assert set(allowed) == {"sns:Publish", "kms:GenerateDataKey*", "kms:Decrypt"}
    assert resources_of(allowed["sns:Publish"]) == ["${" + one(template, "AWS::SNS::Topic", named="AlertTopic")[0] + "}"]
    assert resources_of(allowed["kms:Decrypt"]) == ["${" + one(template, "AWS::KMS::Key")[0] + ".Arn}"]
    # The topic admits principals of this account (the role), the key delegates to IAM (the account root).
    assert any(s.get("Sid") == "PrincipalsOfThisAccount" for s in topic_statements(template, "AlertTopic"))
    assert any(s.get("Principal") == {"AWS": "arn:${AWS::Partition}:iam::" + ACCOUNT + ":root"}
               and s["Action"] == "kms:*" for s in key_statements(template))
    assert template["Outputs"]["DefenderAlertRoleArn"]["Value"] == {"Fn::GetAtt": [role_id, "Arn"]}


def test_without_a_defender_rule_there_is_no_defender_role(variant, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump({"rules": [{"name": "crash", "match": {"alarm_name": "fw-*"}}]}))

    template = variant(policyFile=str(policy))

    assert not [r for r in resources(template, "AWS::IAM::Role") if "DefenderAlertRole" in r]
    assert "DefenderAlertRoleArn" not in template["Outputs"]


def test_alert_topic_to_function_is_allowed_for_that_topic(template):
    topic = "${" + one(template, "AWS::SNS::Topic", named="AlertTopic")[0] + "}"
    (permission,) = [p for p in resources(template, "AWS::Lambda::Permission").values()
                     if p["Principal"] == "sns.amazonaws.com"]

    assert permission["SourceArn"] == topic and permission["Action"] == "lambda:InvokeFunction"


def test_subscription_to_dead_letters_is_allowed_for_that_topic_and_this_account(template):
    topic = "${" + one(template, "AWS::SNS::Topic", named="AlertTopic")[0] + "}"
    (sender,) = [s for s in queue_statements(template) if s.get("Principal") == {"Service": "sns.amazonaws.com"}]

    assert sender["Condition"] == {"ArnEquals": {"aws:SourceArn": topic}} and sender["Action"] == "sqs:SendMessage"
    assert key_statement_for(template, "sns.amazonaws.com")["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_function_to_on_failure_destination_through_its_role(template):
    queue_id = one(template, "AWS::SQS::Queue", "GuardDeadLetter")[0]
    fleet_queue_id = one(template, "AWS::SQS::Queue", "FleetQueue")[0]
    allowed = {action: s for s in statements(template) for action in s["Action"]}
    senders = [resource for s in statements(template) if "sqs:SendMessage" in s["Action"] for resource in resources_of(s)]

    # the dead letters, and the fleet queue where the function schedules its own dark checks
    assert sorted(senders) == sorted(["${" + queue_id + ".Arn}", "${" + fleet_queue_id + ".Arn}"])
    assert resources_of(allowed["kms:GenerateDataKey*"]) == ["${" + one(template, "AWS::KMS::Key")[0] + ".Arn}"]


def test_halt_events_reach_the_operations_topic_as_one_line(template):
    topic_id = one(template, "AWS::SNS::Topic", named="OperationsTopic")[0]
    rule_id, rule = one(template, "AWS::Events::Rule", named="HaltNotificationRule")
    (target,) = rule["Targets"]
    (allow,) = [s for s in topic_statements(template, "OperationsTopic")
                if s.get("Principal") == {"Service": "events.amazonaws.com"}]

    assert rule["EventPattern"] == {"source": ["rollout-guard"],
                                    "detail-type": ["Rollout Halted", "Rollout Throttled", "Rollout Restored",
                                                    "Rollout Restore Skipped", "Rollout Throttle Stale",
                                                    "Rollout Regressed", "Revert Ready", "Revert Created"]}
    assert target["Arn"] == "${" + topic_id + "}"
    assert target["InputTransformer"]["InputTemplate"] == (
        '"rollout-guard <detail-action> job <detail-jobId>: rule <detail-rule>, reason <detail-reasonCode>, '
        '<detail-subject>"')
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": "${" + rule_id + ".Arn}"}}
    key = key_statement_for(template, "events.amazonaws.com", "aws:sns:topicArn")
    assert "aws:Source" not in json.dumps(key["Condition"])


def test_every_alarm_acts_on_the_operations_topic(template):
    topic = "${" + one(template, "AWS::SNS::Topic", named="OperationsTopic")[0] + "}"
    alarms = resources(template, "AWS::CloudWatch::Alarm").values()
    watched = {(a["Namespace"], a["MetricName"]) for a in alarms if "MetricName" in a}  # else a query (topic rules)

    assert alarms and all(a["AlarmActions"] == [topic] for a in alarms)
    assert {("AWS/Lambda", "Errors"), ("AWS/Lambda", "Throttles"), ("AWS/Lambda", "DestinationDeliveryFailures"),
            ("AWS/SQS", "ApproximateNumberOfMessagesVisible"), ("AWS/Events", "FailedInvocations"),
            ("AWS/Events", "InvocationsFailedToBeSentToDLQ"),
            ("AWS/SNS", "NumberOfNotificationsFailedToRedriveToDlq")} <= watched
    per_rule = [a["Dimensions"][0]["Value"] for a in alarms if a.get("MetricName") == "FailedInvocations"]
    assert sorted(per_rule) == sorted("${" + rule_id + "}" for rule_id in rule_ids(template))
    assert one(template, "AWS::SNS::TopicPolicy", named="OperationsTopic")


def test_every_subscription_has_its_redrive_alarm(variant):
    arn = "arn:aws:sns:eu-west-1:123456789012:ops-alerts"
    template = variant(alertTopicArns=[arn])

    topics = [a["Dimensions"][0]["Value"] for a in resources(template, "AWS::CloudWatch::Alarm").values()
              if a.get("MetricName") == "NumberOfNotificationsFailedToRedriveToDlq"]

    assert len(topics) == 2 and "ops-alerts" in topics


def test_an_existing_operations_topic_and_an_email_subscription(variant):
    arn = "arn:aws:sns:eu-west-1:123456789012:oncall"
    template = variant(operationsTopicArn=arn, operationsEmail="oncall@example.com")

    assert not [t for t in resources(template, "AWS::SNS::Topic") if "OperationsTopic" in t]
    assert all(a["AlarmActions"] == [arn] for a in resources(template, "AWS::CloudWatch::Alarm").values())
    (email,) = [s for s in resources(template, "AWS::SNS::Subscription").values() if s["Protocol"] == "email"]
    assert (email["TopicArn"], email["Endpoint"]) == (arn, "oncall@example.com")


def test_a_foreign_alert_topic_is_refused_at_synth_when_the_environment_is_known(tmp_path):
    from aws_cdk import App, Environment

    from rollout_guard_cdk.config import GuardConfig
    from rollout_guard_cdk.guard_stack import RolloutGuardStack
    from tests.conftest import ROOT

    foreign = "arn:aws:sns:us-east-1:999999999999:elsewhere"
    config = GuardConfig.from_context({"alertTopicArns": [foreign]}, ROOT)
    app = App(outdir=str(tmp_path), context={"aws:cdk:bundling-stacks": []})

    with pytest.raises(ConfigError, match="outside this stack's account 123456789012 and region eu-west-1"):
        RolloutGuardStack(app, "Pinned", config=config, env=Environment(account="123456789012", region="eu-west-1"))


def test_a_foreign_alert_topic_is_refused_before_deploy_when_the_environment_is_not(variant):
    template = variant(alertTopicArns=["arn:aws:sns:us-east-1:999999999999:elsewhere"])

    (rule,) = [rule for name, rule in template["Rules"].items() if name.startswith("AlertTopic0")]
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::And": [{"Fn::Equals": [{"Ref": "AWS::AccountId"}, "999999999999"]},
                                               {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}]}
    assert "must be in this stack's account and region" in assertion["AssertDescription"]


def test_the_synth_command_names_a_foreign_topic_in_one_line(tmp_path):
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    context = {"rollout-guard": {"alertTopicArns": ["arn:aws:sns:us-east-1:999999999999:elsewhere"]}}
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(tmp_path),
           "CDK_DEFAULT_ACCOUNT": "123456789012", "CDK_DEFAULT_REGION": "eu-west-1"}
    done = subprocess.run([sys.executable, "app.py"], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)

    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1].startswith("rollout-guard: alertTopicArns: arn:aws:sns:us-east-1")
    assert not Path(tmp_path, "RolloutGuard.template.json").exists()


def test_the_halt_line_reads_fields_every_halt_event_carries(template):
    from rollout_guard.adapters import halt_events
    from rollout_guard.halts import alerts, guard
    from rollout_guard.policy import load_file
    from rollout_guard_local import samples
    from tests.conftest import ROOT
    from tests.unit.fakes import FakeJobs, active

    _, rule = one(template, "AWS::Events::Rule", named="HaltNotificationRule")
    transformer = rule["Targets"][0]["InputTransformer"]
    outcome = guard.respond(alerts.parse(samples.alarm_eventbridge()), load_file(ROOT / "policy.yaml"),
                            FakeJobs({"fw-2-4-eu": active("fw-2-4-eu")}))
    (entry,) = halt_events.entries(outcome, "default")
    detail = json.loads(entry["Detail"])

    line = json.loads(transformer["InputTemplate"])
    for name, path in transformer["InputPathsMap"].items():
        line = line.replace(f"<{name}>", detail[path.removeprefix("$.detail.")])
    assert line == ("rollout-guard halted job fw-2-4-eu: rule crash-rate, reason FIRMWARE_CRASH_RATE, "
                    "alarm fw-crash-rate-eu")


def test_a_throttle_and_a_restore_are_announced_and_read_as_their_own_line(template):
    from rollout_guard.adapters import halt_events
    from rollout_guard.halts import alerts, guard
    from rollout_guard.halts.throttle.records import InMemoryThrottles
    from rollout_guard_local import samples
    from tests.conftest import make_policy
    from tests.unit.fakes import FakeJobs, active

    _, rule = one(template, "AWS::Events::Rule", named="HaltNotificationRule")
    transformer = rule["Targets"][0]["InputTransformer"]
    policy = make_policy("rules: [{name: slow, match: {alarm_name: 'fw-warn-*'}, reason_code: WARNED, "
                         "action: throttle, throttle: {max_per_minute: 5}}]")
    jobs, records = FakeJobs({"fw-2-4-eu": active("fw-2-4-eu")}), InMemoryThrottles()
    lines = []
    for state, previous in (("ALARM", "OK"), ("OK", "ALARM")):
        alert = alerts.parse(samples.alarm_eventbridge(alarm_name="fw-warn-eu", state=state, previous_state=previous))
        (entry,) = halt_events.entries(guard.respond(alert, policy, jobs, throttles=records), "default")
        assert entry["DetailType"] in rule["EventPattern"]["detail-type"]
        detail, line = json.loads(entry["Detail"]), json.loads(transformer["InputTemplate"])
        for name, path in transformer["InputPathsMap"].items():
            line = line.replace(f"<{name}>", detail[path.removeprefix("$.detail.")])
        lines.append((entry["DetailType"], line))

    assert lines == [("Rollout Throttled", "rollout-guard throttled job fw-2-4-eu: rule slow, reason WARNED, alarm fw-warn-eu"),
                     ("Rollout Restored", "rollout-guard restored job fw-2-4-eu: rule slow, reason WARNED, alarm fw-warn-eu")]
