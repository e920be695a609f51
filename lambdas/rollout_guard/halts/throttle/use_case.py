"""The graduated response: a `throttle` rule slows a job instead of cancelling it, and the alarm's return to OK
puts it back. Each job's throttle and restore is claimed like a cancel (levels `throttle`, `restore`), so two
deliveries act once; the record of what the job was is saved before UpdateJob and read back by the restore."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from rollout_guard.halts.alert_kinds import AlarmAlert, Alert, request_of
from rollout_guard.halts.claims import ClaimLevel, Claims, episode_level, skipped_detail
from rollout_guard.halts.decisions import (
    FAILED,
    RESTORED,
    SKIPPED,
    THROTTLED,
    WOULD_RESTORE,
    WOULD_THROTTLE,
    Act,
    Decision,
)
from rollout_guard.halts.jobs import JobsError, JobsPort, JobView
from rollout_guard.halts.throttle.records import RecordsError, Throttled, ThrottleRecords
from rollout_guard.halts.throttle.rollout import NO_RATE, still_as_set, throttled_abort, throttled_rollout
from rollout_guard.halts.throttle.timers import EscalationTimers, TimerError, next_check
from rollout_guard.observability import RESTORE_SKIPPED_DETAIL_TYPE
from rollout_guard.policy import Rule, Throttle


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

    @property
    def _alarm(self) -> str | None:
        """The alarm that throttles or restores (none for an operator's request)."""
        return self.alert.alarm_name if isinstance(self.alert, AlarmAlert) else None

    def throttle(self, job_ids: list[str]) -> list[Decision]:
        return [self._throttle(job_id) for job_id in job_ids]

    def restore(self, job_ids: list[str]) -> list[Decision]:
        """The jobs this alarm throttled (a job it did not is left alone, and not reported); an operator's resume:
        every job the guard throttled among them."""
        resume = request_of(self.alert) is not None  # an operator's resume: whatever throttled the job
        restored = []
        for job_id in job_ids:
            record = self._record(job_id)
            if isinstance(record, Decision):
                restored.append(record)
            elif record is not None and (resume or record.alarm == self._alarm):
                restored.append(self._restore(job_id, record))
        return restored

    def _record(self, job_id: str) -> Throttled | Decision | None:
        """The job's throttle record; a state table that cannot answer fails this job alone."""
        try:
            return self.records.get(job_id)
        except RecordsError as error:
            return self._decision(job_id, FAILED, str(error))

    def _decision(self, job_id: str, action: Act, detail: str) -> Decision:
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
        held = self._record(job_id)
        if isinstance(held, Decision):
            return held
        if held is not None:
            return self._decision(job_id, SKIPPED, f"already throttled by the guard (rule {held.rule}, alarm "
                                                   f"{held.alarm}, {held.at})")
        throttle = self.rule.throttle
        if throttle is None:  # a valid policy gives every throttle rule its settings
            return self._decision(job_id, FAILED, f"rule {self.rule.name} has no throttle settings")
        record = Throttled(job_id, self.rule.name, self._alarm or self.alert.subject, view.rollout,
                           view.abort,
                           throttled_rollout(throttle), throttled_abort(throttle, view.abort),
                           datetime.now(timezone.utc).isoformat(timespec="seconds"))
        detail = _throttle_detail(record) + _timer_note(throttle, self.timers)
        if self.dry_run:
            return self._decision(job_id, WOULD_THROTTLE, detail)
        # Claimed per alarm transition: a duplicate delivery of this ALARM acts once, a later ALARM (after a
        # restore) throttles again.
        level = episode_level(ClaimLevel.THROTTLE, self.alert.timestamp or self.alert.correlation_id or "")
        return self._claimed(job_id, level, lambda: self._apply(record, throttle), THROTTLED, detail)

    def _apply(self, record: Throttled, throttle: Throttle) -> None:
        """Saved first (a restore must find what the job was), then the throttle's timer (its watchdog), then
        UpdateJob: a timer whose throttle failed finds no record and does nothing."""
        self.records.put(record)
        try:
            if self.timers is not None:
                now = time.time()
                self.timers.schedule(record, next_check(now, now, throttle))
            self.jobs.update(record.job_id, record.applied_rollout, record.applied_abort)
        except Exception:
            with contextlib.suppress(RecordsError):  # the error that stopped the throttle is the one to report
                self.records.delete(record.job_id)
            raise

    def _restore(self, job_id: str, record: Throttled) -> Decision:
        view = self._view(job_id)
        if isinstance(view, Decision):
            return view
        if not view.active:
            return self._forget(self._decision(job_id, SKIPPED, f"job is {view.status}: nothing to restore"))
        if not still_as_set(record, view.rollout, view.abort):
            skipped = self._decision(job_id, SKIPPED, "its rollout rate or the guard's abort criterion changed since "
                                                      "the guard throttled it: left as it is")
            return self._forget(replace(skipped, notice=RESTORE_SKIPPED_DETAIL_TYPE))
        rollout, abort, detail = _restoration(record)
        if self.dry_run:
            return self._decision(job_id, WOULD_RESTORE, detail)
        return self._claimed(job_id, episode_level(ClaimLevel.RESTORE, record.at), lambda: self._put_back(job_id, rollout, abort),
                             RESTORED, detail)

    def _forget(self, decision: Decision) -> Decision:
        """The record of a job there is nothing to restore for is dropped (not in a dry run, which changes
        nothing); a state table that refuses fails the job, so that a retry drops it."""
        if self.dry_run:
            return replace(decision, notice=None)
        try:
            self.records.delete(decision.job_id)
        except RecordsError as error:
            return self._decision(decision.job_id, FAILED, f"{decision.detail}; but {error}")
        return decision

    def _put_back(self, job_id: str, rollout: dict[str, Any], abort: dict[str, Any] | None) -> None:
        self.jobs.update(job_id, rollout, abort)
        self.records.delete(job_id)

    def _claimed(self, job_id: str, level: str, act: Callable[[], None], done: Act, detail: str) -> Decision:
        try:
            claimed = self.claims.once(job_id, level, act)
        except (JobsError, RecordsError, TimerError) as error:
            return self._decision(job_id, FAILED, f"{level} failed: {error}")
        if not claimed.acted:
            return self._decision(job_id, SKIPPED, skipped_detail(claimed, level))
        return self._decision(job_id, done, detail)


def _throttle_detail(record: Throttled) -> str:
    before = record.saved_rollout or "no rollout limit"
    criteria = (record.applied_abort or {}).get("criteriaList", [])
    return (f"rollout {record.applied_rollout['maximumPerMinute']} a minute (was {before}); abort criteria "
            f"{criteria or 'unchanged'}; saved for the restore when {record.alarm} returns to OK")


def _timer_note(throttle: Throttle, timers: EscalationTimers | None) -> str:
    after = throttle.escalate_after_s
    if timers is None:
        return (f"; no timer here (escalate_after {after} s needs the deployed guard's scheduler)" if after else "")
    checks = f"; its timer looks again every {throttle.recheck_s} s"
    return checks + (f"; cancelled in {after} s if the alarm still fires" if after else "")


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
