"""What the guard remembers of a job it throttled, so that the alarm's return to OK can put the job back: the port,
its record, and the configuration a throttle rule sets (pure).

The record is saved before UpdateJob and kept in the state table (`adapters.dynamo_throttles`; `InMemoryThrottles`
where there is none, for one invocation only)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from rollout_guard.policy import Throttle

# IoT rolls a job out at up to 1,000 things a minute when it sets no rate, and UpdateJob cannot remove a rate once
# set: restoring a job that had none sets this ceiling.
NO_RATE = {"maximumPerMinute": 1000}
# The escalation timers' schedule names begin so (the stack lets the function create those only).
ESCALATION_SCHEDULE_PREFIX = "rollout-guard-escalate-"


@dataclass(frozen=True)
class Throttled:
    job_id: str
    rule: str
    alarm: str  # the alarm whose ALARM throttled the job: its OK restores it
    saved_rollout: dict[str, Any] | None
    saved_abort: dict[str, Any] | None
    applied_rollout: dict[str, Any]
    applied_abort: dict[str, Any] | None
    at: str  # ISO 8601, when the guard throttled it
    stale_at: str | None = None  # ISO 8601, when its timer announced it stale (once)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Throttled:
        return cls(**json.loads(text))


class RecordsError(RuntimeError):
    """The state table could not read or write a throttle's record (the adapter says why)."""


class TimerError(RuntimeError):
    """A throttle's timer could not be set (Scheduler refused or could not be reached; the adapter says why)."""


class ThrottleRecords(Protocol):
    def get(self, job_id: str) -> Throttled | None: ...

    def put(self, record: Throttled) -> None: ...

    def delete(self, job_id: str) -> None: ...


class InMemoryThrottles:
    """Records for one process: the CLI without a state table (an OK in a later invocation finds nothing)."""

    def __init__(self) -> None:
        self.records: dict[str, Throttled] = {}

    def get(self, job_id: str) -> Throttled | None:
        return self.records.get(job_id)

    def put(self, record: Throttled) -> None:
        self.records[record.job_id] = record

    def delete(self, job_id: str) -> None:
        self.records.pop(job_id, None)


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


def throttled_rollout(throttle: Throttle) -> dict[str, Any]:
    """A flat rate: an `exponentialRate` is replaced (and saved), since UpdateJob takes one or the other."""
    return {"maximumPerMinute": throttle.max_per_minute}


def throttled_abort(throttle: Throttle, current: dict[str, Any] | None) -> dict[str, Any] | None:
    """The job's own abort criteria with the rule's added; where the job already has one of that failure type, the
    stricter threshold and the lower minimum of the two (IoT takes one criterion per failure type)."""
    if throttle.abort is None:
        return current
    criteria = [dict(c) for c in (current or {}).get("criteriaList", [])]
    mine: dict[str, Any] = {"failureType": throttle.abort.failure_type, "action": "CANCEL",
                            "thresholdPercentage": throttle.abort.percent,
                            "minNumberOfExecutedThings": throttle.abort.min_executed}
    same = next((c for c in criteria if c.get("failureType") == mine["failureType"]), None)
    if same is None:
        criteria.append(mine)
    else:
        same["thresholdPercentage"] = min(float(same["thresholdPercentage"]), mine["thresholdPercentage"])
        same["minNumberOfExecutedThings"] = min(int(same["minNumberOfExecutedThings"]),
                                                mine["minNumberOfExecutedThings"])
    return {"criteriaList": criteria}


def same_config(left: dict[str, Any] | None, right: dict[str, Any] | None) -> bool:
    """Equal as IoT means them (numbers compared as numbers: DescribeJob may give 10 for 10.0)."""
    return bool(_normal(left) == _normal(right))


def still_as_set(record: Throttled, rollout: dict[str, Any] | None, abort: dict[str, Any] | None) -> bool:
    """Whether the job still carries what the guard set, and only that is compared: its flat rate (no exponential
    rate since), and each abort criterion the guard added or tightened still among the job's, in any order and
    whatever else IoT reports with it (UpdateJob is a patch; DescribeJob's order and defaults are undocumented)."""
    current = _normal(rollout) or {}
    if "exponentialRate" in current or not _holds(current, _normal(record.applied_rollout)):
        return False
    saved = [_normal(c) for c in (record.saved_abort or {}).get("criteriaList", [])]
    mine = [_normal(c) for c in (record.applied_abort or {}).get("criteriaList", []) if _normal(c) not in saved]
    present = [_normal(c) for c in (abort or {}).get("criteriaList", [])]
    return all(any(_holds(have, want) for have in present) for want in mine)


def _holds(have: Any, want: Any) -> bool:
    """Every key of `want` has its value in `have` (what IoT adds beside it is not compared)."""
    return isinstance(have, dict) and isinstance(want, dict) and all(have.get(k) == v for k, v in want.items())


def _normal(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _normal(inner) for key, inner in value.items() if inner not in (None, [], {})}
    if isinstance(value, list):
        return [_normal(inner) for inner in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value
