"""Stopping a rule's Greengrass v2 deployments: which deployments an alert selects (the rule's `deployments` globs
over their names, its `thing_group` over their target), each confirmed with GetDeployment and cancelled under its
own claim through CancelDeployment.

The guard confirms a rule's deployments before its jobs (`confirm`), so that a deployment's IoT job that the rule's
jobs globs also matched is cancelled once, through the deployment, and so that one blast-radius cap counts jobs and
deployments together; it carries them out (`carry_out`) only once the jobs' cap held.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from fnmatch import fnmatchcase
from typing import Any

from rollout_guard.halts.alert_kinds import Alert, FleetAlert, request_of
from rollout_guard.halts.claims import ClaimLevel, Claims, skipped_detail
from rollout_guard.halts.decisions import CANCELED, FAILED, SKIPPED, TO_CANCEL, WOULD_CANCEL, Decision, DeploymentRef
from rollout_guard.halts.deployments import (
    NOT_UNDONE,
    DeploymentsError,
    DeploymentsPort,
    DeploymentStatus,
    DeploymentView,
)
from rollout_guard.halts.jobs import JobsError, JobsPort
from rollout_guard.policy import Rule
from rollout_guard.telemetry import log

NO_SUCH_DEPLOYMENT = "no such deployment"
CONFLICT = "ConflictException"


def allowed(rule: Rule, name: str) -> bool:
    return rule.deployments is not None and any(fnmatchcase(name, glob) for glob in rule.deployments)


def selected(rule: Rule, alert: Alert, deployments: DeploymentsPort) -> list[str]:
    """The ids of the deployments the rule may stop for this alert: those the fleet signal names, or the ACTIVE
    deployments whose names the rule's globs (and an operator's glob) match."""
    if rule.deployments is None:
        return []
    if isinstance(alert, FleetAlert) and alert.deployment_ids:
        return list(alert.deployment_ids)
    request = request_of(alert)
    wanted = request.deployments if request is not None else None
    if request is not None and wanted is None:
        return []  # an operator's halt of jobs only
    return [view.deployment_id for view in deployments.active()
            if allowed(rule, view.name) and (wanted is None or fnmatchcase(view.name, wanted))]


def said(found: list[Decision]) -> list[Decision]:
    """Every deployment's decision ends saying what a cancel does not undo (`NOT_UNDONE`), whatever was decided."""
    return [decision if decision.deployment is None else replace(decision, detail=f"{decision.detail}; {NOT_UNDONE}")
            for decision in found]


def unlisted(rule: Rule, error: JobsError) -> Decision:
    """The rule's deployments could not be listed: a failed decision (the alert is retried), the jobs halted
    without waiting on Greengrass."""
    globs = ", ".join(rule.deployments or ())
    return _decision(rule, DeploymentRef("", globs), None, FAILED,
                     f"could not list the deployments ({globs}): {error}; a retry of the alert tries again")


def confirm(rule: Rule, deployment_id: str, deployments: DeploymentsPort, dry_run: bool) -> Decision:
    """One candidate from GetDeployment: to cancel, would cancel, or skipped with why."""
    try:
        view = deployments.describe(deployment_id)
    except JobsError as error:
        if error.not_found:
            return _decision(rule, DeploymentRef(deployment_id), None, SKIPPED, NO_SUCH_DEPLOYMENT)
        return _decision(rule, DeploymentRef(deployment_id), None, FAILED, f"could not read the deployment: {error}")
    ref = DeploymentRef(view.deployment_id, view.name, view.target_arn)
    why_not = _why_not(rule, view)
    if why_not:
        return _decision(rule, ref, view.iot_job_id, SKIPPED, why_not)
    if dry_run:
        return _decision(rule, ref, view.iot_job_id, WOULD_CANCEL, f"dry run: rule {rule.name} would cancel the "
                                                                   "deployment")
    return _decision(rule, ref, view.iot_job_id, TO_CANCEL, f"rule {rule.name} cancels the deployment")


def _why_not(rule: Rule, view: DeploymentView) -> str | None:
    if not allowed(rule, view.name):
        return f"not allowed by the deployments of rule {rule.name}"
    if not view.latest:
        return "a newer revision replaced this deployment on its target; nothing to cancel"
    if view.status != DeploymentStatus.ACTIVE:
        return f"deployment is {view.status}; nothing to cancel"
    if rule.thing_group and not view.targets_group(rule.thing_group):
        return f"deployment does not target thing group {rule.thing_group}"
    return None


def carry_out(decision: Decision, deployments: DeploymentsPort, jobs: JobsPort, claims: Claims,
              out_of_time: Callable[[], bool]) -> Decision:
    """CancelDeployment under the deployment's claim; the decision says how many devices had already succeeded."""
    if decision.action != TO_CANCEL or decision.deployment is None:
        return decision
    deployment_id = decision.deployment.deployment_id
    if out_of_time():
        return replace(decision, action=FAILED, detail="cancel not attempted: the invocation ran out of time; a "
                                                       "retry of the alert finishes the job")
    try:
        claimed = claims.once(deployment_id, ClaimLevel.CANCEL_DEPLOYMENT, lambda: deployments.cancel(deployment_id))
    except DeploymentsError as error:
        if error.code == CONFLICT:  # finished or cancelled between GetDeployment and the cancel
            return replace(decision, action=SKIPPED, detail=f"deployment finished before the cancel: {error.message}")
        return replace(decision, action=FAILED, detail=f"cancel failed: {error}")
    if not claimed.acted:
        return replace(decision, action=SKIPPED, detail=skipped_detail(claimed, ClaimLevel.CANCEL_DEPLOYMENT))
    detail = f"{decision.detail}; CancelDeployment accepted{_succeeded(decision.job_id, jobs)}"
    return replace(decision, action=CANCELED, detail=detail)


def _succeeded(job_id: Any, jobs: JobsPort) -> str:
    """How many devices had already succeeded when the cancel landed (the deployment's IoT job says)."""
    if not isinstance(job_id, str):
        return ""
    try:
        return f"; {jobs.describe(job_id).succeeded} device(s) had already succeeded"
    except JobsError as error:  # the count is a courtesy: the cancel stands, and the missing count is logged
        log("warning", "Devices succeeded not read after a deployment's cancel", job_id=job_id, error=str(error))
        return ""


def _decision(rule: Rule, ref: DeploymentRef, job_id: str | None, action: Any, detail: str) -> Decision:
    # CancelDeployment takes no reason code, comment or force: the decision keeps the rule's for the announcement.
    return Decision(job_id=job_id, action=action, reason_code=rule.reason_code, force=False, detail=detail,
                    deployment=ref)
