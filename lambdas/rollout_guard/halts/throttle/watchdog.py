"""A throttle's watchdog: what the throttle's timer decides when it fires, so that no job is left slow unseen.

Every throttle has a timer (an EventBridge Scheduler one-time schedule, `adapters.escalation_schedules`), whether
or not its rule escalates. When it fires, the watchdog reads the throttle's record, the job and the alarm:
- the record gone or of another throttle: a restore or a later throttle came first; nothing more to watch;
- the job finished (or gone): the record is forgotten;
- the alarm in OK (from ALARM, INSUFFICIENT_DATA or anything else): the job is restored, as the OK alert would;
- the alarm in ALARM past the rule's `escalate_after`: the job is cancelled with the rule's reason code and force;
- otherwise (ALARM before `escalate_after`, missing data, no such alarm): looked at again at the next check; a
  throttle older than the rule's `max_throttled` is announced once as stale and left for an operator.
Every verdict that leaves the job throttled sets the next timer first, so a failure after it is seen again.

Pure: the record, the job's view and the alarm's state come in; the runtime does the I/O around it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rollout_guard.halts.alert_kinds import AlarmAlert, EscalationDue, Via
from rollout_guard.halts.decisions import SKIPPED, Decision
from rollout_guard.halts.jobs import JobView
from rollout_guard.halts.throttle.records import Throttled
from rollout_guard.halts.throttle.timers import next_check
from rollout_guard.observability import THROTTLE_STALE_DETAIL_TYPE
from rollout_guard.policy import CANCEL, THROTTLE, Policy, Rule, Throttle
from rollout_guard.times import epoch, iso

ALARM_STATE, OK_STATE = "ALARM", "OK"
# How a throttle no throttle rule of the policy owns (an operator's, or its rule since removed) is watched: the
# policy's default recheck and max_throttled, never escalated (its rate is not read here).
UNRULED = Throttle(max_per_minute=1)


@dataclass(frozen=True)
class Done:
    """Nothing more to watch; `forget` when the record is to be dropped (the job finished)."""

    detail: str
    forget: bool = False


@dataclass(frozen=True)
class Restore:
    """The alarm is OK: the OK alert to act on under the throttle's rule."""

    alert: AlarmAlert
    rule: Rule
    record: Throttled
    next_due_s: float


@dataclass(frozen=True)
class Escalate:
    """Still in ALARM past `escalate_after`: the cancel to act on, under the rule made a cancel."""

    alert: AlarmAlert
    rule: Rule
    record: Throttled
    next_due_s: float


@dataclass(frozen=True)
class Recheck:
    """Still throttled: look again at `next_due_s`; `stale` is the notice to announce (once), if due now."""

    record: Throttled
    next_due_s: float
    detail: str
    stale: Decision | None = None


Verdict = Restore | Escalate | Recheck  # of a throttle still held on a running job (`Done` comes before)


def throttle_rule(policy: Policy, name: str) -> Rule | None:
    return next((r for r in policy.rules if r.name == name and r.action == THROTTLE and r.throttle), None)


def first_look(due: EscalationDue, record: Throttled | None, view: JobView | None) -> Done | None:
    """The verdicts that need no alarm: the throttle gone or replaced, the job finished or gone."""
    job_id, alarm = str(due.job_ids[0]), str(due.alarm_name)
    if record is None or record.alarm != alarm or record.at != due.timestamp:
        return Done(f"job {job_id} is no longer throttled by alarm {alarm} (restored or changed): nothing to watch")
    if view is None:
        return Done(f"job {job_id} no longer exists: its throttle is forgotten", forget=True)
    if not view.active:
        return Done(f"job {job_id} is {view.status}: its throttle is forgotten", forget=True)
    return None


def verdict(due: EscalationDue, policy: Policy, record: Throttled, alarm_state: str | None, now_s: float) -> Verdict:
    """What the timer does for a throttle of a job still running, the alarm in `alarm_state` (None: no such
    alarm). The check's moment is its due time when the clock is earlier (a replay delivers it at once)."""
    rule = throttle_rule(policy, record.rule)
    throttle = rule.throttle if rule and rule.throttle else UNRULED
    at = epoch(record.at) or now_s
    # A timer set before the watchdog carried no due time: it was the escalation's.
    due_at = epoch(due.due_at) or at + (throttle.escalate_after_s or 0)
    now = max(now_s, due_at)
    following = next_check(at, now, throttle)
    job_id, alarm = record.job_id, record.alarm
    if alarm_state == OK_STATE and rule is not None:
        ok = AlarmAlert(via=Via.TIMER, correlation_id=due.correlation_id, alarm_name=alarm, state=OK_STATE,
                        reason=f"the throttle's timer found alarm {alarm} in OK", job_ids=(job_id,),
                        timestamp=iso(now))
        return Restore(ok, rule, record, following)
    escalate_after = throttle.escalate_after_s
    if alarm_state == ALARM_STATE and rule is not None and escalate_after and now >= at + escalate_after:
        reason = f"still in ALARM {escalate_after} s after the throttle of {record.at}"
        cancel = AlarmAlert(via=Via.TIMER, correlation_id=due.correlation_id, alarm_name=alarm, state=ALARM_STATE,
                            reason=reason, job_ids=(job_id,), timestamp=record.at)
        return Escalate(cancel, replace(rule, action=CANCEL, throttle=None), record, following)
    held_s = int(now - at)
    detail = (f"job {job_id} throttled by {alarm} for {held_s} s; alarm {alarm_state or 'not found'}: looking again "
              f"at {iso(following)}")
    if held_s >= throttle.max_throttled_s and record.stale_at is None:
        note = (f"throttled since {record.at} ({held_s // 3600} h, over max_throttled {throttle.max_throttled_s} s) "
                f"with alarm {alarm} {alarm_state or 'not found'}: left for an operator (`rollout-guard resume` "
                "restores it, `rollout-guard halt` cancels it); it holds a job-concurrency slot while it trickles")
        stale = Decision(job_id, SKIPPED, rule.reason_code if rule else "", False, note,
                         notice=THROTTLE_STALE_DETAIL_TYPE)
        return Recheck(replace(record, stale_at=iso(now)), following, detail, stale)
    return Recheck(record, following, detail)

