"""Fault injection at the HTTP level: a loopback proxy between the guard's real client and a moto server throws
throttling bursts, 503s, connection resets and read timeouts into a multi-job cancellation."""

from __future__ import annotations

import threading

import pytest

from rollout_guard.adapters.clients import make_client
from rollout_guard.adapters.iot import IotJobs
from rollout_guard.halts import alert_kinds, guard
from rollout_guard_local.emulator import client
from rollout_guard_local.fault_proxy import FaultProxy
from tests.conftest import assert_backed_off, create_jobs, make_policy

JOBS = [f"fw-{index}" for index in range(8)]
POLICY = make_policy("rules: [{name: halt, jobs: ['fw-*'], reason_code: FAULT_DRILL}]")
ALERT = alert_kinds.CustomAlert(via="sns", source="drill", job_ids=tuple(JOBS))


def guard_jobs(url: str) -> IotJobs:
    return IotJobs(make_client(max_attempts=4, region="eu-west-1", endpoint_url=url, read_timeout=1))


class FirstAttemptFaults:
    """The first DescribeJob of three jobs is throttled; the first CancelJob of every job meets a fault, in turn a
    throttle, a 503, a reset connection and a read timeout."""

    KINDS = ["throttle", "unavailable", "reset", "timeout"]

    def __init__(self):
        self.seen: set[tuple[str | None, str]] = set()
        self.lock = threading.Lock()
        self.cancels = 0

    def __call__(self, operation, path):
        with self.lock:
            first = (operation, path) not in self.seen
            self.seen.add((operation, path))
            if not first:
                return None
            if operation == "DescribeJob" and path.rsplit("/", 1)[-1] in JOBS[:3]:
                return "throttle"
            if operation == "CancelJob":
                self.cancels += 1
                return self.KINDS[(self.cancels - 1) % len(self.KINDS)]
        return None


@pytest.fixture
def fleet(emulator, backoffs):
    create_jobs(client("iot", emulator), *JOBS)
    return emulator


def statuses(url: str) -> dict[str, str]:
    iot = client("iot", url)
    return {job: iot.describe_job(jobId=job)["job"]["status"] for job in JOBS}


def test_transient_faults_mid_cancellation_are_retried_and_every_job_ends_cancelled(fleet, backoffs):
    plan = FirstAttemptFaults()
    with FaultProxy(fleet, plan=plan, timeout_s=1.5) as proxy:
        outcome = guard.respond(ALERT, POLICY, guard_jobs(proxy.url))

    assert [(d.job_id, d.action) for d in outcome.decisions] == [(job, "canceled") for job in JOBS]
    assert set(statuses(fleet).values()) == {"CANCELED"}
    assert proxy.injected == {"throttle": 5, "unavailable": 2, "reset": 2, "timeout": 2}
    assert_backed_off(backoffs, retries=11)  # one retry per injected fault


def test_persistent_faults_are_reported_failed_and_a_retry_finishes_without_cancelling_twice(fleet):
    broken = {"fw-5", "fw-6", "fw-7"}

    def plan(operation, path):
        if operation == "CancelJob" and path.split("/")[2] in broken:
            return ["unavailable", "reset", "throttle"][JOBS.index(path.split("/")[2]) % 3]
        return None

    with FaultProxy(fleet, plan=plan) as proxy:
        first = guard.respond(ALERT, POLICY, guard_jobs(proxy.url))

    actions = {d.job_id: d.action for d in first.decisions}
    assert actions == {job: ("failed" if job in broken else "canceled") for job in JOBS}
    assert first.failed
    assert {job for job, status in statuses(fleet).items() if status != "CANCELED"} == broken

    with FaultProxy(fleet) as proxy:  # the platform's retry of the alert, on a new instance, faults gone
        retry = guard.respond(ALERT, POLICY, guard_jobs(proxy.url))

    assert {d.job_id: d.action for d in retry.decisions} == {
        job: ("canceled" if job in broken else "skipped") for job in JOBS}
    cancelled_again = {path.split("/")[2] for operation, path in proxy.forwarded if operation == "CancelJob"}
    assert cancelled_again == broken
    assert set(statuses(fleet).values()) == {"CANCELED"}
