"""The fleet signal on the streams real fleets send, against in-memory fakes: retried outcomes of one thing in one
batch, the order inside a batch, a queue that is behind (the low-water mark), many dark things at once (IoT's calls
stay bounded), and dark things discounted as an outage judged again once the fleet is back."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import pytest

from rollout_guard.adapters.memory_fleet import InMemoryFleetState
from rollout_guard.fleet import dark_things
from rollout_guard.fleet.casualties import STILL_DARK, Casualty, Tally, verdict
from rollout_guard.fleet.dark_checks import PER_THING_LOOKUPS, WATERMARK_POLL_S, due
from rollout_guard.fleet.dark_things import WATERMARK_SLACK_S, WATERMARK_WAIT_S
from rollout_guard.fleet.detector import Detector
from rollout_guard.fleet.events import DarkCheck
from rollout_guard.fleet.state import ThingDays, bucket_key, bucket_shard, tally_key
from rollout_guard.policy import Casualties
from rollout_guard_local import samples
from tests.conftest import make_policy
from tests.unit.fakes import FakeJobs, KeptTimers, active

POLICY = make_policy("""
    rules:
      - name: fleet
        match: {signal: casualties}
        jobs: ["fw-*"]
        dark_after: 60
        casualties: {things: 2, fleet_things: 100}
    """)
NOW_MS = 1_800_000_000_000
HOUR_AGO_MS = NOW_MS - 3_600_000


Timers = KeptTimers


def detector(state=None, timers=None, jobs=None, policy=POLICY, now_ms=NOW_MS):
    halts = []
    jobs = jobs or FakeJobs({"fw-1": active("fw-1")})
    found = Detector(policy, state if state is not None else InMemoryFleetState(), jobs,
                     lambda alert, policy: halts.append(alert), timers=timers, clock=lambda: now_ms / 1000)
    return found, halts, jobs


def settle(found: Detector, *events, sent_ms=None) -> list[str]:
    plan = found.plan([(f"m{n}", json.dumps(event), sent_ms) for n, event in enumerate(events)])
    failed = []
    for n in range(len(events)):
        try:
            plan.settle(f"m{n}")
        except Exception:
            failed.append(f"m{n}")
    return failed


def executing(jobs: FakeJobs, *things: str, job: str = "fw-1") -> None:
    for thing in things:
        jobs.executions_of[(job, thing)] = "IN_PROGRESS"


# --- any number of outcomes of one thing ---------------------------------------------------------------------


@pytest.mark.parametrize("statuses", [("FAILED", "FAILED"), ("FAILED", "TIMED_OUT"), ("REJECTED", "FAILED", "TIMED_OUT")])
def test_outcomes_of_one_thing_in_one_batch_count_it_once_at_its_first(statuses):
    state = InMemoryFleetState()
    found, halts, _ = detector(state)

    events = [samples.job_execution("fw-1", "dev-1", status, HOUR_AGO_MS + n * 1000) for n, status in
              enumerate(statuses)]
    assert settle(found, *reversed(events)) == []

    assert halts == [] and found.reports[-1]["casualties"] == 1
    ((_, first),) = [(key, item["first"]) for key, item in state.items.items() if key.startswith("casualty#")]
    assert first == f"{HOUR_AGO_MS // 1000 * 1000}|{statuses[0].lower()}"


# --- the order inside a batch (the CLI without a queue judges as the function does) ------------------------


@pytest.mark.parametrize("order", ["disconnect first", "connect first"])
def test_a_reboot_back_40_s_later_in_the_same_batch_is_never_dark_whatever_the_order(order):
    jobs = FakeJobs({"fw-1": active("fw-1")})
    executing(jobs, "dev-1", "dev-2")
    found, halts, _ = detector(jobs=jobs)
    events = [samples.presence("dev-1", False, HOUR_AGO_MS), samples.presence("dev-1", True, HOUR_AGO_MS + 40_000),
              samples.presence("dev-2", False, HOUR_AGO_MS)]
    if order == "connect first":
        events.reverse()

    assert settle(found, *events) == []

    (report,) = found.reports
    assert report["casualties"] == 1 and "dev-2 dark" in report["detail"] and "dev-1" not in report["detail"]


def test_an_outage_whose_other_disconnects_come_later_in_the_same_batch_is_recognised():
    jobs = FakeJobs({"fw-1": active("fw-1")})
    jobs.jobs["fw-1"] = replace(jobs.jobs["fw-1"], executed=40)
    executing(jobs, "dev-1", "dev-2")
    found, halts, _ = detector(jobs=jobs)
    mine = [samples.presence(f"dev-{n}", False, HOUR_AGO_MS) for n in (1, 2)]
    others = [samples.presence(f"other-{n}", False, HOUR_AGO_MS + 5_000) for n in range(8)]

    settle(found, *mine, *others)  # the job's disconnects first, the rest of the fleet's later

    assert halts == []
    (report,) = found.reports
    assert report["casualties"] == 0 and report["discounted"] == 2


# --- the low-water mark -------------------------------------------------------------------------------------


def test_a_due_check_waits_for_the_queue_to_be_read_past_its_minutes_then_judges():
    state, timers = InMemoryFleetState(complete=False), Timers()
    jobs = FakeJobs({"fw-1": active("fw-1")})
    executing(jobs, "dev-1", "dev-2")
    at = NOW_MS - 70_000 - (NOW_MS - 70_000) % 60_000  # a minute's first moment
    check = DarkCheck(60, (("dev-1", at), ("dev-2", at)))
    found, halts, _ = detector(state, timers, jobs, now_ms=int(due(check) * 1000) + 1_000)
    settle(found, samples.presence("x", True, at), sent_ms=at + 30_000)  # the queue is behind

    settle(found, check.message())

    assert found.reports == [] and timers.scheduled == [(check, WATERMARK_POLL_S)]
    settle(found, samples.presence("x", True, at), sent_ms=dark_things.judged_until(check.disconnects, 60))
    settle(found, check.message())
    (report,) = found.reports
    assert report["casualties"] == 2 and "judgedWithoutWatermark" not in report and len(halts) == 1


def test_a_due_check_judges_at_once_on_a_quiet_queue_even_with_the_mark_behind():
    state, timers = InMemoryFleetState(complete=False), Timers(drained=True)
    jobs = FakeJobs({"fw-1": active("fw-1")})
    executing(jobs, "dev-1")
    check = DarkCheck(60, (("dev-1", HOUR_AGO_MS),))

    settle(detector(state, timers, jobs)[0], check.message())
    found, _, _ = detector(state, timers, jobs)
    settle(found, check.message())

    (report,) = found.reports
    assert report["casualties"] == 1 and "judgedWithoutWatermark" not in report and timers.scheduled == []


def test_a_check_that_waited_its_bound_judges_and_says_so():
    state, timers = InMemoryFleetState(complete=False), Timers()
    jobs = FakeJobs({"fw-1": active("fw-1")})
    executing(jobs, "dev-1")
    check = DarkCheck(60, (("dev-1", HOUR_AGO_MS),))
    until = dark_things.judged_until(check.disconnects, 60)
    found, _, _ = detector(state, timers, jobs, now_ms=until + WATERMARK_WAIT_S * 1000 + 1)

    settle(found, check.message())

    (report,) = found.reports
    assert report["judgedWithoutWatermark"] is True and timers.scheduled == []


def test_a_check_judges_after_its_dark_after_and_the_end_of_its_last_minute():
    start = NOW_MS - NOW_MS % 60_000
    slack = WATERMARK_SLACK_S * 1000
    assert dark_things.judged_until((("a", start + 59_000),), 10) == start + 59_000 + 15_000 + slack  # dark_after
    assert dark_things.judged_until((("a", start),), 10) == start + 60_000 + slack  # the minute's end


# --- IoT's calls stay bounded -------------------------------------------------------------------------------


def test_many_dark_things_make_one_listing_not_one_call_per_thing():
    jobs = FakeJobs({"fw-1": active("fw-1"), "fw-2": active("fw-2"), "ops-1": active("ops-1")})
    things = [f"dev-{n}" for n in range(40)]
    executing(jobs, *things[:20])
    executing(jobs, *things[20:], job="fw-2")
    found, halts, _ = detector(jobs=jobs)
    checks = [DarkCheck(60, tuple((thing, HOUR_AGO_MS) for thing in things[start:start + 10]))
              for start in range(0, 40, 10)]

    settle(found, *(check.message() for check in checks))

    calls = [call[0] for call in jobs.calls]
    assert "in_progress_on" not in calls
    assert calls.count("list") == 1 and sorted(c[1] for c in jobs.calls if c[0] == "in_progress") == ["fw-1", "fw-2"]
    assert {alert.job_ids for alert in halts} == {("fw-1",), ("fw-2",)}


def test_a_few_dark_things_are_asked_about_one_by_one():
    jobs = FakeJobs({"fw-1": active("fw-1")})
    executing(jobs, "dev-1")
    found, _, _ = detector(jobs=jobs)

    settle(found, DarkCheck(60, tuple((f"dev-{n}", HOUR_AGO_MS) for n in range(PER_THING_LOOKUPS))).message())

    assert [call[0] for call in jobs.calls].count("in_progress_on") == PER_THING_LOOKUPS


# --- no item grows with the fleet ---------------------------------------------------------------------------


def test_a_dry_run_scale_job_keeps_every_item_small_and_counts_right():
    policy = make_policy("""
        rules:
          - name: fleet
            match: {signal: casualties}
            jobs: ["fw-*"]
            dry_run: true
            casualties: {things: 100000}
        """)
    state = InMemoryFleetState()
    found, _, _ = detector(state, policy=policy)
    rng = random.Random(7)  # noqa: S311 - a reproducible shuffle of a test stream, not cryptography
    failures = [samples.job_execution("fw-1", f"dev-{n}", "FAILED", HOUR_AGO_MS + n * 60) for n in range(5_000)]
    rng.shuffle(failures)

    for start in range(0, len(failures), 10):
        assert settle(found, *failures[start:start + 10]) == []

    assert found.reports[-1]["casualties"] == 5_000
    assert max(state.item_size(key) for key in state.items) < 100_000
    assert state.tally("fw-1").total("failed") == 5_000 and tally_key("fw-1") in state.items
    assert bucket_key("fw-1", HOUR_AGO_MS // 60_000, bucket_shard("dev-1")) in state.items


# --- an outage hides no bricked device for good -------------------------------------------------------------


def test_a_thing_discounted_in_an_outage_counts_when_still_dark_after_the_fleet_came_back():
    timers, clock = Timers(), [NOW_MS / 1000]
    jobs = FakeJobs({"fw-1": active("fw-1")})
    jobs.jobs["fw-1"] = replace(jobs.jobs["fw-1"], executed=10)
    executing(jobs, "dev-1", "dev-2")
    halts = []
    found = Detector(POLICY, InMemoryFleetState(), jobs, lambda alert, policy: halts.append(alert), timers=timers,
                     clock=lambda: clock[0])
    others = [samples.presence(f"other-{n}", False, HOUR_AGO_MS + 1_000) for n in range(40)]
    for start in range(0, 40, 10):
        settle(found, *others[start:start + 10])
    settle(found, DarkCheck(60, (("dev-1", HOUR_AGO_MS), ("dev-2", HOUR_AGO_MS))).message())
    assert halts == [] and found.reports[-1]["discounted"] == 2
    (recheck,) = [check for check, _ in timers.scheduled if check.round]
    assert recheck.job_id == "fw-1" and due(recheck) == clock[0] + 60

    clock[0] += 60  # the fleet is still out: looked at again a step later
    settle(found, recheck.message())
    (again,) = [check for check, _ in timers.scheduled if check.round == 2]
    assert again.fleet_back_ms == 0 and due(again) == clock[0] + 60 and len(found.reports) == 1

    back = [samples.presence(f"other-{n}", True, HOUR_AGO_MS + 180_000) for n in range(40)]
    for start in range(0, 40, 10):
        settle(found, *back[start:start + 10])
    clock[0] += 60  # the fleet is back: each thing has one more dark_after to come back
    settle(found, again.message())
    (last,) = [check for check, _ in timers.scheduled if check.round == 3]
    assert last.fleet_back_ms == clock[0] * 1000 and due(last) == clock[0] + 60 and len(found.reports) == 1

    settle(found, samples.presence("dev-2", True, NOW_MS + 150_000))  # dev-2 came back within it: not bricked
    clock[0] += 60
    settle(found, last.message())

    assert halts == [] and found.reports[-1]["casualties"] == 1
    assert "dev-1 still_dark" in found.reports[-1]["detail"] and "dev-2" not in found.reports[-1]["detail"]


def test_a_thing_that_came_back_after_the_outage_is_never_counted():
    timers = Timers()
    found, halts, _ = detector(InMemoryFleetState(), timers)
    settle(found, samples.presence("dev-1", True, HOUR_AGO_MS + 600_000))

    settle(found, DarkCheck(60, (("dev-1", HOUR_AGO_MS),), 3, "fw-1", NOW_MS, NOW_MS - 120_000).message())

    assert found.reports == [] and timers.scheduled == [] and halts == []


def test_a_recheck_waits_while_the_fleet_is_still_out():
    timers = Timers()
    found, halts, _ = detector(InMemoryFleetState(), timers)
    settle(found, *(samples.presence(f"other-{n}", False, HOUR_AGO_MS) for n in range(10)))
    recheck = DarkCheck(60, (("dev-1", HOUR_AGO_MS),), 1, "fw-1", NOW_MS)

    settle(found, recheck.message())

    assert found.reports == [] and [check.round for check, _ in timers.scheduled if check.round] == [2]


# --- the pure parts -----------------------------------------------------------------------------------------


def test_which_job_a_disconnected_thing_was_executing():
    seen = ThingDays({HOUR_AGO_MS + 30_000}, {(HOUR_AGO_MS - 5_000, "fw-1"), (HOUR_AGO_MS - 500_000, "fw-0")})
    assert dark_things.executing(HOUR_AGO_MS, seen, 60_000, lambda _: 60_000, None) == ["fw-1"]  # back: the reboot's job
    dark = ThingDays(set(), seen.succeeded)
    assert dark_things.executing(HOUR_AGO_MS, dark, 60_000, lambda _: 60_000, ["fw-9"]) == ["fw-9"]  # IN_PROGRESS first
    assert dark_things.executing(HOUR_AGO_MS, dark, 60_000, lambda _: 60_000, []) == ["fw-1"]
    assert dark_things.executing(HOUR_AGO_MS, dark, 60_000, lambda _: 1_000, []) == []  # SUCCEEDED outside the grace


@pytest.mark.parametrize(("connected", "back"), [(40_000, True), (60_000, True), (60_001, False), (0, False),
                                                 (-1, False)])
def test_came_back_is_judged_by_event_time_within_dark_after(connected, back):
    assert dark_things.came_back(HOUR_AGO_MS, [HOUR_AGO_MS + connected], 60_000) is back


def test_fleet_is_back_at_its_share_of_connects():
    assert dark_things.fleet_is_back(100, 80) and not dark_things.fleet_is_back(100, 79)


def test_a_recheck_counts_a_discounted_thing_once():
    rule = Casualties(things=2)
    found = [Casualty(1, "a", "dark"), Casualty(1, "a", STILL_DARK), Casualty(2, "b", "dark")]
    assert verdict(rule, found, None, "outage").total == 1
    assert verdict(rule, found, None, None).total == 2
    tally = Tally({0: {"dark": 2, STILL_DARK: 1}})
    assert verdict(rule, found, None, "outage", tally).discounted == 1
    assert verdict(rule, found, None, None, tally).total == 2


# --- the fleet's IoT budget ---------------------------------------------------------------------------------


def test_the_fleet_rate_is_read_and_checked_like_the_guards():
    from rollout_guard.settings import FLEET_IOT_RATE, POLICY_FILE, Settings, SettingsError

    assert Settings.from_env({POLICY_FILE: "p.yaml", FLEET_IOT_RATE: "0.8"}).fleet_iot_rate == 0.8
    assert Settings.from_env({POLICY_FILE: "p.yaml"}).fleet_iot_rate == 10.0
    with pytest.raises(SettingsError, match="ROLLOUT_GUARD_FLEET_IOT_RATE must be a number of requests a second"):
        Settings.from_env({POLICY_FILE: "p.yaml", FLEET_IOT_RATE: "fast"})


def test_fleet_work_asks_iot_through_its_own_paced_client_and_halts_through_the_guards(tmp_path):
    from rollout_guard.alert_path import AlertPath
    from rollout_guard.fleet.dark_checks import InProgressListing
    from rollout_guard.fleet_path import FleetPath
    from rollout_guard.runtime import Runtime
    from rollout_guard_local.context import LocalContext

    guard_jobs, fleet_jobs = FakeJobs({"fw-1": active("fw-1")}), FakeJobs({"fw-1": active("fw-1")})
    executing(fleet_jobs, "dev-1", "dev-2")
    runtime = Runtime(AlertPath(POLICY, guard_jobs), lambda: FleetPath(
        POLICY, InMemoryFleetState(), fleet_jobs, InProgressListing(), clock=lambda: NOW_MS / 1000))

    runtime.fleet(samples.sqs_batch(DarkCheck(60, (("dev-1", HOUR_AGO_MS), ("dev-2", HOUR_AGO_MS))).message()),
                   LocalContext())

    assert {call[0] for call in fleet_jobs.calls} == {"in_progress_on", "describe"}  # its counting: paced
    assert [call[0] for call in guard_jobs.calls] == ["describe", "cancel"]


def test_a_window_reads_only_the_minutes_that_have_casualties():
    class Reads(InMemoryFleetState):
        def __init__(self):
            super().__init__()
            self.read = []

        def casualties(self, job_id, minutes):
            minutes = list(minutes)
            self.read.append(minutes)
            return super().casualties(job_id, minutes)

    policy = make_policy("""
        rules:
          - name: fleet
            match: {signal: casualties}
            jobs: ["fw-*"]
            casualties: {things: 3, within: 1h}
        """)
    state = Reads()
    found, _, _ = detector(state, policy=policy)

    settle(found, samples.job_execution("fw-1", "dev-1", "FAILED", HOUR_AGO_MS))
    settle(found, samples.job_execution("fw-1", "dev-2", "FAILED", HOUR_AGO_MS + 600_000))

    assert state.read[-1] == sorted({HOUR_AGO_MS // 60_000, (HOUR_AGO_MS + 600_000) // 60_000})
