"""Property tests of the fleet signal's rules: the dark-thing logic, and the detector's counting whatever the order
inside a batch, the split into batches or the duplicates: the same stream always ends in the same counts."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollout_guard.adapters.memory_fleet import InMemoryFleetState
from rollout_guard.fleet import dark_things
from rollout_guard.fleet.casualties import minute_of
from rollout_guard.fleet.detector import Detector
from rollout_guard.fleet.events import NotAFleetEvent
from rollout_guard.fleet.state import ThingDays
from rollout_guard_local import samples
from tests.conftest import make_policy
from tests.unit.fakes import FakeJobs, active

AT = 1_800_000_000_000
moments = st.integers(min_value=-600_000, max_value=600_000)
POLICY = make_policy("""
    rules:
      - name: fleet
        match: {signal: casualties}
        jobs: ["fw-*"]
        dry_run: true
        dark_after: 30
        casualties: {things: 1000, within: 2m, fleet_things: 100}
    """)


@given(moments, st.lists(moments, max_size=5), st.integers(min_value=10_000, max_value=900_000))
def test_came_back_is_exactly_a_connect_in_the_half_open_window(disconnect, connects, dark_after):
    back = dark_things.came_back(AT + disconnect, [AT + c for c in connects], dark_after)

    assert back == any(disconnect < c <= disconnect + dark_after for c in connects)
    if back:
        assert dark_things.came_back_since(AT + disconnect, [AT + c for c in connects])


@given(moments, st.lists(st.tuples(moments, st.sampled_from(["fw-1", "fw-2", "fw-3"])), max_size=5),
       st.lists(st.sampled_from(["fw-8", "fw-9"]), max_size=2))
def test_a_dark_thing_is_on_its_in_progress_jobs_else_at_most_one_reported_job(disconnect, reports, in_progress):
    seen = ThingDays(set(), {(AT + at, job) for at, job in reports})

    jobs = dark_things.executing(AT + disconnect, seen, 30_000, lambda _: 60_000, in_progress)

    within = sorted((at, job) for at, job in seen.succeeded if AT + disconnect - 60_000 <= at <= AT + disconnect)
    if in_progress:
        assert jobs == in_progress
    else:  # the job it reported SUCCEEDED for last within the grace before it disconnected, or none
        assert jobs == [within[-1][1]] if within else jobs == []


@given(st.lists(moments, min_size=1, max_size=10), st.integers(min_value=10, max_value=900))
def test_a_check_never_judges_before_its_dark_after_or_the_end_of_its_minutes(disconnects, dark_after):
    pairs = tuple((f"d{n}", AT + at) for n, at in enumerate(disconnects))

    until = dark_things.judged_until(pairs, dark_after)

    last = max(at for _, at in pairs)
    assert until >= last + dark_after * 1000 and until >= (minute_of(last) + 1) * 60_000


def _stream(seed: int) -> list[dict]:
    rng = random.Random(seed)  # noqa: S311 - a reproducible test stream, not cryptography
    events = []
    for n in range(40):
        at = AT - 3_600_000 + n * 1_500
        if rng.random() < 0.3:
            events.append(samples.job_execution("fw-1", f"dev-{n}", rng.choice(["FAILED", "TIMED_OUT"]), at))
        else:
            events.append(samples.job_execution("fw-1", f"dev-{n}", "SUCCEEDED", at))
            events.append(samples.presence(f"dev-{n}", False, at + 2_000))
            if rng.random() < 0.8:
                events.append(samples.presence(f"dev-{n}", True, at + rng.choice([10_000, 60_000])))
    return events


def _counts(events: list[dict], batches: list[int]) -> dict:
    """The tally after the events go through, in batches of the given sizes, their due checks after each."""
    state, checks = InMemoryFleetState(), []

    class Timers:
        def schedule(self, check, delay_s):
            checks.append(check)

        def drained(self, in_flight):
            return True

    detector = Detector(POLICY, state, FakeJobs({"fw-1": active("fw-1")}), lambda alert, policy: None,
                        timers=Timers(), clock=lambda: AT / 1000)
    start = 0
    for size in batches:
        batch = events[start:start + size]
        start += size
        if batch:
            plan = detector.plan([(f"m{start}-{n}", json.dumps(body)) for n, body in enumerate(batch)])
            for n in range(len(batch)):
                plan.settle(f"m{start}-{n}")
    while checks:
        due, checks[:] = list(checks), []
        plan = detector.plan([(f"c{n}", json.dumps(check.message())) for n, check in enumerate(due)])
        for n in range(len(due)):
            plan.settle(f"c{n}")
    return state.tally("fw-1").minutes


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=3), st.randoms(use_true_random=False),
       st.lists(st.integers(min_value=1, max_value=10), min_size=1, max_size=30), st.floats(0, 0.5))
def test_the_same_stream_counts_the_same_whatever_the_order_batches_and_duplicates(seed, rng, sizes, duplicated):
    events = _stream(seed)
    expected = _counts(events, [10] * (len(events) // 10 + 1))
    shuffled = events + [event for event in events if rng.random() < duplicated]
    rng.shuffle(shuffled)
    sizes = (sizes * (len(shuffled) // max(1, sum(sizes)) + 2))

    assert _counts(shuffled, sizes) == expected


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=3), max_leaves=8)


def _mutated(body: dict, how: int, key: str, value, text: str) -> str:
    """One message broken as a careless or hostile publisher could: a field's value replaced, a field dropped,
    another added, the JSON cut or replaced by any text."""
    if how == 0:
        return json.dumps({**body, key if key in body else "timestamp": value})
    if how == 1:
        return json.dumps({k: v for k, v in body.items() if k != key})
    if how == 2:
        return json.dumps({**body, f"extra-{key}": value})
    if how == 3:
        return json.dumps(body)[:len(text) % 60]
    return text


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=1, max_value=9), st.data(), st.integers(min_value=0, max_value=4),
       st.sampled_from(["timestamp", "thingArn", "jobId", "status", "eventType", "clientId"]), json_values,
       st.text(max_size=80))
def test_any_one_broken_message_in_any_position_leaves_every_valid_one_of_its_batch_counted(valid, data, how, key,
                                                                                          value, text):
    bodies = [json.dumps(samples.job_execution("fw-1", f"dev-{n}", "FAILED", AT + n)) for n in range(valid)]
    position = data.draw(st.integers(min_value=0, max_value=valid))
    broken = _mutated(samples.job_execution("fw-1", "dev-x", "FAILED", AT), how, key, value, text)
    bodies.insert(position, broken)
    state = InMemoryFleetState()
    detector = Detector(POLICY, state, FakeJobs({"fw-1": active("fw-1")}), lambda alert, policy: None,
                        clock=lambda: AT / 1000)

    plan = detector.plan([(f"m{n}", body) for n, body in enumerate(bodies)])
    for n in range(len(bodies)):
        if n == position:
            try:
                plan.settle(f"m{n}")
            except NotAFleetEvent:  # reported alone in batchItemFailures: nothing else
                pass
        else:
            plan.settle(f"m{n}")  # every valid message settles

    counted = sum(kinds.get("failed", 0) for kinds in state.tally("fw-1").minutes.values())
    assert counted >= valid
