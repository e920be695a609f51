"""The decision: which jobs an alert halts, with what reason, comment and force.

Pure functions of the alert, the policy and the jobs' confirmed states: no AWS call happens here.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from .alerts import ALARM, CUSTOM, DEFENDER, Alert
from .policy import Policy, Rule

CANCELED = "canceled"
WOULD_CANCEL = "would_cancel"
SKIPPED = "skipped"
BLOCKED = "blocked"
FAILED = "failed"
ESCALATED = "escalated"
# Internal: chosen, not yet sent. The guard turns CANCEL into CANCELED or FAILED, ESCALATE into ESCALATED, SKIPPED
# (nothing was left in progress) or FAILED.
CANCEL = "cancel"
ESCALATE = "escalate"

JOB_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
INACTIVE_JOB_STATUSES = frozenset({"COMPLETED", "CANCELED", "DELETION_IN_PROGRESS"})
ACTIVE_EXECUTION_STATUSES = frozenset({"QUEUED", "IN_PROGRESS"})
COMMENT_LIMIT = 2028  # characters as the API counts them (UTF-16 code units)


@dataclass(frozen=True)
class JobView:
    """What DescribeJob confirmed about a job."""

    job_id: str
    status: str
    targets: tuple[str, ...] = ()
    force_canceled: bool = False

    @property
    def active(self) -> bool:
        return self.status not in INACTIVE_JOB_STATUSES

    @property
    def cancelled_without_force(self) -> bool:
        """Cancelled, but its IN_PROGRESS executions may still run: a forcing rule can escalate."""
        return self.status == "CANCELED" and not self.force_canceled


@dataclass(frozen=True)
class Decision:
    job_id: Any
    action: str
    reason_code: str
    force: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "jobId": self.job_id,
            "action": self.action,
            "reasonCode": self.reason_code,
            "force": self.force,
            "detail": self.detail,
        }


def inaction_reason(alert: Alert) -> str | None:
    """Why this alert calls for no action at all, or None when it may act."""
    if alert.kind == ALARM:
        if alert.state != "ALARM":
            return f"alarm {alert.alarm_name} moved to {alert.state}, not into ALARM"
        if alert.previous_state == "ALARM":
            return f"alarm {alert.alarm_name} was already in ALARM"
    if alert.kind == DEFENDER and alert.violation_event_type != "in-alarm":
        return f"Defender violation event is {alert.violation_event_type}, not in-alarm"
    return None


def _glob_holds(glob: str | None, value: str | None) -> bool:
    return glob is None or (value is not None and fnmatchcase(value, glob))


def rule_matches(rule: Rule, alert: Alert) -> bool:
    """Every match key the rule gives must hold for the alert; a key of another alert kind never holds."""
    match = rule.match
    if match.alarm_name is not None and (alert.kind != ALARM or not _glob_holds(match.alarm_name, alert.alarm_name)):
        return False
    if match.source is not None and (alert.kind != CUSTOM or not _glob_holds(match.source, alert.source)):
        return False
    if match.severity is not None and (
        alert.kind != CUSTOM or alert.severity is None or alert.severity.lower() not in match.severity
    ):
        return False
    if match.security_profile is not None and (
        alert.kind != DEFENDER or not _glob_holds(match.security_profile, alert.security_profile)
    ):
        return False
    return True


def select_rule(policy: Policy, alert: Alert) -> Rule | None:
    """First match wins."""
    return next((rule for rule in policy.rules if rule_matches(rule, alert)), None)


def allowed_by_rule(rule: Rule, job_id: str) -> bool:
    return rule.jobs is None or any(fnmatchcase(job_id, glob) for glob in rule.jobs)


def screen_named(rule: Rule, job_ids: tuple[Any, ...]) -> tuple[list[str], list[Decision]]:
    """Split the jobs an alert names into ids to look up and decisions to skip (bad pattern, not allowed)."""
    keep: list[str] = []
    skipped: list[Decision] = []
    for job_id in job_ids:
        if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
            detail = "job id breaks the API pattern [a-zA-Z0-9_-]{1,64}; not sent"
            skipped.append(_decision(rule, job_id, SKIPPED, detail))
        elif not allowed_by_rule(rule, job_id):
            skipped.append(_decision(rule, job_id, SKIPPED, f"not allowed by the jobs of rule {rule.name}"))
        else:
            keep.append(job_id)
    return keep, skipped


def select_from_active(rule: Rule, active_job_ids: list[str]) -> list[str]:
    """When the alert names no job, the rule's globs choose among the active jobs; no globs choose nothing."""
    if rule.jobs is None:
        return []
    return [job_id for job_id in active_job_ids if JOB_ID.fullmatch(job_id) and allowed_by_rule(rule, job_id)]


def targets_group(job: JobView, group: str) -> bool:
    return any(target.endswith(f":thinggroup/{group}") for target in job.targets)


def plan(
    rule: Rule, candidates: list[str], confirmed: dict[str, JobView | str], dry_run: bool
) -> list[Decision]:
    """Decide each candidate from its confirmed state (a `JobView`, or the error text when it could not be read)."""
    decided: list[Decision] = []
    active: list[str] = []  # jobs to act on: cancel, or escalate (they count against the cap alike)
    escalations: set[str] = set()
    for job_id in candidates:
        job = confirmed[job_id]
        if isinstance(job, str):
            decided.append(_decision(rule, job_id, FAILED, f"could not read the job's status: {job}"))
            continue
        in_scope = not rule.thing_group or targets_group(job, rule.thing_group)
        if rule.force and job.cancelled_without_force and in_scope:
            active.append(job_id)
            escalations.add(job_id)
        elif not job.active:
            decided.append(_decision(rule, job_id, SKIPPED, f"job is {job.status}; nothing to cancel"))
        elif not in_scope:
            decided.append(_decision(rule, job_id, SKIPPED, f"job does not target thing group {rule.thing_group}"))
        else:
            active.append(job_id)
    if len(active) > rule.max_jobs:
        detail = f"{len(active)} active jobs exceed max_jobs {rule.max_jobs} of rule {rule.name}; nothing cancelled"
        return decided + [_decision(rule, job_id, BLOCKED, detail) for job_id in active]
    for job_id in active:
        if job_id in escalations:
            if dry_run:
                detail = f"dry run: rule {rule.name} would force-cancel the IN_PROGRESS executions of this job"
                decided.append(_decision(rule, job_id, WOULD_CANCEL, detail))
            else:
                detail = f"job was cancelled without force; rule {rule.name} forces its IN_PROGRESS executions"
                decided.append(_decision(rule, job_id, ESCALATE, detail))
        elif dry_run:
            decided.append(_decision(rule, job_id, WOULD_CANCEL, f"dry run: rule {rule.name} would cancel"))
        else:
            decided.append(_decision(rule, job_id, CANCEL, f"rule {rule.name} cancels"))
    return decided


def _decision(rule: Rule, job_id: Any, action: str, detail: str) -> Decision:
    return Decision(job_id=job_id, action=action, reason_code=rule.reason_code, force=rule.force, detail=detail)


def render_comment(rule: Rule, alert: Alert) -> str:
    """The CancelJob comment: the rule's template or a default naming the rule and the alert, made safe for the API."""
    if rule.comment is None:
        text = f"rollout-guard rule {rule.name}: {alert.subject}"
        if alert.reason:
            text += f": {alert.reason}"
    else:
        text = rule.comment.format(
            rule=rule.name,
            alarm_name=alert.alarm_name or "",
            state=alert.state or "",
            reason=alert.reason,
            source=alert.source or "",
            thing_name=alert.thing_name or "",
        )
    return safe_comment(text) or safe_comment(f"rollout-guard rule {rule.name}")


def is_control(char: str) -> bool:
    """What the API's comment pattern `[^\\p{C}]+` refuses: control, format, surrogate, private and unassigned."""
    return unicodedata.category(char).startswith("C")


def comment_length(text: str) -> int:
    """Length as the API counts it, in UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def safe_comment(text: str) -> str:
    """Control characters become spaces; the result fits the API's 2028 characters."""
    cleaned = "".join(" " if is_control(char) else char for char in text)
    if comment_length(cleaned) <= COMMENT_LIMIT:
        return cleaned.strip()
    units = 0
    for index, char in enumerate(cleaned):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > COMMENT_LIMIT:
            return cleaned[:index].strip()
    return cleaned.strip()
