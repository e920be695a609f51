"""The graduated response through `guard.respond` with the in-memory IoT: what is saved, what is set, what the OK of
either delivery path restores, and what a timer does. (The CLI and the emulator's UpdateJob: tests/e2e.)"""

from __future__ import annotations

from rollout_guard.halts import alerts, guard
from rollout_guard.halts.jobs import JobView
from rollout_guard.halts.throttles import InMemoryThrottles, same_config, throttled_abort
from rollout_guard.halts.throttling import escalation
from rollout_guard.policy import Abort, Throttle
from tests.conftest import load_event, make_policy
from tests.unit.fakes import FakeJobs, active

POLICY = ("rules: [{name: slow, match: {alarm_name: 'fw-crash-rate-*'}, jobs: ['fw-*'], reason_code: WARNED, "
          "action: throttle, throttle: {max_per_minute: 5, abort: {failure_type: FAILED, percent: 12.5, "
          "min_executed: 40}, escalate_after: 30m}}]")


class Firing:
    def __init__(self, *names: str):
        self.names = set(names)

    def firing(self, glob: str) -> list[str]:
        return [name for name in self.names if name == glob]


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
    other = alerts.Alert(**{**vars(other), "alarm_name": "fw-crash-rate-us"})

    outcome = guard.respond(other, make_policy(POLICY), jobs, throttles=records)

    assert outcome.decisions == [] and "fw-2-4-eu" in records.records


def test_past_max_jobs_nothing_is_throttled():
    jobs = FakeJobs({f"fw-{n}": active(f"fw-{n}") for n in range(3)})
    alert = alerts.Alert(kind=alerts.ALARM, via="eventbridge", alarm_name="fw-crash-rate-eu", state="ALARM",
                         previous_state="OK")
    policy = make_policy(POLICY.replace("reason_code: WARNED,", "reason_code: WARNED, max_jobs: 2,"))

    outcome = guard.respond(alert, policy, jobs, throttles=InMemoryThrottles())

    assert {d.action for d in outcome.decisions} == {"blocked"}
    assert not [call for call in jobs.calls if call[0] == "update"]


def test_the_abort_criterion_keeps_the_stricter_of_the_jobs_and_the_rules():
    own = {"criteriaList": [{"failureType": "FAILED", "action": "CANCEL", "thresholdPercentage": 5.0,
                             "minNumberOfExecutedThings": 100},
                            {"failureType": "TIMED_OUT", "action": "CANCEL", "thresholdPercentage": 50.0,
                             "minNumberOfExecutedThings": 10}]}

    merged = throttled_abort(Throttle(5, Abort("FAILED", 10.0, 20)), own)

    assert merged == {"criteriaList": [{"failureType": "FAILED", "action": "CANCEL", "thresholdPercentage": 5.0,
                                        "minNumberOfExecutedThings": 20}, own["criteriaList"][1]]}
    assert same_config({"maximumPerMinute": 5}, {"maximumPerMinute": 5.0})


def test_a_due_timer_cancels_only_while_the_alarm_fires_and_the_job_is_still_throttled():
    jobs, records = FakeJobs({"fw-2-4-eu": active("fw-2-4-eu")}), InMemoryThrottles()
    guard.respond(alerts.parse(load_event("sns_alarm")), make_policy(POLICY), jobs, throttles=records)
    record = records.records["fw-2-4-eu"]
    due = alerts.parse({"version": "0", "id": "t-1", "source": alerts.TIMER_SOURCE,
                        "detail-type": alerts.ESCALATION_DUE_TYPE, "detail": {
                            "jobId": "fw-2-4-eu", "alarmName": record.alarm, "rule": "slow",
                            "throttledAt": record.at}})

    firing = escalation(due, make_policy(POLICY), records, Firing(record.alarm))
    quiet = escalation(due, make_policy(POLICY), records, Firing())

    alert, rule = firing
    assert (rule.action, rule.reason_code, alert.job_ids) == ("cancel", "WARNED", ("fw-2-4-eu",))
    assert quiet == f"alarm {record.alarm} is no longer in ALARM: nothing to escalate"
    records.delete("fw-2-4-eu")
    assert "no longer throttled" in escalation(due, make_policy(POLICY), records, Firing(record.alarm))
