"""Every collaborator of the runtime, built from `Settings`: the one place that picks the adapters.

The Lambda entry point, the CLI, the tests and the benchmarks call `build_runtime` with their own settings (and,
where they count elsewhere, their own fleet state). What only some events need (the fleet state, the fleet
signal's own IoT client) is made at its first use, so a cold start pays only for the alert path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rollout_guard.adapters.clients import make_client, pace
from rollout_guard.adapters.cloudwatch_alarms import CloudWatchAlarms  # small; its client comes at the first job
from rollout_guard.adapters.dead_letters import DeadLetterQueue
from rollout_guard.adapters.halt_events import HaltAnnouncer
from rollout_guard.adapters.kill_switch import KillSwitch
from rollout_guard.halts.claims import Claims, NoClaims
from rollout_guard.halts.jobs import JobsPort
from rollout_guard.halts.throttles import EscalationTimers, InMemoryThrottles, ThrottleRecords
from rollout_guard.policy import load_file
from rollout_guard.runtime import Runtime
from rollout_guard.settings import Settings
from rollout_guard.telemetry import logger

if TYPE_CHECKING:
    from rollout_guard.fleet.dark_checks import Timers
    from rollout_guard.fleet.state import FleetState


def build_runtime(settings: Settings, fleet_state: FleetState | None = None) -> Runtime:
    """The runtime of `settings`; `fleet_state` counts the fleet signal somewhere else than the state table (the
    CLI without a table counts in memory)."""
    attempts = settings.max_attempts
    queue, bus = settings.dead_letter_queue_url, settings.event_bus
    return Runtime(
        settings=settings,
        policy=load_file(settings.policy_file),
        jobs=iot_jobs(settings),
        kill_switch=_kill_switch(settings),
        claims=_claims(settings),
        dead_letters=DeadLetterQueue(queue, lambda: make_client("sqs", attempts)) if queue else None,
        announcer=HaltAnnouncer(bus, lambda: make_client("events", attempts)) if bus else None,
        tracer=_tracer(settings),
        timers=_timers(settings),
        alarms=CloudWatchAlarms(lambda: make_client("cloudwatch", attempts)),
        throttles=_throttles(settings),
        escalations=_escalations(settings),
        fleet_state=fleet_state,
        fleet_state_factory=_fleet_state_factory(settings),
        fleet_jobs_factory=lambda: iot_jobs(settings, settings.fleet_iot_rate),
    )


def iot_jobs(settings: Settings, rate: float | None = None) -> JobsPort:
    """The IoT adapter, paced at `rate` requests a second per operation (the alert path's by default)."""
    from rollout_guard.adapters.iot import IotJobs

    return IotJobs(pace(make_client(max_attempts=settings.max_attempts), settings.iot_rate if rate is None else rate))


def _tracer(settings: Settings) -> object | None:
    if not settings.tracing:
        return None
    # The X-Ray SDK costs about as much cold start as boto3 itself, so it loads only when tracing is on.
    from aws_lambda_powertools import Tracer

    return Tracer(service=logger.service)


def _kill_switch(settings: Settings) -> KillSwitch | None:
    if not settings.kill_switch_parameter:
        return None
    # Few attempts: a slow SSM must not hold a halt back for long; failing reads count as "off".
    return KillSwitch(settings.kill_switch_parameter, make_client("ssm", max_attempts=2))


def _claims(settings: Settings) -> Claims:
    if not settings.state_table:
        return NoClaims()
    from rollout_guard.adapters.dynamo_claims import DynamoClaims

    # Few attempts and a short read: a slow store must not hold a halt back; failing claims act anyway.
    return DynamoClaims(settings.state_table, make_client("dynamodb", max_attempts=2, read_timeout=2))


def _throttles(settings: Settings) -> ThrottleRecords:
    if not settings.state_table:
        return InMemoryThrottles()  # one invocation's memory: a later OK finds nothing to restore
    from rollout_guard.adapters.dynamo_throttles import DynamoThrottles

    attempts = settings.max_attempts
    return DynamoThrottles(settings.state_table, lambda: make_client("dynamodb", max_attempts=attempts))


def _escalations(settings: Settings) -> EscalationTimers | None:
    if not (settings.escalation_bus_arn and settings.escalation_role_arn):
        return None
    from rollout_guard.adapters.escalation_schedules import ScheduledEscalations

    attempts = settings.max_attempts
    return ScheduledEscalations(settings.escalation_bus_arn, settings.escalation_role_arn,
                                lambda: make_client("scheduler", max_attempts=attempts),
                                settings.escalation_dead_letters_arn)


def _timers(settings: Settings) -> Timers | None:
    if not settings.fleet_queue_url:
        return None
    from rollout_guard.adapters.dark_check_queue import DarkCheckQueue

    attempts = settings.max_attempts
    return DarkCheckQueue(settings.fleet_queue_url, lambda: make_client("sqs", attempts))


def _fleet_state_factory(settings: Settings) -> Callable[[], FleetState] | None:
    table, attempts = settings.state_table, settings.max_attempts
    if not table:
        return None

    def made() -> FleetState:
        from rollout_guard.adapters.dynamo_fleet import DynamoFleetState

        return DynamoFleetState(table, lambda: make_client("dynamodb", max_attempts=attempts))

    return made
