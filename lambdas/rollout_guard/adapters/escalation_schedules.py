"""A throttle's escalation timer: an EventBridge Scheduler one-time schedule that puts the job's "Rollout Escalation
Due" event on the guard's bus when `escalate_after` has passed (deleted by Scheduler once it ran). A rule on that
bus delivers the event to the function, which cancels only if the alarm still fires. Event-driven: nothing polls."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

from rollout_guard.halts.alerts import ESCALATION_DUE_TYPE, TIMER_SOURCE
from rollout_guard.halts.throttles import ESCALATION_SCHEDULE_PREFIX as NAME_PREFIX
from rollout_guard.halts.throttles import Throttled, escalation_event


def schedule_name(job_id: str) -> str:
    """At most 64 characters, as Scheduler allows: the prefix, the job id's start and a hash of the whole id."""
    digest = hashlib.sha256(job_id.encode()).hexdigest()[:8]
    return f"{NAME_PREFIX}{job_id[:64 - len(NAME_PREFIX) - 9]}-{digest}"


class ScheduledEscalations:
    def __init__(self, bus_arn: str, role_arn: str, make_client: Callable[[], Any]):
        self.bus_arn, self.role_arn = bus_arn, role_arn
        self._make_client = make_client

    @cached_property
    def _client(self) -> Any:
        return self._make_client()

    def schedule(self, record: Throttled, due_epoch_s: float) -> None:
        at = datetime.fromtimestamp(due_epoch_s, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        request = {
            "Name": schedule_name(record.job_id), "ScheduleExpression": f"at({at})",
            "ScheduleExpressionTimezone": "UTC", "FlexibleTimeWindow": {"Mode": "OFF"},
            "ActionAfterCompletion": "DELETE",
            "Target": {"Arn": self.bus_arn, "RoleArn": self.role_arn, "Input": json.dumps(escalation_event(record)),
                       "EventBridgeParameters": {"Source": TIMER_SOURCE, "DetailType": ESCALATION_DUE_TYPE}},
        }
        try:
            self._client.create_schedule(**request)
        except self._client.exceptions.ConflictException:  # an earlier throttle's timer of this job: replaced
            self._client.update_schedule(**request)
