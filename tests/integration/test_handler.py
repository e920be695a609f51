"""The Lambda handler end to end on moto in-process: Powertools wiring, metrics, failure semantics."""

import io
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from unittest import mock

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.iot.models import iot_backends

from rollout_guard import handler, telemetry
from rollout_guard.bootstrap import build_runtime
from rollout_guard.halts.alerts import UnrecognisedAlert
from rollout_guard.halts.jobs import JobsError
from rollout_guard.policy import PolicyError
from rollout_guard.settings import Settings
from tests.conftest import ROOT, create_jobs, load_event


@pytest.fixture
def iot():
    with mock_aws():
        yield boto3.client("iot", region_name="eu-west-1")


def invoke(event, context, **settings):
    """The Lambda handler with a runtime built from the project's policy and `settings`."""
    runtime = build_runtime(Settings(**{"policy_file": str(ROOT / "policy.yaml"), **settings}))
    return handler.lambda_handler(event, context, runtime=runtime)


@pytest.fixture
def logs(monkeypatch):
    """The handler's log lines, parsed."""
    stream = io.StringIO()
    monkeypatch.setattr(telemetry.logger.registered_handler, "stream", stream)
    return lambda: [json.loads(line) for line in stream.getvalue().splitlines()]


def emf(captured: str) -> dict:
    """The metrics of the one EMF blob printed by the handler."""
    blobs = [json.loads(line) for line in captured.splitlines() if line.startswith("{") and "_aws" in line]
    assert len(blobs) == 1
    values = {metric["Name"]: blobs[0][metric["Name"]] for metric in blobs[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    return {name: sum(value) if isinstance(value, list) else value for name, value in values.items()}


def test_crash_alarm_cancels_the_job_and_emits_metrics(iot, lambda_context, capfd):
    create_jobs(iot, "fw-2-4-eu", "fw-2-4-us")
    iot_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"].jobs["fw-2-4-eu"].status = "IN_PROGRESS"

    result = invoke(load_event("eventbridge_alarm_metric"), lambda_context)

    assert [(d["jobId"], d["action"]) for d in result["decisions"]] == [("fw-2-4-eu", "canceled")]
    job = iot.describe_job(jobId="fw-2-4-eu")["job"]
    assert (job["status"], job["reasonCode"]) == ("CANCELED", "FIRMWARE_CRASH_RATE")
    assert job["comment"] == "fw-crash-rate-eu: Threshold Crossed: CrashRate moved to ALARM"
    assert iot.describe_job(jobId="fw-2-4-us")["job"]["status"] != "CANCELED"
    metrics = emf(capfd.readouterr().out)
    assert metrics["AlertsReceived"] == 1.0 and metrics["JobsCancelled"] == 1.0 and metrics["JobsFailed"] == 0.0


def test_logs_are_structured_with_the_alert_correlation_id(iot, lambda_context, logs):
    create_jobs(iot, "fw-2-4-eu")
    event = load_event("eventbridge_alarm_metric")

    invoke(event, lambda_context)

    handled = next(record for record in logs() if record["message"] == "Alert handled")
    assert handled["correlation_id"] == event["id"]
    assert handled["rule"] == "crash-rate" and handled["decisions"][0]["action"] == "canceled"
    assert handled["function_request_id"] == lambda_context.aws_request_id


def test_unrecognised_alert_raises_and_is_counted(iot, lambda_context, capfd, logs):
    with pytest.raises(UnrecognisedAlert):
        invoke({"hello": "world"}, lambda_context)

    assert emf(capfd.readouterr().out)["AlertsUnrecognised"] == 1.0
    error = next(record for record in logs() if record["message"] == "Unrecognised alert")
    assert error["level"] == "ERROR" and "not an EventBridge event" in error["problem"]


def test_failed_halt_raises_so_the_platform_retries(iot, lambda_context):
    create_jobs(iot, "fw-2-4-eu", "fw-2-4-us")
    runtime = build_runtime(Settings(policy_file=str(ROOT / "policy.yaml")))
    event = load_event("eventbridge_custom")  # names fw-2-4-eu and fw-2-4-us
    real_cancel = runtime.alert_path.jobs.cancel

    def cancel(job_id, *args):
        if job_id == "fw-2-4-eu":
            raise JobsError("CancelJob", "ServiceUnavailableException", "down")
        return real_cancel(job_id, *args)

    with mock.patch.object(runtime.alert_path.jobs, "cancel", side_effect=cancel):
        with pytest.raises(handler.HaltIncomplete) as caught:
            handler.lambda_handler(event, lambda_context, runtime=runtime)

    actions = {d["jobId"]: d["action"] for d in caught.value.outcome["decisions"]}
    assert actions == {"fw-2-4-eu": "failed", "fw-2-4-us": "canceled"}
    assert iot.describe_job(jobId="fw-2-4-us")["job"]["status"] == "CANCELED"


def test_a_job_that_does_not_exist_is_skipped_counted_and_does_not_retry(iot, lambda_context, capfd):
    create_jobs(iot, "fw-2-4-us")
    event = load_event("eventbridge_custom")  # names fw-2-4-eu (no such job) and fw-2-4-us

    result = invoke(event, lambda_context)

    actions = {d["jobId"]: (d["action"], d["detail"]) for d in result["decisions"]}
    assert actions["fw-2-4-eu"] == ("skipped", "no such job") and actions["fw-2-4-us"][0] == "canceled"
    metrics = emf(capfd.readouterr().out)
    assert metrics["JobsNotFound"] == 1.0 and metrics["JobsFailed"] == 0.0


def test_dry_run_switch_cancels_nothing(iot, lambda_context):
    create_jobs(iot, "fw-2-4-eu")

    result = invoke(load_event("sns_alarm"), lambda_context, dry_run=True)

    assert result["decisions"][0]["action"] == "would_cancel"
    assert iot.describe_job(jobId="fw-2-4-eu")["job"]["status"] != "CANCELED"


# The runtime is never built, so the invocation ends before any metric: Powertools warns of an empty flush.
@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_invalid_policy_fails_the_invocation(iot, lambda_context, tmp_path, monkeypatch):
    bad = tmp_path / "policy.json"
    bad.write_text('{"rules": [{"name": "r", "reason_code": "lower"}]}')
    monkeypatch.setenv("ROLLOUT_GUARD_POLICY_FILE", str(bad))  # the function's own runtime reads its environment
    handler.default_runtime.cache_clear()

    with pytest.raises(PolicyError, match="rule 'r'"):
        handler.lambda_handler(load_event("sns_alarm"), lambda_context)
    handler.default_runtime.cache_clear()


def test_halts_are_announced_on_eventbridge_and_timed(iot, lambda_context, capfd):
    sqs = boto3.client("sqs", region_name="eu-west-1")
    events = boto3.client("events", region_name="eu-west-1")
    queue = sqs.create_queue(QueueName="halts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="halts", EventPattern=json.dumps({"detail-type": ["Rollout Halted"]}))
    events.put_targets(Rule="halts", Targets=[{"Id": "q", "Arn": queue_arn}])
    create_jobs(iot, "fw-2-4-eu")
    event = load_event("eventbridge_alarm_metric")
    five_seconds_ago = datetime.now(timezone.utc) - timedelta(seconds=5)
    event["detail"]["state"]["timestamp"] = five_seconds_ago.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"

    invoke(event, lambda_context, event_bus="default")

    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    detail = json.loads(messages[0]["Body"])["detail"]
    assert len(messages) == 1
    assert (detail["jobId"], detail["rule"], detail["reasonCode"], detail["force"]) == (
        "fw-2-4-eu", "crash-rate", "FIRMWARE_CRASH_RATE", False)
    assert detail["alert"]["alarmName"] == "fw-crash-rate-eu"
    metrics = emf(capfd.readouterr().out)
    assert metrics["HaltEventsFailed"] == 0.0
    assert 5000 <= metrics["TimeToHalt"] < 60_000


def test_no_halt_no_announcement(iot, lambda_context, capfd):
    invoke(load_event("eventbridge_alarm_ok"), lambda_context, event_bus="default")

    metrics = emf(capfd.readouterr().out)
    assert "TimeToHalt" not in metrics and "HaltEventsFailed" not in metrics


def test_tracing_switch_wraps_the_work_in_the_powertools_tracer(iot, lambda_context):
    create_jobs(iot, "fw-2-4-eu")
    runtime = build_runtime(Settings(policy_file=str(ROOT / "policy.yaml"), tracing=True))

    result = handler.lambda_handler(load_event("sns_alarm"), lambda_context, runtime=runtime)

    assert runtime.alert_path.tracer is not None and type(runtime.alert_path.tracer).__name__ == "Tracer"
    assert result["decisions"][0]["action"] == "canceled"


def test_without_tracing_the_xray_sdk_is_never_loaded(tmp_path):
    policy = tmp_path / "policy.json"
    policy.write_text('{"rules": [{"name": "any"}]}')
    script = "import sys, rollout_guard.handler as h; h.default_runtime(); print('aws_xray_sdk' in sys.modules)"
    env = {**os.environ, "ROLLOUT_GUARD_POLICY_FILE": str(policy)}

    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)

    assert done.stdout.strip() == "False", done.stderr


def test_the_alert_path_loads_neither_the_fleet_signal_nor_the_gate(tmp_path):
    policy = tmp_path / "policy.json"
    policy.write_text('{"rules": [{"name": "any"}]}')
    modules = ["rollout_guard.fleet.detector", "rollout_guard.fleet.batch_plan", "rollout_guard.fleet.dark_checks",
               "rollout_guard.fleet.evaluation", "rollout_guard.fleet.casualties", "rollout_guard.adapters.dynamo_fleet",
               "rollout_guard.halts.gate", "aws_lambda_powertools.utilities.batch"]
    script = ("import sys, rollout_guard.handler as h; h.default_runtime(); "
              f"print([m for m in {modules!r} if m in sys.modules])")
    env = {**os.environ, "ROLLOUT_GUARD_POLICY_FILE": str(policy), "ROLLOUT_GUARD_STATE_TABLE": "state"}

    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)

    assert done.stdout.strip() == "[]", done.stderr


def test_an_invocation_near_its_timeout_hands_the_work_to_a_retry(iot, lambda_context, monkeypatch):
    create_jobs(iot, "fw-2-4-eu")
    monkeypatch.setattr(lambda_context, "get_remaining_time_in_millis", lambda: 5_000)

    with pytest.raises(handler.HaltIncomplete) as caught:
        invoke(load_event("sns_alarm"), lambda_context)

    assert caught.value.outcome["decisions"][0]["action"] == "failed"
    assert iot.describe_job(jobId="fw-2-4-eu")["job"]["status"] != "CANCELED"


def test_unrecognised_alert_is_kept_in_the_dead_letter_queue_without_a_retry(iot, lambda_context):
    sqs = boto3.client("sqs", region_name="eu-west-1")
    queue = sqs.create_queue(QueueName="dlq")["QueueUrl"]

    result = invoke({"hello": "world"}, lambda_context, dead_letter_queue_url=queue)

    assert result["status"] == "rejected" and "not an EventBridge event" in result["detail"]
    (message,) = sqs.receive_message(QueueUrl=queue)["Messages"]
    kept = json.loads(message["Body"])
    assert kept["event"] == {"hello": "world"} and kept["problem"] == result["detail"]


def test_a_transient_failure_raises_for_the_platform_to_retry(iot, lambda_context):
    runtime = build_runtime(Settings(policy_file=str(ROOT / "policy.yaml"),
                                     dead_letter_queue_url="https://sqs.eu-west-1.amazonaws.com/123456789012/dlq"))
    event = load_event("eventbridge_alarm_composite_untagged")  # names no job: the rule lists active jobs

    with pytest.raises(JobsError):
        with mock.patch.object(runtime.alert_path.jobs, "active_job_ids",
                               side_effect=JobsError("ListJobs", "ServiceUnavailableException", "down")):
            handler.lambda_handler(event, lambda_context, runtime=runtime)


def test_a_later_forcing_alert_escalates_a_soft_cancel(iot, lambda_context, tmp_path):
    backend = iot_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"]
    things = [iot.create_thing(thingName=f"dev-{i}")["thingArn"] for i in range(3)]
    iot.create_job(jobId="fw-2-4-eu", targets=things, document="{}")
    for thing in ("dev-0", "dev-1"):
        backend.job_executions[("fw-2-4-eu", thing)].status = "IN_PROGRESS"
    soft, hard = tmp_path / "soft.json", tmp_path / "hard.json"
    soft.write_text('{"rules": [{"name": "soft", "reason_code": "FIRST_LOOK"}]}')
    hard.write_text('{"rules": [{"name": "hard", "force": true, "reason_code": "CRASH_LOOP"}]}')
    first = invoke(load_event("sns_custom"), lambda_context, policy_file=str(soft))

    second = invoke(load_event("sns_custom"), lambda_context, policy_file=str(hard))

    assert first["decisions"][0]["action"] == "canceled"
    assert second["decisions"][0]["action"] == "escalated"
    assert "force-cancelled 2" in second["decisions"][0]["detail"]
    executions = {thing: backend.job_executions[("fw-2-4-eu", thing)] for thing in ("dev-0", "dev-1", "dev-2")}
    assert [executions[t].status for t in ("dev-0", "dev-1")] == ["CANCELED", "CANCELED"]
    assert executions["dev-0"].force_canceled and executions["dev-2"].status == "QUEUED"


def test_alert_text_enters_logs_only_as_structured_fields(iot, lambda_context, logs):
    marker = "MARKER-\\n-{alarm}-%s-\u202e"
    create_jobs(iot, "fw-2-4-eu")
    event = load_event("eventbridge_alarm_metric")
    event["detail"]["state"]["reason"] = marker
    invoke(event, lambda_context)
    junk = {"Records": [{"Sns": {"Message": json.dumps({"hello": marker})}}]}
    with pytest.raises(UnrecognisedAlert):
        invoke(junk, lambda_context)

    records = logs()
    assert records and all(marker not in record["message"] for record in records)
    handled = next(record for record in records if record["message"] == "Alert handled")
    assert handled["alert"]["reason"] == marker  # kept whole, as a field value


def test_no_log_call_formats_its_message():
    source = "\n".join(path.read_text() for path in (ROOT / "lambdas" / "rollout_guard").rglob("*.py"))

    assert not re.search(r"logger\.\w+\(\s*f[\"']", source)
    assert not re.search(r"logger\.\w+\([^)]*%", source)


def test_a_deeply_nested_field_neither_fails_the_log_nor_the_halt(iot, lambda_context, logs):
    create_jobs(iot, "fw-2-4-eu")
    deep = "x"
    for _ in range(5_000):
        deep = [deep]
    event = load_event("eventbridge_custom")
    event["detail"]["jobIds"] = ["fw-2-4-eu", deep]

    result = invoke(event, lambda_context)

    assert [d["action"] for d in result["decisions"]] == ["skipped", "canceled"]
    assert len(json.dumps(result)) < 5_000  # the result itself serialises, as the Lambda runtime must
    assert any(record["message"] == "Alert handled" for record in logs())


def test_a_logger_that_fails_cannot_fail_an_invocation_after_a_cancel(iot, lambda_context, monkeypatch):
    create_jobs(iot, "fw-2-4-eu")

    def broken(*args, **kwargs):
        raise RecursionError("the formatter gave up")

    monkeypatch.setattr(telemetry.logger.registered_handler, "emit", broken)

    result = invoke(load_event("eventbridge_alarm_metric"), lambda_context)

    assert result["decisions"][0]["action"] == "canceled"
    assert iot.describe_job(jobId="fw-2-4-eu")["job"]["status"] == "CANCELED"


def test_a_throttle_held_past_max_throttled_is_announced_once_and_watched_on(iot, lambda_context, capfd, tmp_path):
    from rollout_guard.halts.alert_kinds import ESCALATION_DUE_TYPE, TIMER_SOURCE
    from rollout_guard.halts.throttle.records import Throttled

    sqs, events = boto3.client("sqs", region_name="eu-west-1"), boto3.client("events", region_name="eu-west-1")
    queue = sqs.create_queue(QueueName="notices")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="notices", EventPattern=json.dumps({"detail-type": ["Rollout Throttle Stale"]}))
    events.put_targets(Rule="notices", Targets=[{"Id": "q", "Arn": queue_arn}])
    cloudwatch = boto3.client("cloudwatch", region_name="eu-west-1")
    cloudwatch.put_metric_alarm(AlarmName="fw-warn-eu", MetricName="CrashRate", Namespace="Fleet", Statistic="Average",
                                Period=60, EvaluationPeriods=1, Threshold=2, ComparisonOperator="GreaterThanThreshold")
    cloudwatch.set_alarm_state(AlarmName="fw-warn-eu", StateValue="INSUFFICIENT_DATA", StateReason="no data")
    create_jobs(iot, "fw-2-4-eu")
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules: [{name: slow, match: {alarm_name: 'fw-warn-*'}, jobs: ['fw-*'], reason_code: WARNED, "
                      "action: throttle, throttle: {max_per_minute: 5, max_throttled: 1h}}]")
    runtime = build_runtime(Settings(policy_file=str(policy), event_bus="default"))
    runtime.alert_path.throttles.put(Throttled("fw-2-4-eu", "slow", "fw-warn-eu", None, None, {"maximumPerMinute": 5}, None,
                                    "2026-12-01T08:00:00+00:00"))

    def timer(due: str) -> dict:
        return {"version": "0", "id": f"t-{due}", "source": TIMER_SOURCE, "detail-type": ESCALATION_DUE_TYPE,
                "detail": {"jobId": "fw-2-4-eu", "alarmName": "fw-warn-eu", "rule": "slow",
                           "throttledAt": "2026-12-01T08:00:00+00:00", "dueAt": due}}

    stale = handler.lambda_handler(timer("2026-12-01T09:00:00+00:00"), lambda_context, runtime=runtime)
    again = handler.lambda_handler(timer("2026-12-01T09:15:00+00:00"), lambda_context, runtime=runtime)

    [decision] = stale["decisions"]
    assert decision["action"] == "skipped" and "left for an operator" in decision["detail"]
    assert again["decisions"] == [] and "looking again at" in again["detail"]
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1
    detail = json.loads(messages[0]["Body"])["detail"]
    assert (detail["jobId"], detail["action"], detail["rule"]) == ("fw-2-4-eu", "still throttles", "slow")
    assert runtime.alert_path.throttles.get("fw-2-4-eu").stale_at is not None
    blobs = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{") and "_aws" in line]
    assert [blob.get("ThrottlesStale") for blob in blobs] == [[1.0], None]
