"""A job's new casualties evaluated against its rule (`fleet.evaluation.evaluate`), over the fleet state in memory
and IoT's jobs faked: the verdict, field by field, for a window, a count, a percentage, an outage, a job gone."""

import pytest

from rollout_guard.adapters.memory_fleet import InMemoryFleetState
from rollout_guard.fleet.casualties import Casualty, Verdict
from rollout_guard.fleet.evaluation import evaluate, fleet_rule
from rollout_guard.fleet.state import MinuteCounts
from rollout_guard.halts.jobs import JobsError, JobView
from rollout_guard.policy import Casualties
from tests.conftest import make_policy
from tests.unit.fakes import FakeJobs

MINUTE_MS, FIRST_MINUTE = 60_000, 28_000_000


def hurt(minute: int, thing: str, kind: str = "failed") -> Casualty:
    return Casualty((FIRST_MINUTE + minute) * MINUTE_MS, thing, kind)


def counted(*found: Casualty, executed: int = 40) -> tuple[InMemoryFleetState, FakeJobs]:
    state = InMemoryFleetState()
    state.add_casualties("fw-1", found)
    return state, FakeJobs({"fw-1": JobView("fw-1", "IN_PROGRESS", executed=executed)})


EARLY = [hurt(0, f"d{n}") for n in range(3)]
LATE = [hurt(20, "e"), hurt(21, "f")]


def test_a_window_counts_only_the_casualties_within_it_and_asks_iot_nothing():
    state, jobs = counted(*EARLY, *LATE)

    judged = evaluate("fw-1", Casualties(things=5, within_s=600), LATE, state, jobs)

    assert judged == Verdict(crossed=False, counted=tuple(LATE), discounted=0, total=5, crossed_by=None,
                             detail="2 casualties within 600 s, threshold 5 (5 failed): e failed, f failed")
    assert jobs.calls == []


def test_a_count_crosses_on_the_casualty_that_makes_it_and_names_the_first_ones():
    state, jobs = counted(*EARLY, *LATE)

    judged = evaluate("fw-1", Casualties(things=5), LATE, state, jobs)

    assert judged == Verdict(crossed=True, counted=(*EARLY, *LATE), discounted=0, total=5, crossed_by=LATE[-1],
                             detail="5 casualties, threshold 5 (5 failed): d0 failed, d1 failed, d2 failed, e failed, "
                                    "f failed")


def test_a_percentage_reads_the_jobs_executed_things():
    state, jobs = counted(*EARLY, *LATE)

    judged = evaluate("fw-1", Casualties(percent=10, min_things=20), LATE[-1:], state, jobs)

    assert judged.crossed and judged.crossed_by is None and jobs.calls == [("describe", "fw-1")]
    assert judged.detail == ("5 of 40 executed things (12.5%), threshold 10% once 20 have executed (5 failed): "
                             "d0 failed, d1 failed, d2 failed, e failed, f failed")


@pytest.mark.parametrize(("others", "crossed"), [(60, False), (0, True)])
def test_dark_things_are_discounted_when_the_rest_of_the_fleet_went_dark_too(others, crossed):
    dark = [hurt(0, f"d{n}", "dark") for n in range(3)]
    state, jobs = counted(*dark, executed=10)
    state.count_minute(FIRST_MINUTE, 0, MinuteCounts(others, 0, 0))

    judged = evaluate("fw-1", Casualties(things=3, dark_after_s=60, fleet_things=100), dark, state, jobs)

    assert (judged.crossed, judged.discounted, judged.total) == ((True, 0, 3) if crossed else (False, 3, 0))
    if not crossed:
        assert judged.detail == ("0 casualties, threshold 3; 3 dark thing(s) not counted: 60 of the fleet's other 90 "
                                 "things disconnected in the same minutes (66.7%), against 30.0% of the job's 10 "
                                 "executed things gone dark: a network outage, not the firmware")


def test_a_job_gone_has_nothing_to_halt_and_any_other_error_of_iot_is_raised(monkeypatch):
    import io
    import json

    from rollout_guard import telemetry

    stream = io.StringIO()
    monkeypatch.setattr(telemetry.logger.registered_handler, "stream", stream)
    state, jobs = counted(*EARLY)
    jobs.fail_describe.add("fw-1")

    assert evaluate("fw-gone", Casualties(percent=10, min_things=1), EARLY, state, jobs) is None
    (line,) = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert (line["level"], line["message"], line["job_id"]) == (
        "INFO", "Casualties of a job that no longer exists: nothing to halt", "fw-gone")
    with pytest.raises(JobsError):
        evaluate("fw-1", Casualties(percent=10, min_things=1), EARLY, state, jobs)


def test_the_first_fleet_rule_whose_globs_allow_the_job_owns_it():
    policy = make_policy("""
rules:
  - {name: alarm, match: {alarm_name: x}}
  - {name: eu, match: {signal: casualties}, jobs: ["fw-*-eu"], casualties: {things: 3}}
  - {name: any, match: {signal: casualties}, casualties: {things: 9}}
""")

    assert fleet_rule(policy, "fw-2-eu").name == "eu" and fleet_rule(policy, "fw-2-us").name == "any"
    assert fleet_rule(make_policy("rules: [{name: a}]"), "fw-1") is None


def test_a_window_reads_the_minutes_it_can_reach_from_each_new_casualty_edges_included():
    from rollout_guard.fleet.evaluation import _window

    known = {FIRST_MINUTE + minute: {"failed": 1} for minute in (7, 8, 12, 13)}
    half_past = Casualty((FIRST_MINUTE + 10) * MINUTE_MS + 30_000, "n", "failed")  # 10:30
    later = Casualty((FIRST_MINUTE + 11) * MINUTE_MS + 30_000, "m", "failed")  # 11:30

    assert _window([half_past], 120, known) == [FIRST_MINUTE + 8, FIRST_MINUTE + 12]  # 8:30 to 12:30
    assert _window([half_past], 90, known) == [FIRST_MINUTE + 12]  # 9:00 to 12:00: the minute it ends in
    assert _window([half_past], 89, known) == []  # 9:01 to 11:59
    assert _window([half_past, later], 120, known) == [FIRST_MINUTE + 8, FIRST_MINUTE + 12, FIRST_MINUTE + 13]
    assert _window([], 120, known) == [] and _window([half_past], None, known) == []


class ReadsRecorded(InMemoryFleetState):
    """The fleet state in memory, recording which minutes of casualties and of the fleet each evaluation reads."""

    def __init__(self):
        super().__init__()
        self.reads: list[tuple[str, list[int]]] = []

    def casualties(self, job_id, minutes):
        minutes = list(minutes)
        self.reads.append(("casualties", minutes))
        return super().casualties(job_id, minutes)

    def minutes(self, minutes):
        minutes = sorted(minutes)
        self.reads.append(("minutes", minutes))
        return super().minutes(minutes)


def recorded(*found: Casualty, executed: int = 40) -> tuple[ReadsRecorded, FakeJobs]:
    state = ReadsRecorded()
    state.add_casualties("fw-1", found)
    return state, FakeJobs({"fw-1": JobView("fw-1", "IN_PROGRESS", executed=executed)})


def test_failures_alone_ask_iot_nothing_and_read_no_fleet_minute_whatever_the_fleet_size():
    state, jobs = recorded(*EARLY)

    judged = evaluate("fw-unknown-to-iot", Casualties(things=9, fleet_things=100), [], state, jobs)

    assert judged is not None and jobs.calls == []
    assert [kind for kind, _ in state.reads] == ["casualties"]  # the window's minutes (none), nothing else


def test_a_window_counts_the_casualties_already_counted_within_it():
    state, jobs = recorded(hurt(20, "e"))
    new = [hurt(21, "f")]
    state.add_casualties("fw-1", new)

    judged = evaluate("fw-1", Casualties(things=2, within_s=600), new, state, jobs)

    assert judged.crossed and judged.counted == (hurt(20, "e"), hurt(21, "f")) and judged.crossed_by == new[0]


def test_a_verdict_not_crossed_reads_its_casualties_once():
    dark = [hurt(0, f"d{n}", "dark") for n in range(3)]
    state, jobs = recorded(*dark, executed=10)
    state.count_minute(FIRST_MINUTE, 0, MinuteCounts(60, 0, 0))

    judged = evaluate("fw-1", Casualties(things=3, dark_after_s=60, fleet_things=100), dark, state, jobs)

    assert not judged.crossed and judged.discounted == 3
    assert state.reads == [("minutes", [FIRST_MINUTE]), ("casualties", [])]


def test_an_outage_is_judged_against_no_executed_thing_when_iot_counts_none():
    dark = [hurt(0, "d0", "dark")]
    state, jobs = recorded(*dark, executed=0)
    state.count_minute(FIRST_MINUTE, 0, MinuteCounts(99, 0, 0))

    judged = evaluate("fw-1", Casualties(things=3, dark_after_s=60, fleet_things=100), dark, state, jobs)

    assert judged.detail.endswith("1 dark thing(s) not counted: 99 of the fleet's other 100 things disconnected in "
                                  "the same minutes (99.0%), against 100.0% of the job's 0 executed things gone "
                                  "dark: a network outage, not the firmware")


def test_the_crossing_is_read_where_it_is_with_dark_things_discounted_by_an_outage():
    """Eight to cross, more than a comment names: the crossing lies in a minute neither first nor last nor new,
    and counting the discounted dark thing would put it a minute earlier."""
    earlier = [hurt(minute, f"f{minute}") for minute in (0, 1, 2, 3, 4, 6, 7, 8, 9)]
    dark = hurt(5, "d5", "dark")
    new = [hurt(12, "f12")]
    state, jobs = recorded(*earlier, dark, *new, executed=20)
    state.count_minute(FIRST_MINUTE + 5, 0, MinuteCounts(90, 0, 0))

    judged = evaluate("fw-1", Casualties(things=8, dark_after_s=60, fleet_things=100), new, state, jobs)

    counted = (*earlier[:5], *(c for c in earlier if c.thing in ("f6", "f7", "f8", "f9")), *new)
    assert judged.crossed and judged.crossed_by == hurt(8, "f8")  # the eighth, the dark one not counted
    assert judged.total == 10 and judged.discounted == 1
    assert judged.counted == tuple(sorted({*counted} - {hurt(6, "f6"), hurt(7, "f7"), hurt(9, "f9")}))
    assert judged.detail.startswith("10 casualties, threshold 8 (10 failed): f0 failed, f1 failed, f2 failed, f3 "
                                    "failed, f4 failed, ...; 1 dark thing(s) not counted")
    reads = [minutes for kind, minutes in state.reads if kind == "casualties"]
    assert reads == [[], sorted(FIRST_MINUTE + m for m in (0, 1, 2, 3, 4, 8, 12))]
