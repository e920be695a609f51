"""The decision: which jobs an alert halts, with what reason, comment and force, under the blast-radius cap. Pure
functions of the alert, the policy and the jobs' confirmed states: no AWS call happens here."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any

from rollout_guard.documents import show
from rollout_guard.halts.alert_kinds import (
    AlarmAlert,
    Alert,
    CustomAlert,
    DefenderAlert,
    HaltRequest,
    Kind,
    Requested,
    Via,
)
from rollout_guard.halts.jobs import JobsError, JobStatus, JobView, safe_comment
from rollout_guard.iot_limits import JOB_ID
from rollout_guard.policy import THROTTLE, Policy, Rule


class Act(StrEnum):
    """A decision's `action`, as a result shows it."""

    CANCELED = "canceled"
    WOULD_CANCEL = "would_cancel"
    SKIPPED = "skipped"
    BLOCKED = "blocked"
    FAILED = "failed"
    ESCALATED = "escalated"
    THROTTLED = "throttled"
    WOULD_THROTTLE = "would_throttle"
    RESTORED = "restored"
    WOULD_RESTORE = "would_restore"
    # After a rollout (`halts.reverts`): a COMPLETED job whose things fell within watch_after, and its revert.
    REGRESSED = "regressed"
    REVERT_READY = "revert_ready"
    REVERTED = "reverted"
    WOULD_REVERT = "would_revert"
    REVERT_FAILED = "revert_failed"  # reported (metric, alarm), not retried: the halt it follows is done
    # Chosen, not yet carried out (`cancelling` turns them into what was done); a result never shows them.
    TO_CANCEL = "cancel"
    TO_ESCALATE = "escalate"


CANCELED, WOULD_CANCEL, SKIPPED, BLOCKED, FAILED = Act.CANCELED, Act.WOULD_CANCEL, Act.SKIPPED, Act.BLOCKED, Act.FAILED
ESCALATED, THROTTLED, WOULD_THROTTLE = Act.ESCALATED, Act.THROTTLED, Act.WOULD_THROTTLE
RESTORED, WOULD_RESTORE, TO_CANCEL, TO_ESCALATE = Act.RESTORED, Act.WOULD_RESTORE, Act.TO_CANCEL, Act.TO_ESCALATE
REGRESSED, REVERT_READY, REVERTED, WOULD_REVERT, REVERT_FAILED = (Act.REGRESSED, Act.REVERT_READY, Act.REVERTED,
                                                                  Act.WOULD_REVERT, Act.REVERT_FAILED)
NO_SUCH_JOB = "no such job"
# The actions announced on the bus once carried out (`adapters.halt_events` names their detail types).
ANNOUNCED = (CANCELED, THROTTLED, RESTORED, REGRESSED, REVERT_READY, REVERTED)
# What counts against a rule's max_jobs: every job the rule would act on, dry run or not.
ACTING = frozenset({TO_CANCEL, TO_ESCALATE, WOULD_CANCEL})

# The alert kind each match key belongs to: a key of another kind never holds.
MATCH_KINDS = {"alarm_name": Kind.ALARM, "source": Kind.CUSTOM, "severity": Kind.CUSTOM,
               "security_profile": Kind.DEFENDER, "signal": Kind.FLEET}
# A rule that gives no match key matches every alert, not the fleet signal (which a rule asks for by name).
ALERT_KINDS = frozenset(MATCH_KINDS.values()) - {Kind.FLEET}


@dataclass(frozen=True)
class DeploymentRef:
    """The Greengrass v2 deployment a decision is about (its IoT job, when known, is the decision's `job_id`)."""

    deployment_id: str
    name: str | None = None
    target_arn: str | None = None


@dataclass(frozen=True)
class Decision:
    job_id: Any
    action: Act
    reason_code: str
    force: bool
    detail: str
    # An event to announce though the job was not acted on (`observability.NOTICES`): a restore skipped because
    # someone changed the job, a throttle held too long. Not part of the JSON result.
    notice: str | None = None
    deployment: DeploymentRef | None = None  # a Greengrass deployment's decision, keyed by its id
    revert_job_id: str | None = None  # a revert's decision: the revert job (the decision's job is the bad one)

    @property
    def announced(self) -> bool:
        """Announced on the bus: carried out (`ANNOUNCED`), or a notice of a job not acted on."""
        return self.action in ANNOUNCED or self.notice is not None

    def to_dict(self) -> dict[str, Any]:
        shown: dict[str, Any] = {  # an id as given, kept short
            "jobId": self.job_id if isinstance(self.job_id, str) else show(self.job_id), "action": self.action,
            "reasonCode": self.reason_code, "force": self.force, "detail": self.detail}
        if self.revert_job_id is not None:
            shown["revertJobId"] = self.revert_job_id
        if self.deployment is not None:  # the deployment's IoT job, when known, stays its `jobId`
            shown.update(jobId=self.job_id, deploymentId=self.deployment.deployment_id,
                         deploymentName=self.deployment.name, targetArn=self.deployment.target_arn)
        return shown


def inaction_reason(alert: Alert) -> str | None:
    """Why this alert calls for no action at all, or None when it may act.

    The guard acts exactly when CloudWatch runs the alarm's ALARM actions. An SNS notification and a Lambda alarm
    action are such actions themselves: a new state of ALARM means act, whatever the previous state (when a
    composite alarm's suppression ends with the alarm still in ALARM, CloudWatch runs the actions and they show
    ALARM as the previous state). An EventBridge state change is not an action: it means act when the new state is
    ALARM with its actions not suppressed, and the alarm was not in ALARM before or its actions were suppressed
    then (the suppression has ended)."""
    if isinstance(alert, AlarmAlert):
        if alert.state != "ALARM":
            return f"alarm {alert.alarm_name} moved to {alert.state}, not into ALARM"
        if alert.via != Via.EVENTBRIDGE:
            return None
        if alert.actions_suppressed_by:
            return f"alarm {alert.alarm_name} is in ALARM with its actions suppressed ({alert.actions_suppressed_by})"
        if alert.previous_state == "ALARM" and not alert.previous_actions_suppressed_by:
            return f"alarm {alert.alarm_name} was already in ALARM"
    if isinstance(alert, DefenderAlert) and alert.violation_event_type != "in-alarm":
        return f"Defender violation event is {alert.violation_event_type}, not in-alarm"
    return None


def kinds_matched(rule: Rule) -> frozenset[Kind]:
    """The alert kinds the rule can match at all: those that every match key it gives belongs to."""
    given = {MATCH_KINDS[key] for key, value in vars(rule.match).items() if value is not None}
    return ALERT_KINDS if not given else frozenset(given) if len(given) == 1 else frozenset()


def _glob_holds(glob: str | None, value: str | None) -> bool:
    return glob is None or (value is not None and fnmatchcase(value, glob))


def rule_matches(rule: Rule, alert: Alert) -> bool:
    """Every match key the rule gives must hold for the alert; a key of another alert kind never holds."""
    match = rule.match
    if alert.kind not in kinds_matched(rule):
        return False
    if isinstance(alert, AlarmAlert):
        return _glob_holds(match.alarm_name, alert.alarm_name)
    if isinstance(alert, DefenderAlert):
        return _glob_holds(match.security_profile, alert.security_profile)
    if isinstance(alert, CustomAlert):
        severity = alert.severity
        return ((match.severity is None or (severity is not None and severity.lower() in match.severity))
                and _glob_holds(match.source, alert.source))
    return True  # the fleet signal, which a rule asks for by name


def select_rule(policy: Policy, alert: Alert) -> Rule | None:
    """First match wins."""
    return next((rule for rule in policy.rules if rule_matches(rule, alert)), None)


def allowed_by_rule(rule: Rule, job_id: str) -> bool:
    """The rule's jobs globs allow the job; a rule without them allows any job, unless it names deployments only."""
    if rule.jobs is None:
        return rule.deployments is None
    return any(fnmatchcase(job_id, glob) for glob in rule.jobs)


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


# What DescribeJob confirmed of a candidate: its view, the error it answered, or why it was not asked.
Confirmed = JobView | JobsError | str


def decide(rule: Rule, job_id: str, job: Confirmed, dry_run: bool, at_ms: float | None = None) -> Decision:
    """One candidate from its confirmed state (`at_ms`: when the alert's crossing happened). A job that does not
    exist is skipped: no retry could ever halt it, so it must neither fail the alert nor reach the dead letters."""
    if isinstance(job, JobsError) and job.not_found:
        return _decision(rule, job_id, SKIPPED, NO_SUCH_JOB)
    if not isinstance(job, JobView):
        return _decision(rule, job_id, FAILED, f"could not read the job's status: {job}")
    in_scope = not rule.thing_group or job.targets_group(rule.thing_group)
    if rule.force and job.cancelled_without_force and in_scope:
        if dry_run:
            detail = f"dry run: rule {rule.name} would force-cancel the IN_PROGRESS executions of this job"
            return _decision(rule, job_id, WOULD_CANCEL, detail)
        detail = f"job was cancelled without force; rule {rule.name} forces its IN_PROGRESS executions"
        return _decision(rule, job_id, TO_ESCALATE, detail)
    if job.status == JobStatus.COMPLETED and rule.casualties and rule.casualties.watch_after_s and in_scope:
        return _regression(rule, job_id, rule.casualties.watch_after_s * 1000, job, at_ms)
    if not job.active:
        return _decision(rule, job_id, SKIPPED, f"job is {job.status}; nothing to cancel")
    if not in_scope:
        return _decision(rule, job_id, SKIPPED, f"job does not target thing group {rule.thing_group}")
    if dry_run:
        return _decision(rule, job_id, WOULD_CANCEL, f"dry run: rule {rule.name} would cancel")
    return _decision(rule, job_id, TO_CANCEL, f"rule {rule.name} cancels")


def _regression(rule: Rule, job_id: str, watch_ms: int, job: JobView, at_ms: float | None) -> Decision:
    """A COMPLETED job a watching rule's threshold crossed: regressed while its watch lasts from its completion;
    past it (a crossing by failures reported long after), nothing."""
    if job.completed_ms is not None and at_ms is not None and at_ms > job.completed_ms + watch_ms:
        return _decision(rule, job_id, SKIPPED, "job COMPLETED more than watch_after before this crossing; not "
                                                "watched, nothing to cancel")
    return _decision(rule, job_id, REGRESSED, f"job is COMPLETED: its things fell within watch_after of their "
                                              f"success under rule {rule.name}; nothing to cancel")


class BlastRadius:
    """The blast-radius cap, the one place it is checked: a rule acts on at most `max_jobs` jobs per alert. Fed each
    candidate's decision as its state is confirmed, it tells when acting is safe (even if every candidate still
    unconfirmed turned out active, the cap would hold) and when it is exceeded (nothing may be acted on)."""

    def __init__(self, rule: Rule, candidates: int, already: int = 0):
        self.rule = rule
        self.unconfirmed = candidates
        self.acting = already  # acted on by the same alert before these (its rule's Greengrass deployments)
        self.counted = "active jobs and deployments" if already else "active jobs"

    def confirmed(self, decision: Decision) -> None:
        self.unconfirmed -= 1
        self.acting += decision.action in ACTING

    @property
    def safe(self) -> bool:
        return self.acting + self.unconfirmed <= self.rule.max_jobs

    @property
    def exceeded(self) -> bool:
        return self.acting > self.rule.max_jobs

    def block(self, job_id: str, decision: Decision | None) -> Decision:
        """What becomes of a candidate once the cap is exceeded: an acting decision is blocked, and so is a job
        left unconfirmed (describing stopped); a job not acted on keeps its decision."""
        if decision is not None and decision.action not in ACTING:
            return decision
        rule = self.rule
        detail = f"{self.acting} {self.counted} exceed max_jobs {rule.max_jobs} of rule {rule.name}; nothing cancelled"
        if decision is None:
            detail += "; not confirmed: describing stopped at the cap"
        return _decision(rule, job_id, BLOCKED, detail)


def as_requested(rule: Rule, request: HaltRequest) -> Rule:
    """The rule an operator's halt acts under: its jobs globs, cap and dry run stay (the guardrails); the reason
    code (checked when the request was read), force and comment are the operator's where given."""
    reason = request.reason_code
    comment = rule.comment
    if request.comment is not None:
        comment = request.comment.replace("{", "{{").replace("}", "}}")  # the operator's text, not a template
    asked = replace(rule, reason_code=reason or rule.reason_code,
                    force=rule.force if request.force is None else request.force, comment=comment)
    # A throttle or a resume acts as a throttle rule with the operator's settings (a resume needs none).
    return asked if request.action is Requested.HALT else replace(asked, action=THROTTLE, throttle=request.throttle)


def _decision(rule: Rule, job_id: Any, action: Act, detail: str) -> Decision:
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
            alarm_name=alert.alarm_name if isinstance(alert, AlarmAlert) else "",
            state=alert.state if isinstance(alert, AlarmAlert) else "",
            reason=alert.reason,
            source=(alert.source or "") if isinstance(alert, CustomAlert) else "",
            thing_name=alert.thing_name if isinstance(alert, DefenderAlert) else "",
            job_id=alert.job_ids[0] if len(alert.job_ids) == 1 else "",
        )
    if alert.via == Via.GATE and alert.reason not in text:  # whatever the template, the comment says why
        text = f"{alert.reason}; {text}"
    return safe_comment(text) or safe_comment(f"rollout-guard rule {rule.name}")
