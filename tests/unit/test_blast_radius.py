"""The blast-radius cap, every way an alert reaches it: a rule acts on at most `max_jobs` jobs per alert, counted
over the jobs confirmed active; past it nothing is cancelled, throttled or claimed, and describing stops early.
`decisions.BlastRadius` is the one place the cap is checked; these tests hold each path to it."""

import threading

import pytest

from rollout_guard.halts import alerts, decisions, guard
from rollout_guard.halts.alert_kinds import AlarmAlert, CustomAlert
from rollout_guard.halts.decisions import BLOCKED, CANCELED, SKIPPED, BlastRadius, Decision
from rollout_guard.halts.jobs import JobView
from rollout_guard.halts.throttle.records import InMemoryThrottles
from rollout_guard.policy import PolicyError
from rollout_guard_cli import operator_requests
from tests.conftest import make_policy
from tests.unit.fakes import FakeJobs, HeldClaims, active


def capped(max_jobs: int, extra: str = "") -> object:
    return make_policy(f"rules: [{{name: cap, max_jobs: {max_jobs}{extra}}}]")


def naming(*job_ids: str) -> CustomAlert:
    return CustomAlert(via="sns", source="ops", job_ids=job_ids)


def fleet(count: int, latency: float = 0.0) -> FakeJobs:
    return FakeJobs({f"fw-{n:03d}": active(f"fw-{n:03d}") for n in range(count)}, latency=latency)


class FirstConfirmed(FakeJobs):
    """DescribeJob of the other jobs answers only once `first` has been confirmed: the order the test names, not
    the threads' (under load a later job could otherwise be confirmed first)."""

    def __init__(self, jobs, first: str):
        super().__init__(jobs)
        self.first, self.confirmed = first, threading.Event()

    def describe(self, job_id):
        if job_id != self.first:
            self.confirmed.wait(timeout=5)
        try:
            return super().describe(job_id)
        finally:
            if job_id == self.first:
                self.confirmed.set()


def test_the_cap_counts_what_may_still_act_and_blocks_only_acting_decisions():
    rule = capped(2).rules[0]
    cap = BlastRadius(rule, 3)
    assert cap.safe is False and cap.exceeded is False  # three unconfirmed could all be active
    cap.confirmed(Decision("a", SKIPPED, "R", False, "done already"))
    assert cap.safe is True and cap.exceeded is False
    for job_id in ("b", "c", "d"):
        cap.confirmed(Decision(job_id, decisions.TO_CANCEL, "R", False, "cancels"))
    assert cap.exceeded is True
    kept = Decision("a", SKIPPED, "R", False, "done already")
    assert cap.block("a", kept) is kept
    assert cap.block("e", None) == Decision("e", BLOCKED, "ROLLOUT_HALTED", False, "3 active jobs exceed max_jobs 2 of "
                                            "rule cap; nothing cancelled; not confirmed: describing stopped at the cap")
    assert "3 active jobs exceed max_jobs 2 of rule cap" in cap.block("b", Decision("b", decisions.TO_CANCEL, "R",
                                                                                      False, "x")).detail


def test_more_active_jobs_than_the_cap_blocks_every_one_and_keeps_the_others_decisions():
    views = [JobView("d", "COMPLETED"), active("a"), active("b"), active("c")]
    fake = FirstConfirmed({view.job_id: view for view in views}, first="d")  # d confirmed before the cap

    outcome = guard.respond(naming("d", "a", "b", "c"), capped(2), fake)

    acted = {d.job_id: d.action for d in outcome.decisions}
    assert acted == {"a": BLOCKED, "b": BLOCKED, "c": BLOCKED, "d": SKIPPED} and fake.cancels() == []
    assert "3 active jobs exceed max_jobs 2" in next(d.detail for d in outcome.decisions if d.action == BLOCKED)


@pytest.mark.parametrize(("jobs", "cap", "cancelled"), [(2, 2, 2), (1, 1, 1), (2, 1, 0), (4, 3, 0)])
def test_exactly_the_cap_acts_and_one_more_acts_on_nothing(jobs, cap, cancelled):
    fake = fleet(jobs)

    outcome = guard.respond(naming(*fake.jobs), capped(cap), fake)

    assert len(fake.cancels()) == cancelled
    assert {d.action for d in outcome.decisions} == ({CANCELED} if cancelled else {BLOCKED})


def test_a_cap_below_one_is_no_policy():
    with pytest.raises(PolicyError, match="max_jobs 0"):
        make_policy("rules: [{name: none, max_jobs: 0}]")


def test_describing_stops_once_the_cap_is_exceeded_and_every_candidate_is_blocked():
    jobs = fleet(300, latency=0.005)

    outcome = guard.respond(naming(*jobs.jobs), capped(10), jobs)

    described = [call for call in jobs.calls if call[0] == "describe"]
    assert len(described) < 30  # the cap (10) plus what was in flight on the few workers, not 300
    assert len(outcome.decisions) == 300 and {d.action for d in outcome.decisions} == {BLOCKED}
    assert jobs.cancels() == []


def test_cancels_start_before_every_candidate_is_confirmed_when_the_cap_cannot_be_exceeded():
    jobs = fleet(8, latency=0.005)

    guard.respond(naming(*jobs.jobs), capped(8), jobs)

    kinds = [call[0] for call in jobs.calls]
    assert kinds.count("cancel") == 8
    assert kinds.index("cancel") < len(kinds) - 1 - kinds[::-1].index("describe")  # a cancel before the last describe


def test_the_rules_cap_holds_for_an_operators_halt_too():
    jobs = fleet(5)
    policy = make_policy("rules: [{name: operator, match: {source: rollout-guard.operator}, jobs: ['fw-*'], max_jobs: 3}]")

    outcome = guard.respond(alerts.parse(operator_requests.halt_request(jobs="fw-*")), policy, jobs)

    assert jobs.cancels() == [] and {d.action for d in outcome.decisions} == {BLOCKED}


def test_past_the_cap_nothing_is_throttled():
    jobs = fleet(3)
    alert = AlarmAlert(via="eventbridge", alarm_name="fw-crash-rate-eu", state="ALARM", previous_state="OK")
    policy = make_policy("rules: [{name: slow, match: {alarm_name: 'fw-crash-rate-*'}, jobs: ['fw-*'], max_jobs: 2, "
                         "action: throttle, throttle: {max_per_minute: 5}}]")

    outcome = guard.respond(alert, policy, jobs, throttles=InMemoryThrottles())

    assert {d.action for d in outcome.decisions} == {BLOCKED}
    assert not [call for call in jobs.calls if call[0] == "update"]


def test_past_the_cap_no_claim_is_taken_early():
    jobs, store = fleet(3), HeldClaims({})

    outcome = guard.respond(naming(*jobs.jobs), capped(2), jobs, claims=store)

    assert {d.action for d in outcome.decisions} == {BLOCKED} and store.asked == []
