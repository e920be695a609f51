"""Greengrass v2 deployments halted by the same policy: given ACTIVE, finished and replaced deployments in memory,
when an alert matches a `deployments` rule, then exactly the ACTIVE latest deployments whose names match are
cancelled through CancelDeployment, once each, within the rule's guardrails."""

import pytest

from rollout_guard.documents import show
from rollout_guard.halts import guard
from rollout_guard.halts.alert_kinds import AlarmAlert, CustomAlert, FleetAlert, HaltRequest, Via
from rollout_guard.halts.claims import DONE_ELSEWHERE, ClaimLevel
from rollout_guard.halts.decisions import BLOCKED, CANCELED, FAILED, SKIPPED, WOULD_CANCEL
from rollout_guard.halts.deployments import NOT_UNDONE
from rollout_guard.halts.jobs import JobView
from rollout_guard.policy import PolicyError, load
from tests.conftest import make_policy
from tests.unit.fakes import FakeDeployments, FakeJobs, HeldClaims, active, deployment

POLICY = make_policy(
    """
    rules:
      - name: gg-crash
        match: {alarm_name: "gg-crash-*"}
        deployments: ["gg-fw-*"]
        reason_code: GG_CRASH_RATE
        max_jobs: 2
      - name: gg-eu-only
        match: {alarm_name: "eu-crash-*"}
        deployments: ["gg-fw-*"]
        thing_group: fleet-eu
      - name: both
        match: {alarm_name: "both-*"}
        jobs: ["job-*", "fw-*"]
        deployments: ["gg-fw-*"]
        max_jobs: 2
      - name: operator
        match: {source: "rollout-guard.operator"}
        jobs: ["fw-*"]
        deployments: ["gg-*"]
    """
)


def alarm(name: str) -> AlarmAlert:
    return AlarmAlert(via=Via.SNS, alarm_name=name, state="ALARM", reason="crash rate above 2%")


def by_deployment(outcome):
    return {d.deployment.deployment_id: d.action for d in outcome.decisions if d.deployment}


def fleet():
    return FakeDeployments(
        deployment("d-1", "gg-fw-2-4"), deployment("d-2", "gg-fw-2-4", group="fleet-us"),
        deployment("d-3", "gg-camera-1"), deployment("d-4", "gg-fw-2-3", status="COMPLETED"),
        deployment("d-5", "gg-fw-2-2", latest=False))


def test_an_alarm_cancels_exactly_the_active_deployments_whose_names_match():
    deployments, jobs = fleet(), FakeJobs({"job-d-1": JobView("job-d-1", "IN_PROGRESS", succeeded=7)})

    outcome = guard.respond(alarm("gg-crash-rate"), POLICY, jobs, deployments=deployments)

    assert by_deployment(outcome) == {"d-1": CANCELED, "d-2": CANCELED}
    assert sorted(deployments.cancels()) == ["d-1", "d-2"]
    assert jobs.cancels() == []  # a deployment is stopped through Greengrass, not a bare CancelJob
    shown = outcome.to_dict()["decisions"][0]
    assert shown["deploymentId"] == "d-1" and shown["deploymentName"] == "gg-fw-2-4"
    assert shown["jobId"] == "job-d-1" and shown["reasonCode"] == "GG_CRASH_RATE"
    assert shown["targetArn"].endswith(":thinggroup/fleet-eu")
    assert "7 device(s) had already succeeded" in shown["detail"] and NOT_UNDONE in shown["detail"]


def test_a_dry_run_cancels_nothing_and_says_what_a_cancel_would_not_undo():
    deployments = fleet()
    outcome = guard.respond(alarm("gg-crash-rate"), POLICY, FakeJobs(), dry_run=True, deployments=deployments)

    assert by_deployment(outcome) == {"d-1": WOULD_CANCEL, "d-2": WOULD_CANCEL}
    assert deployments.cancels() == []
    assert all(NOT_UNDONE in d.detail for d in outcome.decisions)


def test_thing_group_names_the_deployments_target():
    deployments = fleet()
    outcome = guard.respond(alarm("eu-crash-rate"), POLICY, FakeJobs(), deployments=deployments)

    assert deployments.cancels() == ["d-1"]
    assert by_deployment(outcome) == {"d-1": CANCELED, "d-2": SKIPPED}
    assert outcome.decisions[1].detail == f"deployment does not target thing group fleet-eu; {NOT_UNDONE}"


def test_a_deployments_job_that_the_jobs_globs_also_match_is_cancelled_once_through_the_deployment():
    deployments = FakeDeployments(deployment("d-1", "gg-fw-2-4"))
    jobs = FakeJobs({"job-d-1": active("job-d-1"), "fw-2-4": active("fw-2-4")})

    outcome = guard.respond(alarm("both-crash"), POLICY, jobs, deployments=deployments)

    assert deployments.cancels() == ["d-1"]
    assert [call[1] for call in jobs.cancels()] == ["fw-2-4"]
    assert [(d.job_id, d.action, d.deployment is not None) for d in outcome.decisions] == [
        ("fw-2-4", CANCELED, False), ("job-d-1", CANCELED, True)]


def test_max_jobs_counts_jobs_and_deployments_together_and_nothing_is_cancelled_past_it():
    deployments = FakeDeployments(deployment("d-1", "gg-fw-2-4"), deployment("d-2", "gg-fw-2-5"))
    jobs = FakeJobs({"fw-2-4": active("fw-2-4")})

    outcome = guard.respond(alarm("both-crash"), POLICY, jobs, deployments=deployments)

    assert {d.action for d in outcome.decisions} == {BLOCKED}
    assert "3 active jobs and deployments exceed max_jobs 2" in outcome.decisions[0].detail
    assert deployments.cancels() == [] and jobs.cancels() == []


def test_every_deployment_decision_says_what_a_cancel_does_not_undo_once_and_last():
    deployments = fleet()
    deployments.conflict.add("d-2")
    outcome = guard.respond(alarm("eu-crash-rate"), POLICY, FakeJobs(), deployments=deployments)

    shown = [d.detail for d in outcome.decisions if d.deployment is not None]
    assert len(shown) == 2 and all(detail.endswith(f"; {NOT_UNDONE}") and detail.count(NOT_UNDONE) == 1
                                   for detail in shown)
    assert all(NOT_UNDONE not in d.detail for d in guard.respond(
        alarm("both-crash"), POLICY, FakeJobs({"fw-1": active("fw-1")}), deployments=FakeDeployments()).decisions)


def test_too_many_deployments_alone_block_everything():
    deployments = FakeDeployments(*(deployment(f"d-{n}", f"gg-fw-{n}") for n in range(3)))

    outcome = guard.respond(alarm("gg-crash-rate"), POLICY, FakeJobs(), deployments=deployments)

    assert [d.action for d in outcome.decisions] == [BLOCKED] * 3
    assert all(d.deployment is not None for d in outcome.decisions)
    assert deployments.cancels() == []


def test_a_deployment_finished_before_the_cancel_is_skipped_with_the_services_words():
    deployments = FakeDeployments(deployment("d-1", "gg-fw-2-4"))
    deployments.conflict.add("d-1")

    outcome = guard.respond(alarm("gg-crash-rate"), POLICY, FakeJobs(), deployments=deployments)

    assert by_deployment(outcome) == {"d-1": SKIPPED}
    assert "already COMPLETED" in outcome.decisions[0].detail


def test_a_deployment_another_invocation_cancelled_is_skipped_under_its_claim():
    claims = HeldClaims({("d-1", ClaimLevel.CANCEL_DEPLOYMENT): DONE_ELSEWHERE})
    deployments = FakeDeployments(deployment("d-1", "gg-fw-2-4"))

    outcome = guard.respond(alarm("gg-crash-rate"), POLICY, FakeJobs(), claims=claims, deployments=deployments)

    assert deployments.cancels() == []
    assert outcome.decisions[0].detail == f"another invocation already cancelled the deployment; {NOT_UNDONE}"


def test_the_fleet_signal_of_a_deployment_stops_that_deployment_alone_if_its_name_is_allowed():
    deployments = fleet()
    signal = FleetAlert(job_ids=(), deployment_ids=("d-1",), reason="3 casualties")
    rule = make_policy("""
        rules:
          - name: gg-fleet
            match: {signal: casualties}
            deployments: ["gg-fw-*"]
            jobs: ["fw-*"]
            casualties: {things: 3}
        """)
    jobs = FakeJobs({"fw-1": active("fw-1")})

    outcome = guard.respond(signal, rule, jobs, deployments=deployments)

    assert deployments.cancels() == ["d-1"] and jobs.cancels() == []
    assert outcome.alert.summary()["deploymentIds"] == ["d-1"]
    other = guard.respond(FleetAlert(job_ids=(), deployment_ids=("d-3",)), rule, jobs, deployments=deployments)
    assert by_deployment(other) == {"d-3": SKIPPED}
    assert other.decisions[0].detail == f"not allowed by the deployments of rule gg-fleet; {NOT_UNDONE}"


@pytest.mark.parametrize(("jobs_glob", "deployments_glob", "cancelled_jobs", "cancelled_deployments"), [
    (None, "gg-fw-*", [], ["d-1", "d-2"]),
    ("fw-*", None, ["fw-1"], []),
    ("fw-*", "gg-camera-*", ["fw-1"], ["d-3"]),
])
def test_an_operators_halt_names_jobs_deployments_or_both(jobs_glob, deployments_glob, cancelled_jobs,
                                                           cancelled_deployments):
    deployments, jobs = fleet(), FakeJobs({"fw-1": active("fw-1")})
    request = HaltRequest(jobs=jobs_glob, deployments=deployments_glob)
    alert = CustomAlert(via=Via.EVENTBRIDGE, source="rollout-guard.operator", request=request)

    guard.respond(alert, POLICY, jobs, deployments=deployments)

    assert [call[1] for call in jobs.cancels()] == cancelled_jobs
    assert sorted(deployments.cancels()) == cancelled_deployments


def test_a_policy_names_deployments_by_globs_up_to_a_names_length():
    policy = load({"rules": [{"name": "gg", "match": {"alarm_name": "a"}, "deployments": ["gg-fw-*", "g" * 256]}]})
    assert policy.rules[0].deployments == ("gg-fw-*", "g" * 256)


@pytest.mark.parametrize(("given", "problem"), [
    ([""], "rule 'gg': deployments: empty glob"),
    ([], "rule 'gg': deployments must be a non-empty list of globs"),
    ("gg-*", "rule 'gg': deployments must be a non-empty list of globs"),
    (["gg\n*"], "rule 'gg': deployments: glob 'gg\\n*' must be 1 to 256 printable characters"),
    (["g" * 257], f"rule 'gg': deployments: glob {show('g' * 257)} must be 1 to 256 printable characters"),
    (["gg-*", 7], "rule 'gg': deployments: empty glob"),
])
def test_a_bad_deployments_glob_is_named_by_its_rule(given, problem):
    with pytest.raises(PolicyError) as caught:
        load({"rules": [{"name": "gg", "match": {"alarm_name": "a"}, "deployments": given}]})
    assert caught.value.problems == [problem]


def test_deployments_that_cannot_be_listed_fail_the_alert_but_not_its_jobs():
    deployments = fleet()
    deployments.unlistable = True
    jobs = FakeJobs({"fw-2-4": active("fw-2-4")})

    outcome = guard.respond(alarm("both-crash"), POLICY, jobs, deployments=deployments)

    assert [call[1] for call in jobs.cancels()] == ["fw-2-4"]
    assert outcome.failed  # the alert is retried: the job's claim makes its second cancel a skip
    (failed,) = [d for d in outcome.decisions if d.deployment is not None]
    assert failed.detail == ("could not list the deployments (gg-fw-*): ListDeployments failed: "
                             f"InternalServerException: try later; a retry of the alert tries again; {NOT_UNDONE}")
    alone = guard.respond(alarm("gg-crash-rate"), POLICY, FakeJobs(), deployments=deployments)
    assert [d.action for d in alone.decisions] == [FAILED]
