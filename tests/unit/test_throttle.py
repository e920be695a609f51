"""The graduated response through `guard.respond` with the in-memory IoT: what is saved, what is set, what the OK of
either delivery path restores, and what a timer does. (The CLI and the emulator's UpdateJob: tests/e2e.)"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from rollout_guard.halts import alert_kinds, alerts, guard
from rollout_guard.halts.decisions import Decision
from rollout_guard.halts.jobs import JobView
from rollout_guard.halts.throttle.records import InMemoryThrottles, RecordsError, Throttled
from rollout_guard.halts.throttle.rollout import same_config, still_as_set, throttled_abort
from rollout_guard.halts.throttle.timers import TimerError, next_check
from rollout_guard.halts.throttle.watchdog import Done, Escalate, Recheck, Restore, first_look, throttle_rule, verdict
from rollout_guard.policy import Abort, Throttle
from rollout_guard.times import epoch
from tests.conftest import load_event, make_policy
from tests.unit.fakes import FakeJobs, active

POLICY = ("rules: [{name: slow, match: {alarm_name: 'fw-crash-rate-*'}, jobs: ['fw-*'], reason_code: WARNED, "
          "action: throttle, throttle: {max_per_minute: 5, abort: {failure_type: FAILED, percent: 12.5, "
          "min_executed: 40}, escalate_after: 30m}}]")


def test_the_sns_alarm_and_its_ok_notification_throttle_and_restore():
    jobs = FakeJobs({"fw-2-4-eu": JobView("fw-2-4-eu", "IN_PROGRESS", rollout={"maximumPerMinute": 100})})
    records = InMemoryThrottles()

    warned = guard.respond(alerts.parse(load_event("sns_alarm")), make_policy(POLICY), jobs, throttles=records)
    throttled = jobs.jobs["fw-2-4-eu"]
    cleared = guard.respond(alerts.parse(load_event("sns_alarm_ok")), make_policy(POLICY), jobs, throttles=records)

    assert [d.action for d in warned.decisions] == ["throttled"]
    assert throttled.rollout == {"maximumPerMinute": 5}
    assert throttled.abort == {"criteriaList": [{"failureType": "FAILED", "action": "CANCEL",
                                                 "thresholdPercentage": 12.5, "minNumberOfExecutedThings": 40}]}
    assert [d.action for d in cleared.decisions] == ["restored"]
    assert jobs.jobs["fw-2-4-eu"].rollout == {"maximumPerMinute": 100} and records.records == {}


def test_an_ok_of_another_alarm_restores_nothing():
    jobs = FakeJobs({"fw-2-4-eu": active("fw-2-4-eu")})
    records = InMemoryThrottles()
    guard.respond(alerts.parse(load_event("sns_alarm")), make_policy(POLICY), jobs, throttles=records)
    other = alerts.parse(load_event("sns_alarm_ok"))
    other = dataclasses.replace(other, alarm_name="fw-crash-rate-us")

    outcome = guard.respond(other, make_policy(POLICY), jobs, throttles=records)

    assert outcome.decisions == [] and "fw-2-4-eu" in records.records


def test_the_abort_criterion_keeps_the_stricter_of_the_jobs_and_the_rules():
    own = {"criteriaList": [{"failureType": "FAILED", "action": "CANCEL", "thresholdPercentage": 5.0,
                             "minNumberOfExecutedThings": 100},
                            {"failureType": "TIMED_OUT", "action": "CANCEL", "thresholdPercentage": 50.0,
                             "minNumberOfExecutedThings": 10}]}

    merged = throttled_abort(Throttle(5, Abort("FAILED", 10.0, 20)), own)

    assert merged == {"criteriaList": [{"failureType": "FAILED", "action": "CANCEL", "thresholdPercentage": 5.0,
                                        "minNumberOfExecutedThings": 20}, own["criteriaList"][1]]}
    assert same_config({"maximumPerMinute": 5}, {"maximumPerMinute": 5.0})


def timer_of(record: Throttled, due_at: str | None = None) -> alert_kinds.Alert:
    """The event a throttle's timer delivers, parsed as the function does."""
    detail = {"jobId": record.job_id, "alarmName": record.alarm, "rule": record.rule, "throttledAt": record.at}
    if due_at:
        detail["dueAt"] = due_at
    return alerts.parse({"version": "0", "id": "t-1", "source": alert_kinds.TIMER_SOURCE,
                         "detail-type": alert_kinds.ESCALATION_DUE_TYPE, "detail": detail})


def throttled_record() -> tuple[FakeJobs, InMemoryThrottles, Throttled]:
    jobs, records = FakeJobs({"fw-2-4-eu": active("fw-2-4-eu")}), InMemoryThrottles()
    guard.respond(alerts.parse(load_event("sns_alarm")), make_policy(POLICY), jobs, throttles=records)
    return jobs, records, records.records["fw-2-4-eu"]


def at(record: Throttled, seconds: int) -> float:
    return epoch(record.at) + seconds


def due(record: Throttled, seconds: int) -> str:
    return datetime.fromtimestamp(at(record, seconds), tz=timezone.utc).isoformat()


def test_a_due_timer_cancels_only_while_the_alarm_fires_past_escalate_after():
    _, _, record = throttled_record()
    policy = make_policy(POLICY)

    firing = verdict(timer_of(record, due(record, 1800)), policy, record, "ALARM", at(record, 1800))
    early = verdict(timer_of(record, due(record, 900)), policy, record, "ALARM", at(record, 900))

    assert isinstance(firing, Escalate)
    assert (firing.rule.action, firing.rule.reason_code, firing.alert.job_ids) == ("cancel", "WARNED", ("fw-2-4-eu",))
    assert isinstance(early, Recheck) and early.next_due_s == at(record, 1800) and early.stale is None


def test_an_ok_found_by_the_timer_restores_from_any_previous_state_and_missing_data_waits():
    _, _, record = throttled_record()
    policy = make_policy(POLICY)

    ok = verdict(timer_of(record, due(record, 900)), policy, record, "OK", at(record, 900))
    missing = verdict(timer_of(record, due(record, 1900)), policy, record, "INSUFFICIENT_DATA", at(record, 1900))
    gone = verdict(timer_of(record, due(record, 1900)), policy, record, None, at(record, 1900))

    assert isinstance(ok, Restore) and ok.alert.state == "OK" and ok.alert.alarm_name == record.alarm
    assert isinstance(missing, Recheck) and isinstance(gone, Recheck)  # never escalated without ALARM
    assert missing.next_due_s == at(record, 2700)


def test_a_timer_of_a_finished_or_replaced_throttle_does_nothing_more():
    jobs, records, record = throttled_record()

    finished = first_look(timer_of(record), record, JobView("fw-2-4-eu", "COMPLETED"))
    replaced = first_look(timer_of(record), Throttled(**{**vars(record), "at": "2026-12-04T00:00:00+00:00"}),
                          jobs.jobs["fw-2-4-eu"])
    restored = first_look(timer_of(record), None, None)

    assert finished == Done("job fw-2-4-eu is COMPLETED: its throttle is forgotten", forget=True)
    assert isinstance(replaced, Done) and not replaced.forget and "no longer throttled" in replaced.detail
    assert isinstance(restored, Done) and not restored.forget
    assert first_look(timer_of(record), record, jobs.jobs["fw-2-4-eu"]) is None


def test_a_throttle_past_max_throttled_is_announced_once():
    _, _, record = throttled_record()
    policy = make_policy(POLICY.replace("escalate_after: 30m", "max_throttled: 2h"))

    stale = verdict(timer_of(record, due(record, 7200)), policy, record, "INSUFFICIENT_DATA", at(record, 7200))
    again = verdict(timer_of(record, due(record, 8100)), policy, stale.record, "INSUFFICIENT_DATA", at(record, 8100))

    assert isinstance(stale, Recheck) and stale.stale is not None
    assert stale.stale.notice == "Rollout Throttle Stale" and stale.record.stale_at is not None
    assert "left for an operator" in stale.stale.detail
    assert isinstance(again, Recheck) and again.stale is None


def test_a_replayed_timer_is_judged_at_its_due_time_and_an_older_one_as_the_escalation():
    _, _, record = throttled_record()
    policy = make_policy(POLICY)
    replayed = verdict(timer_of(record, due(record, 1800)), policy, record, "ALARM", at(record, 1))
    older = verdict(timer_of(record), policy, record, "ALARM", at(record, 1))

    assert isinstance(replayed, Escalate) and isinstance(older, Escalate)


@given(st.integers(60, 3600), st.integers(0, 200_000), st.one_of(st.none(), st.integers(1, 100_000)))
def test_the_next_check_is_ahead_no_later_than_recheck_and_never_past_a_due_escalation(recheck, elapsed, escalate):
    throttle = Throttle(5, escalate_after_s=escalate, recheck_s=recheck)

    due = next_check(1000.0, 1000.0 + elapsed, throttle)

    assert 1000.0 + elapsed < due <= 1000.0 + elapsed + recheck
    if escalate and elapsed < escalate:
        assert due <= 1000.0 + escalate
    assert next_check(1000.0, 1000.0 + elapsed, throttle) == due  # a duplicate delivery sets the same timer


# --- what the restore compares: only what the guard set ---------------------------------------------------------

APPLIED = {"failureType": "FAILED", "action": "CANCEL", "thresholdPercentage": 12.5, "minNumberOfExecutedThings": 40}
OWN = {"failureType": "TIMED_OUT", "action": "CANCEL", "thresholdPercentage": 30.0, "minNumberOfExecutedThings": 10}


def record_of(saved_abort, applied_abort) -> Throttled:
    return Throttled("fw-1", "slow", "fw-warn-eu", {"maximumPerMinute": 100}, saved_abort, {"maximumPerMinute": 5},
                     applied_abort, "2026-12-04T10:00:00+00:00")


def test_the_restore_holds_whatever_the_order_of_criteria_and_iots_defaults():
    record = record_of({"criteriaList": [OWN]}, {"criteriaList": [OWN, APPLIED]})

    reordered = still_as_set(record, {"maximumPerMinute": 5.0}, {"criteriaList": [{**APPLIED, "extra": 1}, OWN]})
    own_dropped = still_as_set(record, {"maximumPerMinute": 5}, {"criteriaList": [APPLIED]})
    rate_changed = still_as_set(record, {"maximumPerMinute": 50}, {"criteriaList": [OWN, APPLIED]})
    exponential = still_as_set(record, {"maximumPerMinute": 5, "exponentialRate": {"baseRatePerMinute": 5}},
                               {"criteriaList": [OWN, APPLIED]})
    mine_changed = still_as_set(record, {"maximumPerMinute": 5},
                                {"criteriaList": [OWN, {**APPLIED, "thresholdPercentage": 50.0}]})

    assert reordered and own_dropped
    assert not rate_changed and not exponential and not mine_changed


def test_a_restore_skipped_because_the_job_changed_is_announced():
    jobs, records, _ = throttled_record()
    jobs.jobs["fw-2-4-eu"] = JobView("fw-2-4-eu", "IN_PROGRESS", rollout={"maximumPerMinute": 50})

    cleared = guard.respond(alerts.parse(load_event("sns_alarm_ok")), make_policy(POLICY), jobs, throttles=records)

    (skipped,) = cleared.decisions
    assert (skipped.action, skipped.notice) == ("skipped", "Rollout Restore Skipped")
    assert cleared.announcing == 1 and records.records == {}
    assert "notice" not in skipped.to_dict()


# --- a Scheduler or DynamoDB error stays with its job -------------------------------------------------------------

class RefusingTimers:
    def __init__(self, refused: set[str]):
        self.refused, self.set = refused, []

    def schedule(self, record, due_epoch_s):
        if record.job_id in self.refused:
            raise TimerError(f"Scheduler refused the timer of job {record.job_id}: ConflictException")
        self.set.append((record.job_id, due_epoch_s))


class FlakyRecords(InMemoryThrottles):
    def __init__(self, failing: set[str]):
        super().__init__()
        self.failing = failing

    def put(self, record):
        if record.job_id in self.failing:
            raise RecordsError(f"the state table could not write the throttle record of job {record.job_id}")
        super().put(record)


def test_a_scheduler_or_table_error_fails_its_job_alone_and_the_others_are_throttled():
    jobs = FakeJobs({job: active(job) for job in ("fw-1", "fw-2", "fw-3")})
    alert = alert_kinds.AlarmAlert(via="eventbridge", alarm_name="fw-crash-rate-eu", state="ALARM",
                         previous_state="OK", job_ids=("fw-1", "fw-2", "fw-3"), timestamp="2026-12-04T10:00:00Z")
    timers, records = RefusingTimers({"fw-2"}), FlakyRecords({"fw-3"})

    outcome = guard.respond(alert, make_policy(POLICY), jobs, throttles=records, escalations=timers)

    actions = {d.job_id: (d.action, d.detail) for d in outcome.decisions}
    assert actions["fw-1"][0] == "throttled"
    assert actions["fw-2"][0] == "failed" and "Scheduler refused" in actions["fw-2"][1]
    assert actions["fw-3"][0] == "failed" and "state table could not write" in actions["fw-3"][1]
    assert outcome.failed
    assert set(records.records) == {"fw-1"} and [job for job, _ in timers.set] == ["fw-1"]
    assert jobs.jobs["fw-2"].rollout is None and jobs.jobs["fw-3"].rollout is None  # never updated


# --- the watchdog's verdicts, field by field ------------------------------------------------------------------

RECORD = Throttled("fw-1", "slow", "fw-crash-rate-eu", {"maximumPerMinute": 100}, None, {"maximumPerMinute": 5},
                   None, "2026-12-04T10:00:00+00:00")
AT = epoch(RECORD.at)


def timer(due_at: str) -> alert_kinds.Alert:
    return dataclasses.replace(timer_of(RECORD, due_at), correlation_id="t-9")


def iso_at(seconds: int) -> str:
    return datetime.fromtimestamp(AT + seconds, tz=timezone.utc).isoformat(timespec="seconds")


def test_a_restore_is_the_ok_alert_of_the_alarm_for_the_job_under_its_rule():
    policy = make_policy(POLICY)

    found = verdict(timer(iso_at(900)), policy, RECORD, "OK", AT + 900)

    ok = alert_kinds.AlarmAlert(via="timer", correlation_id="t-9", alarm_name="fw-crash-rate-eu",
                      state="OK", reason="the throttle's timer found alarm fw-crash-rate-eu in OK", job_ids=("fw-1",),
                      timestamp=iso_at(900))
    assert found == Restore(ok, policy.rules[0], RECORD, AT + 1800)


def test_an_escalation_is_the_rules_cancel_dated_from_the_throttle():
    policy = make_policy(POLICY)

    found = verdict(timer(iso_at(1800)), policy, RECORD, "ALARM", AT + 1800)

    cancel = alert_kinds.AlarmAlert(via="timer", correlation_id="t-9", alarm_name="fw-crash-rate-eu",
                          state="ALARM", reason=f"still in ALARM 1800 s after the throttle of {RECORD.at}",
                          job_ids=("fw-1",), timestamp=RECORD.at)
    assert found == Escalate(cancel, dataclasses.replace(policy.rules[0], action="cancel", throttle=None), RECORD,
                             AT + 2700)


def test_a_stale_throttle_is_one_notice_naming_what_to_do_and_the_record_marks_it():
    policy = make_policy(POLICY.replace("escalate_after: 30m", "max_throttled: 1h"))

    found = verdict(timer(iso_at(7200)), policy, RECORD, None, AT + 7200)

    note = (f"throttled since {RECORD.at} (2 h, over max_throttled 3600 s) with alarm fw-crash-rate-eu not found: "
            "left for an operator (`rollout-guard resume` restores it, `rollout-guard halt` cancels it); it holds a "
            "job-concurrency slot while it trickles")
    detail = f"job fw-1 throttled by fw-crash-rate-eu for 7200 s; alarm not found: looking again at {iso_at(8100)}"
    assert found == Recheck(dataclasses.replace(RECORD, stale_at=iso_at(7200)), AT + 8100, detail,
                            Decision("fw-1", "skipped", "WARNED", False, note, notice="Rollout Throttle Stale"))


def test_an_operators_throttle_is_watched_with_the_defaults_and_never_escalated():
    mine = dataclasses.replace(RECORD, rule="operator-halt", alarm="source rollout-guard.operator")
    policy = make_policy(POLICY.removesuffix("]") + ", {name: operator-halt, match: {source: "
                                                   "'rollout-guard.operator'}, jobs: ['fw-*'], reason_code: OPERATOR}]")

    early = verdict(timer(iso_at(60)), policy, mine, "ALARM", AT + 60)
    late = verdict(timer(iso_at(86400)), policy, mine, None, AT + 86400)

    assert early == Recheck(mine, AT + 900, "job fw-1 throttled by source rollout-guard.operator for 60 s; alarm "
                                            f"ALARM: looking again at {iso_at(900)}")
    assert isinstance(late, Recheck) and late.stale is not None and late.stale.reason_code == ""
    assert late.next_due_s == AT + 87300


def test_only_a_throttle_rule_of_that_name_watches():
    policy = make_policy(POLICY.removesuffix("]") + ", {name: stop, match: {alarm_name: 'fw-*'}, jobs: ['fw-*']}]")

    assert throttle_rule(policy, "slow") is policy.rules[0]
    assert throttle_rule(policy, "stop") is None and throttle_rule(policy, "gone") is None


def test_a_timer_of_a_job_that_no_longer_exists_forgets_its_throttle():
    assert first_look(timer(iso_at(900)), RECORD, None) == Done(
        "job fw-1 no longer exists: its throttle is forgotten", forget=True)


def test_the_next_check_is_whichever_falls_due_first_of_the_recheck_the_escalation_and_the_stale_notice():
    slow = Throttle(5, None, None, 3600, 5400)

    assert next_check(0.0, 100.0, slow) == 3600.0  # the first recheck
    assert next_check(0.0, 3700.0, slow) == 5400.0  # max_throttled before the second recheck
    assert next_check(0.0, 5400.0, slow) == 7200.0  # past it: the recheck after
    assert next_check(0.0, 1000.0, Throttle(5, None, 1800, 3600, 86400)) == 1800.0  # the escalation first
    assert next_check(0.0, 2000.0, Throttle(5, None, 1800, 3600, 86400)) == 3600.0


def test_the_rollout_the_guard_set_is_still_there_whatever_else_iot_reports():
    record = Throttled("fw-1", "slow", "fw-warn", None, None, {"maximumPerMinute": 5},
                       {"criteriaList": [{"failureType": "FAILED", "action": "CANCEL", "thresholdPercentage": 10,
                                          "minNumberOfExecutedThings": 20}]}, "2026-12-04T10:00:00+00:00")
    listed = {"criteriaList": [{"minNumberOfExecutedThings": 20, "thresholdPercentage": 10.0, "action": "CANCEL",
                                "failureType": "FAILED"}]}

    assert still_as_set(record, {"maximumPerMinute": 5}, listed)
    assert not still_as_set(record, {"maximumPerMinute": 5}, None)  # the criterion it added is gone
    assert not still_as_set(record, {"maximumPerMinute": 6}, listed)
    unarmed = dataclasses.replace(record, applied_abort=None)
    assert still_as_set(unarmed, {"maximumPerMinute": 5}, None)
    assert still_as_set(unarmed, {"maximumPerMinute": 5}, {"criteriaList": []})


def test_a_timers_event_carries_the_throttle_it_watches_and_reads_back_as_the_timer():
    from rollout_guard.halts.alert_kinds import ESCALATION_DUE_TYPE, TIMER_SOURCE
    from rollout_guard.halts.throttle.timers import escalation_event

    record = Throttled("fw-2-4-eu", "slow", "fw-warn-eu", None, None, {"maximumPerMinute": 5}, None,
                       "2026-12-04T10:00:00+00:00")

    detail = escalation_event(record, 1796378400.9)

    assert detail == {"jobId": "fw-2-4-eu", "alarmName": "fw-warn-eu", "rule": "slow",
                      "throttledAt": "2026-12-04T10:00:00+00:00", "dueAt": "2026-12-04T10:00:00+00:00"}
    due = alerts.parse({"id": "t", "source": TIMER_SOURCE, "detail-type": ESCALATION_DUE_TYPE, "detail": detail})
    assert (due.job_ids, due.alarm_name, due.rule, due.timestamp, due.due_at) == (
        ("fw-2-4-eu",), "fw-warn-eu", "slow", "2026-12-04T10:00:00+00:00", "2026-12-04T10:00:00+00:00")
