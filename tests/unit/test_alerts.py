"""Given each delivery shape, when parsed, then the alert carries the right kind, state and jobs."""

import json

import pytest

from rollout_guard.halts import alert_kinds, alerts
from rollout_guard.halts.alert_kinds import ALARM, CUSTOM, DEFENDER
from rollout_guard.halts.alerts import UnrecognisedAlert
from rollout_guard_local import samples
from tests.conftest import load_event


@pytest.mark.parametrize(
    ("event", "via", "state", "previous", "job_ids"),
    [
        ("eventbridge_alarm_metric", "eventbridge", "ALARM", "OK", ("fw-2-4-eu",)),
        ("eventbridge_alarm_math", "eventbridge", "ALARM", "OK", ("fw-2-4-eu",)),
        ("eventbridge_alarm_composite_tagged", "eventbridge", "ALARM", "OK", ("fw-2-4-eu",)),
        ("eventbridge_alarm_composite_untagged", "eventbridge", "ALARM", "OK", ()),
        ("eventbridge_alarm_ok", "eventbridge", "OK", "ALARM", ("fw-2-4-eu",)),
        ("eventbridge_alarm_bad_and_tagged_ids", "eventbridge", "ALARM", "OK", ("fw 2.4/eu", "fw-2-4-us")),
        ("sns_alarm", "sns", "ALARM", "OK", ("fw-2-4-eu",)),
        ("sns_alarm_math", "sns", "ALARM", "OK", ("fw-2-4-eu",)),
        ("alarm_action", "alarm_action", "ALARM", "OK", ("fw-2-4-eu",)),
    ],
)
def test_alarm_shapes(event, via, state, previous, job_ids):
    alert = alerts.parse(load_event(event))

    assert alert.kind == ALARM
    assert alert.via == via
    assert alert.alarm_name.startswith("fw-crash-rate-")
    assert (alert.state, alert.previous_state) == (state, previous)
    assert alert.job_ids == job_ids
    assert alert.reason.startswith("Threshold Crossed")
    assert alert.timestamp == "2026-11-29T10:00:00.000+0000"
    assert alert.correlation_id


def test_eventbridge_alarm_uses_event_id_as_correlation_id():
    event = load_event("eventbridge_alarm_metric")

    assert alerts.parse(event).correlation_id == event["id"]


def test_defender_violation():
    alert = alerts.parse(load_event("sns_defender_in_alarm"))

    assert alert.kind == DEFENDER
    assert alert.thing_name == "dev-canary-1"
    assert alert.security_profile == "fw-canary-behaviour"
    assert alert.violation_event_type == "in-alarm"
    assert alert.job_ids == ()
    assert "CrashReports" in alert.reason
    assert alert.timestamp.startswith("2026-")


@pytest.mark.parametrize(
    ("event", "via", "job_ids", "severity"),
    [
        ("eventbridge_custom", "eventbridge", ("fw-2-4-eu", "fw-2-4-us"), "CRITICAL"),
        ("sns_custom", "sns", ("fw-2-4-eu",), "Critical"),
    ],
)
def test_custom_alerts(event, via, job_ids, severity):
    alert = alerts.parse(load_event(event))

    assert alert.kind == CUSTOM
    assert alert.via == via
    assert alert.source == "com.acme.monitoring"
    assert alert.job_ids == job_ids
    assert alert.severity == severity
    assert alert.reason == "Crash spike on fw 2.4"


def test_custom_alert_merges_job_id_and_job_ids_without_duplicates():
    event = load_event("eventbridge_custom")
    event["detail"]["jobId"] = "fw-2-4-us"

    assert alerts.parse(event).job_ids == ("fw-2-4-us", "fw-2-4-eu")


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ("eventbridge_alarm_no_name", "alarm name is missing"),
        ("eventbridge_alarm_no_state", "alarm state is missing"),
        ("eventbridge_custom_no_jobs", "must carry jobId or jobIds"),
        ("eventbridge_aws_other", "aws.ec2"),
        ("sns_not_json", "not JSON"),
        ("sns_unknown_json", "not a CloudWatch alarm"),
    ],
)
def test_unrecognisable_inputs(event, problem):
    with pytest.raises(UnrecognisedAlert, match=problem):
        alerts.parse(load_event(event))


@pytest.mark.parametrize(
    "event",
    [
        None,
        [],
        "ALARM",
        {},
        {"Records": []},
        {"Records": [{"Sns": {"Message": "{}"}}, {"Sns": {"Message": "{}"}}]},
        {"Records": [{"Sns": {"Message": 7}}]},
        {"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change", "detail": "x"},
        {"source": "aws.cloudwatch", "alarmData": {"alarmName": "a"}},
        {"source": "com.acme", "detail-type": "x", "detail": {"jobIds": "fw-1"}},
        {"source": "com.acme", "detail-type": "x", "detail": {"jobIds": []}},
        {"source": "com.acme", "detail-type": "x", "detail": {"jobId": "fw-1", "severity": 3}},
    ],
)
def test_junk_is_rejected_cleanly(event):
    with pytest.raises(UnrecognisedAlert):
        alerts.parse(event)


def test_non_string_job_ids_are_kept_for_reporting_not_dropped():
    event = load_event("eventbridge_custom")
    event["detail"]["jobIds"] = ["fw-1", 42, None]

    assert alerts.parse(event).job_ids == ("fw-1", 42, None)


def test_an_operator_event_whose_detail_type_is_not_text_is_refused_in_one_line():
    from rollout_guard_cli import operator_requests

    for detail_type in ([], {"x": 1}, 7):
        event = {**operator_requests.throttle_request(), "detail-type": detail_type}
        with pytest.raises(alerts.UnrecognisedAlert):
            alerts.parse(event)


def test_an_operator_throttle_is_read_with_the_policys_checks():
    from rollout_guard_cli import operator_requests

    alert = alerts.parse(operator_requests.throttle_request(max_per_minute=7, abort={"failureType": "ALL", "percent": 20,
                                                                             "minExecuted": 5}))
    assert alert.request is not None and alert.request.action == "throttle"
    assert (alert.request.throttle.max_per_minute, alert.request.throttle.abort.failure_type) == (7, "ALL")
    with pytest.raises(alerts.UnrecognisedAlert, match="throttle request: throttle.max_per_minute 0"):
        alerts.parse(operator_requests.throttle_request(max_per_minute=0))


# --- SNS records, Defender messages, custom alerts: each edge once a surviving mutant -------------------------


def sns(message) -> dict:
    return samples.sns_envelope(message)


@pytest.mark.parametrize(("record", "problem"), [
    ({"Sns": {"Message": ""}}, "Sns.Message must be a non-empty string"),
    ({"Sns": {}}, "Sns.Message is missing"),
    ({"Sns": {"Message": 7}}, "Sns.Message must be a non-empty string"),
    ({"Sns": "x"}, "Records[0].Sns must be an object"),
])
def test_an_sns_record_without_a_usable_message_is_refused(record, problem):
    with pytest.raises(UnrecognisedAlert) as caught:
        alerts.parse({"Records": [record]})

    assert str(caught.value) == problem


@pytest.mark.parametrize(("drop", "problem"), [("violationEventType", "violationEventType is missing"),
                                               ("securityProfileName", "securityProfileName is missing"),
                                               ("thingName", "thingName is missing")])
def test_a_defender_message_needs_its_profile_its_event_type_and_its_thing(drop, problem):
    message = json.loads(samples.defender_sns()["Records"][0]["Sns"]["Message"])
    del message[drop]

    with pytest.raises(UnrecognisedAlert) as caught:
        alerts.parse(sns(message))

    assert str(caught.value) == problem


def test_a_defender_message_reads_every_field():
    alert = alerts.parse(samples.defender_sns(thing_name="dev-9", security_profile="fw-x",
                                              violation_event_type="alarm-cleared"))

    assert (alert.kind, alert.via, alert.thing_name, alert.security_profile, alert.violation_event_type) == (
        alert_kinds.DEFENDER, "sns", "dev-9", "fw-x", "alarm-cleared")
    assert alert.reason == "Device Defender behavior CrashReports violated on dev-9"
    assert alert.timestamp == "2026-11-30T10:00:00+00:00"  # violationEventTime 1796032800000 ms
    assert alert.correlation_id == json.loads(samples.defender_sns(
        thing_name="dev-9", security_profile="fw-x", violation_event_type="alarm-cleared")["Records"][0]["Sns"][
        "Message"])["violationId"]


def test_an_sns_custom_alert_with_only_job_ids():
    alert = alerts.parse(sns({"jobIds": ["fw-1", "fw-2", "fw-1"], "source": "com.acme.x"}))

    assert (alert.kind, alert.job_ids, alert.source, alert.severity, alert.reason) == (
        alert_kinds.CUSTOM, ("fw-1", "fw-2"), "com.acme.x", None, "")


def test_an_sns_custom_alert_with_an_empty_job_list_is_refused():
    with pytest.raises(UnrecognisedAlert, match="must name at least one job"):
        alerts.parse(sns({"jobIds": []}))


@pytest.mark.parametrize("field", ["severity", "reason", "source"])
def test_optional_fields_sent_as_empty_strings_are_absent(field):
    body = {"jobId": "fw-1", "source": "com.acme.x", "severity": "high", "reason": "why", field: ""}

    alert = alerts.parse(sns(body))

    assert getattr(alert, field) in (None, "")
    assert alert.summary().get(field) is None


def test_the_summary_carries_every_field_every_halt_event_carries():
    alert = alerts.parse(samples.alarm_composite(previous_state="ALARM", previous_suppressed_by="WaitPeriod"))

    assert alert.summary() == {
        "kind": "cloudwatch_alarm", "via": "eventbridge", "correlationId": alert.correlation_id,
        "alarmName": "fw-crash-rate-composite", "state": "ALARM", "previousState": "ALARM",
        "previousActionsSuppressedBy": "WaitPeriod", "jobIds": ["fw-2-4-eu"],
        "reason": "Threshold Crossed: CrashRate moved to ALARM", "timestamp": "2026-11-29T10:00:00.000+0000"}
    defender = alerts.parse(samples.defender_sns()).summary()
    assert {"securityProfile", "thingName", "violationEventType"} <= set(defender)
    custom = alerts.parse(samples.custom_sns()).summary()
    assert (custom["source"], custom["severity"]) == ("com.acme.monitoring", "critical")


# --- what an alert keeps, and how a result shows it ---------------------------------------------------------------


def test_a_state_without_a_reason_reads_as_no_reason():
    message = json.loads(samples.alarm_sns()["Records"][0]["Sns"]["Message"])
    del message["NewStateReason"]
    event = samples.alarm_eventbridge()
    del event["detail"]["state"]["reason"]

    assert alerts.parse(sns(message)).reason == "" and alerts.parse(event).reason == ""


def test_job_ids_repeat_once_whatever_their_shape():
    named = alerts.parse(sns({"jobIds": ["fw-1", {"a": 1, "b": 2}, {"b": 2, "a": 1}, "[1]", [1], [1], "fw-1"]}))

    assert named.job_ids == ("fw-1", {"a": 1, "b": 2}, "[1]", [1])  # a job id is never a list: kept to report


def test_a_violation_time_that_is_no_moment_leaves_the_alert_without_one():
    for when in (10**20, "1796032800000", True):
        message = json.loads(samples.defender_sns()["Records"][0]["Sns"]["Message"])
        message["violationEventTime"] = when

        assert alerts.parse(sns(message)).timestamp is None


def test_a_results_summary_shows_each_kinds_own_fields_and_odd_job_ids_short():
    request = alerts.parse(operator_requests_halt())
    odd = alert_kinds.CustomAlert(via="sns", job_ids=(7, "fw-2"))

    assert request.summary()["jobsGlob"] == "fw-2-4-*" and "jobsGlob" not in odd.summary()
    assert odd.summary() == {"kind": "custom", "via": "sns", "jobIds": ["7", "fw-2"]}
    assert alert_kinds.FleetAlert(job_ids=("fw-1",), reason="3 casualties").summary() == {
        "kind": "fleet_signal", "via": "detector", "jobIds": ["fw-1"], "reason": "3 casualties"}
    assert alert_kinds.FleetAlert(job_ids=(7,)).subject == "the fleet signal of job 7"
    assert alert_kinds.JobCreated(job_ids=()).subject == "the creation of job ?"
    assert alert_kinds.JobCreated(job_ids=("fw-3",)).subject == "the creation of job fw-3"


def operator_requests_halt() -> dict:
    from rollout_guard_cli import operator_requests

    return operator_requests.halt_request()


def test_an_event_needs_both_a_source_and_a_detail_type_to_be_read_as_eventbridges():
    for event in ({"detail-type": "CloudWatch Alarm State Change", "detail": {}}, {"source": "aws.cloudwatch"}):
        with pytest.raises(UnrecognisedAlert) as caught:
            alerts.parse(event)
        assert str(caught.value) == "not an EventBridge event, an SNS event or a CloudWatch alarm action payload"
