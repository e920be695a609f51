"""Alert parsing: every delivery shape the guard accepts becomes one `Alert`.

Shapes (see ../shared/reference.md): EventBridge "CloudWatch Alarm State Change", a CloudWatch alarm notification
inside SNS, the CloudWatch alarm Lambda-action payload, a Device Defender violation inside SNS, and custom alerts
(an EventBridge event of a non-AWS source, or an SNS message whose JSON body names jobs).

Parsing is strict about types because the input is untrusted: anything that is not one of these shapes raises
`UnrecognisedAlert` with a one-line reason, and nothing else escapes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, NamedTuple

from rollout_guard.documents import show
from rollout_guard.iot_limits import JOB_GLOB, REASON_CODE
from rollout_guard.policy import CANCEL, THROTTLE, Throttle, throttle_settings

ALARM = "cloudwatch_alarm"
DEFENDER = "defender_violation"
CUSTOM = "custom"
FLEET = "fleet_signal"  # made by the detector (`detector`) when a job's casualties cross a rule's threshold
JOB_CREATED = "job_created"  # IoT CreateJob through CloudTrail: the pre-start gate (`gate`) looks at it
ESCALATION_DUE = "escalation_due"  # a throttle's timer: restore, cancel, forget or look again (`watchdog`)

# The event a throttle's timer (an EventBridge Scheduler one-time schedule) puts on the guard's bus. Its name is
# from when the timer only escalated; kept, so that the timers of a guard deployed before still arrive.
TIMER_SOURCE = "rollout-guard.timer"
ESCALATION_DUE_TYPE = "Rollout Escalation Due"

# An operator's halt, from `rollout-guard halt` or put on the control bus: a custom alert of this source that names
# a glob over job ids instead of jobs. The policy's rules match it by its source, like any custom alert.
OPERATOR_SOURCE = "rollout-guard.operator"
HALT_REQUESTED = "Rollout Halt Requested"
# An operator's throttle and resume (`rollout-guard throttle`, `rollout-guard resume`): the same source and globs.
THROTTLE_REQUESTED, RESUME_REQUESTED = "Rollout Throttle Requested", "Rollout Resume Requested"
RESUME = "resume"  # an operator's request to put back what the guard throttled (cancel and throttle: policy's)
REQUESTS = {HALT_REQUESTED: CANCEL, THROTTLE_REQUESTED: THROTTLE, RESUME_REQUESTED: RESUME}
REQUEST_GLOB = JOB_GLOB  # an operator names jobs as a policy does

ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"
CLOUDTRAIL_CALL = "AWS API Call via CloudTrail"
GATE = "gate"  # the `via` of an alarm found firing when a job was created
JOB_ID_DIMENSION = "JobId"


class UnrecognisedAlert(ValueError):
    """The input is not one of the alert shapes the guard understands."""


@dataclass(frozen=True)
class HaltRequest:
    """What an operator asked for: the jobs (a glob), and optionally the reason code, comment, force and dry run."""

    jobs: str
    reason_code: str | None = None
    comment: str | None = None
    force: bool | None = None
    dry_run: bool = False
    requested_by: str | None = None
    action: str = CANCEL  # cancel (a halt), throttle or resume
    throttle: Throttle | None = None  # a throttle's settings


@dataclass(frozen=True)
class Alert:
    kind: str
    via: str
    correlation_id: str | None = None
    alarm_name: str | None = None
    state: str | None = None
    previous_state: str | None = None
    reason: str = ""
    source: str | None = None
    severity: str | None = None
    security_profile: str | None = None
    thing_name: str | None = None
    violation_event_type: str | None = None
    # An alarm's actions held back by its actions suppressor, now and in the previous state (EventBridge only).
    actions_suppressed_by: str | None = None
    previous_actions_suppressed_by: str | None = None
    # Job ids exactly as the alert gave them; they may break the API's pattern and are checked later, never repaired.
    job_ids: tuple[Any, ...] = ()
    # When the condition began (the alarm's state timestamp), ISO 8601, if the alert says.
    timestamp: str | None = None
    request: HaltRequest | None = None  # an operator's halt (a custom alert of OPERATOR_SOURCE)
    due_at: str | None = None  # a throttle's timer: when its check fell due, ISO 8601 (older timers carry none)

    @property
    def subject(self) -> str:
        """What raised the alert, for humans: the alarm, the thing or the source."""
        if self.kind == ALARM:
            return f"alarm {self.alarm_name}"
        if self.kind == DEFENDER:
            return f"thing {self.thing_name} ({self.security_profile})"
        if self.kind == ESCALATION_DUE:
            return f"the throttle timer of job {self.job_ids[0]} (alarm {self.alarm_name})"
        if self.kind in (FLEET, JOB_CREATED):
            job = self.job_ids[0] if self.job_ids else "?"
            named = job if isinstance(job, str) else show(job)
            return f"the fleet signal of job {named}" if self.kind == FLEET else f"the creation of job {named}"
        return f"source {self.source}" if self.source else "custom alert"

    def summary(self) -> dict[str, Any]:
        fields = {
            "kind": self.kind,
            "via": self.via,
            "correlationId": self.correlation_id,
            "alarmName": self.alarm_name,
            "state": self.state,
            "previousState": self.previous_state,
            "actionsSuppressedBy": self.actions_suppressed_by,
            "previousActionsSuppressedBy": self.previous_actions_suppressed_by,
            "source": self.source,
            "severity": self.severity,
            "securityProfile": self.security_profile,
            "thingName": self.thing_name,
            "violationEventType": self.violation_event_type,
            "jobIds": [job_id if isinstance(job_id, str) else show(job_id) for job_id in self.job_ids],
            "reason": self.reason,
            "timestamp": self.timestamp,
            "jobsGlob": self.request.jobs if self.request else None,
        }
        return {key: value for key, value in fields.items() if value not in (None, "", [])}


def parse(event: Any) -> Alert:
    """Turn a Lambda event into an `Alert`, or raise `UnrecognisedAlert`."""
    if not isinstance(event, dict):
        raise UnrecognisedAlert(f"expected a JSON object, got {type(event).__name__}")
    if "Records" in event:
        return _parse_sns(event)
    if "alarmData" in event:
        return _parse_alarm_action(event)
    if "detail-type" in event and "source" in event:
        return _parse_eventbridge(event)
    raise UnrecognisedAlert("not an EventBridge event, an SNS event or a CloudWatch alarm action payload")


# --- typed access to untrusted JSON -------------------------------------------------------------------------


def _obj(value: Any, what: str, required: bool = True) -> dict[str, Any]:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise UnrecognisedAlert(f"{what} must be an object")
    return value


def _str(value: Any, what: str) -> str | None:
    """An optional string: absent or empty is None."""
    if value is None or value == "":
        return None
    return _required(value, what)


def _required(value: Any, what: str) -> str:
    if value is None:
        raise UnrecognisedAlert(f"{what} is missing")
    if not isinstance(value, str) or not value:
        raise UnrecognisedAlert(f"{what} must be a non-empty string")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise UnrecognisedAlert(f"{what} must be a list")
    return value


def _unique(values: list[Any]) -> tuple[Any, ...]:
    """The values in order without repeats, in linear time. Values that cannot be hashed (a job id given as a list
    or object: never a valid id) are compared by their JSON text, or kept when even that cannot be made."""
    seen: set[Any] = set()
    unique: list[Any] = []
    for value in values:
        try:
            key = ("value", value) if value.__hash__ is not None else ("json", json.dumps(value, sort_keys=True))
        except (TypeError, ValueError, RecursionError):
            key = ("object", id(value))
        if key not in seen:
            seen.add(key)
            unique.append(value)
    return tuple(unique)


# --- CloudWatch alarms --------------------------------------------------------------------------------------


class _State(NamedTuple):
    value: str | None
    reason: str
    timestamp: str | None
    suppressed_by: str | None  # why CloudWatch held the alarm's actions back (composite alarms with a suppressor)


def _state(value: Any, what: str) -> _State:
    state = _obj(value, what, required=False)
    return _State(
        _str(state.get("value"), f"{what}.value"),
        _str(state.get("reason"), f"{what}.reason") or "",
        _str(state.get("timestamp"), f"{what}.timestamp"),
        _str(state.get("actionsSuppressedBy"), f"{what}.actionsSuppressedBy"),
    )


def _map_dimension_job_ids(configuration: dict[str, Any]) -> list[Any]:
    """Job ids from metric dimensions in map form (EventBridge and the Lambda action); expressions carry none."""
    found = []
    for index, metric in enumerate(_list(configuration.get("metrics"), "configuration.metrics")):
        metric = _obj(metric, f"configuration.metrics[{index}]")
        stat = _obj(metric.get("metricStat"), f"configuration.metrics[{index}].metricStat", required=False)
        definition = _obj(stat.get("metric"), "metricStat.metric", required=False)
        dimensions = _obj(definition.get("dimensions"), "metric.dimensions", required=False)
        if JOB_ID_DIMENSION in dimensions:
            found.append(dimensions[JOB_ID_DIMENSION])
    return found


def _alarm(
    via: str,
    name: Any,
    state: _State,
    previous: _State,
    job_ids: list[Any],
    correlation_id: str | None,
) -> Alert:
    return Alert(
        kind=ALARM,
        via=via,
        correlation_id=correlation_id,
        alarm_name=_required(name, "alarm name"),
        state=_required(state.value, "alarm state"),
        previous_state=previous.value,
        actions_suppressed_by=state.suppressed_by,
        previous_actions_suppressed_by=previous.suppressed_by,
        reason=state.reason,
        job_ids=_unique(job_ids),
        timestamp=state.timestamp,
    )


def _parse_eventbridge(event: dict[str, Any]) -> Alert:
    source = _required(event.get("source"), "source")
    detail_type = event.get("detail-type")
    if source == "aws.cloudwatch" and detail_type == ALARM_STATE_CHANGE:
        detail = _obj(event.get("detail"), "detail")
        configuration = _obj(detail.get("configuration"), "detail.configuration", required=False)
        job_ids = _map_dimension_job_ids(configuration)
        tags = _obj(detail.get("alarmTags"), "detail.alarmTags", required=False)
        if JOB_ID_DIMENSION in tags:
            job_ids.append(tags[JOB_ID_DIMENSION])
        previous = _state(detail.get("previousState"), "detail.previousState")
        return _alarm(
            "eventbridge",
            detail.get("alarmName"),
            _state(detail.get("state"), "detail.state"),
            previous,
            job_ids,
            _str(event.get("id"), "id"),
        )
    if source == OPERATOR_SOURCE and isinstance(detail_type, str) and detail_type in REQUESTS:
        return _halt_request(_obj(event.get("detail"), "detail"), _str(event.get("id"), "id"),
                             _str(event.get("time"), "time"), REQUESTS[detail_type])
    if source == "aws.iot" and detail_type == CLOUDTRAIL_CALL:
        return _job_created(_obj(event.get("detail"), "detail"), _str(event.get("id"), "id"))
    if source == TIMER_SOURCE and detail_type == ESCALATION_DUE_TYPE:
        return _escalation_due(_obj(event.get("detail"), "detail"), _str(event.get("id"), "id"))
    if source.startswith("aws."):
        raise UnrecognisedAlert(f"EventBridge event {source} / {detail_type!r} is not an alert the guard handles")
    detail = _obj(event.get("detail"), "detail")
    return _custom(detail, "eventbridge", source, _str(event.get("id"), "id"), _str(event.get("time"), "time"))


def _requested_throttle(detail: dict[str, Any], action: str) -> Throttle | None:
    """An operator's throttle settings (`maxPerMinute`, `abort`: `failureType`, `percent`, `minExecuted`), checked
    as a policy's are."""
    if action != THROTTLE:
        return None
    abort = _obj(detail.get("abort"), "detail.abort", required=False)
    raw: dict[str, Any] = {"max_per_minute": detail.get("maxPerMinute")}
    if abort:
        raw["abort"] = {"failure_type": abort.get("failureType"), "percent": abort.get("percent"),
                        "min_executed": abort.get("minExecuted")}
    throttle, problems = throttle_settings(raw)
    if problems or throttle is None:
        raise UnrecognisedAlert(f"throttle request: {problems[0] if problems else 'no settings'}")
    return throttle


def _halt_request(detail: dict[str, Any], event_id: str | None, time: str | None, action: str = CANCEL) -> Alert:
    glob = _required(detail.get("jobs"), "detail.jobs")
    if not REQUEST_GLOB.fullmatch(glob):
        raise UnrecognisedAlert(f"detail.jobs {show(glob)} must be a glob of letters, digits, _ - * ? (64 at most)")
    flags = {}
    for key in ("force", "dryRun"):
        value = detail.get(key)
        if value is not None and not isinstance(value, bool):
            raise UnrecognisedAlert(f"detail.{key} must be true or false")
        flags[key] = value
    reason_code = _str(detail.get("reasonCode"), "detail.reasonCode")
    if reason_code is not None and not REASON_CODE.fullmatch(reason_code):
        raise UnrecognisedAlert(f"detail.reasonCode {show(reason_code)} must be 1 to 128 of A-Z, 0-9 and _")
    request = HaltRequest(jobs=glob, reason_code=reason_code,
                          comment=_str(detail.get("comment"), "detail.comment"), force=flags["force"],
                          dry_run=bool(flags["dryRun"]), requested_by=_str(detail.get("requestedBy"), "requestedBy"),
                          action=action, throttle=_requested_throttle(detail, action))
    what = "halt" if action == CANCEL else action
    reason = f"operator {what} of {glob}" + (f" by {request.requested_by}" if request.requested_by else "")
    return Alert(kind=CUSTOM, via="eventbridge", correlation_id=event_id, source=OPERATOR_SOURCE, reason=reason,
                 timestamp=time, request=request)


def _job_created(detail: dict[str, Any], event_id: str | None) -> Alert:
    """IoT's CreateJob as CloudTrail records it: the job id from the request (or the answer)."""
    name = detail.get("eventName")
    if name != "CreateJob":
        raise UnrecognisedAlert(f"CloudTrail event {show(name)} of aws.iot is not CreateJob")
    if detail.get("errorCode") is not None:
        raise UnrecognisedAlert(f"CreateJob failed ({show(detail.get('errorCode'))}): no job was created")
    request = _obj(detail.get("requestParameters"), "detail.requestParameters", required=False)
    answer = _obj(detail.get("responseElements"), "detail.responseElements", required=False)
    job_id = request.get("jobId", answer.get("jobId"))
    return Alert(kind=JOB_CREATED, via="cloudtrail", correlation_id=event_id, job_ids=(_required(job_id, "jobId"),),
                 timestamp=_str(detail.get("eventTime"), "detail.eventTime"))


def _escalation_due(detail: dict[str, Any], event_id: str | None) -> Alert:
    """A throttle's timer: the job, the alarm that throttled it, the rule (in `source`'s place) and when it fell due."""
    job_id = _required(detail.get("jobId"), "detail.jobId")
    return Alert(kind=ESCALATION_DUE, via="timer", correlation_id=event_id,
                 alarm_name=_required(detail.get("alarmName"), "detail.alarmName"),
                 source=_required(detail.get("rule"), "detail.rule"), job_ids=(job_id,),
                 timestamp=_str(detail.get("throttledAt"), "detail.throttledAt"),
                 due_at=_str(detail.get("dueAt"), "detail.dueAt"))


def _parse_alarm_action(event: dict[str, Any]) -> Alert:
    if event.get("source") != "aws.cloudwatch":
        raise UnrecognisedAlert("an alarmData payload must come from source aws.cloudwatch")
    data = _obj(event.get("alarmData"), "alarmData")
    configuration = _obj(data.get("configuration"), "alarmData.configuration", required=False)
    alarm_arn = _str(event.get("alarmArn"), "alarmArn")
    time = _str(event.get("time"), "time")
    correlation = f"{alarm_arn}@{time}" if alarm_arn and time else alarm_arn
    return _alarm(
        "alarm_action",
        data.get("alarmName"),
        _state(data.get("state"), "alarmData.state"),
        _state(data.get("previousState"), "alarmData.previousState"),
        _map_dimension_job_ids(configuration),
        correlation,
    )


def _list_dimension_job_ids(dimensions: Any, what: str) -> list[Any]:
    found = []
    for index, dimension in enumerate(_list(dimensions, what)):
        dimension = _obj(dimension, f"{what}[{index}]")
        if dimension.get("name") == JOB_ID_DIMENSION:
            found.append(dimension.get("value"))
    return found


def _sns_alarm(message: dict[str, Any], message_id: str | None) -> Alert:
    trigger = _obj(message.get("Trigger"), "Trigger", required=False)
    job_ids = _list_dimension_job_ids(trigger.get("Dimensions"), "Trigger.Dimensions")
    for index, metric in enumerate(_list(trigger.get("Metrics"), "Trigger.Metrics")):
        metric = _obj(metric, f"Trigger.Metrics[{index}]")
        stat = _obj(metric.get("MetricStat"), "MetricStat", required=False)
        definition = _obj(stat.get("Metric"), "MetricStat.Metric", required=False)
        job_ids += _list_dimension_job_ids(definition.get("Dimensions"), "MetricStat.Metric.Dimensions")
    state = _State(
        message.get("NewStateValue"),
        _str(message.get("NewStateReason"), "NewStateReason") or "",
        _str(message.get("StateChangeTime"), "StateChangeTime"),
        None,
    )
    previous = _State(_str(message.get("OldStateValue"), "OldStateValue"), "", None, None)
    return _alarm("sns", message.get("AlarmName"), state, previous, job_ids, message_id)


def _sns_defender(message: dict[str, Any], message_id: str | None) -> Alert:
    thing = _required(message.get("thingName"), "thingName")
    behavior = _obj(message.get("behavior"), "behavior", required=False)
    behavior_name = _str(behavior.get("name"), "behavior.name") or "unnamed behavior"
    event_time = message.get("violationEventTime")
    timestamp = None
    if isinstance(event_time, int) and not isinstance(event_time, bool):
        try:
            timestamp = datetime.fromtimestamp(event_time / 1000, tz=timezone.utc).isoformat()
        except (OverflowError, OSError, ValueError):
            timestamp = None
    return Alert(
        kind=DEFENDER,
        via="sns",
        correlation_id=_str(message.get("violationId"), "violationId") or message_id,
        security_profile=_required(message.get("securityProfileName"), "securityProfileName"),
        thing_name=thing,
        violation_event_type=_required(message.get("violationEventType"), "violationEventType"),
        reason=f"Device Defender behavior {behavior_name} violated on {thing}",
        timestamp=timestamp,
    )


def _parse_sns(event: dict[str, Any]) -> Alert:
    records = _list(event.get("Records"), "Records")
    if len(records) != 1:
        raise UnrecognisedAlert(f"an SNS event must hold exactly one record, got {len(records)}")
    record = _obj(records[0], "Records[0]")
    sns = _obj(record.get("Sns"), "Records[0].Sns")
    body = _required(sns.get("Message"), "Sns.Message")
    try:
        message = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise UnrecognisedAlert("Sns.Message is not JSON") from error
    message = _obj(message, "Sns.Message")
    message_id = _str(sns.get("MessageId"), "Sns.MessageId")
    if "AlarmName" in message:
        return _sns_alarm(message, message_id)
    if "violationEventType" in message or "securityProfileName" in message:
        return _sns_defender(message, message_id)
    if "jobId" in message or "jobIds" in message:
        source = _str(message.get("source"), "source")
        return _custom(message, "sns", source, message_id, _str(sns.get("Timestamp"), "Sns.Timestamp"))
    raise UnrecognisedAlert("the SNS message is not a CloudWatch alarm, a Defender violation or a custom alert")


# --- custom alerts ------------------------------------------------------------------------------------------


def _custom(body: dict[str, Any], via: str, source: str | None, correlation_id: str | None, time: str | None) -> Alert:
    if "jobId" not in body and "jobIds" not in body:
        raise UnrecognisedAlert("a custom alert must carry jobId or jobIds")
    job_ids = [body["jobId"]] if "jobId" in body else []
    job_ids += _list(body.get("jobIds"), "jobIds")
    if not job_ids:
        raise UnrecognisedAlert("a custom alert must name at least one job")
    return Alert(
        kind=CUSTOM,
        via=via,
        correlation_id=correlation_id,
        source=source,
        severity=_str(body.get("severity"), "severity"),
        reason=_str(body.get("reason"), "reason") or "",
        job_ids=_unique(job_ids),
        timestamp=time,
    )
