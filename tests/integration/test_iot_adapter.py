"""The IoT adapter against moto in-process: what it reads and what it sends."""

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.iot.models import iot_backends

from rollout_guard.adapters.iot import IotJobs
from rollout_guard.halts.jobs import JobsError
from tests.conftest import create_jobs


@pytest.fixture
def iot():
    with mock_aws():
        yield boto3.client("iot", region_name="eu-west-1")


def backend():
    return iot_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"]


def test_describe_confirms_status_and_targets(iot):
    iot.create_thing_group(thingGroupName="fleet-eu")
    group_arn = iot.describe_thing_group(thingGroupName="fleet-eu")["thingGroupArn"]
    iot.create_job(jobId="fw-1", targets=[group_arn], document="{}")
    backend().jobs["fw-1"].status = "IN_PROGRESS"

    job = IotJobs(iot).describe("fw-1")

    assert (job.job_id, job.status, job.targets, job.active) == ("fw-1", "IN_PROGRESS", (group_arn,), True)


def test_describe_of_unknown_job_is_an_iot_error(iot):
    with pytest.raises(JobsError) as caught:
        IotJobs(iot).describe("fw-missing")

    assert caught.value.code == "ResourceNotFoundException"


def test_active_job_ids_drops_finished_jobs(iot):
    create_jobs(iot, *[f"fw-{i:03d}" for i in range(40)])
    backend().jobs["fw-001"].status = "COMPLETED"
    backend().jobs["fw-002"].status = "CANCELED"

    found = IotJobs(iot).active_job_ids()

    assert len(found) == 38
    assert "fw-039" in found and "fw-001" not in found and "fw-002" not in found


def test_job_ids_on_thing_keeps_jobs_with_queued_or_in_progress_executions(iot):
    create_jobs(iot, "fw-a", "fw-b", "fw-c", thing="dev-1")
    create_jobs(iot, "fw-other", thing="dev-2")
    backend().job_executions[("fw-b", "dev-1")].status = "IN_PROGRESS"
    backend().job_executions[("fw-c", "dev-1")].status = "SUCCEEDED"

    assert IotJobs(iot).job_ids_on_thing("dev-1") == ["fw-a", "fw-b"]


def test_cancel_sends_reason_comment_and_force(iot):
    create_jobs(iot, "fw-1")

    answer = IotJobs(iot).cancel("fw-1", "FIRMWARE_CRASH_RATE", "crash rate high", force=True)

    job = iot.describe_job(jobId="fw-1")["job"]
    assert answer["jobId"] == "fw-1" and answer["jobArn"].endswith(":job/fw-1")
    assert (job["status"], job["reasonCode"], job["comment"], job["forceCanceled"]) == (
        "CANCELED", "FIRMWARE_CRASH_RATE", "crash rate high", True)
