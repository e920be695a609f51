"""The numbers a rule gives, checked: durations and counts, a fleet-signal rule's casualties threshold, and a
throttle's settings (an operator's throttle request is read the same way). Each check adds its problems to the
list it is given and returns None for a value it refused."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, cast

from rollout_guard.documents import show
from rollout_guard.iot_limits import FAILURE_TYPES, RATE_RANGE
from rollout_guard.policy.model import (
    MAX_THROTTLED_BOUNDS,
    MAX_THROTTLED_DEFAULT_S,
    RECHECK_BOUNDS,
    RECHECK_DEFAULT_S,
    SUCCESS_GRACE_DEFAULT_S,
    WATCH_AFTER_BOUNDS,
    Abort,
    Casualties,
    Match,
    Throttle,
)

THROTTLE_KEYS = {"max_per_minute", "abort", "escalate_after", "recheck", "max_throttled"}
ABORT_KEYS = {"failure_type", "percent", "min_executed"}
# UpdateJob's limits (botocore's model; the IoT developer guide gives 1 to 1,000 a minute for the rollout rate).
# botocore's `integer` shapes (minNumberOfExecutedThings has a minimum of 1 and no maximum of its own) are 32-bit:
# the one bound of every count the policy or an operator gives, so that nothing the API would refuse passes a check.
INTEGER_MAX = 2**31 - 1
CASUALTY_KEYS = {"things", "within", "percent", "min_things", "dark_after", "fleet_things", "success_grace"}
# An SQS delay times each dark check, and SQS delays a message by 15 minutes at most.
DARK_AFTER_RANGE_S = (10, 900)
DURATION = re.compile(r"(\d{1,6})\s*([smhd]?)")
DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(value: Any, what: str, problems: list[str], bounds: tuple[int, int] = (1, 7 * 86400)) -> int | None:
    """Seconds, given as a whole number of seconds or as text like "90s", "5m", "1h"."""
    seconds = None
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str) and (found := DURATION.fullmatch(value.strip())):
        seconds = int(found.group(1)) * DURATION_UNITS[found.group(2)]
    if seconds is None or not bounds[0] <= seconds <= bounds[1]:
        problems.append(f"{what} {show(value)} must be a duration from {bounds[0]} to {bounds[1]} seconds "
                        "(a number of seconds, or like 90s, 5m, 1h, 2d)")
        return None
    return seconds


def _count(value: Any, what: str, problems: list[str]) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= INTEGER_MAX:
        problems.append(f"{what} {show(value)} must be a whole number from 1 to {INTEGER_MAX}")
        return None
    return value


def _casualties(raw: Any, rule_dark_after: Any, problems: list[str]) -> Casualties | None:
    if not isinstance(raw, dict):
        problems.append("casualties must be a mapping (things and within, and/or percent and min_things)")
        return None
    for key in sorted(set(raw) - CASUALTY_KEYS, key=str):
        problems.append(f"casualties: unknown key {show(key)}")
    counts = {key: _count(raw[key], f"casualties.{key}", problems)
              for key in ("things", "min_things", "fleet_things") if key in raw}
    within = _duration(raw["within"], "casualties.within", problems) if "within" in raw else None
    percent = raw.get("percent")
    if percent is not None and (isinstance(percent, bool) or not isinstance(percent, int | float)
                                or not 0 < percent <= 100):
        problems.append(f"casualties.percent {show(percent)} must be a number above 0 and at most 100")
    if "things" not in raw and percent is None:
        problems.append("casualties needs a threshold: things (and within), or percent and min_things")
    if "within" in raw and "things" not in raw:
        problems.append("casualties.within needs casualties.things")
    if percent is not None and "min_things" not in raw:
        problems.append("casualties.percent needs casualties.min_things, the executed things it waits for")
    if "min_things" in raw and percent is None:
        problems.append("casualties.min_things needs casualties.percent")
    if "dark_after" in raw and rule_dark_after is not None:
        problems.append("dark_after is given twice (in the rule and in casualties): keep one")
    dark_raw = raw.get("dark_after", rule_dark_after)
    dark_after = (_duration(dark_raw, "dark_after", problems, DARK_AFTER_RANGE_S) if dark_raw is not None else None)
    if dark_raw is not None and "fleet_things" not in raw:
        problems.append("dark_after needs casualties.fleet_things (the fleet's size) to tell a network outage from "
                        "a firmware casualty")
    grace = SUCCESS_GRACE_DEFAULT_S
    if "success_grace" in raw:
        grace = _duration(raw["success_grace"], "casualties.success_grace", problems, (0, 3600)) or 0
    return Casualties(things=counts.get("things"), within_s=within, percent=percent,
                      min_things=counts.get("min_things"), dark_after_s=dark_after,
                      fleet_things=counts.get("fleet_things"), success_grace_s=grace)


def fleet_threshold(raw: dict[str, Any], match: Match, problems: list[str]) -> Casualties | None:
    """A fleet-signal rule's threshold; the keys that belong to one only where the rule is one."""
    is_fleet, casualties = match.signal is not None, None
    if "casualties" in raw and not is_fleet:
        problems.append("casualties needs match.signal: casualties")
    elif is_fleet and "casualties" not in raw:
        problems.append("match.signal: casualties needs a casualties threshold")
    elif is_fleet:
        casualties = _casualties(raw["casualties"], raw.get("dark_after"), problems)
    for key in ("dark_after", "watch_after"):
        if key in raw and not is_fleet:
            problems.append(f"{key} applies only to a rule with match.signal: casualties")
    if casualties is not None and "watch_after" in raw:
        watch = _duration(raw["watch_after"], "watch_after", problems, WATCH_AFTER_BOUNDS)
        casualties = replace(casualties, watch_after_s=watch or 0)
    if is_fleet and any(value is not None for key, value in vars(match).items() if key != "signal"):
        problems.append("match.signal cannot be combined with other match keys")
    return casualties


def throttle_settings(raw: Any) -> tuple[Throttle | None, list[str]]:
    """A throttle's settings as a policy gives them (an operator's request is read the same way)."""
    problems: list[str] = []
    if not isinstance(raw, dict):
        return None, ["throttle must be a mapping with max_per_minute"]
    return read_throttle(raw, problems), problems


def read_throttle(raw: dict[str, Any], problems: list[str]) -> Throttle | None:
    problems += [f"throttle: unknown key {show(key)}" for key in sorted(set(raw) - THROTTLE_KEYS, key=str)]
    rate = raw.get("max_per_minute")
    if isinstance(rate, bool) or not isinstance(rate, int) or not RATE_RANGE[0] <= rate <= RATE_RANGE[1]:
        problems.append(f"throttle.max_per_minute {show(rate)} must be a whole number from 1 to 1000")
        rate = None
    abort = read_abort(raw["abort"], "throttle.abort", problems) if "abort" in raw else None
    escalate = (_duration(raw["escalate_after"], "throttle.escalate_after", problems)
                if "escalate_after" in raw else None)
    recheck = (_duration(raw["recheck"], "throttle.recheck", problems, RECHECK_BOUNDS)
               if "recheck" in raw else RECHECK_DEFAULT_S)
    stale = (_duration(raw["max_throttled"], "throttle.max_throttled", problems, MAX_THROTTLED_BOUNDS)
             if "max_throttled" in raw else MAX_THROTTLED_DEFAULT_S)
    if (rate is None or ("abort" in raw and abort is None) or ("escalate_after" in raw and escalate is None)
            or recheck is None or stale is None):
        return None
    return Throttle(rate, abort, escalate, recheck, stale)


def read_abort(raw: Any, what: str, problems: list[str]) -> Abort | None:
    """An abort criterion (`what` names it: a throttle's or a revert's)."""
    if not isinstance(raw, dict):
        problems.append(f"{what} must be a mapping of failure_type, percent and min_executed")
        return None
    before = len(problems)
    problems += [f"{what}: unknown key {show(key)}" for key in sorted(set(raw) - ABORT_KEYS, key=str)]
    kind = raw.get("failure_type")
    if kind not in FAILURE_TYPES:
        problems.append(f"{what}.failure_type {show(kind)} must be one of {', '.join(FAILURE_TYPES)}")
    percent = raw.get("percent")
    if (isinstance(percent, bool) or not isinstance(percent, int | float) or not 0 < percent <= 100
            or round(percent, 2) != percent):
        problems.append(f"{what}.percent {show(percent)} must be above 0 and at most 100, with at most "
                        "two decimals")
    executed = _count(raw.get("min_executed"), f"{what}.min_executed", problems)
    if len(problems) > before or executed is None:
        return None
    return Abort(str(kind), float(cast(float, percent)), executed)


