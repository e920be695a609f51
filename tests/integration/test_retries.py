"""Retries as botocore's standard mode does them, over HTTP to a moto server.

A before-send hook answers the first requests of an operation like IoT does when it fails, then lets the request
through to the emulator. The hook sits below the retry handler, so this is the real retry path.
"""

import json
import time

import pytest
from botocore.awsrequest import AWSResponse

from rollout_guard.adapters.iot import IotJobs
from rollout_guard.halts.jobs import JobsError
from rollout_guard_local.emulator import client
from tests.conftest import assert_backed_off, create_jobs, http_iot_client


class Faults:
    def __init__(self, operation: str, answers: list[tuple[int, str]]):
        self.operation = operation
        self.answers = list(answers)
        self.sent = 0

    def __call__(self, request, **kwargs):
        if kwargs["event_name"].split(".")[-1] != self.operation:
            return None
        self.sent += 1
        if not self.answers:
            return None
        status, code = self.answers.pop(0)
        body = json.dumps({"message": f"injected {code}"}).encode()
        return AWSResponse(request.url, status, {"x-amzn-ErrorType": code, "Content-Type": "application/json"},
                           _Raw(body))


class _Raw:
    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **kwargs):
        yield self._body


@pytest.fixture
def seeded(emulator, backoffs):
    admin = client("iot", emulator)
    create_jobs(admin, "fw-1")
    return http_iot_client(emulator, max_attempts=4), admin


@pytest.mark.parametrize(
    "fault",
    [(400, "ThrottlingException"), (410, "LimitExceededException"), (503, "ServiceUnavailableException"),
     (500, "InternalFailureException")],
)
def test_transient_faults_are_retried_until_the_cancel_lands(seeded, backoffs, fault):
    client, admin = seeded
    faults = Faults("CancelJob", [fault, fault])
    client.meta.events.register("before-send.iot.CancelJob", faults)

    IotJobs(client).cancel("fw-1", "CODE", "comment", False)

    assert faults.sent == 3
    assert_backed_off(backoffs, retries=2)
    assert admin.describe_job(jobId="fw-1")["job"]["status"] == "CANCELED"


@pytest.mark.parametrize("fault", [(400, "InvalidRequestException"), (404, "ResourceNotFoundException")])
def test_permanent_errors_are_not_retried(seeded, backoffs, fault):
    client, admin = seeded
    faults = Faults("CancelJob", [fault])
    client.meta.events.register("before-send.iot.CancelJob", faults)

    with pytest.raises(JobsError) as caught:
        IotJobs(client).cancel("fw-1", "CODE", "comment", False)

    assert faults.sent == 1 and caught.value.code == fault[1]
    assert backoffs == []
    assert admin.describe_job(jobId="fw-1")["job"]["status"] != "CANCELED"


def test_throttling_beyond_the_attempts_is_reported(seeded, backoffs):
    client, admin = seeded
    faults = Faults("DescribeJob", [(400, "ThrottlingException")] * 4)
    client.meta.events.register("before-send.iot.DescribeJob", faults)

    with pytest.raises(JobsError) as caught:
        IotJobs(client).describe("fw-1")

    assert faults.sent == 4 and caught.value.code == "ThrottlingException"
    assert_backed_off(backoffs, retries=3)


def test_pacing_allows_a_burst_then_holds_each_operation_to_the_rate(seeded):
    from rollout_guard.adapters.clients import pace

    client, _ = seeded
    sent: list[tuple[str, float]] = []
    pace(client, per_second=20)  # a burst of 10, then one every 50 ms
    client.meta.events.register("before-send.iot", lambda event_name, **kw: sent.append(
        (event_name.rsplit(".", 1)[-1], time.monotonic())))

    for _ in range(20):
        client.describe_job(jobId="fw-1")
    client.list_jobs()

    describes = [at for operation, at in sent if operation == "DescribeJob"]
    assert len(describes) == 20
    # The token bucket's promise: within any window, at most the burst plus the rate times the window's length.
    for first in range(20):
        for last in range(first + 1, 20):
            assert last - first + 1 <= 10 + 20 * (describes[last] - describes[first]) + 0.01
    assert describes[-1] - describes[0] >= (20 - 10) / 20 - 0.01
    assert sent[-1][0] == "ListJobs" and sent[-1][1] - describes[-1] < 0.045  # another operation is not held back
