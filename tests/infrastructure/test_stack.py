"""The synthesized stack, property by property: what a reviewer of the template would check."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile

import pytest
import yaml

from rollout_guard.policy import PolicyError
from rollout_guard_cdk.config import ConfigError
from tests.conftest import IN_THE_CDK_WORKER, ROOT
from tests.infrastructure.cfn import one, render, resources, resources_of, statement_for, statements

pytestmark = IN_THE_CDK_WORKER

JOB_ARN = "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:job/"


def logical_id(template: dict, kind: str, named: str = "") -> str:
    return one(template, kind, named)[0]


def test_function_runtime_architecture_tracing_and_concurrency(template):
    _, function = one(template, "AWS::Lambda::Function")

    assert function["Runtime"] == "python3.14"
    assert function["Architectures"] == ["arm64"]
    assert function["Handler"] == "rollout_guard.handler.lambda_handler"
    assert "TracingConfig" not in function  # X-Ray is opt-in: see the tracing switch
    assert "ReservedConcurrentExecutions" not in function  # opt-in: see the next test
    assert function["Timeout"] == 60


def test_reserved_concurrency_is_opt_in(reserved):  # the session's synth with reservedConcurrency: 7
    _, function = one(reserved, "AWS::Lambda::Function")

    assert function["ReservedConcurrentExecutions"] == 7


def test_function_environment(template):
    _, function = one(template, "AWS::Lambda::Function")

    assert function["Environment"]["Variables"] == {
        "ROLLOUT_GUARD_POLICY_FILE": "/var/task/policy.json",
        "ROLLOUT_GUARD_DRY_RUN": "false",
        "ROLLOUT_GUARD_EVENT_BUS": "default",
        "ROLLOUT_GUARD_TRACING": "false",
        "ROLLOUT_GUARD_DEAD_LETTER_QUEUE_URL": "${" + logical_id(template, "AWS::SQS::Queue", "GuardDeadLetter") + "}",
        "ROLLOUT_GUARD_FLEET_QUEUE_URL": "${" + logical_id(template, "AWS::SQS::Queue", "FleetQueue") + "}",
        "ROLLOUT_GUARD_FLEET_IOT_RATE": "1",  # 5 a second shared by 5 consumers
        "ROLLOUT_GUARD_STATE_TABLE": "${" + logical_id(template, "AWS::DynamoDB::Table") + "}",
        "ROLLOUT_GUARD_KILL_SWITCH_PARAMETER": "/rollout-guard/kill-switch",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        # every throttle's timer (the operator rule may throttle): the bus, the role and the timers' dead letters
        "ROLLOUT_GUARD_ESCALATION_BUS_ARN": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:"
                                            "event-bus/default",
        "ROLLOUT_GUARD_ESCALATION_ROLE_ARN": "${" + logical_id(template, "AWS::IAM::Role", "EscalationScheduler")
                                             + ".Arn}",
        "ROLLOUT_GUARD_ESCALATION_DLQ_ARN": "${" + logical_id(template, "AWS::SQS::Queue", "TimerDeadLetter")
                                            + ".Arn}",
    }


def test_cancel_and_describe_only_on_the_policy_job_globs(template):
    for action, sid in (("iot:CancelJob", "CancelPolicyJobs"), ("iot:DescribeJob", "ConfirmJobs")):
        (statement,) = [s for s in statements(template) if s.get("Sid") == sid]
        assert statement["Action"] == [action]
        assert resources_of(statement) == [JOB_ARN + "fw-*"]
    assert "Condition" not in statement_for(template, "iot:CancelJob")
    # beside them, CancelDeployment's dependent actions reach only the jobs Greengrass makes (UUID-shaped ids)
    others = [s for s in statements(template) if "iot:CancelJob" in s["Action"] and s.get("Sid") != "CancelPolicyJobs"]
    assert [(s["Sid"], resources_of(s)) for s in others] == [
        ("DeploymentJobs", [JOB_ARN + "????????-????-????-????-????????????"])]


def test_the_role_allows_nothing_else(template):
    allowed = {action for statement in statements(template) if statement["Effect"] == "Allow"
               for action in statement["Action"]}

    assert allowed == {
        "iot:CancelJob", "iot:DescribeJob", "iot:ListJobs", "iot:ListJobExecutionsForThing", "events:PutEvents",
        "ssm:GetParameter",
        "logs:CreateLogStream", "logs:PutLogEvents",
        # sending failed alerts to the KMS-encrypted dead-letter queue
        "sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl",
        "kms:Decrypt", "kms:Encrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
        # exactly-once claims and fleet counts in the state table (its key: DescribeKey besides the above)
        "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchGetItem",
        "kms:DescribeKey",
        # reading the fleet queue (the SQS event source); the pre-start gate's look at the alarms
        "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "cloudwatch:DescribeAlarms",
        # the dark checks' listing of the fleet jobs' IN_PROGRESS executions
        "iot:ListJobExecutionsForJob",
        # an operator's throttle and resume (`rollout-guard throttle`), under the operator rule's globs, and the
        # throttle's timer (an EventBridge Scheduler schedule, through its role)
        "iot:UpdateJob", "scheduler:CreateSchedule", "scheduler:UpdateSchedule", "iam:PassRole",
        # Greengrass v2 deployments (the operator's and the fleet rule's `deployments`), and what CancelDeployment
        # needs on their jobs, targets and devices (test_greengrass_stack holds their resources)
        "greengrass:ListDeployments", "greengrass:GetDeployment", "greengrass:CancelDeployment",
        "iot:DescribeThing", "iot:DescribeThingGroup", "iot:GetThingShadow", "iot:UpdateThingShadow",
        "iot:DeleteThingShadow",
        # the fleet rule's revert (test_reverts_create_jobs_only_under_revert_ids holds their resources)
        "iot:CreateJob", "iot:CreateThingGroup", "iot:AddThingToThingGroup",
    }
    assert resources_of(statement_for(template, "iot:UpdateJob")) == [JOB_ARN + "fw-*"]
    assert {resource for s in statements(template) if "iot:ListJobExecutionsForJob" in s["Action"]
            for resource in resources_of(s)} == {JOB_ARN + "fw-*"}
    assert resources_of(statement_for(template, "cloudwatch:DescribeAlarms")) == [
        "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"]
    assert resources_of(statement_for(template, "iot:ListJobs")) == ["*"]
    assert resources_of(statement_for(template, "iot:ListJobExecutionsForThing")) == [
        "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:thing/*"]
    assert resources_of(statement_for(template, "ssm:GetParameter")) == [
        "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/rollout-guard/kill-switch"]
    assert resources_of(statement_for(template, "events:PutEvents")) == [
        "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"]


def test_tracing_switch_turns_on_xray_and_the_powertools_tracer(variant):
    template = variant(tracing=True)

    _, function = one(template, "AWS::Lambda::Function")
    assert function["TracingConfig"] == {"Mode": "Active"}
    assert function["Environment"]["Variables"]["ROLLOUT_GUARD_TRACING"] == "true"
    assert resources_of(statement_for(template, "xray:PutTraceSegments")) == ["*"]


def test_a_forcing_rule_may_escalate_on_the_policy_jobs_only(variant, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump({"rules": [{"name": "hard", "match": {"alarm_name": "fw-*"}, "jobs": ["fw-*"],
                                                 "force": True}]}))

    template = variant(policyFile=str(policy))

    assert resources_of(statement_for(template, "iot:ListJobExecutionsForJob")) == [JOB_ARN + "fw-*"]
    assert resources_of(statement_for(template, "iot:CancelJobExecution")) == [
        JOB_ARN + "fw-*", "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:thing/*"]


def test_without_a_forcing_rule_there_is_no_escalation_permission(template, variant, tmp_path):
    allowed = {action for statement in statements(template) for action in statement["Action"]}
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump({"rules": [{"name": "soft", "match": {"alarm_name": "fw-*"}, "jobs": ["fw-*"]}]}))
    without_fleet = {action for statement in statements(variant(policyFile=str(policy)))
                     for action in statement["Action"]}

    assert "iot:CancelJobExecution" not in allowed
    assert not without_fleet & {"iot:ListJobExecutionsForJob", "iot:CancelJobExecution"}


def test_tag_condition_limits_cancel_to_opted_in_jobs(variant):
    template = variant(jobTagKey="rollout-guard", jobTagValue="opt-in")

    assert statement_for(template, "iot:CancelJob")["Condition"] == {
        "StringEquals": {"aws:ResourceTag/rollout-guard": "opt-in"}}


def test_a_rule_without_jobs_opens_job_star_and_alarm_only_policies_skip_the_defender_lookup(variant, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump({"rules": [{"name": "any-crash", "match": {"alarm_name": "fw-*"}}]}))

    template = variant(policyFile=str(policy))

    assert resources_of(statement_for(template, "iot:CancelJob")) == [JOB_ARN + "*"]
    allowed = {action for statement in statements(template) for action in statement["Action"]}
    assert "iot:ListJobExecutionsForThing" not in allowed and "iot:ListJobs" not in allowed


def test_alarm_rule_matches_only_transitions_into_alarm_of_the_prefixes(template):
    rules = resources(template, "AWS::Events::Rule")
    alarm = next(rule for rule in rules.values() if rule["EventPattern"].get("source") == ["aws.cloudwatch"])

    assert alarm["EventPattern"] == {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {
            "alarmName": [{"prefix": "fw-crash-rate-"}],
            "state": {"value": ["ALARM"], "actionsSuppressedBy": [{"exists": False}]},
            "$or": [
                {"previousState": {"value": [{"anything-but": ["ALARM"]}]}},
                {"previousState": {"actionsSuppressedBy": [{"exists": True}]}},
            ],
        },
    }


@pytest.mark.parametrize("name", ["eventbridge_alarm_metric", "eventbridge_alarm_math", "eventbridge_alarm_ok",
                                  "eventbridge_alarm_still_alarm", "eventbridge_alarm_insufficient",
                                  "eventbridge_alarm_composite_suppressed", "eventbridge_alarm_composite_suppressed_still",
                                  "eventbridge_alarm_composite_suppression_ended", "eventbridge_aws_other"])
def test_the_alarm_rule_lets_through_exactly_the_alerts_the_guard_acts_on(template, name):
    """The rule's pattern on an event bus (moto's EventBridge matcher, delivering to a queue) against the guard's
    own decision: the same events pass both."""
    import boto3
    from moto import mock_aws

    from rollout_guard.halts import alerts, decisions
    from tests.conftest import load_event

    rules = resources(template, "AWS::Events::Rule")
    pattern = next(rule for rule in rules.values() if rule["EventPattern"].get("source") == ["aws.cloudwatch"])
    event = load_event(name)
    event["detail"]["alarmName"] = "fw-crash-rate-" + event["detail"].get("alarmName", "x")
    with mock_aws():
        bus, sqs = boto3.client("events", region_name="eu-west-1"), boto3.client("sqs", region_name="eu-west-1")
        queue = sqs.create_queue(QueueName="matched")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        bus.put_rule(Name="alarms", EventPattern=json.dumps(pattern["EventPattern"]))
        bus.put_targets(Rule="alarms", Targets=[{"Id": "queue", "Arn": arn}])
        bus.put_events(Entries=[{"Source": event["source"], "DetailType": event["detail-type"],
                                 "Detail": json.dumps(event["detail"]), "Resources": event["resources"]}])
        matched = bool(sqs.receive_message(QueueUrl=queue).get("Messages"))
    try:
        acts = decisions.inaction_reason(alerts.parse(event)) is None
    except alerts.UnrecognisedAlert:
        acts = False

    assert matched == acts


def test_custom_rule_and_every_target_dead_letters(template):
    dlq = "${" + logical_id(template, "AWS::SQS::Queue", "GuardDeadLetter") + ".Arn}"
    rules = resources(template, "AWS::Events::Rule")

    assert {"source": ["com.acme.monitoring"]} in [rule["EventPattern"] for rule in rules.values()]
    fleet_errors = "${" + logical_id(template, "AWS::SQS::Queue", "FleetErrorQueue") + ".Arn}"
    for rule_id, rule in rules.items():
        (target,) = rule["Targets"]
        # the fleet's own events (Greengrass's) dead-letter with the fleet's messages, alerts with alerts
        assert target["DeadLetterConfig"] == {"Arn": fleet_errors if "GreengrassStatus" in rule_id else dlq}
        assert target["RetryPolicy"] == {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600}


def test_async_failures_go_to_the_encrypted_dead_letter_queue(template):
    queue_id, queue = one(template, "AWS::SQS::Queue", "GuardDeadLetter")
    _, invoke = one(template, "AWS::Lambda::EventInvokeConfig")
    _, subscription = one(template, "AWS::SNS::Subscription")

    assert invoke["MaximumRetryAttempts"] == 2 and invoke["MaximumEventAgeInSeconds"] == 3600
    assert invoke["DestinationConfig"] == {"OnFailure": {"Destination": "${" + queue_id + ".Arn}"}}
    assert subscription["RedrivePolicy"] == {"deadLetterTargetArn": "${" + queue_id + ".Arn}"}
    assert subscription["Protocol"] == "lambda"
    assert queue["KmsMasterKeyId"] == "${" + logical_id(template, "AWS::KMS::Key") + ".Arn}"


def test_topic_policy_lets_only_this_account_publish(template):
    topic_id, topic = one(template, "AWS::SNS::Topic", named="AlertTopic")
    _, policy = one(template, "AWS::SNS::TopicPolicy", named="AlertTopic")
    by_sid = {statement.get("Sid"): statement for statement in policy["PolicyDocument"]["Statement"]}

    assert topic["KmsMasterKeyId"] == "${" + logical_id(template, "AWS::KMS::Key") + ".Arn}"
    assert by_sid["CloudWatchAlarmsOfThisAccount"]["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert by_sid["CloudWatchAlarmsOfThisAccount"]["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "${AWS::AccountId}"}}
    assert by_sid["PrincipalsOfThisAccount"]["Principal"] == {
        "AWS": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
    deny = by_sid["DenyPublishFromOutsideTheAccount"]
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", {"AWS": "*"}, "sns:Publish")
    assert deny["Condition"] == {"StringNotEqualsIfExists": {"aws:SourceAccount": "${AWS::AccountId}",
                                                             "aws:PrincipalAccount": "${AWS::AccountId}"}}
    insecure = [s for s in by_sid.values() if s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport")]
    assert insecure and insecure[0]["Effect"] == "Deny"


def test_the_alarm_lambda_action_is_off_by_default_one_path_per_alarm(template):
    permissions = resources(template, "AWS::Lambda::Permission").values()

    assert not [p for p in permissions if p["Principal"] == "lambda.alarms.cloudwatch.amazonaws.com"]


def test_alarm_lambda_action_permission_is_scoped_to_the_prefixes(variant):
    permissions = resources(variant(alarmLambdaAction=True), "AWS::Lambda::Permission").values()
    alarm = [p for p in permissions if p["Principal"] == "lambda.alarms.cloudwatch.amazonaws.com"]

    assert len(alarm) == 1
    assert alarm[0]["SourceAccount"] == "${AWS::AccountId}"
    assert alarm[0]["SourceArn"] == "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:fw-crash-rate-*"


def test_existing_topics_are_subscribed_with_the_same_dead_letter_queue(variant):
    arn = "arn:aws:sns:eu-west-1:123456789012:ops-alerts"

    template = variant(alertTopicArns=[arn])

    topics = {s["TopicArn"]: s for s in resources(template, "AWS::SNS::Subscription").values()}
    assert arn in topics and "deadLetterTargetArn" in topics[arn]["RedrivePolicy"]


def test_alarms_on_function_errors_and_dead_letters(template):
    alarms = list(resources(template, "AWS::CloudWatch::Alarm").values())
    by_metric = {(a["Namespace"], a["MetricName"]): a for a in alarms if "MetricName" in a}  # one per metric is enough

    errors = by_metric[("AWS/Lambda", "Errors")]
    depth = by_metric[("AWS/SQS", "ApproximateNumberOfMessagesVisible")]
    assert errors["Dimensions"] == [{"Name": "FunctionName", "Value": "${" + logical_id(template, "AWS::Lambda::Function") + "}"}]
    assert depth["Dimensions"][0]["Name"] == "QueueName"
    assert errors["Threshold"] == depth["Threshold"] == 1


def test_dashboard_shows_the_guard_metrics_and_the_queue(template):
    _, dashboard = one(template, "AWS::CloudWatch::Dashboard")
    body = dashboard["DashboardBody"]

    for metric in ("AlertsReceived", "JobsCancelled", "JobsBlocked", "JobsFailed", "TimeToHalt",
                   "ApproximateNumberOfMessagesVisible"):
        assert f'"{metric}"' in body


def test_log_retention_from_context(template, variant):
    assert one(template, "AWS::Logs::LogGroup")[1]["RetentionInDays"] == 30
    assert one(variant(logRetentionDays=90), "AWS::Logs::LogGroup")[1]["RetentionInDays"] == 90


def test_dry_run_switch_reaches_the_function(variant):
    _, function = one(variant(dryRun=True), "AWS::Lambda::Function")

    assert function["Environment"]["Variables"]["ROLLOUT_GUARD_DRY_RUN"] == "true"


def test_outputs_name_every_resource_the_cli_reads(template, variant):
    from rollout_guard_cdk import outputs

    declared = {value for name, value in vars(outputs).items() if name.isupper()}
    named = {key: output["Value"] for key, output in template["Outputs"].items()}
    kinds = {key: template["Resources"][value.get("Ref") or value.get("Fn::GetAtt", [""])[0]]["Type"]
             for key, value in named.items() if "Ref" in value or "Fn::GetAtt" in value}

    assert set(named) == declared  # the project's guard has every feature whose resources the CLI reads
    assert kinds == {outputs.ALERT_TOPIC: "AWS::SNS::Topic", outputs.OPERATIONS_TOPIC: "AWS::SNS::Topic",
                     outputs.FUNCTION: "AWS::Lambda::Function", outputs.STATE_TABLE: "AWS::DynamoDB::Table",
                     outputs.DEAD_LETTER_QUEUE: "AWS::SQS::Queue", outputs.FLEET_QUEUE: "AWS::SQS::Queue",
                     outputs.FLEET_ERROR_QUEUE: "AWS::SQS::Queue", outputs.TIMER_DEAD_LETTER_QUEUE: "AWS::SQS::Queue",
                     outputs.DEFENDER_ALERT_ROLE: "AWS::IAM::Role", outputs.ESCALATION_SCHEDULER_ROLE: "AWS::IAM::Role",
                     outputs.ALARM_RULE: "AWS::Events::Rule"}
    assert named[outputs.FLEET_ERROR_QUEUE] != named[outputs.FLEET_QUEUE] != named[outputs.DEAD_LETTER_QUEUE]
    assert "#dashboards:name=" in render(named[outputs.DASHBOARD])
    bare = variant(fleetSignal=False, alarmNamePrefixes=[])
    assert not {outputs.FLEET_QUEUE, outputs.FLEET_ERROR_QUEUE, outputs.ALARM_RULE} & set(bare["Outputs"])


def test_the_cli_names_no_logical_id(template, throttled, archived, trailed):
    """The CLI finds the guard's resources by the stack's outputs: no string in cli/ is a resource's logical id or
    the start of one (as `"GuardStateTable"` was, matched against `GuardStateTable1A2B3C`)."""
    import ast
    import re

    ids = {logical for made in (template, throttled, archived, trailed) for logical in made["Resources"]}
    camel = re.compile(r"[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+")
    found = {(path.name, node.value) for path in (ROOT / "cli").rglob("*.py")
             for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Constant)
             and isinstance(node.value, str) and camel.fullmatch(node.value)}

    assert len(found) > 20  # the scan reads the CLI's strings (field names: FunctionName, QueueArn...)
    assert [(name, text) for name, text in sorted(found) if any(i.startswith(text) for i in ids)] == []


def test_invalid_policy_fails_the_synth_naming_the_rule(variant, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  - name: crash-rate\n    reason_code: crash\n")

    with pytest.raises(PolicyError, match="rule 'crash-rate': reason_code 'crash'"):
        variant(policyFile=str(policy))

    context = {"rollout-guard": {"policyFile": str(policy)}}
    done = subprocess.run([sys.executable, "app.py"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(tmp_path)})
    assert done.returncode != 0
    assert "invalid policy: rule 'crash-rate'" in done.stderr


@pytest.mark.parametrize(
    ("changes", "problem"),
    [({"alarmNamePrefix": ["fw-"]}, "unknown key 'alarmNamePrefix'"),
     ({"alertTopicArns": ["not-an-arn"]}, "not an SNS topic ARN"),
     ({"logRetentionDays": 31}, "logRetentionDays 31"),
     ({"reservedConcurrency": 50}, "reservedConcurrency"),
     ({"reservedConcurrency": 3, "fleetConsumers": 5}, "reservedConcurrency 3 must exceed fleetConsumers 5 by at "
                                                       "least 2"),
     ({"operationsTopicArn": "arn:aws:sqs:eu-west-1:123456789012:q"}, "operationsTopicArn"),
     ({"operationsEmail": "ops at example"}, "operationsEmail"),
     ({"killSwitchParameter": "no-slash"}, "killSwitchParameter")],
)
def test_invalid_context_fails_the_synth(variant, changes, problem):
    with pytest.raises(ConfigError, match=problem):
        variant(**changes)


def test_asset_holds_the_runtime_and_nothing_of_the_cli_or_tests(assembly, template):
    _, function = one(template, "AWS::Lambda::Function")
    asset = assembly / f"asset.{function['Code']['S3Key'].removesuffix('.zip')}"
    top = {path.name for path in asset.iterdir()}

    assert {"rollout_guard", "aws_lambda_powertools", "aws_xray_sdk", "wrapt", "policy.json"} <= top
    assert not top & {"rollout_guard_cli", "rollout_guard_local", "rollout_guard_cdk", "tests", "yaml", "boto3",
                      "botocore", "moto", "aws_cdk", "stacks"}
    assert not (asset / "rollout_guard" / "requirements.txt").exists()
    assert json.loads((asset / "policy.json").read_text()) == yaml.safe_load((ROOT / "policy.yaml").read_text())
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(asset.rglob("*")):
            archive.write(path, path.relative_to(asset))
    print(f"\nfunction asset: {zipped.tell() / 1e6:.2f} MB zipped")
    assert zipped.tell() < 5_000_000


def test_the_state_table_is_on_demand_expiring_encrypted_and_only_its_items_are_reachable(template):
    table_id, table = one(template, "AWS::DynamoDB::Table")
    (claims,) = [s for s in statements(template) if s.get("Sid") == "ExactlyOnceClaims"]
    (counts,) = [s for s in statements(template) if s.get("Sid") == "FleetSignalCounts"]

    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["SSESpecification"]["KMSMasterKeyId"] == "${" + logical_id(template, "AWS::KMS::Key") + ".Arn}"
    assert sorted(claims["Action"]) == ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem",
                                        "dynamodb:UpdateItem"]
    assert sorted(counts["Action"]) == ["dynamodb:BatchGetItem", "dynamodb:UpdateItem"]
    assert resources_of(claims) == resources_of(counts) == ["${" + table_id + ".Arn}"]


def test_the_deployed_table_has_the_schema_the_claims_adapter_writes(template):
    from rollout_guard.schema import TABLE_KEY, TABLE_TTL

    _, table = one(template, "AWS::DynamoDB::Table")

    assert (TABLE_KEY, TABLE_TTL) == ("id", "expiration")
    assert table["KeySchema"] == [{"AttributeName": TABLE_KEY, "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": TABLE_KEY, "AttributeType": "S"}]
    assert table["TimeToLiveSpecification"]["AttributeName"] == TABLE_TTL


def test_without_the_fleet_signal_the_function_may_not_count_in_the_table(variant):
    template = variant(fleetSignal=False)

    sids = {s.get("Sid") for s in statements(template)}
    assert "ExactlyOnceClaims" in sids and "FleetSignalCounts" not in sids


def test_a_throttle_rule_may_update_only_its_jobs_and_hears_its_alarms_return_to_ok(variant, tmp_path):
    policy = tmp_path / "throttle.yaml"
    policy.write_text("rules:\n"
                      "  - {name: slow, match: {alarm_name: 'fw-warn-*'}, jobs: ['fw-3-*'], action: throttle,\n"
                      "     throttle: {max_per_minute: 5}}\n"
                      "  - {name: stop, match: {alarm_name: 'fw-crash-*'}, jobs: ['fw-*']}\n")
    template = variant(policyFile=str(policy))

    (update,) = [s for s in statements(template) if "iot:UpdateJob" in s["Action"]]
    assert update["Sid"] == "ThrottleRuleJobs" and update["Action"] == ["iot:UpdateJob"]
    assert resources_of(update) == [JOB_ARN + "fw-3-*"]
    (_, recovered), = [(k, r) for k, r in resources(template, "AWS::Events::Rule").items() if "AlarmRecovered" in k]
    detail = recovered["EventPattern"]["detail"]
    # OK from any state: ALARM -> INSUFFICIENT_DATA -> OK restores too
    assert detail == {"alarmName": [{"prefix": "fw-crash-rate-"}], "state": {"value": ["OK"]}}


def test_an_escalation_timer_may_create_only_the_guards_schedules_and_pass_only_its_role(variant, tmp_path):
    policy = tmp_path / "escalate.yaml"
    policy.write_text("rules:\n"
                      "  - {name: slow, match: {alarm_name: 'fw-warn-*'}, jobs: ['fw-*'], action: throttle,\n"
                      "     throttle: {max_per_minute: 5, escalate_after: 30m}}\n")
    template = variant(policyFile=str(policy))

    allowed = {s["Sid"]: s for s in statements(template) if "Sid" in s}
    role_id, _ = one(template, "AWS::IAM::Role", "EscalationSchedulerRole")
    assert allowed["ScheduleEscalations"]["Action"] == ["scheduler:CreateSchedule", "scheduler:UpdateSchedule"]
    assert resources_of(allowed["ScheduleEscalations"]) == [
        "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/default/rollout-guard-escalate-*"]
    assert allowed["PassEscalationRole"]["Action"] == ["iam:PassRole"]
    assert resources_of(allowed["PassEscalationRole"]) == ["${" + role_id + ".Arn}"]
    assert allowed["PassEscalationRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}
    assert "cloudwatch:DescribeAlarms" in allowed["AlarmsStillFiring"]["Action"]
    (put,) = [s for s in statements(template, "EscalationSchedulerRole") if s["Sid"] == "PutEscalationDue"]
    assert put["Action"] == ["events:PutEvents"]
    assert resources_of(put) == ["arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"]
    trust = resources(template, "AWS::IAM::Role")[role_id]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "${AWS::AccountId}"}}
    (_, due), = [(k, r) for k, r in resources(template, "AWS::Events::Rule").items() if "EscalationDue" in k]
    assert due["EventPattern"] == {"source": ["rollout-guard.timer"], "detail-type": ["Rollout Escalation Due"]}
    variables = one(template, "AWS::Lambda::Function")[1]["Environment"]["Variables"]
    assert variables["ROLLOUT_GUARD_ESCALATION_ROLE_ARN"] == "${" + role_id + ".Arn}"


def test_a_throttle_timer_keeps_what_scheduler_could_not_deliver_and_its_failures_are_alarmed(variant, tmp_path):
    policy = tmp_path / "watch.yaml"
    policy.write_text("rules:\n"
                      "  - {name: slow, match: {alarm_name: 'fw-warn-*'}, jobs: ['fw-*'], action: throttle,\n"
                      "     throttle: {max_per_minute: 5}}\n")  # no escalate_after: every throttle has a timer
    template = variant(policyFile=str(policy))

    queue_id, queue = one(template, "AWS::SQS::Queue", "TimerDeadLetterQueue")
    assert queue["KmsMasterKeyId"] == "${" + one(template, "AWS::KMS::Key")[0] + ".Arn}"
    role_statements = {s["Sid"]: s for s in statements(template, "EscalationSchedulerRole")}
    assert role_statements["KeepUndeliveredTimers"]["Action"] == ["sqs:SendMessage"]
    assert resources_of(role_statements["KeepUndeliveredTimers"]) == ["${" + queue_id + ".Arn}"]
    encrypt = role_statements["EncryptUndeliveredTimers"]
    assert encrypt["Condition"]["StringEquals"]["kms:EncryptionContext:aws:sqs:arn"] == "${" + queue_id + ".Arn}"
    variables = one(template, "AWS::Lambda::Function")[1]["Environment"]["Variables"]
    assert variables["ROLLOUT_GUARD_ESCALATION_DLQ_ARN"] == "${" + queue_id + ".Arn}"
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    watched = {(a.get("Namespace"), a.get("MetricName")) for a in alarms.values()}
    assert {("AWS/Scheduler", "TargetErrorCount"), ("AWS/Scheduler", "InvocationDroppedCount"),
            ("AWS/Scheduler", "InvocationsFailedToBeSentToDeadLetterCount"),
            ("RolloutGuard", "ThrottlesStale")} <= watched
    assert [k for k in alarms if k.startswith("GuardTimerDeadLetterAlarm")]


def test_without_a_throttle_or_operator_rule_nothing_may_update_a_job(template, variant, tmp_path):
    policy = tmp_path / "cancel-only.yaml"
    policy.write_text("rules: [{name: stop, match: {alarm_name: 'fw-crash-*'}, jobs: ['fw-*']}]\n")
    cancels_only = variant(policyFile=str(policy))

    assert not [s for s in statements(cancels_only) if "iot:UpdateJob" in s["Action"]]
    assert not [k for k in resources(template, "AWS::Events::Rule") if "AlarmRecovered" in k]


def test_reverts_create_jobs_only_under_revert_ids(template):
    """The example policy's fleet rule has a revert: CreateJob and DescribeJob only on `<its jobs glob>-revert*`,
    its targets (things, the revert's own group), and the revert's own static group made and filled."""
    by_sid = {s["Sid"]: s for s in statements(template) if s.get("Sid")}
    group = "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:thinggroup/fw-*-revert*"
    thing = "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:thing/*"

    assert by_sid["CreateReverts"]["Action"] == ["iot:CreateJob"]
    assert sorted(resources_of(by_sid["CreateReverts"])) == sorted([JOB_ARN + "fw-*-revert*", thing, group])
    assert (by_sid["RevertIdsFree"]["Action"], resources_of(by_sid["RevertIdsFree"])) == (
        ["iot:DescribeJob"], [JOB_ARN + "fw-*-revert*"])
    assert resources_of(by_sid["ThingsThatSucceeded"]) == [JOB_ARN + "fw-*"]
    assert resources_of(by_sid["RevertGroups"]) == [group]
    assert sorted(resources_of(by_sid["RevertGroupMembers"])) == sorted([group, thing])
    creators = [s["Sid"] for s in statements(template) if any(a in s["Action"] for a in ("iot:CreateJob", "iot:*"))]
    assert creators == ["CreateReverts"]
