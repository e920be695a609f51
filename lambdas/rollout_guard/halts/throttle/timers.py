"""A throttle's timer: the port that sets one (an EventBridge Scheduler one-time schedule in production), its
error, the event it delivers and when the next one falls due (pure)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Protocol

from rollout_guard.halts.throttle.records import Throttled
from rollout_guard.policy import Throttle

# The timers' schedule names begin so (the stack lets the function create those only).
ESCALATION_SCHEDULE_PREFIX = "rollout-guard-escalate-"


class TimerError(RuntimeError):
    """A throttle's timer could not be set (Scheduler refused or could not be reached; the adapter says why)."""


class EscalationTimers(Protocol):
    def schedule(self, record: Throttled, due_epoch_s: float) -> None:
        """At `due_epoch_s`, deliver the job's timer event ("Rollout Escalation Due") to the guard (once); raises
        `TimerError`."""


def escalation_event(record: Throttled, due_epoch_s: float) -> dict[str, Any]:
    """The detail of the event the timer delivers: the throttle it watches, and when it was due."""
    due = datetime.fromtimestamp(due_epoch_s, tz=timezone.utc).isoformat(timespec="seconds")
    return {"jobId": record.job_id, "alarmName": record.alarm, "rule": record.rule, "throttledAt": record.at,
            "dueAt": due}


def next_check(throttled_at_s: float, now_s: float, throttle: Throttle) -> float:
    """When the timer looks again: the next multiple of `recheck` after the throttle, or sooner when the escalation
    or the stale announcement falls due first. Computed from the throttle, not from `now` alone, so two deliveries
    of one timer set the same next one."""
    checks = int(max(0.0, now_s - throttled_at_s) // throttle.recheck_s) + 1
    due = [throttled_at_s + checks * throttle.recheck_s, throttled_at_s + throttle.max_throttled_s]
    if throttle.escalate_after_s:
        due.append(throttled_at_s + throttle.escalate_after_s)
    return min(moment for moment in due if moment > now_s)  # the first is always ahead
