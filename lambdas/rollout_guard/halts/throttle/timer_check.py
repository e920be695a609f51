"""One firing of a throttle's timer, up to what the guard must do: the record, the job and the alarm read through
their ports, the watchdog's verdict (`watchdog`), the forgotten record dropped and the next timer set. The runtime
then acts on the verdict (a restore or a cancel through the guard, a stale notice announced)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from rollout_guard.halts.alert_kinds import EscalationDue
from rollout_guard.halts.gate import AlarmsPort
from rollout_guard.halts.jobs import JobsError, JobsPort, JobView
from rollout_guard.halts.throttle import watchdog
from rollout_guard.halts.throttle.records import ThrottleRecords
from rollout_guard.halts.throttle.timers import EscalationTimers, TimerError
from rollout_guard.policy import Policy


@dataclass(frozen=True)
class Checked:
    """The verdict, and the error of the next timer when it could not be set (the invocation fails after acting)."""

    verdict: watchdog.Done | watchdog.Verdict
    unset: TimerError | None = None


def check(due: EscalationDue, policy: Policy, records: ThrottleRecords, jobs: JobsPort, alarms: AlarmsPort | None,
          timers: EscalationTimers | None) -> Checked:
    """Errors reading the record, the job or the alarm propagate: the timer's event is retried, then kept."""
    job_id = str(due.job_ids[0])
    record = records.get(job_id)
    done = watchdog.first_look(due, record, _view(jobs, job_id) if record else None)
    if done is not None or record is None:
        done = done or watchdog.Done(f"job {job_id} is not throttled: nothing to watch")
        if done.forget:
            records.delete(job_id)
        return Checked(done)
    state = alarms.state(record.alarm) if alarms is not None else None
    verdict = watchdog.verdict(due, policy, record, state, time.time())
    if timers is None:
        return Checked(verdict)
    try:  # before acting: a restore or cancel that fails is looked at again
        timers.schedule(verdict.record, verdict.next_due_s)
    except TimerError as error:
        return Checked(verdict, error)
    return Checked(verdict)


def _view(jobs: JobsPort, job_id: str) -> JobView | None:
    try:
        return jobs.describe(job_id)
    except JobsError as error:
        if error.not_found:
            return None
        raise
