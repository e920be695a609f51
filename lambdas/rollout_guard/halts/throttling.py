"""The graduated response: a `throttle` rule slows a job instead of cancelling it, and the alarm's return to OK
puts it back. Each job's throttle and restore is claimed like a cancel (levels `throttle`, `restore`), so two
deliveries act once; the record of what the job was is saved before UpdateJob and read back by the restore."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import replace as dataclass_replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from rollout_guard.halts.alerts import ALARM, Alert
from rollout_guard.halts.claims import RESTORE, Claims, episode_level, skipped_detail
from rollout_guard.halts.claims import THROTTLE as THROTTLE_CLAIM
from rollout_guard.halts.decisions import (
    FAILED,
    RESTORED,
    SKIPPED,
    THROTTLED,
    WOULD_RESTORE,
    WOULD_THROTTLE,
    Decision,
)
from rollout_guard.halts.jobs import JobsError, JobsPort, JobView
from rollout_guard.halts.throttles import (
    NO_RATE,
    EscalationTimers,
    Throttled,
    ThrottleRecords,
    same_config,
    throttled_abort,
    throttled_rollout,
)
from rollout_guard.policy import CANCEL as CANCEL_ACTION
from rollout_guard.policy import THROTTLE, Policy, Rule

if TYPE_CHECKING:  # the gate's module loads with its first created job, not at cold start
    from rollout_guard.halts.gate import AlarmsPort


@dataclass(frozen=True)
class Throttling:
    """One alert's throttle or restore, over the jobs port, the claims and the records."""

    rule: Rule
    alert: Alert
    jobs: JobsPort
    claims: Claims
    records: ThrottleRecords
    dry_run: bool
    out_of_time: Callable[[], bool]
    timers: EscalationTimers | None = None  # where `escalate_after` is kept (an EventBridge Scheduler schedule)

    def throttle(self, job_ids: list[str]) -> list[Decision]:
        return [self._throttle(job_id) for job_id in job_ids]

    def restore(self, job_ids: list[str]) -> list[Decision]:
        """The jobs this alarm throttled (a job it did not is left alone, and not reported); an operator's resume:
        every job the guard throttled among them."""
        resume = self.alert.request is not None  # an operator's resume: whatever throttled the job
        mine = [(job_id, record) for job_id in job_ids if (record := self.records.get(job_id)) is not None
                and (resume or record.alarm == self.alert.alarm_name)]
        return [self._restore(job_id, record) for job_id, record in mine]

    def _decision(self, job_id: str, action: str, detail: str) -> Decision:
        return Decision(job_id, action, self.rule.reason_code, False, detail)

    def _view(self, job_id: str) -> JobView | Decision:
        if self.out_of_time():
            return self._decision(job_id, FAILED, "not attempted: the invocation ran out of time")
        try:
            return self.jobs.describe(job_id)
        except JobsError as error:
            return self._decision(job_id, SKIPPED if error.not_found else FAILED, str(error))

    def _throttle(self, job_id: str) -> Decision:
        view = self._view(job_id)
        if isinstance(view, Decision):
            return view
        if not view.active:
            return self._decision(job_id, SKIPPED, f"job is {view.status}")
        if self.rule.thing_group and not view.targets_group(self.rule.thing_group):
            return self._decision(job_id, SKIPPED, f"job does not target thing group {self.rule.thing_group}")
        held = self.records.get(job_id)
        if held is not None:
            return self._decision(job_id, SKIPPED, f"already throttled by the guard (rule {held.rule}, alarm "
                                                   f"{held.alarm}, {held.at})")
        throttle = self.rule.throttle
        if throttle is None:  # a valid policy gives every throttle rule its settings
            return self._decision(job_id, FAILED, f"rule {self.rule.name} has no throttle settings")
        record = Throttled(job_id, self.rule.name, self.alert.alarm_name or self.alert.subject, view.rollout,
                           view.abort,
                           throttled_rollout(throttle), throttled_abort(throttle, view.abort),
                           datetime.now(timezone.utc).isoformat(timespec="seconds"))
        detail = _throttle_detail(record) + _escalation_note(self.rule, self.timers)
        if self.dry_run:
            return self._decision(job_id, WOULD_THROTTLE, detail)
        # Claimed per alarm transition: a duplicate delivery of this ALARM acts once, a later ALARM (after a
        # restore) throttles again.
        level = episode_level(THROTTLE_CLAIM, self.alert.timestamp or self.alert.correlation_id or "")
        return self._claimed(job_id, level, lambda: self._apply(record), THROTTLED, detail)

    def _apply(self, record: Throttled) -> None:
        """Saved first (a restore must find what the job was), then the escalation timer, then UpdateJob: a timer
        whose throttle failed finds no record and does nothing."""
        self.records.put(record)
        try:
            escalate_after = self.rule.throttle.escalate_after_s if self.rule.throttle else None
            if escalate_after and self.timers is not None:
                self.timers.schedule(record, time.time() + escalate_after)
            self.jobs.update(record.job_id, record.applied_rollout, record.applied_abort)
        except Exception:
            self.records.delete(record.job_id)
            raise

    def _restore(self, job_id: str, record: Throttled) -> Decision:
        view = self._view(job_id)
        if isinstance(view, Decision):
            return view
        if not view.active:
            self.records.delete(job_id)
            return self._decision(job_id, SKIPPED, f"job is {view.status}: nothing to restore")
        if not (same_config(view.rollout, record.applied_rollout) and same_config(view.abort, record.applied_abort)):
            self.records.delete(job_id)
            return self._decision(job_id, SKIPPED, "its rollout or abort configuration changed since the guard "
                                                   "throttled it: left as it is")
        rollout, abort, detail = _restoration(record)
        if self.dry_run:
            return self._decision(job_id, WOULD_RESTORE, detail)
        return self._claimed(job_id, episode_level(RESTORE, record.at), lambda: self._put_back(job_id, rollout, abort),
                             RESTORED, detail)

    def _put_back(self, job_id: str, rollout: dict[str, Any], abort: dict[str, Any] | None) -> None:
        self.jobs.update(job_id, rollout, abort)
        self.records.delete(job_id)

    def _claimed(self, job_id: str, level: str, act: Callable[[], None], done: str, detail: str) -> Decision:
        try:
            claimed = self.claims.once(job_id, level, act)
        except JobsError as error:
            return self._decision(job_id, FAILED, f"{level} failed: {error}")
        if not claimed.acted:
            return self._decision(job_id, SKIPPED, skipped_detail(claimed, level))
        return self._decision(job_id, done, detail)


def escalation(due: Alert, policy: Policy, records: ThrottleRecords, alarms: AlarmsPort | None) -> tuple[Alert, Rule] | str:
    """The cancel a due escalation timer calls for, with its rule made a cancel; or why there is none (a restore in
    between wins: the job no longer throttled by that alarm, or the alarm no longer in ALARM)."""
    rule = next((r for r in policy.rules if r.name == due.source and r.action == THROTTLE), None)
    job_id, alarm = str(due.job_ids[0]), str(due.alarm_name)
    if rule is None or rule.throttle is None:
        return f"rule {due.source} is no longer a throttle rule of the policy: nothing to escalate"
    record = records.get(job_id)
    if record is None or record.alarm != alarm or record.at != due.timestamp:
        return f"job {job_id} is no longer throttled by alarm {alarm} (restored or changed): nothing to escalate"
    if alarms is None or alarm not in alarms.firing(alarm):
        return f"alarm {alarm} is no longer in ALARM: nothing to escalate"
    reason = f"still in ALARM {rule.throttle.escalate_after_s} s after the throttle of {record.at}"
    alert = Alert(kind=ALARM, via="timer", correlation_id=due.correlation_id, alarm_name=alarm, state="ALARM",
                  reason=reason, job_ids=(job_id,), timestamp=due.timestamp)
    return alert, dataclass_replace(rule, action=CANCEL_ACTION, throttle=None)


def _throttle_detail(record: Throttled) -> str:
    before = record.saved_rollout or "no rollout limit"
    criteria = (record.applied_abort or {}).get("criteriaList", [])
    return (f"rollout {record.applied_rollout['maximumPerMinute']} a minute (was {before}); abort criteria "
            f"{criteria or 'unchanged'}; saved for the restore when {record.alarm} returns to OK")


def _escalation_note(rule: Rule, timers: EscalationTimers | None) -> str:
    after = rule.throttle.escalate_after_s if rule.throttle else None
    if not after:
        return ""
    if timers is None:
        return f"; no escalation timer here (escalate_after {after} s needs the deployed guard's scheduler)"
    return f"; cancelled in {after} s if the alarm still fires"


def _restoration(record: Throttled) -> tuple[dict[str, Any], dict[str, Any] | None, str]:
    """What UpdateJob can put back: the saved configuration; where the job had none, the nearest UpdateJob allows."""
    notes = []
    rollout = record.saved_rollout
    if rollout is None:
        rollout = NO_RATE
        notes.append("it had no rollout limit and UpdateJob cannot remove one: IoT's ceiling of 1000 a minute")
    abort = record.saved_abort
    if abort is None and record.applied_abort is not None:
        notes.append("it had no abortConfig and UpdateJob cannot remove one: the guard's criteria stay armed")
    detail = f"rollout {rollout} and abort configuration restored as saved"
    return rollout, abort, detail + (f" ({'; '.join(notes)})" if notes else "")
