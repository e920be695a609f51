"""A throttle's timer: an EventBridge Scheduler one-time schedule that puts the job's "Rollout Escalation Due" event
on the guard's bus when the next check of the throttle falls due (deleted by Scheduler once it ran, also after its
last failed retry). A rule on that bus delivers the event to the function, which looks at the alarm and the job
(`halts.throttle.watchdog`) and sets the next timer. What Scheduler could not deliver goes to the timers' dead-letter queue."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

from rollout_guard.halts.alert_kinds import ESCALATION_DUE_TYPE, TIMER_SOURCE
from rollout_guard.halts.throttle.records import Throttled
from rollout_guard.halts.throttle.timers import ESCALATION_SCHEDULE_PREFIX as NAME_PREFIX
from rollout_guard.halts.throttle.timers import TimerError, escalation_event


def schedule_name(job_id: str, due: str) -> str:
    """At most 64 characters, as Scheduler allows: the prefix, the job id's start and a hash of the id and the due
    time. One name per check: the next timer never collides with the one being deleted after it ran, and two
    deliveries of one check set the same next timer."""
    digest = hashlib.sha256(f"{job_id}@{due}".encode()).hexdigest()[:8]
    return f"{NAME_PREFIX}{job_id[:64 - len(NAME_PREFIX) - 9]}-{digest}"


class ScheduledEscalations:
    def __init__(self, bus_arn: str, role_arn: str, make_client: Callable[[], Any],
                 dead_letters_arn: str | None = None):
        self.bus_arn, self.role_arn, self.dead_letters_arn = bus_arn, role_arn, dead_letters_arn
        self._make_client = make_client

    @cached_property
    def _client(self) -> Any:
        return self._make_client()

    def schedule(self, record: Throttled, due_epoch_s: float) -> None:
        at = datetime.fromtimestamp(due_epoch_s, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        target: dict[str, Any] = {
            "Arn": self.bus_arn, "RoleArn": self.role_arn, "Input": json.dumps(escalation_event(record, due_epoch_s)),
            "EventBridgeParameters": {"Source": TIMER_SOURCE, "DetailType": ESCALATION_DUE_TYPE}}
        if self.dead_letters_arn:
            target["DeadLetterConfig"] = {"Arn": self.dead_letters_arn}
        request = {
            "Name": schedule_name(record.job_id, at), "ScheduleExpression": f"at({at})",
            "ScheduleExpressionTimezone": "UTC", "FlexibleTimeWindow": {"Mode": "OFF"},
            "ActionAfterCompletion": "DELETE", "Target": target,
        }
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            try:
                self._client.create_schedule(**request)
            except self._client.exceptions.ConflictException:  # the same check set by a duplicate delivery
                self._client.update_schedule(**request)
        except (BotoCoreError, ClientError) as error:
            raise TimerError(f"Scheduler refused the timer of job {record.job_id} at {at}: {error}") from error
