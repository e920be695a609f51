"""The claims port's pure parts, and the guard with an in-memory claim store: given who holds a claim, then who
acts and what the others report."""

import threading

from rollout_guard.halts import alert_kinds, claims, decisions, guard
from rollout_guard.halts.claims import ACTED, DONE_ELSEWHERE, HELD_ELSEWHERE, Claimed
from rollout_guard.halts.jobs import JobView
from tests.conftest import make_policy
from tests.unit.fakes import FakeJobs, HeldClaims, active


def test_a_skip_names_what_the_other_invocation_does_at_that_level_whatever_its_episode():
    held, done = Claimed(HELD_ELSEWHERE), Claimed(DONE_ELSEWHERE)

    assert claims.skipped_detail(held, claims.episode_level(claims.ClaimLevel.THROTTLE, "2026-12-03T10:00:00")) == (
        "another invocation is throttling the job (it holds the claim)")
    assert claims.skipped_detail(done, claims.episode_level(claims.ClaimLevel.RESTORE, "t")) == (
        "another invocation already restored the job")
    assert claims.skipped_detail(held, claims.ClaimLevel.ESCALATE) == "another invocation is escalating the job (it holds the claim)"


def test_a_claim_is_the_job_and_the_level_and_force_is_its_own_level():
    assert claims.claim_of("fw-1", claims.ClaimLevel.CANCEL) == {"job": "fw-1", "level": "cancel"}
    assert (claims.cancel_level(False), claims.cancel_level(True)) == ("cancel", "cancel-force")
    assert len({claims.ClaimLevel.CANCEL, claims.ClaimLevel.CANCEL_WITH_FORCE, claims.ClaimLevel.ESCALATE}) == 3


def test_what_the_loser_of_a_claim_reports():
    assert claims.skipped_detail(Claimed(HELD_ELSEWHERE)) == (
        "another invocation is cancelling the job (it holds the claim)")
    assert claims.skipped_detail(Claimed(DONE_ELSEWHERE)) == "another invocation already cancelled the job"
    assert claims.skipped_detail(Claimed(DONE_ELSEWHERE, "at 10:00")) == (
        "another invocation already cancelled the job: at 10:00")
    assert Claimed(ACTED).acted and not Claimed(HELD_ELSEWHERE).acted


def test_the_guard_skips_a_job_whose_claim_another_invocation_holds():
    jobs = FakeJobs({"fw-1": active("fw-1"), "fw-2": active("fw-2")})
    store = HeldClaims({("fw-1", "cancel"): HELD_ELSEWHERE})
    alert = alert_kinds.CustomAlert(via="sns", source="x", job_ids=("fw-1", "fw-2"))

    outcome = guard.respond(alert, make_policy("rules: [{name: any}]"), jobs, claims=store)

    assert [(d.job_id, d.action, d.detail) for d in outcome.decisions] == [
        ("fw-1", "skipped", "another invocation is cancelling the job (it holds the claim)"),
        ("fw-2", "canceled", "rule any cancels; CancelJob accepted (without force)")]
    assert [call[1] for call in jobs.cancels()] == ["fw-2"]


def test_a_forcing_rule_claims_the_forced_level_and_an_escalation_its_own():
    jobs = FakeJobs({"fw-1": active("fw-1"), "fw-2": JobView("fw-2", "CANCELED")})
    jobs.executions_of = {("fw-2", "dev-1"): "IN_PROGRESS"}
    store = HeldClaims({("fw-1", "cancel"): DONE_ELSEWHERE})  # a soft cancel elsewhere does not stop a forced one
    alert = alert_kinds.CustomAlert(via="sns", source="x", job_ids=("fw-1", "fw-2"))

    outcome = guard.respond(alert, make_policy("rules: [{name: hard, force: true}]"), jobs, claims=store)

    assert [(d.job_id, d.action) for d in outcome.decisions] == [("fw-1", "canceled"), ("fw-2", "escalated")]
    # Each claim is asked beside DescribeJob at the rule's level; fw-2 turned out to need an escalation, so its
    # cancel claim was released (never held) and the escalation took its own.
    assert sorted(store.held) == [("fw-1", "cancel"), ("fw-1", "cancel-force"), ("fw-2", "escalate")]
    assert sorted(store.asked) == [("fw-1", "cancel-force"), ("fw-2", "cancel-force"), ("fw-2", "escalate")]


def test_an_escalation_held_elsewhere_is_skipped_and_says_escalating():
    jobs = FakeJobs({"fw-2": JobView("fw-2", "CANCELED")})
    store = HeldClaims({("fw-2", "escalate"): HELD_ELSEWHERE})
    alert = alert_kinds.CustomAlert(via="sns", source="x", job_ids=("fw-2",))

    outcome = guard.respond(alert, make_policy("rules: [{name: hard, force: true}]"), jobs, claims=store)

    assert [(d.action, d.detail) for d in outcome.decisions] == [
        ("skipped", "another invocation is escalating the job (it holds the claim)")]


def test_a_failed_escalation_releases_its_claim_for_the_retry():
    jobs = FakeJobs({"fw-2": JobView("fw-2", "CANCELED")})
    jobs.executions_of = {("fw-2", "dev-1"): "IN_PROGRESS"}
    jobs.fail_execution.add("dev-1")
    store = HeldClaims({})
    alert = alert_kinds.CustomAlert(via="sns", source="x", job_ids=("fw-2",))

    outcome = guard.respond(alert, make_policy("rules: [{name: hard, force: true}]"), jobs, claims=store)

    assert [d.action for d in outcome.decisions] == ["failed"]
    assert ("fw-2", "escalate") not in store.held  # released: the platform's retry may claim it again


def test_a_rule_that_names_two_kinds_matches_none_and_an_empty_match_matches_every_kind():
    both = make_policy('rules: [{name: both, match: {alarm_name: "a*", source: "s*"}}]').rules[0]
    every = make_policy("rules: [{name: every}]").rules[0]
    defender = make_policy('rules: [{name: d, match: {security_profile: "p*"}}]').rules[0]

    assert decisions.kinds_matched(both) == frozenset()
    assert decisions.kinds_matched(every) == decisions.ALERT_KINDS
    assert decisions.kinds_matched(defender) == frozenset({alert_kinds.DEFENDER})


def test_decision_details_say_what_happens_and_a_non_string_id_is_shown_short():
    rule = make_policy("rules: [{name: r, force: true}]").rules[0]
    cases = {
        "a": (JobView("a", "COMPLETED"), False, "skipped", "job is COMPLETED; nothing to cancel"),
        "b": (active("b"), True, "would_cancel", "dry run: rule r would cancel"),
        "c": (JobView("c", "CANCELED"), False, "escalate",
              "job was cancelled without force; rule r forces its IN_PROGRESS executions"),
        "d": (JobView("d", "CANCELED"), True, "would_cancel",
              "dry run: rule r would force-cancel the IN_PROGRESS executions of this job"),
    }
    for job_id, (view, dry_run, action, detail) in cases.items():
        decision = decisions.decide(rule, job_id, view, dry_run)
        assert (decision.job_id, decision.action, decision.detail) == (job_id, action, detail)

    assert decisions.Decision(["x"] * 100, "skipped", "R", False, "d").to_dict()["jobId"].startswith("['x', 'x'")
    assert decisions.Decision("fw-1", "skipped", "R", False, "d").to_dict()["jobId"] == "fw-1"


def test_screening_says_why_a_named_job_is_not_sent():
    rule = make_policy('rules: [{name: r, jobs: ["fw-*"]}]').rules[0]

    keep, skipped = decisions.screen_named(rule, ("fw 1", "ops-1", "fw-1", 7))

    assert keep == ["fw-1"]
    assert [(d.job_id, d.detail) for d in skipped] == [
        ("fw 1", "job id breaks the API pattern [a-zA-Z0-9_-]{1,64}; not sent"),
        ("ops-1", "not allowed by the jobs of rule r"),
        (7, "job id breaks the API pattern [a-zA-Z0-9_-]{1,64}; not sent")]


class DescribeAwaitingTheClaim(FakeJobs):
    """DescribeJob that answers only once the claim has been asked (or after 5 s, noting that it was not)."""

    def __init__(self, jobs):
        super().__init__(jobs)
        self.claim_asked = threading.Event()
        self.claimed_in_flight: list[bool] = []

    def describe(self, job_id):
        self.claimed_in_flight.append(self.claim_asked.wait(timeout=5))
        return super().describe(job_id)


class SignallingClaims(HeldClaims):
    def __init__(self, asked: threading.Event):
        super().__init__({})
        self.signal = asked

    def once(self, job_id, level, act):
        self.signal.set()
        return super().once(job_id, level, act)


def test_the_claim_is_taken_while_describejob_is_in_flight():
    jobs = DescribeAwaitingTheClaim({"fw-1": active("fw-1")})
    store = SignallingClaims(jobs.claim_asked)
    alert = alert_kinds.CustomAlert(via="sns", source="x", job_ids=("fw-1",))

    outcome = guard.respond(alert, make_policy("rules: [{name: r}]"), jobs, claims=store)

    assert [d.action for d in outcome.decisions] == ["canceled"] and store.asked == [("fw-1", "cancel")]
    assert jobs.claimed_in_flight == [True]  # the claim was asked before DescribeJob answered
    assert [call[0] for call in jobs.calls] == ["describe", "cancel"]


def test_an_early_claim_held_elsewhere_skips_and_a_job_not_active_releases_it():
    jobs = FakeJobs({"fw-1": active("fw-1"), "fw-2": JobView("fw-2", "COMPLETED")})
    store = HeldClaims({("fw-1", "cancel"): HELD_ELSEWHERE})
    alert = alert_kinds.CustomAlert(via="sns", source="x", job_ids=("fw-1", "fw-2"))

    outcome = guard.respond(alert, make_policy("rules: [{name: r}]"), jobs, claims=store)

    assert [(d.job_id, d.action) for d in outcome.decisions] == [("fw-1", "skipped"), ("fw-2", "skipped")]
    assert outcome.decisions[0].detail == "another invocation is cancelling the job (it holds the claim)"
    assert "COMPLETED" in outcome.decisions[1].detail
    assert ("fw-2", "cancel") not in store.held  # released: a later cancel of fw-2 could claim it
    assert not [call for call in jobs.calls if call[0] == "cancel"]


def test_a_skip_names_its_level_whatever_its_episode_holds():
    from rollout_guard.halts.claims import HELD_ELSEWHERE, Claimed, ClaimLevel, episode_level, skipped_detail

    level = episode_level(ClaimLevel.THROTTLE, "fw-warn@eu@2026-12-04T10:00:00Z")

    assert skipped_detail(Claimed(HELD_ELSEWHERE), level) == ("another invocation is throttling the job (it holds "
                                                              "the claim)")


def test_a_deployments_claim_is_its_own_level_and_a_skip_names_the_deployment():
    level = claims.ClaimLevel.CANCEL_DEPLOYMENT

    assert claims.claim_of("4f38f1a7", level) == {"job": "4f38f1a7", "level": "cancel-deployment"}
    assert claims.skipped_detail(Claimed(HELD_ELSEWHERE), level) == (
        "another invocation is cancelling the deployment (it holds the claim)")
    assert claims.skipped_detail(Claimed(DONE_ELSEWHERE, "at 10:00"), level) == (
        "another invocation already cancelled the deployment: at 10:00")
