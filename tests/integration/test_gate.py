"""The pre-start gate on moto (in-process): IoT's CreateJob from CloudTrail through the handler, CloudWatch's alarms
asked as they are now, the new job cancelled at once when its rule's alarm already fires."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from rollout_guard.bootstrap import build_runtime
from rollout_guard.handler import lambda_handler
from rollout_guard.settings import Settings
from rollout_guard_local import samples
from rollout_guard_local.context import LocalContext

GATED = """
rules:
  - name: crash-rate
    match: {alarm_name: "fw-crash-rate-*"}
    jobs: ["fw-*"]
    reason_code: FIRMWARE_CRASH_RATE
    comment: "{alarm_name}"
"""


def alarm(state: str | None) -> None:
    cloudwatch = boto3.client("cloudwatch", region_name="eu-west-1")
    cloudwatch.put_metric_alarm(AlarmName="fw-crash-rate-eu", MetricName="CrashRate", Namespace="Fleet",
                                Statistic="Average", Period=60, EvaluationPeriods=1, Threshold=5,
                                ComparisonOperator="GreaterThanThreshold")
    cloudwatch.put_metric_alarm(AlarmName="billing-spend", MetricName="Spend", Namespace="Billing",
                                Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=5,
                                ComparisonOperator="GreaterThanThreshold")
    cloudwatch.set_alarm_state(AlarmName="billing-spend", StateValue="ALARM", StateReason="test")
    if state:
        cloudwatch.set_alarm_state(AlarmName="fw-crash-rate-eu", StateValue=state, StateReason="test")
    else:
        cloudwatch.delete_alarms(AlarmNames=["fw-crash-rate-eu"])


@pytest.mark.parametrize(("state", "cancelled"), [("ALARM", True), ("OK", False), (None, False)])
def test_a_job_created_while_its_alarm_fires_is_cancelled_at_once(gated, state, cancelled):
    alarm(state)

    result = lambda_handler(samples.job_created("fw-2-6-eu"), LocalContext(), runtime=gated)

    job = describe("fw-2-6-eu")
    assert (job["status"] == "CANCELED") is cancelled
    if cancelled:
        assert job["reasonCode"] == "FIRMWARE_CRASH_RATE"
        assert job["comment"].startswith("alarm fw-crash-rate-eu was already in ALARM when job fw-2-6-eu was created")
        assert result["decisions"][0]["action"] == "canceled"
    else:
        assert result["status"] == "ignored" and "no rule's alarm is in ALARM" in result["detail"]


def test_the_gate_leaves_a_job_outside_the_rules_globs_alone(gated):
    alarm("ALARM")

    lambda_handler(samples.job_created("ops-x"), LocalContext(), runtime=gated)

    assert describe("ops-x")["status"] != "CANCELED"


@pytest.fixture
def gated(tmp_path):
    """The guard of GATED over two created jobs (fw-2-6-eu, ops-x) on a thing, in an emulated account."""
    with mock_aws():
        policy = tmp_path / "policy.yaml"
        policy.write_text(GATED)
        iot = boto3.client("iot", region_name="eu-west-1")
        arn = iot.create_thing(thingName="dev-1")["thingArn"]
        for job_id in ("fw-2-6-eu", "ops-x"):
            iot.create_job(jobId=job_id, targets=[arn], document='{"op": "fw"}', targetSelection="SNAPSHOT")
        yield build_runtime(Settings(policy_file=str(policy)))


def describe(job_id: str) -> dict:
    return boto3.client("iot", region_name="eu-west-1").describe_job(jobId=job_id)["job"]
