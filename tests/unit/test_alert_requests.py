"""The guard's own events read as alerts (`halts.alert_requests`), field by field: an operator's request (halt,
throttle, resume), IoT's CreateJob from CloudTrail, a throttle's timer; and each malformed field refused with its
own one-line message."""

import copy

import pytest

from rollout_guard.documents import show
from rollout_guard.halts import alerts
from rollout_guard.halts.alert_kinds import (
    ESCALATION_DUE_TYPE,
    OPERATOR_SOURCE,
    TIMER_SOURCE,
    CustomAlert,
    EscalationDue,
    HaltRequest,
    JobCreated,
    Requested,
    UnrecognisedAlert,
    Via,
)
from rollout_guard.policy import Abort, Throttle
from rollout_guard_cli import operator_requests
from rollout_guard_local import samples

WHEN = "2026-12-04T10:00:00Z"


def refused(event) -> str:
    with pytest.raises(UnrecognisedAlert) as caught:
        alerts.parse(event)
    return str(caught.value)


def with_detail(event: dict, **changes) -> dict:
    changed = copy.deepcopy(event)
    for key, value in changes.items():
        if value is None:
            changed["detail"].pop(key, None)
        else:
            changed["detail"][key] = value
    return changed


# --- an operator's request ------------------------------------------------------------------------------------


def test_a_halt_request_is_read_field_by_field():
    event = operator_requests.halt_request(jobs="fw-2-*", reason_code="BAD_BUILD", comment="rolled back", force=True,
                                           dry_run=True, requested_by="ops@example.com", time=WHEN)

    assert alerts.parse(event) == CustomAlert(
        via=Via.EVENTBRIDGE, correlation_id=event["id"], source=OPERATOR_SOURCE, timestamp=WHEN,
        reason="operator halt of fw-2-* by ops@example.com",
        request=HaltRequest(jobs="fw-2-*", reason_code="BAD_BUILD", comment="rolled back", force=True, dry_run=True,
                            requested_by="ops@example.com", action=Requested.HALT, throttle=None))


def test_a_request_names_no_one_when_nobody_is_named_and_its_options_default():
    event = operator_requests.halt_request(jobs="fw-*", reason_code=None, requested_by=None)

    alert = alerts.parse(event)

    assert alert.reason == "operator halt of fw-*"
    assert alert.request == HaltRequest(jobs="fw-*", reason_code=None, comment=None, force=None, dry_run=False,
                                        requested_by=None)


def test_a_throttle_request_carries_its_settings_and_a_resume_none():
    abort = {"failureType": "TIMED_OUT", "percent": 12.5, "minExecuted": 40}
    throttle = alerts.parse(operator_requests.throttle_request(jobs="fw-3-*", max_per_minute=9, abort=abort,
                                                               requested_by="ops"))
    resume = alerts.parse(operator_requests.resume_request(jobs="fw-3-*", requested_by=None))

    assert throttle.reason == "operator throttle of fw-3-* by ops"
    assert throttle.request.action is Requested.THROTTLE
    assert throttle.request.throttle == Throttle(9, Abort("TIMED_OUT", 12.5, 40))
    assert (resume.reason, resume.request.action, resume.request.throttle) == ("operator resume of fw-3-*",
                                                                              Requested.RESUME, None)
    unarmed = alerts.parse(operator_requests.throttle_request(max_per_minute=3))
    assert unarmed.request.throttle == Throttle(3)


@pytest.mark.parametrize(("changes", "problem"), [
    ({"jobs": None}, "detail.jobs is missing"),
    ({"jobs": "fw 2"}, "detail.jobs 'fw 2' must be a glob of letters, digits, _ - * ? (64 at most)"),
    ({"force": "yes"}, "detail.force must be true or false"),
    ({"dryRun": 1}, "detail.dryRun must be true or false"),
    ({"reasonCode": "bad code"}, "detail.reasonCode 'bad code' must be 1 to 128 of A-Z, 0-9 and _"),
    ({"reasonCode": 7}, "detail.reasonCode must be a non-empty string"),
    ({"comment": ["x"]}, "detail.comment must be a non-empty string"),
    ({"requestedBy": 3}, "requestedBy must be a non-empty string"),
])
def test_each_field_of_a_halt_request_is_checked_with_its_own_message(changes, problem):
    assert refused(with_detail(operator_requests.halt_request(), **changes)) == problem


@pytest.mark.parametrize(("changes", "problem"), [
    ({"abort": "FAILED:10:20"}, "detail.abort must be an object"),
    ({"maxPerMinute": 0}, "throttle request: throttle.max_per_minute 0 must be a whole number from 1 to 1000"),
    ({"abort": {"failureType": "LOST", "percent": 10, "minExecuted": 5}},
     "throttle request: throttle.abort.failure_type 'LOST' must be one of FAILED, REJECTED, TIMED_OUT, ALL"),
])
def test_a_throttle_request_is_checked_as_a_policy_is(changes, problem):
    assert refused(with_detail(operator_requests.throttle_request(), **changes)) == problem


def test_an_empty_abort_arms_nothing_and_a_halt_ignores_throttle_settings():
    throttle = alerts.parse(with_detail(operator_requests.throttle_request(max_per_minute=4), abort={}))
    halt = alerts.parse(with_detail(operator_requests.halt_request(), maxPerMinute=0, abort="anything"))

    assert throttle.request.throttle == Throttle(4)
    assert halt.request.throttle is None and halt.request.action is Requested.HALT


# --- IoT's CreateJob through CloudTrail -------------------------------------------------------------------------


def test_a_created_job_is_read_field_by_field():
    event = samples.job_created("fw-2-6-eu")

    assert alerts.parse(event) == JobCreated(job_ids=("fw-2-6-eu",), timestamp=event["detail"]["eventTime"],
                                             correlation_id=event["id"])


def test_the_job_id_is_the_requests_else_the_answers():
    event = samples.job_created("fw-asked")
    event["detail"]["responseElements"]["jobId"] = "fw-answered"
    answered_only = with_detail(samples.job_created("fw-answered"), requestParameters={})

    assert alerts.parse(event).job_ids == ("fw-asked",)
    assert alerts.parse(answered_only).job_ids == ("fw-answered",)
    assert alerts.parse(with_detail(samples.job_created(), eventTime=None)).timestamp is None


@pytest.mark.parametrize(("changes", "problem"), [
    ({"eventName": None}, "CloudTrail event None of aws.iot is not CreateJob"),
    ({"requestParameters": ["fw-1"]}, "detail.requestParameters must be an object"),
    ({"requestParameters": {}, "responseElements": "fw-1"}, "detail.responseElements must be an object"),
    ({"requestParameters": {"jobId": 42}}, "jobId must be a non-empty string"),
    ({"eventTime": 1733306400}, "detail.eventTime must be a non-empty string"),
])
def test_each_field_of_a_create_job_record_is_checked_with_its_own_message(changes, problem):
    assert refused(with_detail(samples.job_created(), **changes)) == problem


# --- a throttle's timer -----------------------------------------------------------------------------------------


def timer(**detail) -> dict:
    fields = {"jobId": "fw-2-4-eu", "alarmName": "fw-warn-eu", "rule": "slow", "throttledAt": WHEN,
              "dueAt": "2026-12-04T10:15:00Z", **detail}
    return {"version": "0", "id": "timer-1", "source": TIMER_SOURCE, "detail-type": ESCALATION_DUE_TYPE,
            "detail": {key: value for key, value in fields.items() if value is not None}}


def test_a_timer_is_read_field_by_field_its_rule_in_a_field_of_its_own():
    assert alerts.parse(timer()) == EscalationDue(job_ids=("fw-2-4-eu",), alarm_name="fw-warn-eu", rule="slow",
                                                  timestamp=WHEN, due_at="2026-12-04T10:15:00Z",
                                                  correlation_id="timer-1")
    assert alerts.parse(timer(dueAt=None, throttledAt=None)).due_at is None  # a timer set before it was carried


@pytest.mark.parametrize(("changes", "problem"), [
    ({"jobId": None}, "detail.jobId is missing"),
    ({"alarmName": None}, "detail.alarmName is missing"),
    ({"rule": ""}, "detail.rule must be a non-empty string"),
    ({"throttledAt": 5}, "detail.throttledAt must be a non-empty string"),
    ({"dueAt": []}, "detail.dueAt must be a non-empty string"),
])
def test_each_field_of_a_timer_is_checked_with_its_own_message(changes, problem):
    assert refused(timer(**changes)) == problem


# --- the envelope each of them arrives in -----------------------------------------------------------------------


def envelopes() -> dict[str, dict]:
    return {"halt": operator_requests.halt_request(time=WHEN), "created": samples.job_created(), "timer": timer(),
            "custom": samples.custom_eventbridge(job_ids=["fw-1"])}


@pytest.mark.parametrize("kind", ["halt", "created", "timer", "custom"])
@pytest.mark.parametrize(("field", "value", "problem"), [
    ("detail", "fw-1", "detail must be an object"),
    ("id", 5, "id must be a non-empty string"),
])
def test_an_envelopes_detail_and_id_are_checked_whatever_the_event(kind, field, value, problem):
    event = {**envelopes()[kind], field: value}

    assert refused(event) == problem


@pytest.mark.parametrize("kind", ["halt", "created", "timer", "custom"])
def test_the_envelopes_id_is_the_correlation_id_and_its_time_the_requests(kind):
    event = {**envelopes()[kind], "id": "event-7", "time": "2026-12-04T11:00:00Z"}

    alert = alerts.parse(event)

    assert alert.correlation_id == "event-7"
    if kind in ("halt", "custom"):
        assert alert.timestamp == "2026-12-04T11:00:00Z"
        assert refused({**event, "time": 9}) == "time must be a non-empty string"


def test_a_source_or_a_detail_type_alone_does_not_make_one_of_the_guards_events():
    other_call = {**samples.job_created(), "detail-type": "AWS Service Event via CloudTrail"}
    timer_typed = {**samples.custom_eventbridge(job_ids=["fw-1"]), "detail-type": ESCALATION_DUE_TYPE}
    request_typed = {**samples.custom_eventbridge(job_ids=["fw-1"]), "detail-type": "Rollout Halt Requested"}

    assert refused(other_call) == ("EventBridge event aws.iot / 'AWS Service Event via CloudTrail' is not an alert "
                                   "the guard handles")
    assert isinstance(alerts.parse(timer_typed), CustomAlert)  # another source: a monitoring tool's alert
    assert alerts.parse(request_typed).request is None


# --- an operator's halt of Greengrass deployments -----------------------------------------------------------------


@pytest.mark.parametrize(("jobs", "reason"), [
    ("fw-*", "operator halt of fw-* and deployments gg-fw-* by ops@example.com"),
    (None, "operator halt of deployments gg-fw-* by ops@example.com"),
])
def test_a_halt_may_name_deployments_beside_or_instead_of_jobs(jobs, reason):
    event = operator_requests.halt_request(jobs=jobs, deployments="gg-fw-*", time=WHEN)

    alert = alerts.parse(event)

    assert alert.reason == reason
    assert (alert.request.jobs, alert.request.deployments) == (jobs, "gg-fw-*")
    assert alert.summary()["deploymentsGlob"] == "gg-fw-*"
    assert ("jobsGlob" in alert.summary()) == (jobs is not None)


@pytest.mark.parametrize(("changes", "problem"), [
    ({"deployments": "g" * 257}, f"detail.deployments {show('g' * 257)} must be 1 to 256 printable characters"),
    ({"deployments": "gg\t*"}, "detail.deployments 'gg\\t*' must be 1 to 256 printable characters"),
    ({"deployments": 7}, "detail.deployments must be a non-empty string"),
    ({"jobs": "fw 2", "deployments": "gg-*"},
     "detail.jobs 'fw 2' must be a glob of letters, digits, _ - * ? (64 at most)"),
    ({"jobs": 7, "deployments": "gg-*"}, "detail.jobs must be a non-empty string"),
])
def test_each_deployments_field_of_a_halt_is_checked_with_its_own_message(changes, problem):
    assert refused(with_detail(operator_requests.halt_request(), **changes)) == problem


def test_a_glob_of_256_characters_is_a_deployment_name_and_only_a_halt_names_deployments():
    longest = "g" * 256
    assert alerts.parse(with_detail(operator_requests.halt_request(), deployments=longest)).request.deployments == \
        longest
    for request in (operator_requests.throttle_request(), operator_requests.resume_request()):
        action = request["detail-type"].split()[1].lower()
        assert refused(with_detail(request, deployments="gg-*")) == (
            f"detail.deployments: a {action} names jobs only (deployments are halted)")
