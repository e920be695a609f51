"""The guard's own events, read as alerts: an operator's request (halt, throttle, resume), a throttle's timer,
and IoT's CreateJob from CloudTrail for the pre-start gate. As strict as the alerts AWS delivers: anything else
raises `UnrecognisedAlert` with a one-line reason."""

from __future__ import annotations

from typing import Any

from rollout_guard.documents import show
from rollout_guard.halts.alert_kinds import (
    OPERATOR_SOURCE,
    REQUEST_GLOB,
    CustomAlert,
    EscalationDue,
    HaltRequest,
    JobCreated,
    Requested,
    RevertRequested,
    UnrecognisedAlert,
    Via,
)
from rollout_guard.halts.json_fields import obj_or_empty, required, text
from rollout_guard.iot_limits import DEPLOYMENT_NAME_MAX, JOB_ID, REASON_CODE
from rollout_guard.policy import Throttle, throttle_settings


def operator_request(detail: dict[str, Any], event_id: str | None, time: str | None,
                     action: Requested = Requested.HALT) -> CustomAlert:
    """An operator's request: a glob over job ids (and, for a halt, or instead, one over Greengrass deployment
    names), within the matching rule's guardrails."""
    deployments = _deployments_glob(detail, action)
    glob = required(detail.get("jobs"), "detail.jobs") if deployments is None else text(detail.get("jobs"),
                                                                                         "detail.jobs")
    if glob is not None and not REQUEST_GLOB.fullmatch(glob):
        raise UnrecognisedAlert(f"detail.jobs {show(glob)} must be a glob of letters, digits, _ - * ? (64 at most)")
    flags = {}
    for key in ("force", "dryRun"):
        value = detail.get(key)
        if value is not None and not isinstance(value, bool):
            raise UnrecognisedAlert(f"detail.{key} must be true or false")
        flags[key] = value
    reason_code = text(detail.get("reasonCode"), "detail.reasonCode")
    if reason_code is not None and not REASON_CODE.fullmatch(reason_code):
        raise UnrecognisedAlert(f"detail.reasonCode {show(reason_code)} must be 1 to 128 of A-Z, 0-9 and _")
    request = HaltRequest(jobs=glob, reason_code=reason_code,
                          comment=text(detail.get("comment"), "detail.comment"), force=flags["force"],
                          dry_run=bool(flags["dryRun"]), requested_by=text(detail.get("requestedBy"), "requestedBy"),
                          action=action, throttle=_requested_throttle(detail, action), deployments=deployments)
    what = "halt" if action is Requested.HALT else action
    named = " and ".join(([glob] if glob else []) + ([f"deployments {deployments}"] if deployments else []))
    reason = f"operator {what} of {named}" + (f" by {request.requested_by}" if request.requested_by else "")
    return CustomAlert(via=Via.EVENTBRIDGE, correlation_id=event_id, source=OPERATOR_SOURCE, reason=reason,
                       timestamp=time, request=request)


def _deployments_glob(detail: dict[str, Any], action: Requested) -> str | None:
    """A halt's glob over deployment names (`detail.deployments`), checked as a policy's are."""
    glob = text(detail.get("deployments"), "detail.deployments")
    if glob is None:
        return None
    if action is not Requested.HALT:
        raise UnrecognisedAlert(f"detail.deployments: a {action} names jobs only (deployments are halted)")
    if len(glob) > DEPLOYMENT_NAME_MAX or not glob.isprintable():
        raise UnrecognisedAlert(f"detail.deployments {show(glob)} must be 1 to {DEPLOYMENT_NAME_MAX} printable "
                                "characters")
    return glob


def _requested_throttle(detail: dict[str, Any], action: Requested) -> Throttle | None:
    """An operator's throttle settings (`maxPerMinute`, `abort`: `failureType`, `percent`, `minExecuted`), checked
    as a policy's are."""
    if action is not Requested.THROTTLE:
        return None
    abort = obj_or_empty(detail.get("abort"), "detail.abort")
    raw: dict[str, Any] = {"max_per_minute": detail.get("maxPerMinute")}
    if abort:
        raw["abort"] = {"failure_type": abort.get("failureType"), "percent": abort.get("percent"),
                        "min_executed": abort.get("minExecuted")}
    throttle, problems = throttle_settings(raw)
    if problems:  # a setting left out (None) is always named among them
        raise UnrecognisedAlert(f"throttle request: {problems[0]}")
    return throttle


def revert_requested(detail: dict[str, Any], event_id: str | None, time: str | None) -> RevertRequested:
    """An operator's look at a job's prepared revert (`approve`: create it): one job id, exactly."""
    job_id = required(detail.get("jobId"), "detail.jobId")
    if not JOB_ID.fullmatch(job_id):
        raise UnrecognisedAlert(f"detail.jobId {show(job_id)} must be 1 to 64 of letters, digits, _ and -")
    approve = detail.get("approve", False)
    if not isinstance(approve, bool):
        raise UnrecognisedAlert("detail.approve must be true or false")
    return RevertRequested(job_ids=(job_id,), approve=approve, requested_by=text(detail.get("requestedBy"),
                                                                                 "requestedBy"),
                           correlation_id=event_id, timestamp=time)


def job_created(detail: dict[str, Any], event_id: str | None) -> JobCreated:
    """IoT's CreateJob as CloudTrail records it: the job id from the request (or the answer)."""
    name = detail.get("eventName")
    if name != "CreateJob":
        raise UnrecognisedAlert(f"CloudTrail event {show(name)} of aws.iot is not CreateJob")
    if detail.get("errorCode") is not None:
        raise UnrecognisedAlert(f"CreateJob failed ({show(detail.get('errorCode'))}): no job was created")
    request = obj_or_empty(detail.get("requestParameters"), "detail.requestParameters")
    answer = obj_or_empty(detail.get("responseElements"), "detail.responseElements")
    job_id = request.get("jobId", answer.get("jobId"))
    return JobCreated(correlation_id=event_id, job_ids=(required(job_id, "jobId"),),
                      timestamp=text(detail.get("eventTime"), "detail.eventTime"))


def escalation_due(detail: dict[str, Any], event_id: str | None) -> EscalationDue:
    """A throttle's timer: the job, the alarm that throttled it, the rule, since when and when it fell due."""
    job_id = required(detail.get("jobId"), "detail.jobId")
    return EscalationDue(correlation_id=event_id, alarm_name=required(detail.get("alarmName"), "detail.alarmName"),
                         rule=required(detail.get("rule"), "detail.rule"), job_ids=(job_id,),
                         timestamp=text(detail.get("throttledAt"), "detail.throttledAt"),
                         due_at=text(detail.get("dueAt"), "detail.dueAt"))
