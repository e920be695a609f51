"""The detector against in-memory fakes (no AWS): a batch planned and settled, a halt asked for exactly at the
crossing, dark checks scheduled by the events' clock, and a message whose write fails failing alone."""

from __future__ import annotations

import json

import pytest

from rollout_guard.adapters.memory_fleet import InMemoryFleetState
from rollout_guard.fleet.dark_things import DARK_CHECK_SLACK_S
from rollout_guard.fleet.detector import Detector
from rollout_guard.fleet.events import DarkCheck
from rollout_guard_local import samples
from tests.conftest import make_policy
from tests.unit.fakes import FakeJobs, KeptTimers, active

POLICY = make_policy("""
    rules:
      - name: fleet
        match: {signal: casualties}
        jobs: ["fw-*"]
        dark_after: 60
        casualties: {things: 2, fleet_things: 1000}
    """)
NOW_MS = 1_800_000_000_000


Timers = KeptTimers


def detector(**kwargs):
    halts = []
    found = Detector(POLICY, kwargs.pop("state", InMemoryFleetState()), FakeJobs({"fw-1": active("fw-1")}),
                     lambda alert, policy: halts.append((alert, policy)), clock=lambda: NOW_MS / 1000, **kwargs)
    return found, halts


def settle(found: Detector, *events) -> list[str]:
    messages = [(f"m{n}", json.dumps(event)) for n, event in enumerate(events)]
    plan = found.plan(messages)
    failed = []
    for message_id, _ in messages:
        try:
            plan.settle(message_id)
        except Exception:
            failed.append(message_id)
    return failed


def test_the_halt_is_asked_for_at_the_crossing_with_the_rule_alone():
    found, halts = detector()

    settle(found, samples.job_execution("fw-1", "dev-1", "FAILED", NOW_MS - 5_000))
    assert halts == []
    settle(found, samples.job_execution("fw-1", "dev-2", "REJECTED", NOW_MS - 4_000))

    ((alert, policy),) = halts
    assert alert.kind == "fleet_signal" and alert.job_ids == ("fw-1",)
    assert [rule.name for rule in policy.rules] == ["fleet"]
    assert "2 casualties, threshold 2 (1 failed, 1 rejected): dev-1 failed, dev-2 rejected" == alert.reason


def test_one_write_per_thing_day_minute_and_job_whatever_the_number_of_events():
    state, timers = InMemoryFleetState(), Timers()
    found, _ = detector(state=state, timers=timers)

    settle(found, *(samples.presence(f"dev-{n}", False, NOW_MS - 1_000) for n in range(5)),
           samples.presence("dev-1", True, NOW_MS - 500), samples.presence("dev-1", True, NOW_MS - 400))

    assert state.writes == 2  # one minute count, one thing day
    ((check, delay),) = timers.scheduled
    assert len(check.disconnects) == 5 and delay == 60 + DARK_CHECK_SLACK_S - 1


def test_a_disconnect_delivered_twice_in_a_batch_counts_once_in_its_minute():
    state = InMemoryFleetState()
    found, _ = detector(state=state, timers=Timers())
    disconnect = samples.presence("dev-1", False, NOW_MS - 1_000)

    settle(found, disconnect, disconnect, samples.presence("dev-2", False, NOW_MS - 1_000))

    (counted,) = state.minutes([(NOW_MS - 1_000) // 60_000]).values()
    assert counted.fleet == 2


def test_a_dark_check_that_comes_early_is_put_back_for_the_rest_of_its_delay():
    timers = Timers()
    found, _ = detector(timers=timers)
    early = DarkCheck(60, (("dev-1", NOW_MS - 10_000),))

    settle(found, early.message())

    assert timers.scheduled == [(early, 60 + DARK_CHECK_SLACK_S - 10)]


def test_a_message_whose_write_fails_fails_alone_and_those_sharing_the_write_with_it():
    class Failing(InMemoryFleetState):
        def note_thing(self, key, connected, succeeded):
            raise RuntimeError("throttled")

    found, _ = detector(state=Failing())

    failed = settle(found, samples.presence("dev-1", True, NOW_MS), samples.presence("dev-1", True, NOW_MS + 1),
                    samples.job_execution("fw-1", "dev-2", "FAILED", NOW_MS))

    assert failed == ["m0", "m1"]


@pytest.mark.parametrize("status", ["CANCELED", "REMOVED", "QUEUED"])
def test_other_execution_outcomes_write_nothing(status):
    state = InMemoryFleetState()
    found, halts = detector(state=state)

    assert settle(found, samples.job_execution("fw-1", "dev-1", status, NOW_MS)) == []
    assert state.writes == 0 and halts == []
