"""Exactly-once claims: DynamoDB's exact answers through Stubber, the claim against a real (emulated) table, and
concurrent instances that all see a job active yet cancel it once."""

from __future__ import annotations

import json
import threading
import time

import boto3
import pytest
from botocore.stub import ANY, Stubber

from rollout_guard.adapters.dynamo_claims import DynamoClaims
from rollout_guard.halts import alert_kinds, guard
from rollout_guard.halts.claims import ACTED, DONE_ELSEWHERE, HELD_ELSEWHERE
from rollout_guard.halts.jobs import JobsError
from rollout_guard.schema import TABLE_KEY, TABLE_TTL
from rollout_guard_local.context import LocalContext
from tests.conftest import create_jobs, http_iot_client, make_policy
from tests.integration.test_handler import emf
from tests.unit.fakes import FakeJobs, active

POLICY = make_policy("rules: [{name: any, reason_code: CRASH}]")


def stubbed_claims():
    client = boto3.client("dynamodb", region_name="eu-west-1")
    claims = DynamoClaims("claims", client)
    claims.begin(LocalContext())
    return claims, Stubber(client)


def held_item(status: str, data: dict | None = None) -> dict:
    now = int(time.time())
    item = {TABLE_KEY: {"S": "x"}, TABLE_TTL: {"N": str(now + 600)}, "status": {"S": status},
            "in_progress_expiration": {"N": str((now + 60) * 1000)}}
    if data is not None:
        item["data"] = {"S": json.dumps(data)}
    return item


def test_a_claim_taken_elsewhere_and_still_in_progress_is_not_acted_on():
    claims, stubber = stubbed_claims()
    stubber.add_client_error("put_item", service_error_code="ConditionalCheckFailedException", http_status_code=400,
                             modeled_fields={"Item": held_item("INPROGRESS")})
    acted = []

    with stubber:
        claimed = claims.once("fw-1", "cancel", lambda: acted.append(1))

    assert claimed.outcome == HELD_ELSEWHERE and acted == []


def test_a_claim_completed_elsewhere_is_not_acted_on_again():
    claims, stubber = stubbed_claims()
    stubber.add_client_error("put_item", service_error_code="ConditionalCheckFailedException", http_status_code=400,
                             modeled_fields={"Item": held_item("COMPLETED", {"by": "another-invocation"})})
    acted = []

    with stubber:
        claimed = claims.once("fw-1", "cancel", lambda: acted.append(1))

    assert claimed.outcome == DONE_ELSEWHERE and acted == []


def test_a_throttled_claim_store_does_not_stop_the_halt_and_is_counted(capfd):
    from rollout_guard.telemetry import metrics

    claims, stubber = stubbed_claims()
    # Stubber answers before botocore's retries: one answer stands for the throttling that outlasted them.
    stubber.add_client_error("put_item", service_error_code="ProvisionedThroughputExceededException",
                             http_status_code=400)
    acted = []

    with stubber:
        claimed = claims.once("fw-1", "cancel", lambda: acted.append(1))
        stubber.assert_no_pending_responses()  # one claim attempt, then the cancel without it: no second write
    metrics.flush_metrics()

    assert claimed.outcome == ACTED and acted == [1] and "without the claim" in claimed.detail
    assert emf(capfd.readouterr().out)["ClaimStoreUnavailable"] == 1.0


def test_a_failed_action_releases_the_claim_and_is_reported_as_its_own_error():
    claims, stubber = stubbed_claims()
    stubber.add_response("put_item", {}, {"TableName": "claims", "Item": ANY, "ConditionExpression": ANY,
                                          "ExpressionAttributeNames": ANY, "ExpressionAttributeValues": ANY,
                                          "ReturnValuesOnConditionCheckFailure": "ALL_OLD"})
    stubber.add_response("delete_item", {}, {"TableName": "claims", "Key": ANY})

    def cancel():
        raise JobsError("CancelJob", "ThrottlingException", "Rate exceeded")

    with stubber, pytest.raises(JobsError, match="ThrottlingException"):
        claims.once("fw-1", "cancel", cancel)
    stubber.assert_no_pending_responses()  # the claim was deleted: a retry of the alert can take it


class AlwaysActive:
    """The jobs port as every racing instance sees it at the same moment: the job still active."""

    def __init__(self, jobs):
        self._jobs = jobs

    def __getattr__(self, name):
        return getattr(self._jobs, name)

    def describe(self, job_id):
        return active(job_id)


def test_instances_that_all_see_a_job_active_cancel_it_once(emulator):
    from rollout_guard.adapters.clients import make_client
    from rollout_guard.adapters.iot import IotJobs
    from rollout_guard.schema import create_state_table

    assert create_state_table(make_client("dynamodb", region="eu-west-1", endpoint_url=emulator), "claims")
    create_jobs(http_iot_client(emulator), "fw-a", "fw-b", "fw-c")
    cancels: list[str] = []
    start = threading.Barrier(6)
    outcomes = []

    def instance():
        iot = http_iot_client(emulator)
        iot.meta.events.register("before-send.iot.CancelJob", lambda request, **kw: cancels.append(request.url))
        claims = DynamoClaims("claims", make_client("dynamodb", region="eu-west-1", endpoint_url=emulator))
        claims.begin(LocalContext())
        alert = alert_kinds.CustomAlert(via="sns", source="x", job_ids=("fw-a", "fw-b", "fw-c"))
        start.wait()
        outcomes.append(guard.respond(alert, POLICY, AlwaysActive(IotJobs(iot)), claims=claims))

    threads = [threading.Thread(target=instance) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    actions = [(d.job_id, d.action) for outcome in outcomes for d in outcome.decisions]
    assert sorted(url.rsplit("/", 2)[-2] for url in cancels) == ["fw-a", "fw-b", "fw-c"]  # one CancelJob each
    assert sorted(job for job, action in actions if action == "canceled") == ["fw-a", "fw-b", "fw-c"]
    skipped = [d.detail for outcome in outcomes for d in outcome.decisions if d.action == "skipped"]
    assert len(skipped) == 15 and all("another invocation" in detail for detail in skipped)


def test_without_a_claim_store_the_use_case_acts_as_before():
    jobs = FakeJobs({"fw-1": active("fw-1")})

    outcome = guard.respond(alert_kinds.CustomAlert(via="sns", source="x", job_ids=("fw-1",)), POLICY, jobs)

    assert [d.action for d in outcome.decisions] == ["canceled"] and len(jobs.cancels()) == 1
