"""A rule's `revert`: the job that takes the things back (a job document or a job template), who approves it, and
its own rollout rate and abort criterion. The document file is read with the policy (`reading.read_document`
inlines it, so the policy the function gets carries it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rollout_guard.documents import show
from rollout_guard.iot_limits import DOCUMENT_MAX, RATE_RANGE, TEMPLATE_ARN
from rollout_guard.policy.model import CANCEL, Action, Approval, PolicyError, Revert
from rollout_guard.policy.thresholds import read_abort

REVERT_KEYS = {"document", "document_file", "template", "approval", "rollout", "abort"}
ROLLOUT_KEYS = {"max_per_minute"}


def inline_documents(document: Any, base: Path) -> Any:
    """Each rule's `revert.document` file (relative to the policy's folder) read into the policy document, its name
    kept as `document_file`. A file that cannot be read, is not a JSON object or is over CreateJob's limit is
    refused, naming the rule."""
    rules = document.get("rules") if isinstance(document, dict) else None
    problems = []
    for index, rule in enumerate(rules if isinstance(rules, list) else []):
        revert = rule.get("revert") if isinstance(rule, dict) else None
        if not isinstance(revert, dict) or not isinstance(revert.get("document"), str):
            continue
        name = rule.get("name") if isinstance(rule.get("name"), str) else f"#{index + 1}"
        try:
            revert["document"], revert["document_file"] = _job_document(base / revert["document"]), revert["document"]
        except ValueError as error:
            problems.append(f"rule {show(name)}: revert.document {show(revert['document'])} {error}")
    if problems:
        raise PolicyError(problems)
    return document


def _job_document(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes().decode()
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot be read: {error.strerror if isinstance(error, OSError) else error}") from error
    if len(text) > DOCUMENT_MAX:
        raise ValueError(f"is {len(text)} characters; a job document holds at most {DOCUMENT_MAX}")
    try:
        parsed = json.loads(text)
    except ValueError as error:
        raise ValueError(f"is not JSON: {error}") from error
    if not isinstance(parsed, dict):
        raise ValueError("must hold a JSON object (a job document)")
    return parsed


def read_revert(raw: Any, action: Action, problems: list[str]) -> Revert | None:
    if not isinstance(raw, dict):
        problems.append("revert must be a mapping with a document or a template")
        return None
    before = len(problems)
    problems += [f"revert: unknown key {show(key)}" for key in sorted(set(raw) - REVERT_KEYS, key=str)]
    if action != CANCEL:
        problems.append("revert needs action: cancel (a throttled job is not halted)")
    document, template = raw.get("document"), raw.get("template")
    if (document is None) == (template is None):
        problems.append("revert needs exactly one of document (a job document file) or template (a job template ARN)")
    if document is not None and not isinstance(document, dict):
        problems.append(f"revert.document {show(document)} must name a JSON job document file")
    if template is not None and (not isinstance(template, str) or not TEMPLATE_ARN.fullmatch(template)):
        problems.append(f"revert.template {show(template)} must be a job template ARN "
                        "(arn:aws:iot:REGION:ACCOUNT:jobtemplate/NAME)")
    approval = raw.get("approval", Approval.REQUIRED)
    if approval not in tuple(Approval):
        problems.append(f"revert.approval {show(approval)} must be required or auto")
    rate = _rate(raw.get("rollout"), problems)
    abort = read_abort(raw["abort"], "revert.abort", problems) if "abort" in raw else None
    if len(problems) > before:
        return None
    return Revert(document=document, document_file=raw.get("document_file"), template_arn=template,
                  approval=Approval(approval), max_per_minute=rate, abort=abort)


def _rate(raw: Any, problems: list[str]) -> int | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.append("revert.rollout must be a mapping with max_per_minute")
        return None
    problems += [f"revert.rollout: unknown key {show(key)}" for key in sorted(set(raw) - ROLLOUT_KEYS, key=str)]
    rate = raw.get("max_per_minute")
    if isinstance(rate, bool) or not isinstance(rate, int) or not RATE_RANGE[0] <= rate <= RATE_RANGE[1]:
        problems.append(f"revert.rollout.max_per_minute {show(rate)} must be a whole number from 1 to 1000")
        return None
    return rate
