"""The policy: which alerts halt which jobs, with what reason code and force.

One YAML file (JSON is accepted, being YAML), validated strictly: every problem is collected and named by its rule,
so `rollout-guard policy check` and `cdk synth` can list them all at once.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, cast

from rollout_guard.documents import DocumentError, DuplicateKeys, load_json, load_yaml, show, where
from rollout_guard.iot_limits import FAILURE_TYPES, JOB_GLOB, RATE_RANGE, REASON_CODE

# Globs over job ids use only characters that job ids and IAM resource patterns share, so the stacks can turn
# each glob into an exact job ARN pattern.
THING_GROUP = re.compile(r"[a-zA-Z0-9:_-]{1,128}")
COMMENT_FIELDS = frozenset({"rule", "alarm_name", "state", "reason", "source", "thing_name", "job_id"})

DEFAULT_KEYS = {"reason_code", "force", "max_jobs", "dry_run"}
RULE_KEYS = DEFAULT_KEYS | {"name", "match", "jobs", "thing_group", "comment", "casualties", "dark_after", "action",
                           "throttle"}
CANCEL, THROTTLE = "cancel", "throttle"  # a rule's action
THROTTLE_KEYS = {"max_per_minute", "abort", "escalate_after", "recheck", "max_throttled"}
# A throttled job's timer looks again this often (alarm OK: restore; ALARM past escalate_after: cancel), and a
# throttle older than `max_throttled` is announced once as stale. Scheduler's one-time schedules are minutes apart
# at best; the record of a throttle is kept 30 days (schema.THROTTLE), so a throttle is stale well before.
RECHECK_DEFAULT_S, RECHECK_BOUNDS = 15 * 60, (60, 86400)
MAX_THROTTLED_DEFAULT_S, MAX_THROTTLED_BOUNDS = 86400, (3600, 14 * 86400)
ABORT_KEYS = {"failure_type", "percent", "min_executed"}
# UpdateJob's limits (botocore's model; the IoT developer guide gives 1 to 1,000 a minute for the rollout rate).
# botocore's `integer` shapes (minNumberOfExecutedThings has a minimum of 1 and no maximum of its own) are 32-bit:
# the one bound of every count the policy or an operator gives, so that nothing the API would refuse passes a check.
INTEGER_MAX = 2**31 - 1
MATCH_KEYS = {"alarm_name", "source", "severity", "security_profile", "signal"}
SIGNALS = ("casualties",)  # the fleet's own signal: devices that fail or go dark after the update
CASUALTY_KEYS = {"things", "within", "percent", "min_things", "dark_after", "fleet_things", "success_grace"}
# An SQS delay times each dark check, and SQS delays a message by 15 minutes at most.
DARK_AFTER_RANGE_S = (10, 900)
SUCCESS_GRACE_DEFAULT_S = 600
DURATION = re.compile(r"(\d{1,6})\s*([smh]?)")
DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}
BUILTIN_DEFAULTS = {"reason_code": "ROLLOUT_HALTED", "force": False, "max_jobs": 10, "dry_run": False}


class PolicyError(ValueError):
    """The policy is invalid; `problems` lists every reason."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class Match:
    alarm_name: str | None = None
    source: str | None = None
    severity: tuple[str, ...] | None = None  # lower-cased
    security_profile: str | None = None
    signal: str | None = None


@dataclass(frozen=True)
class Casualties:
    """When a fleet-signal rule halts: `things` casualties (within `within_s` seconds of each other, when given),
    or `percent` of the job's executed things once `min_things` have executed; whichever is crossed first.

    A thing is a casualty when its execution fails (FAILED, REJECTED, TIMED_OUT) or when it goes dark: it
    disconnects while executing the job, or within `success_grace_s` after reporting SUCCEEDED, and does not
    reconnect within `dark_after_s`. Dark things count only when the rest of the fleet (`fleet_things` in all) did
    not go dark at a comparable rate in the same minutes (a network outage is not a firmware casualty)."""

    things: int | None = None
    within_s: int | None = None
    percent: float | None = None
    min_things: int | None = None
    dark_after_s: int | None = None
    fleet_things: int | None = None
    success_grace_s: int = SUCCESS_GRACE_DEFAULT_S


@dataclass(frozen=True)
class Abort:
    """An abort criterion the guard adds to a throttled job's own `abortConfig` (IoT enforces it)."""

    failure_type: str
    percent: float
    min_executed: int


@dataclass(frozen=True)
class Throttle:
    """What a `throttle` rule does to a job: a flat rollout rate, an abort criterion, and when to cancel after all."""

    max_per_minute: int
    abort: Abort | None = None
    escalate_after_s: int | None = None
    recheck_s: int = RECHECK_DEFAULT_S
    max_throttled_s: int = MAX_THROTTLED_DEFAULT_S


@dataclass(frozen=True)
class Rule:
    name: str
    match: Match
    jobs: tuple[str, ...] | None
    thing_group: str | None
    reason_code: str
    force: bool
    max_jobs: int
    dry_run: bool
    comment: str | None
    casualties: Casualties | None = None
    action: str = CANCEL
    throttle: Throttle | None = None


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...]

    def fleet_rules(self) -> tuple[Rule, ...]:
        return self._fleet_rules

    def dark_checks(self) -> tuple[int, ...]:
        """Every `dark_after` of the fleet rules, in seconds: a disconnect is checked after each."""
        return self._dark_checks

    # Worked out once per policy (a policy never changes): the detector asks for each event of a batch.
    @cached_property
    def _fleet_rules(self) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule.casualties is not None)

    @cached_property
    def _dark_checks(self) -> tuple[int, ...]:
        return tuple(sorted({rule.casualties.dark_after_s for rule in self.fleet_rules()
                             if rule.casualties is not None and rule.casualties.dark_after_s is not None}))


def load_file(path: str | Path) -> Policy:
    """Read and validate a policy file."""
    return load(read_document(path))


def read_document(path: str | Path) -> Any:
    """The parsed policy file, not yet validated. JSON files need no YAML parser, which keeps the Lambda small."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PolicyError([f"cannot read policy file {path}: {error}"]) from error
    try:
        return load_json(text) if path.suffix == ".json" else load_yaml(text)
    except DuplicateKeys as error:
        raise PolicyError([_duplicate(error.document, where_, key) for where_, key in error.found]) from error
    except DocumentError as error:
        raise PolicyError([f"policy file {path}: {problem}" for problem in error.problems]) from error


def _duplicate(document: Any, path: tuple[str | int, ...], key: str) -> str:
    """A duplicated key, named by its rule where it is in one ("rule 'crash-rate': match: duplicate key ...")."""
    label, inner = where(path), path
    if path[:1] == ("rules",) and len(path) > 1 and isinstance(path[1], int):
        rules = document.get("rules") if isinstance(document, dict) else None
        raw = rules[path[1]] if isinstance(rules, list) and path[1] < len(rules) else None
        name = raw.get("name") if isinstance(raw, dict) else None
        label = f"rule {show(name)}" if isinstance(name, str) and name.strip() else f"rule #{path[1] + 1}"
        inner = path[2:]
        if inner:
            label += f": {where(inner)}"
    return f"{label}: duplicate key {show(key)}"


def load(data: Any) -> Policy:
    """Validate a parsed policy document and build the `Policy`, or raise `PolicyError` listing every problem."""
    problems: list[str] = []
    if not isinstance(data, dict):
        raise PolicyError(["the policy must be a mapping with 'rules' (and optionally 'defaults')"])
    for key in sorted(set(data) - {"defaults", "rules"}, key=str):
        problems.append(f"unknown top-level key {show(key)}")

    defaults = dict(BUILTIN_DEFAULTS)
    given_defaults = data.get("defaults", {})
    if not isinstance(given_defaults, dict):
        problems.append("'defaults' must be a mapping")
    else:
        for key in sorted(set(given_defaults) - DEFAULT_KEYS, key=str):
            problems.append(f"defaults: unknown key {show(key)}")
        settings = {key: value for key, value in given_defaults.items() if key in DEFAULT_KEYS}
        problems += [f"defaults: {problem}" for problem in _check_settings(settings)]
        defaults.update(settings)

    raw_rules = data.get("rules")
    rules: list[Rule] = []
    if not isinstance(raw_rules, list) or not raw_rules:
        problems.append("'rules' must be a non-empty list")
        raw_rules = []
    names: set[str] = set()
    for index, raw in enumerate(raw_rules):
        label = f"rule #{index + 1}"
        rule, rule_problems = _rule(raw, defaults)
        if isinstance(raw, dict) and isinstance(raw.get("name"), str) and raw["name"].strip():
            label = f"rule {show(raw['name'])}"
            if raw["name"] in names:
                rule_problems.append(f"duplicate rule name {show(raw['name'])}")
            names.add(raw["name"])
        problems += [f"{label}: {problem}" for problem in rule_problems]
        if rule is not None:
            rules.append(rule)
    if problems:
        raise PolicyError(problems)
    return Policy(rules=tuple(rules))


def _check_settings(settings: dict[str, Any]) -> list[str]:
    problems = []
    if "reason_code" in settings:
        code = settings["reason_code"]
        if not isinstance(code, str) or not REASON_CODE.fullmatch(code):
            problems.append(f"reason_code {show(code)} must be 1 to 128 of A-Z, 0-9 and _")
    for flag in ("force", "dry_run"):
        if flag in settings and not isinstance(settings[flag], bool):
            problems.append(f"{flag} must be true or false")
    if "max_jobs" in settings:
        cap = settings["max_jobs"]
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
            problems.append(f"max_jobs {show(cap)} must be a whole number of at least 1")
    return problems


def _glob(value: Any, what: str, problems: list[str]) -> str | None:
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{what} must be a non-empty glob")
        return None
    return value


def _match(raw: Any, problems: list[str]) -> Match:
    if raw is None:
        return Match()
    if not isinstance(raw, dict):
        problems.append("match must be a mapping")
        return Match()
    for key in sorted(set(raw) - MATCH_KEYS, key=str):
        problems.append(f"match: unknown key {show(key)}")
    globs = {
        key: _glob(raw[key], f"match.{key}", problems)
        for key in ("alarm_name", "source", "security_profile")
        if key in raw
    }
    if "signal" in raw and raw["signal"] not in SIGNALS:
        problems.append(f"match.signal {show(raw['signal'])} must be one of: {', '.join(SIGNALS)}")
    elif "signal" in raw:
        globs["signal"] = raw["signal"]
    severity = None
    if "severity" in raw:
        given = raw["severity"]
        given = [given] if isinstance(given, str) else given
        if not isinstance(given, list) or not given or not all(isinstance(s, str) and s.strip() for s in given):
            problems.append("match.severity must be a non-empty list of severities")
        else:
            severity = tuple(s.lower() for s in given)
    return Match(severity=severity, **globs)


def _jobs(raw: Any, problems: list[str]) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw:
        problems.append("jobs must be a non-empty list of globs")
        return None
    for glob in raw:
        if not isinstance(glob, str) or not glob.strip():
            problems.append("jobs: empty glob")
        elif not JOB_GLOB.fullmatch(glob):
            problems.append(f"jobs: glob {show(glob)} may hold only letters, digits, '_', '-', '*' and '?' (64 at most)")
    return tuple(raw)


def _comment(raw: Any, problems: list[str]) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw.strip():
        problems.append("comment must be a non-empty template")
        return None
    try:
        parts = [(field, spec or conversion) for _, field, spec, conversion in string.Formatter().parse(raw)]
    except ValueError as error:
        problems.append(f"comment template is malformed: {error}")
        return None
    placeholders = [(field, extra) for field, extra in parts if field is not None]
    if any(field not in COMMENT_FIELDS or extra for field, extra in placeholders):
        allowed = " ".join(f"{{{name}}}" for name in sorted(COMMENT_FIELDS))
        problems.append(f"comment may use only the plain placeholders {allowed}")
    return raw


def _duration(value: Any, what: str, problems: list[str], bounds: tuple[int, int] = (1, 7 * 86400)) -> int | None:
    """Seconds, given as a whole number of seconds or as text like "90s", "5m", "1h"."""
    seconds = None
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str) and (found := DURATION.fullmatch(value.strip())):
        seconds = int(found.group(1)) * DURATION_UNITS[found.group(2)]
    if seconds is None or not bounds[0] <= seconds <= bounds[1]:
        problems.append(f"{what} {show(value)} must be a duration from {bounds[0]} to {bounds[1]} seconds "
                        "(a number of seconds, or like 90s, 5m, 1h)")
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


def _fleet_threshold(raw: dict[str, Any], match: Match, problems: list[str]) -> Casualties | None:
    """A fleet-signal rule's threshold; the keys that belong to one only where the rule is one."""
    is_fleet, casualties = match.signal is not None, None
    if "casualties" in raw and not is_fleet:
        problems.append("casualties needs match.signal: casualties")
    elif is_fleet and "casualties" not in raw:
        problems.append("match.signal: casualties needs a casualties threshold")
    elif is_fleet:
        casualties = _casualties(raw["casualties"], raw.get("dark_after"), problems)
    if "dark_after" in raw and not is_fleet:
        problems.append("dark_after applies only to a rule with match.signal: casualties")
    if is_fleet and any(value is not None for key, value in vars(match).items() if key != "signal"):
        problems.append("match.signal cannot be combined with other match keys")
    return casualties


def _action(raw: dict[str, Any], match: Match, problems: list[str]) -> tuple[str, Throttle | None]:
    """`cancel` (the default) or `throttle` with its settings."""
    action = raw.get("action", CANCEL)
    if action not in (CANCEL, THROTTLE):
        problems.append(f"action {show(action)} must be cancel or throttle")
        return CANCEL, None
    if action == CANCEL:
        if "throttle" in raw:
            problems.append("throttle needs action: throttle")
        return CANCEL, None
    if match.signal is not None:
        problems.append("action: throttle needs an alert to restore on; the fleet signal cancels")
    if not isinstance(raw.get("throttle"), dict):
        problems.append("action: throttle needs a throttle mapping with max_per_minute")
        return THROTTLE, None
    return THROTTLE, _throttle(raw["throttle"], problems)


def throttle_settings(raw: Any) -> tuple[Throttle | None, list[str]]:
    """A throttle's settings as a policy gives them (an operator's request is read the same way)."""
    problems: list[str] = []
    if not isinstance(raw, dict):
        return None, ["throttle must be a mapping with max_per_minute"]
    return _throttle(raw, problems), problems


def _throttle(raw: dict[str, Any], problems: list[str]) -> Throttle | None:
    problems += [f"throttle: unknown key {show(key)}" for key in sorted(set(raw) - THROTTLE_KEYS, key=str)]
    rate = raw.get("max_per_minute")
    if isinstance(rate, bool) or not isinstance(rate, int) or not RATE_RANGE[0] <= rate <= RATE_RANGE[1]:
        problems.append(f"throttle.max_per_minute {show(rate)} must be a whole number from 1 to 1000")
        rate = None
    abort = _abort(raw["abort"], problems) if "abort" in raw else None
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


def _abort(raw: Any, problems: list[str]) -> Abort | None:
    if not isinstance(raw, dict):
        problems.append("throttle.abort must be a mapping of failure_type, percent and min_executed")
        return None
    before = len(problems)
    problems += [f"throttle.abort: unknown key {show(key)}" for key in sorted(set(raw) - ABORT_KEYS, key=str)]
    kind = raw.get("failure_type")
    if kind not in FAILURE_TYPES:
        problems.append(f"throttle.abort.failure_type {show(kind)} must be one of {', '.join(FAILURE_TYPES)}")
    percent = raw.get("percent")
    if (isinstance(percent, bool) or not isinstance(percent, int | float) or not 0 < percent <= 100
            or round(percent, 2) != percent):
        problems.append(f"throttle.abort.percent {show(percent)} must be above 0 and at most 100, with at most "
                        "two decimals")
    executed = _count(raw.get("min_executed"), "throttle.abort.min_executed", problems)
    if len(problems) > before or executed is None:
        return None
    return Abort(str(kind), float(cast(float, percent)), executed)


def _rule(raw: Any, defaults: dict[str, Any]) -> tuple[Rule | None, list[str]]:
    if not isinstance(raw, dict):
        return None, ["must be a mapping"]
    problems = [f"unknown key {show(key)}" for key in sorted(set(raw) - RULE_KEYS, key=str)]
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append("name must be a non-empty string")
        name = ""
    settings = {key: raw[key] for key in DEFAULT_KEYS if key in raw}
    problems += _check_settings(settings)
    match = _match(raw.get("match"), problems)
    jobs = _jobs(raw.get("jobs"), problems)
    thing_group = raw.get("thing_group")
    if thing_group is not None and (not isinstance(thing_group, str) or not THING_GROUP.fullmatch(thing_group)):
        problems.append(f"thing_group {show(thing_group)} is not a thing group name")
    comment = _comment(raw.get("comment"), problems)
    casualties = _fleet_threshold(raw, match, problems)
    action, throttle = _action(raw, match, problems)
    if problems:
        return None, problems
    merged = {**defaults, **settings}
    return (
        Rule(
            name=name,
            match=match,
            jobs=jobs,
            thing_group=thing_group,
            reason_code=merged["reason_code"],
            force=merged["force"],
            max_jobs=merged["max_jobs"],
            dry_run=merged["dry_run"],
            comment=comment,
            casualties=casualties,
            action=action,
            throttle=throttle,
        ),
        [],
    )
