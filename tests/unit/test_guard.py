"""The use case against an in-memory IoT: given an alert and jobs, when the guard responds, then it acts exactly."""

from rollout_guard.halts import alerts, guard
from rollout_guard.halts.alert_kinds import AlarmAlert, CustomAlert
from rollout_guard.halts.decisions import CANCELED, FAILED, SKIPPED, WOULD_CANCEL
from rollout_guard.halts.jobs import JobView
from tests.conftest import load_event, make_policy
from tests.unit.fakes import FakeJobs, active

POLICY = make_policy(
    """
    defaults: {max_jobs: 3}
    rules:
      - name: crash
        match: {alarm_name: "fw-crash-rate-*"}
        jobs: ["fw-*"]
        reason_code: FIRMWARE_CRASH_RATE
        force: true
      - name: open-alarm
        match: {alarm_name: "open-*"}
      - name: defender
        match: {security_profile: "fw-*"}
        jobs: ["fw-*"]
      - name: monitoring
        match: {source: "com.acme.*"}
        dry_run: true
    """
)


def actions(outcome):
    return [(d.job_id, d.action) for d in outcome.decisions]


def test_alarm_cancels_the_named_job_with_rule_reason_comment_and_force():
    jobs = FakeJobs({"fw-2-4-eu": active("fw-2-4-eu"), "fw-2-4-us": active("fw-2-4-us")})

    outcome = guard.respond(alerts.parse(load_event("eventbridge_alarm_metric")), POLICY, jobs)

    assert actions(outcome) == [("fw-2-4-eu", CANCELED)]
    assert jobs.cancels() == [("cancel", "fw-2-4-eu", "FIRMWARE_CRASH_RATE",
                               "rollout-guard rule crash: alarm fw-crash-rate-eu: Threshold Crossed: CrashRate moved "
                               "to ALARM", True)]
    assert jobs.jobs["fw-2-4-us"].active


def test_every_candidate_is_confirmed_with_describe_before_cancel():
    jobs = FakeJobs({"fw-2-4-eu": active("fw-2-4-eu")})

    guard.respond(alerts.parse(load_event("sns_alarm")), POLICY, jobs)

    assert jobs.calls[0] == ("describe", "fw-2-4-eu")
    assert jobs.calls[1][0] == "cancel"


def test_duplicate_delivery_makes_no_second_cancel():
    jobs = FakeJobs({"fw-2-4-eu": active("fw-2-4-eu")})
    alert = alerts.parse(load_event("eventbridge_alarm_metric"))

    guard.respond(alert, POLICY, jobs)
    second = guard.respond(alert, POLICY, jobs)

    assert actions(second) == [("fw-2-4-eu", SKIPPED)]
    assert len(jobs.cancels()) == 1


def test_ignored_alerts_make_no_call():
    jobs = FakeJobs({"fw-2-4-eu": active("fw-2-4-eu")})

    for name in ("eventbridge_alarm_ok", "sns_defender_cleared", "eventbridge_alarm_still_alarm"):
        outcome = guard.respond(alerts.parse(load_event(name)), POLICY, jobs)
        assert outcome.status == guard.IGNORED and outcome.decisions == []
    assert jobs.calls == []


def test_no_matching_rule_says_so_and_changes_nothing():
    jobs = FakeJobs({"fw-1": active("fw-1")})
    alert = AlarmAlert(via="sns", alarm_name="billing", state="ALARM", previous_state="OK",
                  job_ids=("fw-1",))

    outcome = guard.respond(alert, POLICY, jobs)

    assert (outcome.status, outcome.detail) == (guard.IGNORED, "no rule matches alarm billing")
    assert jobs.calls == []


def test_bad_job_id_is_skipped_and_the_other_jobs_go_on():
    jobs = FakeJobs({"fw-2-4-us": active("fw-2-4-us")})

    outcome = guard.respond(alerts.parse(load_event("eventbridge_alarm_bad_and_tagged_ids")), POLICY, jobs)

    assert actions(outcome) == [("fw 2.4/eu", SKIPPED), ("fw-2-4-us", CANCELED)]
    assert ("describe", "fw 2.4/eu") not in jobs.calls


def test_unnamed_jobs_are_selected_by_rule_globs_among_active_jobs():
    jobs = FakeJobs({"fw-1": active("fw-1"), "ops-1": active("ops-1"), "fw-old": JobView("fw-old", "COMPLETED")})

    outcome = guard.respond(alerts.parse(load_event("eventbridge_alarm_composite_untagged")), POLICY, jobs)

    assert actions(outcome) == [("fw-1", CANCELED)]


def test_rule_without_jobs_selects_nothing_when_the_alert_names_none():
    jobs = FakeJobs({"fw-1": active("fw-1")})
    alert = AlarmAlert(via="sns", alarm_name="open-x", state="ALARM", previous_state="OK")

    outcome = guard.respond(alert, POLICY, jobs)

    assert outcome.decisions == [] and "has no jobs globs" in outcome.detail
    assert jobs.calls == []


def test_rule_without_jobs_allows_any_named_job():
    jobs = FakeJobs({"ops-1": active("ops-1")})
    alert = AlarmAlert(via="sns", alarm_name="open-x", state="ALARM", previous_state="OK",
                  job_ids=("ops-1",))

    assert actions(guard.respond(alert, POLICY, jobs)) == [("ops-1", CANCELED)]


def test_defender_violation_halts_active_jobs_on_the_thing_within_the_rule_globs():
    jobs = FakeJobs({"fw-1": active("fw-1"), "ops-1": active("ops-1")}, executions={"dev-canary-1": ["fw-1", "ops-1"]})

    outcome = guard.respond(alerts.parse(load_event("sns_defender_in_alarm")), POLICY, jobs)

    assert actions(outcome) == [("ops-1", SKIPPED), ("fw-1", CANCELED)]
    assert ("on_thing", "dev-canary-1") in jobs.calls


def test_defender_violation_on_a_thing_without_jobs_changes_nothing():
    jobs = FakeJobs({"fw-1": active("fw-1")})

    outcome = guard.respond(alerts.parse(load_event("sns_defender_in_alarm")), POLICY, jobs)

    assert outcome.decisions == [] and "no active job" in outcome.detail
    assert jobs.cancels() == []


def test_a_failed_cancel_is_reported_and_the_others_still_cancel():
    jobs = FakeJobs({"fw-a": active("fw-a"), "fw-b": active("fw-b")})
    jobs.fail_cancel.add("fw-a")
    alert = CustomAlert(via="sns", source="x", job_ids=("fw-a", "fw-b"))
    policy = make_policy("rules: [{name: any}]")

    outcome = guard.respond(alert, policy, jobs)

    assert actions(outcome) == [("fw-a", FAILED), ("fw-b", CANCELED)]
    assert outcome.failed
    assert "ThrottlingException" in outcome.decisions[0].detail


def test_an_unreadable_job_is_failed_and_a_job_that_does_not_exist_is_skipped():
    jobs = FakeJobs({"fw-a": active("fw-a")})
    jobs.fail_describe.add("fw-a")
    alert = CustomAlert(via="sns", source="x", job_ids=("fw-a", "fw-missing"))

    outcome = guard.respond(alert, make_policy("rules: [{name: any}]"), jobs)

    assert actions(outcome) == [("fw-a", FAILED), ("fw-missing", SKIPPED)]
    assert "ServiceUnavailableException" in outcome.decisions[0].detail
    assert outcome.decisions[1].detail == "no such job"
    assert jobs.cancels() == []


def test_an_alert_naming_only_jobs_that_do_not_exist_does_not_fail():
    outcome = guard.respond(CustomAlert(via="sns", source="x", job_ids=("fw-gone",)),
                            make_policy("rules: [{name: any}]"), FakeJobs())

    assert actions(outcome) == [("fw-gone", SKIPPED)] and not outcome.failed


def test_dry_run_from_rule_or_caller_cancels_nothing():
    jobs = FakeJobs({"fw-2-4-eu": active("fw-2-4-eu")})

    by_rule = guard.respond(alerts.parse(load_event("sns_custom")), POLICY, jobs)
    by_caller = guard.respond(alerts.parse(load_event("sns_alarm")), POLICY, jobs, dry_run=True)

    assert actions(by_rule) == actions(by_caller) == [("fw-2-4-eu", WOULD_CANCEL)]
    assert jobs.cancels() == []


def test_outcome_serialises_the_contract_fields():
    jobs = FakeJobs({"fw-2-4-eu": active("fw-2-4-eu")})

    result = guard.respond(alerts.parse(load_event("sns_alarm")), POLICY, jobs).to_dict()

    assert result["rule"] == "crash" and result["status"] == "handled"
    assert result["decisions"] == [{"jobId": "fw-2-4-eu", "action": "canceled", "reasonCode": "FIRMWARE_CRASH_RATE",
                                    "force": True, "detail": "rule crash cancels; CancelJob accepted (with force)"}]
    assert result["alert"]["alarmName"] == "fw-crash-rate-eu"


def test_out_of_time_starts_no_call_and_reports_the_jobs_failed_for_a_retry():
    jobs = FakeJobs({"fw-a": active("fw-a"), "fw-b": active("fw-b")})
    alert = CustomAlert(via="sns", source="x", job_ids=("fw-a", "fw-b"))

    outcome = guard.respond(alert, make_policy("rules: [{name: any}]"), jobs, out_of_time=lambda: True)

    assert actions(outcome) == [("fw-a", FAILED), ("fw-b", FAILED)]
    assert "ran out of time" in outcome.decisions[0].detail
    assert jobs.calls == []


def test_running_out_of_time_between_confirm_and_cancel_cancels_nothing_more():
    jobs = FakeJobs({"fw-a": active("fw-a")})
    alert = CustomAlert(via="sns", source="x", job_ids=("fw-a",))
    checks = iter([False, True])

    outcome = guard.respond(alert, make_policy("rules: [{name: any}]"), jobs, out_of_time=lambda: next(checks))

    assert actions(outcome) == [("fw-a", FAILED)] and "cancel not attempted" in outcome.decisions[0].detail
    assert jobs.cancels() == []


def test_fan_out_keeps_the_candidates_order():
    jobs = FakeJobs({f"fw-{i:02d}": active(f"fw-{i:02d}") for i in range(20)})
    alert = CustomAlert(via="sns", source="x", job_ids=tuple(f"fw-{i:02d}" for i in range(20)))

    outcome = guard.respond(alert, make_policy("rules: [{name: any, max_jobs: 20}]"), jobs)

    assert actions(outcome) == [(f"fw-{i:02d}", CANCELED) for i in range(20)]
    assert len(jobs.cancels()) == 20


def test_kill_switch_turns_actions_into_dry_runs_and_is_asked_only_when_something_could_be_cancelled():
    asked = []

    def switch():
        asked.append(True)
        return True

    jobs = FakeJobs({"fw-2-4-eu": active("fw-2-4-eu")})
    ignored = guard.respond(alerts.parse(load_event("eventbridge_alarm_ok")), POLICY, jobs, kill_switch=switch)
    unmatched = guard.respond(AlarmAlert(via="sns", alarm_name="billing", state="ALARM"), POLICY, jobs,
                              kill_switch=switch)
    assert asked == [] and ignored.decisions == unmatched.decisions == []

    outcome = guard.respond(alerts.parse(load_event("sns_alarm")), POLICY, jobs, kill_switch=switch)

    assert actions(outcome) == [("fw-2-4-eu", WOULD_CANCEL)] and asked == [True]
    assert jobs.cancels() == []


FORCING = make_policy("rules: [{name: force-it, jobs: ['fw-*'], force: true, reason_code: ESCALATE_ME}]")


def test_escalation_force_cancels_what_a_soft_cancel_left_in_progress():
    jobs = FakeJobs({"fw-a": JobView("fw-a", "CANCELED")})
    jobs.executions_of = {("fw-a", "dev-1"): "IN_PROGRESS", ("fw-a", "dev-2"): "IN_PROGRESS",
                          ("fw-a", "dev-3"): "SUCCEEDED"}
    alert = CustomAlert(via="sns", source="x", job_ids=("fw-a",))

    outcome = guard.respond(alert, FORCING, jobs)

    assert actions(outcome) == [("fw-a", "escalated")]
    assert "force-cancelled 2 IN_PROGRESS execution(s)" in outcome.decisions[0].detail
    assert [c for c in jobs.calls if c[0] == "force_execution"] == [
        ("force_execution", "fw-a", "dev-1"), ("force_execution", "fw-a", "dev-2")]
    assert jobs.cancels() == []


def test_escalation_with_nothing_in_progress_is_skipped_and_a_failed_execution_is_reported():
    jobs = FakeJobs({"fw-a": JobView("fw-a", "CANCELED"), "fw-b": JobView("fw-b", "CANCELED")})
    jobs.executions_of = {("fw-b", "dev-1"): "IN_PROGRESS", ("fw-b", "dev-2"): "IN_PROGRESS"}
    jobs.fail_execution.add("dev-2")
    alert = CustomAlert(via="sns", source="x", job_ids=("fw-a", "fw-b"))

    outcome = guard.respond(alert, FORCING, jobs)

    assert actions(outcome) == [("fw-a", SKIPPED), ("fw-b", FAILED)]
    assert "stopped 1 of 2" in outcome.decisions[1].detail and "dev-2" in outcome.decisions[1].detail


