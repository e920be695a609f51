"""The configuration a throttle rule sets on a job (UpdateJob's rollout rate and abort criteria), and whether a job
still holds what the guard set (pure)."""

from __future__ import annotations

from typing import Any

from rollout_guard.halts.throttle.records import Throttled
from rollout_guard.iot_limits import RATE_RANGE
from rollout_guard.policy import Throttle

# IoT rolls a job out at up to 1,000 things a minute when it sets no rate, and UpdateJob cannot remove a rate once
# set: restoring a job that had none sets this ceiling.
NO_RATE = {"maximumPerMinute": RATE_RANGE[1]}


def throttled_rollout(throttle: Throttle) -> dict[str, Any]:
    """A flat rate: an `exponentialRate` is replaced (and saved), since UpdateJob takes one or the other."""
    return {"maximumPerMinute": throttle.max_per_minute}


def throttled_abort(throttle: Throttle, current: dict[str, Any] | None) -> dict[str, Any] | None:
    """The job's own abort criteria with the rule's added; where the job already has one of that failure type, the
    stricter threshold and the lower minimum of the two (IoT takes one criterion per failure type)."""
    if throttle.abort is None:
        return current
    criteria = [dict(c) for c in (current or {}).get("criteriaList", [])]
    mine = throttle.abort.criterion()
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
