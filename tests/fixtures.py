"""tests/events/*.json, each made from the CLI's sample builders: the one source of alert shapes.

`python -m tests.fixtures` writes them; tests/unit/test_fixtures.py fails when a file and its builder disagree, so
a change to a sample shape shows up in the fixtures the tests load.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rollout_guard_cli import operator_requests
from rollout_guard_local import samples

EVENTS = Path(__file__).parent / "events"
# Published sample events, kept verbatim with their sources (events/published/README.md); not made from samples.
PUBLISHED = EVENTS / "published"


def _without(event: dict[str, Any], key: str) -> dict[str, Any]:
    del event["detail"][key]
    return event


def _bad_and_tagged_ids() -> dict[str, Any]:
    return samples.alarm_eventbridge(job_id="fw 2.4/eu", tag_job_id="fw-2-4-us")


def _aws_other() -> dict[str, Any]:
    event = samples.alarm_eventbridge()
    event.update({"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification"})
    return event


def _custom_no_jobs() -> dict[str, Any]:
    event = samples.custom_eventbridge(severity="critical", reason="no jobs here")
    del event["detail"]["jobIds"]
    return event


FIXTURES: dict[str, Callable[[], dict[str, Any]]] = {
    "alarm_action": samples.alarm_action,
    "eventbridge_alarm_metric": samples.alarm_eventbridge,
    "eventbridge_alarm_math": samples.alarm_eventbridge_math,
    "eventbridge_alarm_ok": lambda: samples.alarm_eventbridge(state="OK", previous_state="ALARM"),
    "eventbridge_alarm_still_alarm": lambda: samples.alarm_eventbridge(state="ALARM", previous_state="ALARM"),
    "eventbridge_alarm_insufficient": lambda: samples.alarm_eventbridge(state="INSUFFICIENT_DATA"),
    "eventbridge_alarm_no_name": lambda: _without(samples.alarm_eventbridge(), "alarmName"),
    "eventbridge_alarm_no_state": lambda: _without(samples.alarm_eventbridge(), "state"),
    "eventbridge_alarm_bad_and_tagged_ids": _bad_and_tagged_ids,
    "eventbridge_alarm_composite_tagged": samples.alarm_composite,
    "eventbridge_alarm_composite_untagged": lambda: samples.alarm_composite(tag_job_id=None),
    "eventbridge_alarm_composite_suppressed": lambda: samples.alarm_composite(suppressed_by="WaitPeriod"),
    "eventbridge_alarm_composite_suppression_ended": lambda: samples.alarm_composite(
        previous_state="ALARM", previous_suppressed_by="WaitPeriod"),
    "eventbridge_alarm_composite_suppressed_still": lambda: samples.alarm_composite(
        previous_state="ALARM", suppressed_by="Alarm", previous_suppressed_by="WaitPeriod"),
    "eventbridge_aws_other": _aws_other,
    "eventbridge_custom": lambda: samples.custom_eventbridge(job_ids=["fw-2-4-eu", "fw-2-4-us"], severity="CRITICAL"),
    "eventbridge_custom_no_jobs": _custom_no_jobs,
    "eventbridge_custom_one_job": samples.custom_eventbridge,
    "sns_alarm": samples.alarm_sns,
    "sns_alarm_math": samples.alarm_sns_math,
    "sns_alarm_ok": lambda: samples.alarm_sns(state="OK", previous_state="ALARM"),
    "sns_alarm_again": lambda: samples.alarm_sns(previous_state="ALARM"),
    "sns_custom": lambda: samples.custom_sns(severity="Critical"),
    "sns_custom_lower_case_severity": samples.custom_sns,
    "sns_defender_in_alarm": samples.defender_sns,
    "sns_defender_cleared": lambda: samples.defender_sns(violation_event_type="alarm-cleared"),
    "sns_defender_invalidated": lambda: samples.defender_sns(violation_event_type="alarm-invalidated"),
    "sns_not_json": lambda: samples.sns_envelope("CPU high on fw-2-4-eu"),
    "sns_unknown_json": lambda: samples.sns_envelope({"hello": "world"}),
    # the fleet signal's input (as the topic rules put it on the fleet queue) and the pre-start gate's
    "iot_job_execution_failed": samples.job_execution,
    "iot_job_execution_succeeded": lambda: samples.job_execution(status="SUCCEEDED"),
    "iot_presence_disconnected": samples.presence,
    "iot_presence_connected": lambda: samples.presence(connected=True),
    "sqs_fleet_batch": samples.KINDS["fleet-batch"],
    "cloudtrail_create_job": samples.job_created,
    "cloudtrail_create_job_failed": lambda: samples.job_created(error_code="LimitExceededException"),
    # Greengrass v2's status events, as EventBridge puts them on the fleet queue (both spellings of the id)
    "eventbridge_greengrass_deployment_failed": samples.deployment_status,
    "eventbridge_greengrass_deployment_failed_older_spelling": lambda: samples.deployment_status(
        spelling="deployment-id"),
    "eventbridge_greengrass_component_broken": samples.component_status,
    "iot_package_shadow_accepted": samples.package_report,
    # an operator's halt, as `rollout-guard halt` sends it and the control bus forwards it
    "eventbridge_halt_request": operator_requests.halt_request,
}


def render(name: str) -> str:
    return json.dumps(FIXTURES[name](), indent=2) + "\n"


def write() -> None:
    for name in FIXTURES:
        (EVENTS / f"{name}.json").write_text(render(name))


if __name__ == "__main__":
    write()
