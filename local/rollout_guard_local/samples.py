"""Sample alerts of every supported kind, in the exact shape each delivery path hands to the Lambda (local tooling:
an operator's own requests are `rollout_guard_cli.requests`).

`rollout-guard events` prints them; the drill, the bench and the tests build their alerts here too (the test
fixtures in tests/events are made from these builders, and a test holds them equal). Ids are derived from the
content, so a sample is the same every time and the same alert delivered twice carries the same id, as a
redelivery does.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

ACCOUNT = "123456789012"
REGION = "eu-west-1"
TIME = "2026-11-29T10:00:00.000+0000"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:rollout-guard-alerts"


def _id(*parts: Any) -> str:
    """A stable id for content: the same content gets the same id."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, json.dumps(parts, sort_keys=True)))


def _alarm_arn(name: str) -> str:
    return f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"


def _metric(job_id: str | None) -> dict[str, Any]:
    dimensions = {"JobId": job_id} if job_id else {}
    return {
        "id": "crashes",
        "metricStat": {
            "metric": {"namespace": "Fleet/Firmware", "name": "CrashRate", "dimensions": dimensions},
            "period": 60,
            "stat": "Average",
        },
        "returnData": True,
    }


def _state(value: str, reason: str) -> dict[str, Any]:
    return {
        "value": value,
        "reason": reason,
        "reasonData": json.dumps({"version": "1.0", "queryDate": TIME, "threshold": 5.0}),
        "timestamp": TIME,
    }


def _alarm_detail(alarm_name: str, state: str, previous_state: str, configuration: dict[str, Any]) -> dict[str, Any]:
    return {
        "alarmName": alarm_name,
        "state": _state(state, f"Threshold Crossed: CrashRate moved to {state}"),
        "previousState": _state(previous_state, "previous evaluation"),
        "configuration": configuration,
    }


def _eventbridge(source: str, detail_type: str, detail: dict[str, Any], resources: list[str]) -> dict[str, Any]:
    return {
        "version": "0",
        "id": _id(source, detail_type, detail),
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": TIME.replace(".000+0000", "Z"),
        "region": REGION,
        "resources": resources,
        "detail": detail,
    }


def alarm_eventbridge(job_id: str | None = "fw-2-4-eu", alarm_name: str = "fw-crash-rate-eu",
                      state: str = "ALARM", previous_state: str = "OK", tag_job_id: str | None = None) -> dict[str, Any]:
    """EventBridge "CloudWatch Alarm State Change" of a metric alarm with a JobId dimension."""
    detail = _alarm_detail(alarm_name, state, previous_state,
                           {"description": "Crash rate of the rollout", "metrics": [_metric(job_id)]})
    if tag_job_id:
        detail["alarmTags"] = {"JobId": tag_job_id}
    return _eventbridge("aws.cloudwatch", "CloudWatch Alarm State Change", detail, [_alarm_arn(alarm_name)])


def alarm_eventbridge_math(job_id: str | None = "fw-2-4-eu", alarm_name: str = "fw-crash-rate-eu",
                           state: str = "ALARM", previous_state: str = "OK") -> dict[str, Any]:
    """A metric-math alarm: an expression over metrics, one of which carries the JobId dimension."""
    expression = {"id": "ratio", "expression": "100 * crashes / boots", "label": "crash %", "returnData": True}
    boots = _metric(job_id)
    boots["id"], boots["returnData"] = "boots", False
    boots["metricStat"]["metric"]["name"] = "Boots"
    crashes = _metric(job_id)
    crashes["returnData"] = False
    detail = _alarm_detail(alarm_name, state, previous_state, {"metrics": [expression, crashes, boots]})
    return _eventbridge("aws.cloudwatch", "CloudWatch Alarm State Change", detail, [_alarm_arn(alarm_name)])


def alarm_composite(tag_job_id: str | None = "fw-2-4-eu", alarm_name: str = "fw-crash-rate-composite",
                    state: str = "ALARM", previous_state: str = "OK", suppressed_by: str | None = None,
                    previous_suppressed_by: str | None = None) -> dict[str, Any]:
    """A composite alarm: no metrics, a rule over other alarms; the job comes from the JobId tag if any. With
    `suppressed_by` (WaitPeriod, ExtensionPeriod or Alarm) its actions suppressor holds the actions back, as
    CloudWatch says in the state's actionsSuppressedBy; `previous_suppressed_by` marks the end of a suppression."""
    configuration: dict[str, Any] = {"alarmRule": "ALARM(fw-crash-rate-eu) AND ALARM(fw-boot-loops-eu)"}
    if suppressed_by or previous_suppressed_by:
        configuration.update({"actionsSuppressor": "fw-maintenance-window", "actionsSuppressorWaitPeriod": 120,
                              "actionsSuppressorExtensionPeriod": 180})
    detail = _alarm_detail(alarm_name, state, previous_state, configuration)
    for key, by in (("state", suppressed_by), ("previousState", previous_suppressed_by)):
        if by:
            detail[key].update({"actionsSuppressedBy": by, "actionsSuppressedReason": f"Actions suppressed by {by}"})
    if tag_job_id:
        detail["alarmTags"] = {"JobId": tag_job_id}
    return _eventbridge("aws.cloudwatch", "CloudWatch Alarm State Change", detail, [_alarm_arn(alarm_name)])


def sns_envelope(message: dict[str, Any] | str, subject: str | None = None) -> dict[str, Any]:
    """A message as SNS hands it to a Lambda subscriber (a dict is sent as its JSON text)."""
    body = message if isinstance(message, str) else json.dumps(message)
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{TOPIC}:{_id('subscription', TOPIC)}",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": _id(body, subject),
                    "TopicArn": TOPIC,
                    "Subject": subject,
                    "Message": body,
                    "Timestamp": TIME.replace("+0000", "Z"),
                    "SignatureVersion": "1",
                    "Signature": "EXAMPLE",
                    "SigningCertUrl": "EXAMPLE",
                    "UnsubscribeUrl": "EXAMPLE",
                    "MessageAttributes": {},
                },
            }
        ]
    }


def _sns_alarm(alarm_name: str, state: str, previous_state: str, trigger: dict[str, Any]) -> dict[str, Any]:
    message = {
        "AlarmName": alarm_name,
        "AlarmDescription": "Crash rate of the rollout",
        "AWSAccountId": ACCOUNT,
        "AlarmConfigurationUpdatedTimestamp": TIME,
        "NewStateValue": state,
        "NewStateReason": f"Threshold Crossed: CrashRate moved to {state}",
        "StateChangeTime": TIME,
        "Region": "EU (Ireland)",
        "AlarmArn": _alarm_arn(alarm_name),
        "OldStateValue": previous_state,
        "OKActions": [],
        "AlarmActions": [TOPIC],
        "InsufficientDataActions": [],
        "Trigger": {**trigger, "EvaluationPeriods": 1, "ComparisonOperator": "GreaterThanThreshold",
                    "Threshold": 5.0, "TreatMissingData": "missing"},
    }
    return sns_envelope(message, subject=f'{state}: "{alarm_name}" in EU (Ireland)')


def _sns_dimensions(job_id: str | None) -> list[dict[str, str]]:
    return [{"name": "JobId", "value": job_id}] if job_id else []


def alarm_sns(job_id: str | None = "fw-2-4-eu", alarm_name: str = "fw-crash-rate-eu",
              state: str = "ALARM", previous_state: str = "OK") -> dict[str, Any]:
    """A CloudWatch alarm notification delivered through SNS (dimensions as a list)."""
    trigger = {"MetricName": "CrashRate", "Namespace": "Fleet/Firmware", "StatisticType": "Statistic",
               "Statistic": "AVERAGE", "Unit": None, "Dimensions": _sns_dimensions(job_id), "Period": 60}
    return _sns_alarm(alarm_name, state, previous_state, trigger)


def alarm_sns_math(job_id: str | None = "fw-2-4-eu", alarm_name: str = "fw-crash-rate-eu",
                   state: str = "ALARM", previous_state: str = "OK") -> dict[str, Any]:
    """A metric-math alarm notification through SNS: Trigger.Metrics, the JobId on the metrics it divides."""

    def stat(metric_id: str, name: str) -> dict[str, Any]:
        metric = {"Dimensions": _sns_dimensions(job_id), "MetricName": name, "Namespace": "Fleet/Firmware"}
        return {"Id": metric_id, "MetricStat": {"Metric": metric, "Period": 60, "Stat": "Sum"}, "ReturnData": False}

    expression = {"Expression": "100 * m1 / m2", "Id": "e1", "Label": "crash %", "ReturnData": True}
    return _sns_alarm(alarm_name, state, previous_state,
                      {"Metrics": [expression, stat("m1", "Crashes"), stat("m2", "Boots")]})


def alarm_action(job_id: str | None = "fw-2-4-eu", alarm_name: str = "fw-crash-rate-eu",
                 state: str = "ALARM", previous_state: str = "OK") -> dict[str, Any]:
    """The payload of a CloudWatch alarm's Lambda action."""
    return {
        "source": "aws.cloudwatch",
        "alarmArn": _alarm_arn(alarm_name),
        "accountId": ACCOUNT,
        "time": TIME,
        "region": REGION,
        "alarmData": {
            "alarmName": alarm_name,
            "state": _state(state, f"Threshold Crossed: CrashRate moved to {state}"),
            "previousState": _state(previous_state, "previous evaluation"),
            "configuration": {"description": "Crash rate of the rollout", "metrics": [_metric(job_id)]},
        },
    }


def defender_sns(thing_name: str = "dev-canary-1", security_profile: str = "fw-canary-behaviour",
                 violation_event_type: str = "in-alarm") -> dict[str, Any]:
    """A Device Defender violation delivered through SNS."""
    message = {
        "violationId": _id(thing_name, security_profile, violation_event_type),
        "thingName": thing_name,
        "securityProfileName": security_profile,
        "behavior": {
            "name": "CrashReports",
            "metric": "aws:num-messages-sent",
            "criteria": {"comparisonOperator": "greater-than", "value": {"count": 10}, "durationSeconds": 300},
        },
        "metricValue": {"count": 42},
        "violationEventType": violation_event_type,
        "violationEventTime": 1796032800000,
    }
    return sns_envelope(message)


def custom_eventbridge(job_ids: list[str] | None = None, source: str = "com.acme.monitoring",
                       severity: str = "critical", reason: str = "Crash spike on fw 2.4") -> dict[str, Any]:
    """A monitoring tool's alert put on EventBridge under its own source."""
    detail = {"jobIds": job_ids or ["fw-2-4-eu"], "severity": severity, "reason": reason}
    return _eventbridge(source, "Rollout Health Alert", detail, [])


def custom_sns(job_id: str = "fw-2-4-eu", source: str = "com.acme.monitoring",
               severity: str = "critical", reason: str = "Crash spike on fw 2.4") -> dict[str, Any]:
    """A monitoring tool's alert published to SNS as a JSON body."""
    return sns_envelope({"jobId": job_id, "source": source, "severity": severity, "reason": reason})


# --- the fleet's own events (the detector's input) and IoT's CreateJob (the pre-start gate's) ---------------------

EPOCH_MS = 1_795_946_400_000  # TIME as epoch milliseconds


def job_execution(job_id: str = "fw-2-4-eu", thing_name: str = "dev-eu-1", status: str = "FAILED",
                  at_ms: int = EPOCH_MS) -> dict[str, Any]:
    """A Jobs execution event as the stack's topic rule puts it on the fleet queue (`SELECT *, topic() AS topic`);
    Jobs events carry epoch seconds."""
    operation = status.lower()
    return {
        "eventType": "JOB_EXECUTION",
        "eventId": _id("execution", job_id, thing_name, status, at_ms),
        "timestamp": at_ms // 1000,
        "operation": operation,
        "jobId": job_id,
        "thingArn": f"arn:aws:iot:{REGION}:{ACCOUNT}:thing/{thing_name}",
        "status": status,
        "statusDetails": {"firmware": "2.4.0"} if status == "SUCCEEDED" else {"error": "boot loop"},
        "topic": f"$aws/events/jobExecution/{job_id}/{operation}",
    }


def presence(client_id: str = "dev-eu-1", connected: bool = False, at_ms: int = EPOCH_MS) -> dict[str, Any]:
    """A lifecycle event (epoch milliseconds) as the stack's topic rule puts it on the fleet queue."""
    kind = "connected" if connected else "disconnected"
    event: dict[str, Any] = {
        "clientId": client_id,
        "timestamp": at_ms,
        "eventType": kind,
        "sessionIdentifier": _id("session", client_id),
        "principalIdentifier": _id("principal", client_id)[:16],
        "versionNumber": 1,
        "topic": f"$aws/events/presence/{kind}/{client_id}",
    }
    if connected:
        event.update({"ipAddress": "192.0.2.10", "versionNumber": 2})
    else:
        event.update({"clientInitiatedDisconnect": False, "disconnectReason": "CONNECTION_LOST"})
    return event


def _iso(at_ms: int) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(at_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _greengrass(detail_type: str, thing_name: str, detail: dict[str, Any], at_ms: int) -> dict[str, Any]:
    event = _eventbridge("aws.greengrass", detail_type, detail,
                         [f"arn:aws:greengrass:{REGION}:{ACCOUNT}:coreDevices:{thing_name}"])
    event.update(id=_id("greengrass", detail_type, thing_name, detail, at_ms), time=_iso(at_ms))
    return event


def deployment_status(deployment_id: str = "4f38f1a7-3dd0-42a1-af48-0d6f4e009681", thing_name: str = "gg-core-eu-1",
                      status: str = "FAILED", at_ms: int = EPOCH_MS, spelling: str = "deploymentId") -> dict[str, Any]:
    """Greengrass v2's "Effective Deployment Status Change" for one core device (developer guide, "Get deployment
    and component health status notifications"); `spelling="deployment-id"` as older documentation shows it."""
    detail: dict[str, Any] = {spelling: deployment_id, "coreDeviceExecutionStatus": status}
    if status == "FAILED":
        detail.update(statusDetails={"errorStack": ["DEPLOYMENT_FAILURE", "COMPONENT_BROKEN"],
                                     "errorTypes": ["COMPONENT_ERROR"]},
                      reason="COMPONENT_BROKEN: com.acme.fw broke during its startup")
    return _greengrass("Greengrass V2 Effective Deployment Status Change", thing_name, detail, at_ms)


def component_status(thing_name: str = "gg-core-eu-1", state: str = "BROKEN", at_ms: int = EPOCH_MS,
                     component: str = "com.acme.fw") -> dict[str, Any]:
    """Greengrass v2's "Installed Component Status Change": one component of a core device in `state`."""
    detail = {"components": [{"componentName": component, "componentVersion": "2.4.0", "root": True,
                              "lifecycleState": state, "lifecycleStatusCodes": ["STARTUP_ERROR"],
                              "lifecycleStateDetails": "The startup script exited with code 1."}]}
    return _greengrass("Greengrass V2 Installed Component Status Change", thing_name, detail, at_ms)


def package_report(thing_name: str = "dev-eu-1", versions: dict[str, str] | None = None,
                   at_ms: int = EPOCH_MS) -> dict[str, Any]:
    """A `$package` reserved shadow's accepted update, as the topic rule selects it (`SELECT *, topic() AS
    topic`): the versions of the packages the device reports installed."""
    versions = versions if versions is not None else {"fw": "2.4.0"}
    return {"state": {"reported": {name: {"version": version, "attributes": {}} for name, version in versions.items()}},
            "metadata": {}, "version": 3, "timestamp": at_ms // 1000,
            "topic": f"$aws/things/{thing_name}/shadow/name/$package/update/accepted"}


def sqs_batch(*bodies: dict[str, Any]) -> dict[str, Any]:
    """Messages as the SQS event source mapping hands a batch to the function."""
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:rollout-guard-fleet"
    records = []
    for index, body in enumerate(bodies):
        text = json.dumps(body)
        records.append({
            "messageId": _id("message", index, text),
            "receiptHandle": "EXAMPLE",
            "body": text,
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(EPOCH_MS)},
            "messageAttributes": {},
            "md5OfBody": "EXAMPLE",
            "eventSource": "aws:sqs",
            "eventSourceARN": queue,
            "awsRegion": REGION,
        })
    return {"Records": records}


def job_created(job_id: str = "fw-2-6-eu", error_code: str | None = None) -> dict[str, Any]:
    """IoT CreateJob as EventBridge delivers CloudTrail's record of it ("AWS API Call via CloudTrail")."""
    detail: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": {"type": "AssumedRole", "accountId": ACCOUNT, "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/ota"},
        "eventTime": TIME.replace(".000+0000", "Z"),
        "eventSource": "iot.amazonaws.com",
        "eventName": "CreateJob",
        "awsRegion": REGION,
        "requestParameters": {"jobId": job_id, "targets": [f"arn:aws:iot:{REGION}:{ACCOUNT}:thinggroup/fleet-eu"],
                              "targetSelection": "SNAPSHOT"},
        "responseElements": None if error_code else {
            "jobArn": f"arn:aws:iot:{REGION}:{ACCOUNT}:job/{job_id}", "jobId": job_id},
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
    }
    if error_code:
        detail["errorCode"] = error_code
    return _eventbridge("aws.iot", "AWS API Call via CloudTrail", detail, [])


KINDS: dict[str, Callable[[], dict[str, Any]]] = {
    "alarm-eventbridge": alarm_eventbridge,
    "alarm-eventbridge-math": alarm_eventbridge_math,
    "alarm-composite": alarm_composite,
    "alarm-sns": alarm_sns,
    "alarm-sns-math": alarm_sns_math,
    "alarm-action": alarm_action,
    "defender-sns": defender_sns,
    "custom-eventbridge": custom_eventbridge,
    "custom-sns": custom_sns,
    "job-execution": job_execution,
    "presence": presence,
    "fleet-batch": lambda: sqs_batch(job_execution(), presence()),
    "job-created": job_created,
    "greengrass-deployment": deployment_status,
    "greengrass-component": component_status,
    "package-shadow": package_report,
}
# The kinds that are not alerts: the detector's input, and the pre-start gate's.
FLEET_KINDS = frozenset({"job-execution", "presence", "fleet-batch", "job-created", "greengrass-deployment",
                         "greengrass-component", "package-shadow"})
