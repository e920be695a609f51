"""Reading a policy: one YAML file (JSON is accepted, being YAML), validated strictly: every problem is collected
and named by its rule, so `rollout-guard policy check` and `cdk synth` can list them all at once."""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rollout_guard.documents import DocumentError, DuplicateKeys, load_json, load_yaml, show, where
from rollout_guard.iot_limits import DEPLOYMENT_NAME_MAX, JOB_GLOB, REASON_CODE
from rollout_guard.policy.model import CANCEL, THROTTLE, Action, Match, Policy, PolicyError, Rule, Throttle
from rollout_guard.policy.revert_settings import inline_documents, read_revert
from rollout_guard.policy.thresholds import fleet_threshold, read_throttle

# Globs over job ids use only characters that job ids and IAM resource patterns share, so the stacks can turn
# each glob into an exact job ARN pattern.
THING_GROUP = re.compile(r"[a-zA-Z0-9:_-]{1,128}")
COMMENT_FIELDS = frozenset({"rule", "alarm_name", "state", "reason", "source", "thing_name", "job_id"})
DEFAULT_KEYS = {"reason_code", "force", "max_jobs", "dry_run"}
RULE_KEYS = DEFAULT_KEYS | {"name", "match", "jobs", "deployments", "thing_group", "comment", "casualties", "dark_after",
                           "action", "throttle", "watch_after", "revert"}
MATCH_KEYS = {"alarm_name", "source", "severity", "security_profile", "signal"}
SIGNAL = "casualties"  # the fleet's own signal: devices that fail or go dark after the update
BUILTIN_DEFAULTS = {"reason_code": "ROLLOUT_HALTED", "force": False, "max_jobs": 10, "dry_run": False}


def load_file(path: str | Path) -> Policy:
    """Read and validate a policy file."""
    return load(read_document(path))


def read_document(path: str | Path) -> Any:
    """The parsed policy file, not yet validated, with its rules' revert documents read in. JSON files need no YAML
    parser, which keeps the Lambda small."""
    path = Path(path)
    try:
        text = path.read_bytes().decode()  # UTF-8, whatever the machine's locale
    except (OSError, UnicodeDecodeError) as error:
        raise PolicyError([f"cannot read policy file {path}: {error}"]) from error
    try:
        document = load_json(text) if path.suffix == ".json" else load_yaml(text)
    except DuplicateKeys as error:
        raise PolicyError([_duplicate(error.document, where_, key) for where_, key in error.found]) from error
    except DocumentError as error:
        raise PolicyError([f"policy file {path}: {problem}" for problem in error.problems]) from error
    return inline_documents(document, path.parent)


def _duplicate(document: Any, path: tuple[str | int, ...], key: str) -> str:
    """A duplicated key, named by its rule where it is in one ("rule 'crash-rate': match: duplicate key ...")."""
    label, inner = where(path), path
    if path[:1] == ("rules",) and len(path) > 1 and isinstance(path[1], int):
        # a key duplicated in or under rule N: the document is a mapping whose rules are a list, rule N a mapping
        name = document["rules"][path[1]].get("name")
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
    if "signal" in raw and raw["signal"] != SIGNAL:
        problems.append(f"match.signal {show(raw['signal'])} must be {SIGNAL}")
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


def _globs(raw: Any, key: str, problems: list[str], refused: Callable[[str], str | None]) -> tuple[str, ...] | None:
    """A rule's list of globs under `key` (`jobs`, `deployments`): each non-empty, and each past `refused`, which
    names what is wrong with a glob or returns None."""
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw:
        problems.append(f"{key} must be a non-empty list of globs")
        return None
    for glob in raw:
        if not isinstance(glob, str) or not glob.strip():
            problems.append(f"{key}: empty glob")
        elif (problem := refused(glob)) is not None:
            problems.append(f"{key}: glob {show(glob)} {problem}")
    return tuple(raw)


def _job_glob(glob: str) -> str | None:
    """Globs over job ids use only characters that job ids and IAM resource patterns share."""
    return None if JOB_GLOB.fullmatch(glob) else "may hold only letters, digits, '_', '-', '*' and '?' (64 at most)"


def _deployment_glob(glob: str) -> str | None:
    """Deployment names are 1 to 256 characters of any kind (the API); no control character, so that a glob prints
    on one line wherever it is named."""
    fits = len(glob) <= DEPLOYMENT_NAME_MAX and glob.isprintable()
    return None if fits else f"must be 1 to {DEPLOYMENT_NAME_MAX} printable characters"


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


def _action(raw: dict[str, Any], match: Match, problems: list[str]) -> tuple[Action, Throttle | None]:
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
    return THROTTLE, read_throttle(raw["throttle"], problems)


def _rule(raw: Any, defaults: dict[str, Any]) -> tuple[Rule | None, list[str]]:
    if not isinstance(raw, dict):
        return None, ["must be a mapping"]
    problems = [f"unknown key {show(key)}" for key in sorted(set(raw) - RULE_KEYS, key=str)]
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append("name must be a non-empty string")
    settings = {key: raw[key] for key in DEFAULT_KEYS if key in raw}
    problems += _check_settings(settings)
    match = _match(raw.get("match"), problems)
    jobs = _globs(raw.get("jobs"), "jobs", problems, _job_glob)
    deployments = _globs(raw.get("deployments"), "deployments", problems, _deployment_glob)
    thing_group = raw.get("thing_group")
    if thing_group is not None and (not isinstance(thing_group, str) or not THING_GROUP.fullmatch(thing_group)):
        problems.append(f"thing_group {show(thing_group)} is not a thing group name")
    comment = _comment(raw.get("comment"), problems)
    casualties = fleet_threshold(raw, match, problems)
    action, throttle = _action(raw, match, problems)
    revert = read_revert(raw["revert"], action, problems) if "revert" in raw else None
    if problems:
        return None, problems
    merged = {**defaults, **settings}
    return (
        Rule(
            name=raw["name"],  # checked above: a non-empty string
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
            deployments=deployments, revert=revert,
        ),
        [],
    )
