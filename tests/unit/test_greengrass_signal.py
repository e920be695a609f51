"""The fleet signal of a Greengrass v2 deployment: given the documented events (both spellings of the deployment
id, duplicated, out of order), when a deployment's failed core devices cross its rule, then the halt names that
deployment alone; broken components count against the device's latest deployment."""

from __future__ import annotations

import json
import random

import pytest

from rollout_guard.adapters.memory_fleet import InMemoryFleetState
from rollout_guard.fleet import events
from rollout_guard.fleet.detector import Detector
from rollout_guard_local import samples
from tests.conftest import make_policy
from tests.unit.fakes import FakeDeployments, FakeJobs, deployment

POLICY = make_policy("""
    rules:
      - name: gg-fleet
        match: {signal: casualties}
        deployments: ["gg-fw-*"]
        casualties: {things: 3, within: 10m}
      - name: jobs-fleet
        match: {signal: casualties}
        jobs: ["fw-*"]
        casualties: {things: 1}
    """)
BAD, OTHER = "4f38f1a7-3dd0-42a1-af48-0d6f4e009681", "9a1b2c3d-0000-4000-8000-000000000001"
NOW_MS = samples.EPOCH_MS


def detector(state=None):
    halts = []
    gg = FakeDeployments(deployment(BAD, "gg-fw-2-4"), deployment(OTHER, "gg-camera-1"))
    found = Detector(POLICY, state or InMemoryFleetState(), FakeJobs(), lambda alert, policy: halts.append(alert),
                     clock=lambda: NOW_MS / 1000 + 60, deployments=gg)
    return found, halts


def settle(found: Detector, *bodies) -> None:
    plan = found.plan([(f"m{n}", json.dumps(body)) for n, body in enumerate(bodies)])
    for n in range(len(bodies)):
        plan.settle(f"m{n}")


@pytest.mark.parametrize("seed", range(5))
def test_each_failed_core_device_counts_once_whatever_the_spelling_duplicates_or_order(seed):
    stream = [samples.deployment_status(BAD, "core-1", "FAILED", NOW_MS - 30_000),
              samples.deployment_status(BAD, "core-1", "FAILED", NOW_MS - 30_000, spelling="deployment-id"),
              samples.deployment_status(BAD, "core-2", "REJECTED", NOW_MS - 20_000, spelling="deployment-id"),
              samples.deployment_status(BAD, "core-2", "REJECTED", NOW_MS - 20_000),
              samples.deployment_status(BAD, "core-4", "SUCCEEDED", NOW_MS - 15_000),
              samples.deployment_status(BAD, "core-5", "CANCELED", NOW_MS - 12_000),
              samples.deployment_status(BAD, "core-3", "FAILED", NOW_MS - 10_000)]
    random.Random(seed).shuffle(stream)  # noqa: S311 - a test's own order, not a secret
    found, halts = detector()

    settle(found, *stream[:4])
    settle(found, *stream[4:])

    halt = halts[0]  # a later duplicate finds the threshold still crossed: the guard's claims make it a no-op
    assert {(h.deployment_ids, h.job_ids) for h in halts} == {((BAD,), ())}
    assert halt.reason == ("3 casualties within 600 s, threshold 3 (2 failed, 1 rejected): core-1 failed, "
                           "core-2 rejected, core-3 failed")
    crossed = next(report for report in found.reports if report["crossed"])
    assert crossed["jobId"] == f"deployment:{BAD}" and crossed["deploymentId"] == BAD
    assert crossed["crossingThing"] == "core-3"
    assert max(report["casualties"] for report in found.reports) == 3


def test_a_deployment_no_rule_names_is_not_counted():
    found, halts = detector()
    settle(found, *(samples.deployment_status(OTHER, f"core-{n}", "FAILED", NOW_MS - n) for n in range(5)))
    assert halts == [] and found.reports == []
    jobs_found, _ = detector()
    settle(jobs_found, samples.job_execution("fw-1", "dev-1", "FAILED", NOW_MS))
    assert "deploymentId" not in jobs_found.reports[0]  # a job's report names no deployment


def test_broken_components_count_against_the_devices_latest_deployment_once_per_device():
    found, halts = detector()
    settle(found, samples.deployment_status(OTHER, "core-1", "SUCCEEDED", NOW_MS - 90_000),
           *(samples.deployment_status(BAD, f"core-{n}", "SUCCEEDED", NOW_MS - 60_000) for n in (1, 2, 3)))
    settle(found, samples.component_status("core-1", "ERRORED", NOW_MS - 30_000),
           samples.component_status("core-1", "BROKEN", NOW_MS - 29_000),
           samples.component_status("core-2", "RUNNING", NOW_MS - 28_000),
           samples.component_status("core-9", "BROKEN", NOW_MS - 27_000))  # no deployment seen: not counted
    assert halts == []
    assert [(r["jobId"], r["casualties"]) for r in found.reports] == [(f"deployment:{BAD}", 1)]

    settle(found, samples.component_status("core-2", "BROKEN", NOW_MS - 20_000),
           samples.component_status("core-3", "ERRORED", NOW_MS - 10_000))

    (halt,) = halts
    assert halt.deployment_ids == (BAD,)


def test_a_component_that_broke_before_the_device_took_the_deployment_is_not_its_casualty():
    found, halts = detector()
    settle(found, samples.deployment_status(BAD, "core-1", "SUCCEEDED", NOW_MS - 10_000))
    settle(found, samples.component_status("core-1", "BROKEN", NOW_MS - 20_000))
    assert found.reports == []


@pytest.mark.parametrize(("change", "problem"), [
    ({"detail": {"deploymentId": "d-1", "coreDeviceExecutionStatus": "IN_PROGRESS"}},
     "detail.coreDeviceExecutionStatus 'IN_PROGRESS' must be one of: FAILED, REJECTED, SUCCEEDED, COMPLETED, "
     "CANCELED"),
    ({"resources": ["arn:aws:iot:eu-west-1:123456789012:thing/core-1"]},
     "resources[0] 'arn:aws:iot:eu-west-1:123456789012:thing/core-1' is not a core device ARN"),
    ({"detail": {"coreDeviceExecutionStatus": "FAILED"}}, "detail.deploymentId must be a non-empty string"),
    ({"detail": {"deploymentId": "../x", "coreDeviceExecutionStatus": "FAILED"}},
     "detail.deploymentId '../x' is not a deployment id"),
    ({"time": "yesterday"}, "time 'yesterday' is not ISO 8601"),
    ({"detail-type": "Greengrass V2 Something"},
     "Greengrass detail-type 'Greengrass V2 Something' is not a deployment or component status change"),
])
def test_a_malformed_greengrass_event_is_refused_in_one_line(change, problem):
    with pytest.raises(events.NotAFleetEvent) as refused:
        events.parse({**samples.deployment_status(), **change})
    assert str(refused.value) == problem


def test_completed_means_succeeded_and_the_time_is_the_events_own():
    parsed = events.parse(samples.deployment_status(BAD, "core-1", "COMPLETED", NOW_MS))
    assert parsed == events.Execution(f"deployment:{BAD}", "core-1", "SUCCEEDED", NOW_MS)


def with_(event: dict, **changes) -> dict:
    return {**event, **changes}


@pytest.mark.parametrize(("event", "problem"), [
    (with_(samples.deployment_status(), resources=[]),
     "a Greengrass event needs resources (the core device) and a detail object"),
    (with_(samples.deployment_status(), resources="arn:aws:greengrass:eu-west-1:1:coreDevices:core-1"),
     "a Greengrass event needs resources (the core device) and a detail object"),
    (with_(samples.deployment_status(), detail=[]),
     "a Greengrass event needs resources (the core device) and a detail object"),
    (with_(samples.deployment_status(), resources=[7]), "resources[0] must be a non-empty string"),
    (with_(samples.component_status(), detail={"components": {"componentName": "x"}}),
     "detail.components must be a list of objects"),
    (with_(samples.component_status(), detail={"components": [{"componentName": "x"}, "y"]}),
     "detail.components must be a list of objects"),
    (with_(samples.component_status(), detail={"components": [{"lifecycleState": "BROKEN"}]}),
     "componentName must be a non-empty string"),
    (with_(samples.deployment_status(), time=1795946400), "time must be an ISO 8601 string"),
    (with_(samples.deployment_status(), time="2026-12-05T10:00:00"), "time '2026-12-05T10:00:00' has no time zone"),
])
def test_each_part_of_a_greengrass_event_is_checked_with_its_own_message(event, problem):
    with pytest.raises(events.NotAFleetEvent) as refused:
        events.parse(event)
    assert str(refused.value) == problem


def test_the_device_is_what_follows_the_last_core_devices_part_and_a_zone_is_honoured():
    device = "arn:aws:greengrass:eu-west-1:1:coreDevices:odd:coreDevices:core-1"
    parsed = events.parse(with_(samples.deployment_status(BAD), resources=[device], time="2026-12-05T12:00:00+02:00"))
    assert (parsed.thing, parsed.at_ms) == ("core-1", 1_796_464_800_000)  # 10:00 UTC


def test_a_healthy_components_report_names_no_component_and_greengrass_events_are_fleet_input():
    assert events.parse(samples.component_status("core-1", "RUNNING", NOW_MS)) == events.ComponentsBroke(
        "core-1", NOW_MS, ())
    assert events.parse(samples.component_status("core-1", "BROKEN", NOW_MS, "com.acme.fw")).components == (
        "com.acme.fw",)
    assert events.is_fleet_event(samples.deployment_status()) and events.is_fleet_event(samples.component_status())
    assert not events.is_fleet_event({"detail-type": events.DEPLOYMENT_STATUS, "source": "aws.other"})
