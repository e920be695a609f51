"""Every field the parser reads, given the wrong type, names itself in the one-line reason an operator finds in the
dead-letter queue; and every optional field, when present, reaches the alert."""

import json

import pytest

from rollout_guard.halts import alerts
from rollout_guard.halts.alerts import UnrecognisedAlert
from rollout_guard_local import samples


def set_path(event: dict, path: str, value) -> dict:
    """Set a dotted path (numbers index lists); `Message.` enters an SNS record's JSON message."""
    if path.startswith("Message."):
        record = event["Records"][0]["Sns"]
        message = json.loads(record["Message"])
        set_path(message, path.removeprefix("Message."), value)
        record["Message"] = json.dumps(message)
        return event
    *parents, last = path.split(".")
    node = event
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[int(last) if isinstance(node, list) else last] = value
    return event


EB, ACTION, SNS_ALARM = samples.alarm_eventbridge, samples.alarm_action, samples.alarm_sns
CASES = [
    (EB, "detail", 7, "detail must be an object"),
    (EB, "detail.configuration", 7, "detail.configuration must be an object"),
    (EB, "detail.configuration.metrics", 7, "configuration.metrics must be a list"),
    (EB, "detail.configuration.metrics.0", 7, "configuration.metrics[0] must be an object"),
    (EB, "detail.configuration.metrics.0.metricStat", 7, "configuration.metrics[0].metricStat must be an object"),
    (EB, "detail.configuration.metrics.0.metricStat.metric", 7, "metricStat.metric must be an object"),
    (EB, "detail.configuration.metrics.0.metricStat.metric.dimensions", 7, "metric.dimensions must be an object"),
    (EB, "detail.alarmTags", 7, "detail.alarmTags must be an object"),
    (EB, "detail.state", 7, "detail.state must be an object"),
    (EB, "detail.state.value", 7, "detail.state.value must be a non-empty string"),
    (EB, "detail.state.reason", 7, "detail.state.reason must be a non-empty string"),
    (EB, "detail.state.timestamp", 7, "detail.state.timestamp must be a non-empty string"),
    (EB, "detail.state.actionsSuppressedBy", 7, "detail.state.actionsSuppressedBy must be a non-empty string"),
    (EB, "detail.previousState", 7, "detail.previousState must be an object"),
    (EB, "detail.previousState.value", 7, "detail.previousState.value must be a non-empty string"),
    (EB, "detail.alarmName", 7, "alarm name must be a non-empty string"),
    (EB, "id", 7, "id must be a non-empty string"),
    (EB, "source", 7, "source must be a non-empty string"),
    (ACTION, "alarmData", 7, "alarmData must be an object"),
    (ACTION, "alarmData.configuration", 7, "alarmData.configuration must be an object"),
    (ACTION, "alarmData.state", 7, "alarmData.state must be an object"),
    (ACTION, "alarmData.previousState", 7, "alarmData.previousState must be an object"),
    (ACTION, "alarmArn", 7, "alarmArn must be a non-empty string"),
    (ACTION, "time", 7, "time must be a non-empty string"),
    (ACTION, "source", "aws.other", "an alarmData payload must come from source aws.cloudwatch"),
    (SNS_ALARM, "Records", 7, "Records must be a list"),
    (SNS_ALARM, "Records.0", 7, "Records[0] must be an object"),
    (SNS_ALARM, "Records.0.Sns.MessageId", 7, "Sns.MessageId must be a non-empty string"),
    (SNS_ALARM, "Records.0.Sns.Message", "[1]", "Sns.Message must be an object"),
    (SNS_ALARM, "Records.0.Sns.Message", "{not json", "Sns.Message is not JSON"),
    (SNS_ALARM, "Message.Trigger", 7, "Trigger must be an object"),
    (SNS_ALARM, "Message.Trigger.Dimensions", 7, "Trigger.Dimensions must be a list"),
    (SNS_ALARM, "Message.Trigger.Dimensions.0", 7, "Trigger.Dimensions[0] must be an object"),
    (SNS_ALARM, "Message.NewStateReason", 7, "NewStateReason must be a non-empty string"),
    (SNS_ALARM, "Message.StateChangeTime", 7, "StateChangeTime must be a non-empty string"),
    (SNS_ALARM, "Message.OldStateValue", 7, "OldStateValue must be a non-empty string"),
    (SNS_ALARM, "Message.NewStateValue", None, "alarm state is missing"),
    (samples.alarm_sns_math, "Message.Trigger.Metrics", 7, "Trigger.Metrics must be a list"),
    (samples.alarm_sns_math, "Message.Trigger.Metrics.1", 7, "Trigger.Metrics[1] must be an object"),
    (samples.alarm_sns_math, "Message.Trigger.Metrics.1.MetricStat", 7, "MetricStat must be an object"),
    (samples.alarm_sns_math, "Message.Trigger.Metrics.1.MetricStat.Metric", 7, "MetricStat.Metric must be an object"),
    (samples.alarm_sns_math, "Message.Trigger.Metrics.1.MetricStat.Metric.Dimensions", 7,
     "MetricStat.Metric.Dimensions must be a list"),
    (samples.defender_sns, "Message.behavior", 7, "behavior must be an object"),
    (samples.defender_sns, "Message.behavior.name", 7, "behavior.name must be a non-empty string"),
    (samples.defender_sns, "Message.violationId", 7, "violationId must be a non-empty string"),
    (samples.custom_sns, "Message.source", 7, "source must be a non-empty string"),
    (samples.custom_sns, "Message.severity", 7, "severity must be a non-empty string"),
    (samples.custom_sns, "Message.reason", 7, "reason must be a non-empty string"),
    (samples.custom_sns, "Records.0.Sns.Timestamp", 7, "Sns.Timestamp must be a non-empty string"),
    (samples.custom_eventbridge, "detail.jobIds", 7, "jobIds must be a list"),
    (samples.custom_eventbridge, "time", 7, "time must be a non-empty string"),
    (samples.custom_eventbridge, "detail", 7, "detail must be an object"),
]


@pytest.mark.parametrize(("build", "path", "value", "problem"), CASES,
                         ids=[f"{build.__name__}:{path}" for build, path, *_ in CASES])
def test_a_field_of_the_wrong_type_names_itself(build, path, value, problem):
    with pytest.raises(UnrecognisedAlert) as caught:
        alerts.parse(set_path(build(), path, value))

    assert str(caught.value) == problem


@pytest.mark.parametrize(("event", "problem"), [
    ([], "expected a JSON object, got list"),
    ({"x": 1}, "not an EventBridge event, an SNS event or a CloudWatch alarm action payload"),
    ({"Records": []}, "an SNS event must hold exactly one record, got 0"),
    (set_path(samples.alarm_eventbridge(), "source", "aws.ec2"),
     "EventBridge event aws.ec2 / 'CloudWatch Alarm State Change' is not an alert the guard handles"),
    (samples.sns_envelope({"x": 1}), "the SNS message is not a CloudWatch alarm, a Defender violation or a custom alert"),
    (set_path(samples.custom_eventbridge(), "detail", {"severity": "x"}), "a custom alert must carry jobId or jobIds"),
])
def test_each_shape_that_is_not_an_alert_says_why(event, problem):
    with pytest.raises(UnrecognisedAlert) as caught:
        alerts.parse(event)

    assert str(caught.value) == problem


def test_a_custom_eventbridge_alert_carries_its_id_and_time():
    event = samples.custom_eventbridge(job_ids=["fw-1"], severity="high", reason="spike")

    alert = alerts.parse(event)

    assert (alert.correlation_id, alert.timestamp, alert.source, alert.severity, alert.reason) == (
        event["id"], event["time"], "com.acme.monitoring", "high", "spike")


def test_an_alarm_action_carries_its_arn_and_time_as_correlation_and_its_state_fields():
    event = samples.alarm_action(job_id="fw-7")

    alert = alerts.parse(event)

    assert alert.correlation_id == f"{event['alarmArn']}@{event['time']}"
    assert (alert.job_ids, alert.reason, alert.timestamp) == (
        ("fw-7",), "Threshold Crossed: CrashRate moved to ALARM", "2026-11-29T10:00:00.000+0000")
    del event["time"]
    assert alerts.parse(event).correlation_id == event["alarmArn"]


def test_an_sns_alarm_carries_its_message_id_reason_time_and_previous_state():
    event = samples.alarm_sns(job_id="fw-8", previous_state="INSUFFICIENT_DATA")

    alert = alerts.parse(event)

    assert (alert.correlation_id, alert.previous_state, alert.reason, alert.timestamp, alert.job_ids) == (
        event["Records"][0]["Sns"]["MessageId"], "INSUFFICIENT_DATA", "Threshold Crossed: CrashRate moved to ALARM",
        "2026-11-29T10:00:00.000+0000", ("fw-8",))


def test_optional_parts_may_be_absent_and_defaults_are_exact():
    eventbridge = samples.alarm_eventbridge()
    del eventbridge["detail"]["configuration"]
    action = samples.alarm_action()
    del action["alarmData"]["configuration"]
    sns_alarm = set_path(samples.alarm_sns(), "Message.NewStateReason", None)
    set_path(sns_alarm, "Message.Trigger", None)
    defender = set_path(samples.defender_sns(), "Message.behavior", None)
    set_path(defender, "Message.violationId", None)
    set_path(defender, "Message.violationEventTime", "yesterday")

    assert alerts.parse(eventbridge).job_ids == () and alerts.parse(action).job_ids == ()
    parsed_sns = alerts.parse(sns_alarm)
    assert (parsed_sns.reason, parsed_sns.job_ids) == ("", ())
    parsed = alerts.parse(defender)
    assert parsed.reason == "Device Defender behavior unnamed behavior violated on dev-canary-1"
    assert parsed.correlation_id == defender["Records"][0]["Sns"]["MessageId"] and parsed.timestamp is None


def test_an_sns_custom_alert_is_correlated_by_its_message_id():
    event = samples.custom_sns()

    assert alerts.parse(event).correlation_id == event["Records"][0]["Sns"]["MessageId"]


def test_a_custom_alert_naming_no_job_says_so_exactly():
    with pytest.raises(UnrecognisedAlert) as caught:
        alerts.parse(samples.sns_envelope({"jobIds": []}))

    assert str(caught.value) == "a custom alert must name at least one job"


def test_an_sns_alarm_reads_job_ids_from_its_dimensions_and_its_metrics_alike():
    event = samples.alarm_sns_math(job_id="fw-math")
    set_path(event, "Message.Trigger.Dimensions", [{"name": "JobId", "value": "fw-dim"}])

    assert alerts.parse(event).job_ids == ("fw-dim", "fw-math")


def test_the_summary_names_a_suppression_in_force():
    summary = alerts.parse(samples.alarm_composite(suppressed_by="Alarm")).summary()

    assert summary["actionsSuppressedBy"] == "Alarm" and "previousActionsSuppressedBy" not in summary
