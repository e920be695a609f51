"""Alert parsing: every delivery shape the guard accepts becomes one alert (`alert_kinds`: a frozen dataclass per
kind).

Shapes (see ../shared/reference.md): EventBridge "CloudWatch Alarm State Change", a CloudWatch alarm notification
inside SNS, the CloudWatch alarm Lambda-action payload, a Device Defender violation inside SNS, and custom alerts
(an EventBridge event of a non-AWS source, or an SNS message whose JSON body names jobs); the guard's own events
(an operator's request, a throttle's timer, CreateJob for the gate) are read in `alert_requests`.

Parsing is strict about types because the input is untrusted: anything that is not one of these shapes raises
`UnrecognisedAlert` with a one-line reason, and nothing else escapes.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, NamedTuple

from rollout_guard.halts.alert_kinds import (
    ALARM_STATE_CHANGE,
    CLOUDTRAIL_CALL,
    ESCALATION_DUE_TYPE,
    JOB_ID_DIMENSION,
    OPERATOR_SOURCE,
    REQUESTS,
    REVERT_REQUESTED,
    TIMER_SOURCE,
    AlarmAlert,
    Alert,
    CustomAlert,
    DefenderAlert,
    UnrecognisedAlert,
    Via,
)
from rollout_guard.halts.alert_requests import escalation_due, job_created, operator_request, revert_requested
from rollout_guard.halts.json_fields import items, obj, obj_or_empty, required, text, unique

__all__ = ["UnrecognisedAlert", "parse"]


def parse(event: Any) -> Alert:
    """Turn a Lambda event into an alert, or raise `UnrecognisedAlert`."""
    if not isinstance(event, dict):
        raise UnrecognisedAlert(f"expected a JSON object, got {type(event).__name__}")
    if "Records" in event:
        return _parse_sns(event)
    if "alarmData" in event:
        return _parse_alarm_action(event)
    if "detail-type" in event and "source" in event:
        return _parse_eventbridge(event)
    raise UnrecognisedAlert("not an EventBridge event, an SNS event or a CloudWatch alarm action payload")


# --- CloudWatch alarms --------------------------------------------------------------------------------------


class _State(NamedTuple):
    value: str | None
    reason: str = ""
    timestamp: str | None = None
    suppressed_by: str | None = None  # why CloudWatch held the alarm's actions back (composite alarms with a suppressor)


def _state(value: Any, what: str) -> _State:
    state = obj_or_empty(value, what)
    return _State(
        text(state.get("value"), f"{what}.value"),
        text(state.get("reason"), f"{what}.reason") or "",
        text(state.get("timestamp"), f"{what}.timestamp"),
        text(state.get("actionsSuppressedBy"), f"{what}.actionsSuppressedBy"),
    )


def _map_dimension_job_ids(configuration: dict[str, Any]) -> list[Any]:
    """Job ids from metric dimensions in map form (EventBridge and the Lambda action); expressions carry none."""
    found = []
    for index, metric in enumerate(items(configuration.get("metrics"), "configuration.metrics")):
        metric = obj(metric, f"configuration.metrics[{index}]")
        stat = obj_or_empty(metric.get("metricStat"), f"configuration.metrics[{index}].metricStat")
        definition = obj_or_empty(stat.get("metric"), "metricStat.metric")
        dimensions = obj_or_empty(definition.get("dimensions"), "metric.dimensions")
        if JOB_ID_DIMENSION in dimensions:
            found.append(dimensions[JOB_ID_DIMENSION])
    return found


def _alarm(
    via: Via,
    name: Any,
    state: _State,
    previous: _State,
    job_ids: list[Any],
    correlation_id: str | None,
) -> AlarmAlert:
    return AlarmAlert(
        via=via,
        correlation_id=correlation_id,
        alarm_name=required(name, "alarm name"),
        state=required(state.value, "alarm state"),
        previous_state=previous.value,
        actions_suppressed_by=state.suppressed_by,
        previous_actions_suppressed_by=previous.suppressed_by,
        reason=state.reason,
        job_ids=unique(job_ids),
        timestamp=state.timestamp,
    )


def _parse_eventbridge(event: dict[str, Any]) -> Alert:
    source = required(event.get("source"), "source")
    detail_type = event.get("detail-type")
    if source == "aws.cloudwatch" and detail_type == ALARM_STATE_CHANGE:
        detail = obj(event.get("detail"), "detail")
        configuration = obj_or_empty(detail.get("configuration"), "detail.configuration")
        job_ids = _map_dimension_job_ids(configuration)
        tags = obj_or_empty(detail.get("alarmTags"), "detail.alarmTags")
        if JOB_ID_DIMENSION in tags:
            job_ids.append(tags[JOB_ID_DIMENSION])
        previous = _state(detail.get("previousState"), "detail.previousState")
        return _alarm(
            Via.EVENTBRIDGE,
            detail.get("alarmName"),
            _state(detail.get("state"), "detail.state"),
            previous,
            job_ids,
            text(event.get("id"), "id"),
        )
    if source == OPERATOR_SOURCE and isinstance(detail_type, str) and detail_type in REQUESTS:
        return operator_request(obj(event.get("detail"), "detail"), text(event.get("id"), "id"),
                                text(event.get("time"), "time"), REQUESTS[detail_type])
    if source == OPERATOR_SOURCE and detail_type == REVERT_REQUESTED:
        return revert_requested(obj(event.get("detail"), "detail"), text(event.get("id"), "id"),
                                text(event.get("time"), "time"))
    if source == "aws.iot" and detail_type == CLOUDTRAIL_CALL:
        return job_created(obj(event.get("detail"), "detail"), text(event.get("id"), "id"))
    if source == TIMER_SOURCE and detail_type == ESCALATION_DUE_TYPE:
        return escalation_due(obj(event.get("detail"), "detail"), text(event.get("id"), "id"))
    if source.startswith("aws."):
        raise UnrecognisedAlert(f"EventBridge event {source} / {detail_type!r} is not an alert the guard handles")
    detail = obj(event.get("detail"), "detail")
    return _custom(detail, Via.EVENTBRIDGE, source, text(event.get("id"), "id"), text(event.get("time"), "time"))


def _parse_alarm_action(event: dict[str, Any]) -> AlarmAlert:
    if event.get("source") != "aws.cloudwatch":
        raise UnrecognisedAlert("an alarmData payload must come from source aws.cloudwatch")
    data = obj(event.get("alarmData"), "alarmData")
    configuration = obj_or_empty(data.get("configuration"), "alarmData.configuration")
    alarm_arn = text(event.get("alarmArn"), "alarmArn")
    time = text(event.get("time"), "time")
    correlation = f"{alarm_arn}@{time}" if alarm_arn and time else alarm_arn
    return _alarm(
        Via.ALARM_ACTION,
        data.get("alarmName"),
        _state(data.get("state"), "alarmData.state"),
        _state(data.get("previousState"), "alarmData.previousState"),
        _map_dimension_job_ids(configuration),
        correlation,
    )


def _list_dimension_job_ids(dimensions: Any, what: str) -> list[Any]:
    found = []
    for index, dimension in enumerate(items(dimensions, what)):
        dimension = obj(dimension, f"{what}[{index}]")
        if dimension.get("name") == JOB_ID_DIMENSION:
            found.append(dimension.get("value"))
    return found


def _sns_alarm(message: dict[str, Any], message_id: str | None) -> AlarmAlert:
    trigger = obj_or_empty(message.get("Trigger"), "Trigger")
    job_ids = _list_dimension_job_ids(trigger.get("Dimensions"), "Trigger.Dimensions")
    for index, metric in enumerate(items(trigger.get("Metrics"), "Trigger.Metrics")):
        metric = obj(metric, f"Trigger.Metrics[{index}]")
        stat = obj_or_empty(metric.get("MetricStat"), "MetricStat")
        definition = obj_or_empty(stat.get("Metric"), "MetricStat.Metric")
        job_ids += _list_dimension_job_ids(definition.get("Dimensions"), "MetricStat.Metric.Dimensions")
    state = _State(
        message.get("NewStateValue"),
        text(message.get("NewStateReason"), "NewStateReason") or "",
        text(message.get("StateChangeTime"), "StateChangeTime"),
    )
    previous = _State(text(message.get("OldStateValue"), "OldStateValue"))
    return _alarm(Via.SNS, message.get("AlarmName"), state, previous, job_ids, message_id)


def _sns_defender(message: dict[str, Any], message_id: str | None) -> DefenderAlert:
    thing = required(message.get("thingName"), "thingName")
    behavior = obj_or_empty(message.get("behavior"), "behavior")
    behavior_name = text(behavior.get("name"), "behavior.name") or "unnamed behavior"
    event_time = message.get("violationEventTime")
    timestamp = None
    if isinstance(event_time, int) and not isinstance(event_time, bool):
        try:
            timestamp = datetime.fromtimestamp(event_time / 1000, tz=timezone.utc).isoformat()
        except (OverflowError, OSError, ValueError):
            timestamp = None
    return DefenderAlert(
        via=Via.SNS,
        correlation_id=text(message.get("violationId"), "violationId") or message_id,
        security_profile=required(message.get("securityProfileName"), "securityProfileName"),
        thing_name=thing,
        violation_event_type=required(message.get("violationEventType"), "violationEventType"),
        reason=f"Device Defender behavior {behavior_name} violated on {thing}",
        timestamp=timestamp,
    )


def _parse_sns(event: dict[str, Any]) -> Alert:
    records = items(event.get("Records"), "Records")
    if len(records) != 1:
        raise UnrecognisedAlert(f"an SNS event must hold exactly one record, got {len(records)}")
    record = obj(records[0], "Records[0]")
    sns = obj(record.get("Sns"), "Records[0].Sns")
    body = required(sns.get("Message"), "Sns.Message")
    try:
        message = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise UnrecognisedAlert("Sns.Message is not JSON") from error
    message = obj(message, "Sns.Message")
    message_id = text(sns.get("MessageId"), "Sns.MessageId")
    if "AlarmName" in message:
        return _sns_alarm(message, message_id)
    if "violationEventType" in message or "securityProfileName" in message:
        return _sns_defender(message, message_id)
    if "jobId" in message or "jobIds" in message:
        source = text(message.get("source"), "source")
        return _custom(message, Via.SNS, source, message_id, text(sns.get("Timestamp"), "Sns.Timestamp"))
    raise UnrecognisedAlert("the SNS message is not a CloudWatch alarm, a Defender violation or a custom alert")


# --- custom alerts ------------------------------------------------------------------------------------------


def _custom(body: dict[str, Any], via: Via, source: str | None, correlation_id: str | None,
            time: str | None) -> CustomAlert:
    if "jobId" not in body and "jobIds" not in body:
        raise UnrecognisedAlert("a custom alert must carry jobId or jobIds")
    job_ids = [body["jobId"]] if "jobId" in body else []
    job_ids += items(body.get("jobIds"), "jobIds")
    if not job_ids:
        raise UnrecognisedAlert("a custom alert must name at least one job")
    return CustomAlert(
        via=via,
        correlation_id=correlation_id,
        source=source,
        severity=text(body.get("severity"), "severity"),
        reason=text(body.get("reason"), "reason") or "",
        job_ids=unique(job_ids),
        timestamp=time,
    )
