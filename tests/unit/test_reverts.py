"""After the rollout, in memory: given a fleet rule that watches after success and has a revert, when its threshold
is crossed on a COMPLETED job, then the job is `regressed` (never cancelled, announced once), and a revert is
prepared for exactly the things that SUCCEEDED on it; created only on approval (or at once with `auto`), once."""

import json
from datetime import datetime, timezone

import pytest

from rollout_guard.adapters import halt_events
from rollout_guard.halts import guard
from rollout_guard.halts.alert_kinds import FleetAlert
from rollout_guard.halts.decisions import (
    CANCELED,
    REGRESSED,
    REVERT_FAILED,
    REVERT_READY,
    REVERTED,
    SKIPPED,
    WOULD_CANCEL,
    WOULD_REVERT,
)
from rollout_guard.halts.jobs import JobsError, JobView
from rollout_guard.halts.revert_records import InMemoryAfterRollout
from rollout_guard.halts.reverts import AfterRollouts, revert_ids
from rollout_guard.iot_limits import TARGETS_MAX
from tests.conftest import make_policy
from tests.unit.fakes import FakeJobs, active

RULE = """
    rules:
      - name: fleet
        match: {signal: casualties}
        jobs: ["fw-*"]
        reason_code: FLEET_CASUALTIES
        watch_after: 24h
        casualties: {things: 2}
        revert:
          document: {operation: revert}
          approval: %s
          rollout: {max_per_minute: 50}
          abort: {failure_type: FAILED, percent: 10, min_executed: 20}
"""


def policy(approval: str = "required", extra: str = ""):
    return make_policy(RULE % approval + extra)


def fleet(job_id: str = "fw-1", status: str = "COMPLETED", succeeded: int = 3, failed: int = 1) -> FakeJobs:
    jobs = FakeJobs({job_id: JobView(job_id, status)})
    for n in range(succeeded):
        jobs.executions_of[job_id, f"dev-{n}"] = "SUCCEEDED"
    for n in range(failed):
        jobs.executions_of[job_id, f"bad-{n}"] = "FAILED"
    return jobs


def alert(job_id: str = "fw-1") -> FleetAlert:
    return FleetAlert(job_ids=(job_id,), reason="2 casualties, threshold 2", correlation_id=f"fleet:{job_id}")


def respond(jobs: FakeJobs, kept: InMemoryAfterRollout, approval: str = "required", dry_run: bool = False):
    return guard.respond(alert(), policy(approval), jobs, dry_run=dry_run, after=AfterRollouts(jobs, kept))


def test_a_crossing_on_a_completed_job_is_a_regression_with_a_revert_ready_and_nothing_created():
    jobs, kept = fleet(), InMemoryAfterRollout()

    outcome = respond(jobs, kept)

    assert [(d.job_id, d.action) for d in outcome.decisions] == [("fw-1", REGRESSED), ("fw-1", REVERT_READY)]
    assert jobs.cancels() == [] and not getattr(jobs, "created", [])
    plan = kept.plan("fw-1")
    assert (plan.revert_job_id, plan.things, plan.document, plan.max_per_minute) == ("fw-1-revert", 3,
                                                                                      {"operation": "revert"}, 50)
    assert plan.abort == {"criteriaList": [{"failureType": "FAILED", "action": "CANCEL", "thresholdPercentage": 10.0,
                                            "minNumberOfExecutedThings": 20}]}
    ready = outcome.decisions[1].to_dict()
    assert ready["revertJobId"] == "fw-1-revert" and "rollout-guard revert --job fw-1 --approve" in ready["detail"]


def test_the_regression_and_the_ready_revert_are_announced_each_once():
    jobs, kept = fleet(), InMemoryAfterRollout()
    first = halt_events.entries(respond(jobs, kept), "default")
    again = respond(jobs, kept)

    assert [entry["DetailType"] for entry in first] == ["Rollout Regressed", "Revert Ready"]
    assert json.loads(first[1]["Detail"])["revertJobId"] == "fw-1-revert"
    assert [(d.action, d.detail) for d in again.decisions] == [(SKIPPED, "regression already announced")]
    assert halt_events.entries(again, "default") == []


def test_approval_creates_exactly_one_revert_for_exactly_the_things_that_succeeded():
    jobs, kept = fleet(succeeded=3, failed=2), InMemoryAfterRollout()
    respond(jobs, kept)
    after = AfterRollouts(jobs, kept)

    created = after.create(kept.plan("fw-1"))
    second = after.create(kept.plan("fw-1"))

    assert created.action == REVERTED and created.revert_job_id == "fw-1-revert"
    (job,) = jobs.created
    assert sorted(job.targets) == [f"arn:aws:iot:eu-west-1:123456789012:thing/dev-{n}" for n in range(3)]
    assert (job.document, job.max_per_minute) == ({"operation": "revert"}, 50)
    assert second.action == SKIPPED and "created already" in second.detail and "nothing created" in second.detail
    assert [call for call in jobs.calls if call[0] == "create_job"] == [("create_job", "fw-1-revert")]


def test_auto_approval_creates_the_revert_at_once():
    jobs, kept = fleet(), InMemoryAfterRollout()

    outcome = respond(jobs, kept, approval="auto")

    assert [d.action for d in outcome.decisions] == [REGRESSED, REVERTED]
    assert [job.job_id for job in jobs.created] == ["fw-1-revert"]


def test_a_dry_run_only_says_would_revert():
    jobs, kept = fleet("fw-2", status="IN_PROGRESS"), InMemoryAfterRollout()
    jobs.jobs["fw-2"] = active("fw-2")

    outcome = guard.respond(alert("fw-2"), policy(), jobs, dry_run=True, after=AfterRollouts(jobs, kept))

    assert [d.action for d in outcome.decisions] == [WOULD_CANCEL, WOULD_REVERT]
    assert kept.plan("fw-2") is None and jobs.cancels() == []


def test_a_running_job_is_cancelled_as_today_and_its_revert_follows():
    jobs, kept = fleet("fw-3", status="IN_PROGRESS"), InMemoryAfterRollout()
    jobs.jobs["fw-3"] = active("fw-3")

    outcome = guard.respond(alert("fw-3"), policy(), jobs, after=AfterRollouts(jobs, kept))

    assert [d.action for d in outcome.decisions] == [CANCELED, REVERT_READY]


def test_without_watch_after_a_completed_job_is_skipped_as_before():
    jobs = fleet()
    plain = make_policy((RULE % "required").replace("        watch_after: 24h\n", ""))

    outcome = guard.respond(alert(), plain, jobs, after=AfterRollouts(jobs, InMemoryAfterRollout()))

    assert [(d.action, d.detail) for d in outcome.decisions] == [(SKIPPED, "job is COMPLETED; nothing to cancel")]


def test_a_revert_job_is_never_reverted():
    jobs, kept = fleet(), InMemoryAfterRollout()
    respond(jobs, kept)
    AfterRollouts(jobs, kept).create(kept.plan("fw-1"))
    jobs.jobs["fw-1-revert"] = JobView("fw-1-revert", "COMPLETED")
    jobs.executions_of["fw-1-revert", "dev-0"] = "SUCCEEDED"

    outcome = guard.respond(alert("fw-1-revert"), policy(), jobs, after=AfterRollouts(jobs, kept))

    assert [(d.action, d.detail) for d in outcome.decisions][1] == (
        SKIPPED, "this job is a revert: never reverted automatically")
    assert [job.job_id for job in jobs.created] == ["fw-1-revert"]


def test_a_taken_revert_id_takes_the_next_suffix():
    jobs, kept = fleet(), InMemoryAfterRollout()
    jobs.jobs["fw-1-revert"] = JobView("fw-1-revert", "COMPLETED")

    respond(jobs, kept)

    assert kept.plan("fw-1").revert_job_id == "fw-1-revert-2"


def test_revert_ids_fit_the_api():
    long = "f" * 64
    assert all(len(i) <= 64 for i in revert_ids(long)) and revert_ids("fw-1")[:2] == ["fw-1-revert", "fw-1-revert-2"]


def test_over_a_hundred_things_go_to_a_static_group_of_the_revert():
    jobs, kept = fleet(succeeded=TARGETS_MAX + 1), InMemoryAfterRollout()

    respond(jobs, kept, approval="auto")

    (job,) = jobs.created
    assert job.targets == ("arn:aws:iot:eu-west-1:123456789012:thinggroup/fw-1-revert",)
    assert len(jobs.groups["fw-1-revert"]) == TARGETS_MAX + 1


def test_no_thing_succeeded_nothing_to_revert():
    jobs, kept = fleet(succeeded=0, failed=3), InMemoryAfterRollout()

    outcome = respond(jobs, kept)

    assert [(d.action, d.detail) for d in outcome.decisions][1] == (
        SKIPPED, "no thing SUCCEEDED on this job: nothing to revert")


@pytest.mark.parametrize("failing", ["succeeded_things", "create_job"])
def test_an_iot_failure_is_a_failed_revert_reported_not_a_failed_halt(failing, monkeypatch):
    jobs, kept = fleet(), InMemoryAfterRollout()

    def refuse(*_):
        raise JobsError(failing, "ThrottlingException", "Rate exceeded")

    monkeypatch.setattr(jobs, failing, refuse)
    outcome = respond(jobs, kept, approval="auto")

    assert outcome.decisions[1].action == REVERT_FAILED and "Rate exceeded" in outcome.decisions[1].detail
    assert not outcome.failed  # the halt it follows is done: no retry of the alert


def test_a_completed_job_outside_the_rules_thing_group_is_not_its_regression():
    jobs = fleet()
    jobs.jobs["fw-1"] = JobView("fw-1", "COMPLETED", ("arn:aws:iot:eu-west-1:123456789012:thinggroup/fleet-us",))
    scoped = make_policy((RULE % "required").replace("        watch_after: 24h\n",
                                                      "        watch_after: 24h\n        thing_group: fleet-eu\n"))

    outcome = guard.respond(alert(), scoped, jobs, after=AfterRollouts(jobs, InMemoryAfterRollout()))

    assert [(d.action, d.detail) for d in outcome.decisions] == [(SKIPPED, "job is COMPLETED; nothing to cancel")]


def test_a_crossing_past_the_watch_from_the_jobs_completion_is_no_regression():
    """Failures reported a day and a half after the job COMPLETED (watch_after 24h): not watched any more."""
    completed_ms = 1_800_000_000_000
    for crossing_ms, expected in ((completed_ms + 3_600_000, REGRESSED), (completed_ms + 36 * 3_600_000, SKIPPED)):
        jobs = fleet()
        jobs.jobs["fw-1"] = JobView("fw-1", "COMPLETED", completed_ms=completed_ms)
        late = FleetAlert(job_ids=("fw-1",), reason="2 casualties", correlation_id="fleet:fw-1",
                          timestamp=datetime.fromtimestamp(crossing_ms / 1000, tz=timezone.utc).isoformat())

        outcome = guard.respond(late, policy(), jobs, after=AfterRollouts(jobs, InMemoryAfterRollout()))

        assert outcome.decisions[0].action == expected
    assert "more than watch_after" in outcome.decisions[0].detail and len(outcome.decisions) == 1


def test_an_auto_revert_iot_refused_is_created_when_the_jobs_crossing_comes_again_never_left_half_done(monkeypatch):
    """CreateJob throttled at the first crossing: the plan is kept, nothing created (revert_failed). The alert
    retried (or the next casualty) finds the regression announced already and finishes the kept plan, once."""
    jobs, kept = fleet(), InMemoryAfterRollout()
    created = jobs.create_job

    def throttled(job):
        raise JobsError("CreateJob", "ThrottlingException", "Rate exceeded")

    monkeypatch.setattr(jobs, "create_job", throttled)
    first = respond(jobs, kept, approval="auto")
    monkeypatch.setattr(jobs, "create_job", created)
    again = respond(jobs, kept, approval="auto")
    third = respond(jobs, kept, approval="auto")

    assert [d.action for d in first.decisions] == [REGRESSED, REVERT_FAILED] and kept.plan("fw-1") is not None
    assert [(d.action, d.revert_job_id) for d in again.decisions] == [(SKIPPED, None), (REVERTED, "fw-1-revert")]
    assert [d.action for d in third.decisions] == [SKIPPED]  # created: nothing more to finish
    assert [job.job_id for job in jobs.created] == ["fw-1-revert"]


def test_a_revert_waiting_for_approval_is_never_created_by_a_crossing_that_comes_again():
    jobs, kept = fleet(), InMemoryAfterRollout()

    respond(jobs, kept)
    again = respond(jobs, kept)

    assert [d.action for d in again.decisions] == [SKIPPED] and not getattr(jobs, "created", [])
