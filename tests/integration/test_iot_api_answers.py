"""The real API's answers, which moto does not model, through botocore's Stubber."""

import boto3
import pytest
from botocore.stub import Stubber

from rollout_guard.adapters.iot import IotJobs
from rollout_guard.halts import alert_kinds, alerts, guard
from rollout_guard.halts.decisions import CANCELED, FAILED, SKIPPED
from rollout_guard.halts.jobs import JobsError
from tests.conftest import load_event, make_policy

JOB_ARN = "arn:aws:iot:eu-west-1:123456789012:job/fw-2-4-eu"


@pytest.fixture
def stubbed():
    client = boto3.client("iot", region_name="eu-west-1")
    with Stubber(client) as stubber:
        yield IotJobs(client), stubber
        stubber.assert_no_pending_responses()


def describe_answer(status="IN_PROGRESS"):
    return {"job": {"jobId": "fw-2-4-eu", "jobArn": JOB_ARN, "status": status, "targets": ["arn:aws:iot:eu-west-1:123456789012:thing/dev-1"]}}


@pytest.mark.parametrize(
    ("code", "status"),
    [("ResourceNotFoundException", 404), ("InvalidRequestException", 400), ("ThrottlingException", 400),
     ("ServiceUnavailableException", 503), ("LimitExceededException", 410)],
)
def test_cancel_errors_surface_with_their_code(stubbed, code, status):
    jobs, stubber = stubbed
    stubber.add_client_error("cancel_job", service_error_code=code, http_status_code=status, service_message="no")

    with pytest.raises(JobsError) as caught:
        jobs.cancel("fw-2-4-eu", "CODE", "comment", False)

    assert caught.value.code == code
    assert caught.value.operation == "CancelJob"


def test_cancel_sends_exactly_the_api_parameters(stubbed):
    jobs, stubber = stubbed
    stubber.add_response(
        "cancel_job",
        {"jobArn": JOB_ARN, "jobId": "fw-2-4-eu", "description": "fw 2.4"},
        expected_params={"jobId": "fw-2-4-eu", "reasonCode": "FIRMWARE_CRASH_RATE", "comment": "c", "force": False},
    )

    assert jobs.cancel("fw-2-4-eu", "FIRMWARE_CRASH_RATE", "c", False) == {
        "jobArn": JOB_ARN, "jobId": "fw-2-4-eu", "description": "fw 2.4"}


def test_guard_reports_not_found_at_describe_as_no_such_job_and_never_cancels(stubbed):
    jobs, stubber = stubbed
    stubber.add_client_error("describe_job", service_error_code="ResourceNotFoundException", http_status_code=404)

    outcome = guard.respond(alerts.parse(load_event("sns_alarm")), make_policy("rules: [{name: any}]"), jobs)

    assert [(d.job_id, d.action, d.detail) for d in outcome.decisions] == [("fw-2-4-eu", SKIPPED, "no such job")]
    assert not outcome.failed


def test_guard_reports_another_describe_error_as_failed(stubbed):
    jobs, stubber = stubbed
    stubber.add_client_error("describe_job", service_error_code="InvalidRequestException", http_status_code=400)

    outcome = guard.respond(alerts.parse(load_event("sns_alarm")), make_policy("rules: [{name: any}]"), jobs)

    assert [(d.job_id, d.action) for d in outcome.decisions] == [("fw-2-4-eu", FAILED)]
    assert "InvalidRequestException" in outcome.decisions[0].detail


def test_guard_reports_invalid_request_at_cancel_as_failed(stubbed):
    jobs, stubber = stubbed
    stubber.add_response("describe_job", describe_answer(), {"jobId": "fw-2-4-eu"})
    stubber.add_client_error("cancel_job", service_error_code="InvalidRequestException", http_status_code=400,
                             service_message="Job is in DELETION_IN_PROGRESS")

    outcome = guard.respond(alerts.parse(load_event("sns_alarm")), make_policy("rules: [{name: any}]"), jobs)

    assert outcome.decisions[0].action == FAILED
    assert "InvalidRequestException: Job is in DELETION_IN_PROGRESS" in outcome.decisions[0].detail


def test_one_alarm_costs_one_describe_and_one_cancel(stubbed):
    jobs, stubber = stubbed
    stubber.add_response("describe_job", describe_answer(), {"jobId": "fw-2-4-eu"})
    stubber.add_response("cancel_job", {"jobArn": JOB_ARN, "jobId": "fw-2-4-eu"})

    outcome = guard.respond(alerts.parse(load_event("sns_alarm")), make_policy("rules: [{name: any}]"), jobs)

    assert outcome.decisions[0].action == CANCELED


def test_listing_follows_next_token_across_pages(stubbed):
    jobs, stubber = stubbed
    page = {"jobs": [{"jobId": f"fw-{i}", "status": "IN_PROGRESS"} for i in range(250)], "nextToken": "t1"}
    stubber.add_response("list_jobs", page, {"status": "IN_PROGRESS", "maxResults": 250})
    stubber.add_response("list_jobs", {"jobs": [{"jobId": "fw-last", "status": "IN_PROGRESS"}]},
                         {"status": "IN_PROGRESS", "maxResults": 250, "nextToken": "t1"})
    stubber.add_response("list_jobs", {"jobs": [{"jobId": "fw-s", "status": "SCHEDULED"}]},
                         {"status": "SCHEDULED", "maxResults": 250})

    found = jobs.active_job_ids()

    assert len(found) == 252 and found[-2:] == ["fw-last", "fw-s"]


def test_a_listing_whose_token_repeats_is_an_error_not_a_silent_cut(stubbed):
    jobs, stubber = stubbed
    page = {"jobs": [{"jobId": "fw-1", "status": "IN_PROGRESS"}], "nextToken": "same"}
    stubber.add_response("list_jobs", page)
    stubber.add_response("list_jobs", page)

    with pytest.raises(JobsError, match="PaginationLoop"):
        jobs.active_job_ids()


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_finished_job_is_remembered_briefly_so_duplicates_cost_no_call():
    client = boto3.client("iot", region_name="eu-west-1")
    clock = Clock()
    jobs = IotJobs(client, clock=clock)
    with Stubber(client) as stubber:
        stubber.add_response("describe_job", describe_answer("CANCELED"), {"jobId": "fw-2-4-eu"})
        stubber.add_response("describe_job", describe_answer("IN_PROGRESS"), {"jobId": "fw-2-4-eu"})

        first, second = jobs.describe("fw-2-4-eu"), jobs.describe("fw-2-4-eu")
        clock.now = IotJobs.FINISHED_TTL + 1
        third = jobs.describe("fw-2-4-eu")  # a deleted job's id may come back as a new rollout

        stubber.assert_no_pending_responses()
    assert (first.status, second.status, third.status) == ("CANCELED", "CANCELED", "IN_PROGRESS")


def test_a_job_cancelled_here_is_not_described_again(stubbed):
    jobs, stubber = stubbed
    stubber.add_response("cancel_job", {"jobArn": JOB_ARN, "jobId": "fw-2-4-eu"})

    jobs.cancel("fw-2-4-eu", "CODE", "c", False)

    assert jobs.describe("fw-2-4-eu").status == "CANCELED"


def test_an_active_job_is_always_described_afresh(stubbed):
    jobs, stubber = stubbed
    stubber.add_response("describe_job", describe_answer("IN_PROGRESS"))
    stubber.add_response("describe_job", describe_answer("IN_PROGRESS"))

    assert jobs.describe("fw-2-4-eu").active and jobs.describe("fw-2-4-eu").active


def test_in_progress_things_come_from_list_job_executions_for_job(stubbed):
    jobs, stubber = stubbed
    summary = {"thingArn": "arn:aws:iot:eu-west-1:123456789012:thing/dev-1",
               "jobExecutionSummary": {"status": "IN_PROGRESS", "executionNumber": 1}}
    stubber.add_response("list_job_executions_for_job", {"executionSummaries": [summary]},
                         {"jobId": "fw-2-4-eu", "status": "IN_PROGRESS", "maxResults": 250})

    assert jobs.things_in_progress("fw-2-4-eu") == ["dev-1"]


def test_force_cancel_execution_sends_force_and_treats_a_finished_execution_as_nothing_to_stop(stubbed):
    jobs, stubber = stubbed
    stubber.add_response("cancel_job_execution", {}, {"jobId": "fw-2-4-eu", "thingName": "dev-1", "force": True})
    stubber.add_client_error("cancel_job_execution", service_error_code="InvalidStateTransitionException",
                             http_status_code=409)
    stubber.add_client_error("cancel_job_execution", service_error_code="ResourceNotFoundException",
                             http_status_code=404)

    assert jobs.force_cancel_execution("fw-2-4-eu", "dev-1") is True
    assert jobs.force_cancel_execution("fw-2-4-eu", "dev-2") is False
    with pytest.raises(JobsError, match="ResourceNotFoundException"):
        jobs.force_cancel_execution("fw-2-4-eu", "dev-3")


# --- UpdateJob (the graduated response) ---------------------------------------------------------------------

THROTTLE_POLICY = ("rules: [{name: slow, match: {alarm_name: 'fw-warn-*'}, jobs: ['fw-*'], action: throttle, "
                   "throttle: {max_per_minute: 5}}]")


def warning_alert():
    return alert_kinds.AlarmAlert(via="eventbridge", alarm_name="fw-warn-eu", state="ALARM",
                        previous_state="OK", job_ids=("fw-2-4-eu",))


@pytest.mark.parametrize(("code", "status"), [("InvalidRequestException", 400), ("ResourceNotFoundException", 404),
                                              ("ThrottlingException", 400), ("ServiceUnavailableException", 503)])
def test_an_update_refused_is_a_failed_throttle_and_nothing_is_kept_to_restore(stubbed, code, status):
    """The job finished (or went) between DescribeJob and UpdateJob: AWS refuses the update; the guard reports the
    job failed (the alert's retry looks again) and forgets the configuration it saved."""
    from rollout_guard.halts.throttle.records import InMemoryThrottles

    jobs, stubber = stubbed
    stubber.add_response("describe_job", describe_answer(), {"jobId": "fw-2-4-eu"})
    stubber.add_client_error("update_job", service_error_code=code, http_status_code=status, service_message="no",
                             expected_params={"jobId": "fw-2-4-eu",
                                              "jobExecutionsRolloutConfig": {"maximumPerMinute": 5}})
    records = InMemoryThrottles()

    outcome = guard.respond(warning_alert(), make_policy(THROTTLE_POLICY), jobs, throttles=records)

    [decision] = outcome.decisions
    assert decision.action == FAILED and f"UpdateJob failed: {code}" in decision.detail
    assert records.records == {}
