"""The throttle's adapters against AWS's exact answers (botocore's Stubber): the timer's schedule as Scheduler is
asked for it (its dead-letter queue, one name per check), and Scheduler's and DynamoDB's refusals as the port's
errors, which the use case reports for their job alone."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import boto3
import pytest
from botocore.stub import Stubber

from rollout_guard.adapters.dynamo_throttles import DynamoThrottles
from rollout_guard.adapters.escalation_schedules import ScheduledEscalations, schedule_name
from rollout_guard.halts.throttle.records import RecordsError, Throttled
from rollout_guard.halts.throttle.timers import TimerError

BUS = "arn:aws:events:eu-west-1:123456789012:event-bus/default"
ROLE = "arn:aws:iam::123456789012:role/timer"
DLQ = "arn:aws:sqs:eu-west-1:123456789012:RolloutGuard-timer-dlq"
RECORD = Throttled("fw-1", "slow", "fw-warn-eu", None, None, {"maximumPerMinute": 5}, None,
                   "2026-12-04T10:00:00+00:00")
DUE = datetime(2026, 12, 4, 10, 40, tzinfo=timezone.utc).timestamp()


def scheduler() -> tuple[ScheduledEscalations, Stubber]:
    client = boto3.client("scheduler", region_name="eu-west-1")
    return ScheduledEscalations(BUS, ROLE, lambda: client, DLQ), Stubber(client)


def test_each_timer_names_its_dead_letter_queue_its_due_time_and_a_name_of_its_own():
    timers, stub = scheduler()
    sent = []
    timers._client.meta.events.register("before-parameter-build.scheduler.CreateSchedule",
                                        lambda params, **_: sent.append(params))
    stub.add_response("create_schedule", {"ScheduleArn": "arn:aws:scheduler:eu-west-1:123456789012:schedule/x/y"})
    with stub:
        timers.schedule(RECORD, DUE)

    (params,) = sent
    assert params["Target"]["DeadLetterConfig"] == {"Arn": DLQ}
    assert params["ScheduleExpression"] == "at(2026-12-04T10:40:00)" and params["ActionAfterCompletion"] == "DELETE"
    assert json.loads(params["Target"]["Input"])["dueAt"] == "2026-12-04T10:40:00+00:00"
    # one name per check, at most 64 characters: the next timer never collides with the one Scheduler deletes
    assert params["Name"] == schedule_name("fw-1", "2026-12-04T10:40:00") != schedule_name("fw-1", "2026-12-04T10:55:00")
    assert len(params["Name"]) <= 64


@pytest.mark.parametrize(("code", "status"), [("ThrottlingException", 429), ("AccessDeniedException", 403),
                                               ("ValidationException", 400)])
def test_a_refused_timer_is_the_ports_error(code, status):
    timers, stub = scheduler()
    stub.add_client_error("create_schedule", code, http_status_code=status)
    with stub, pytest.raises(TimerError, match=f"Scheduler refused the timer of job fw-1 .*{code}"):
        timers.schedule(RECORD, DUE)


def test_a_timer_set_twice_is_updated_and_a_refused_update_is_the_ports_error():
    timers, stub = scheduler()
    stub.add_client_error("create_schedule", "ConflictException", http_status_code=409)
    stub.add_response("update_schedule", {"ScheduleArn": "arn:aws:scheduler:eu-west-1:123456789012:schedule/x/y"})
    stub.add_client_error("create_schedule", "ConflictException", http_status_code=409)
    stub.add_client_error("update_schedule", "ConflictException", http_status_code=409)
    with stub:
        timers.schedule(RECORD, DUE)
        with pytest.raises(TimerError, match="ConflictException"):
            timers.schedule(RECORD, DUE)


@pytest.mark.parametrize("operation", ["get_item", "put_item", "delete_item"])
def test_a_state_table_that_refuses_is_the_ports_error(operation):
    client = boto3.client("dynamodb", region_name="eu-west-1")
    records, stub = DynamoThrottles("state", lambda: client), Stubber(client)
    stub.add_client_error(operation, "ProvisionedThroughputExceededException", http_status_code=400)
    act = {"get_item": lambda: records.get("fw-1"), "put_item": lambda: records.put(RECORD),
           "delete_item": lambda: records.delete("fw-1")}[operation]
    with stub, pytest.raises(RecordsError, match="throttle record of job fw-1"):
        act()
