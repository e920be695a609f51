"""An operator's halt (`rollout-guard halt`, the control bus) through the guard: the request's glob within the
policy's guardrails (the rule's jobs, max_jobs, dry run), the operator's reason code, comment and force."""

from __future__ import annotations

import pytest

from rollout_guard.halts import alerts, guard
from rollout_guard.halts.alerts import UnrecognisedAlert
from rollout_guard_cli import operator_requests
from tests.conftest import make_policy
from tests.unit.fakes import FakeJobs, active

POLICY = make_policy("""
    rules:
      - {name: operator-halt, match: {source: "rollout-guard.operator"}, jobs: ["fw-*"], reason_code: OPERATOR_HALT,
         max_jobs: 3}
    """)


def fleet(*job_ids: str) -> FakeJobs:
    return FakeJobs({job_id: active(job_id) for job_id in job_ids})


def halt(fake: FakeJobs, **request) -> guard.Outcome:
    return guard.respond(alerts.parse(operator_requests.halt_request(**request)), POLICY, fake)


def test_the_request_cancels_the_active_jobs_its_glob_and_the_rule_both_allow():
    jobs = fleet("fw-2-4-eu", "fw-2-4-us", "fw-2-5-eu", "ops-2-4-eu")

    outcome = halt(jobs, jobs="*-2-4-*", reason_code="BAD_BUILD_2_4", comment="halt {all} 2.4", force=True)

    assert sorted((c[1], c[2], c[3], c[4]) for c in jobs.cancels()) == [  # cancels run on a few threads
        ("fw-2-4-eu", "BAD_BUILD_2_4", "halt {all} 2.4", True), ("fw-2-4-us", "BAD_BUILD_2_4", "halt {all} 2.4", True)]
    assert outcome.rule_name == "operator-halt"


def test_without_a_reason_code_or_force_the_rules_own_apply():
    jobs = fleet("fw-2-4-eu")

    halt(jobs, reason_code=None)

    assert jobs.cancels() == [("cancel", "fw-2-4-eu", "OPERATOR_HALT", jobs.cancels()[0][3], False)]


def test_a_dry_run_request_cancels_nothing():
    jobs = fleet("fw-2-4-eu")

    outcome = halt(jobs, dry_run=True)

    assert jobs.cancels() == [] and [d.action for d in outcome.decisions] == ["would_cancel"]


def test_without_a_rule_for_operators_the_guard_refuses_and_says_why():
    jobs = fleet("fw-2-4-eu")

    outcome = guard.respond(alerts.parse(operator_requests.halt_request()), make_policy("rules: [{name: a, match: "
                                                                              "{alarm_name: x}}]"), jobs)

    assert jobs.cancels() == [] and outcome.detail == "no rule matches source rollout-guard.operator"


@pytest.mark.parametrize(("detail", "problem"), [
    ({"jobs": "fw 2.4"}, "detail.jobs 'fw 2.4' must be a glob of letters, digits, _ - * ? (64 at most)"),
    ({}, "detail.jobs is missing"),
    ({"jobs": "fw-*", "force": "yes"}, "detail.force must be true or false"),
    ({"jobs": "fw-*", "reasonCode": "bad build"}, "detail.reasonCode 'bad build' must be 1 to 128 of A-Z, 0-9 and _"),
])
def test_a_malformed_request_is_refused_in_one_line(detail, problem):
    event = operator_requests.halt_request()
    event["detail"] = detail

    with pytest.raises(UnrecognisedAlert) as caught:
        alerts.parse(event)
    assert str(caught.value) == problem
