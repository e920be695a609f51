"""Every collaborator of the runtime, built from `Settings`: the one place that picks the adapters.

The Lambda entry point, the CLI, the tests, the simulator and the benchmarks call `build_runtime` with their own
settings and, where they bring their own collaborators, `Overrides`. The fleet path (its state, its own IoT client,
its timers) is made at the first fleet batch, so a cold start pays only for the alert path.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from rollout_guard.adapters.clients import make_client, pace
from rollout_guard.adapters.cloudwatch_alarms import CloudWatchAlarms  # small; its client comes at the first job
from rollout_guard.adapters.dead_letters import DeadLetterQueue
from rollout_guard.adapters.halt_events import HaltAnnouncer
from rollout_guard.adapters.kill_switch import KillSwitch
from rollout_guard.alert_path import AlertPath
from rollout_guard.fleet_path import FleetNeedsState, FleetPath
from rollout_guard.halts.claims import Claims, NoClaims
from rollout_guard.halts.deployments import DeploymentsPort
from rollout_guard.halts.jobs import JobsPort
from rollout_guard.halts.revert_records import AfterRollout, InMemoryAfterRollout
from rollout_guard.halts.reverts import AfterRollouts, RevertJobs
from rollout_guard.halts.throttle.records import InMemoryThrottles, ThrottleRecords
from rollout_guard.halts.throttle.timers import EscalationTimers
from rollout_guard.policy import Policy, load_file
from rollout_guard.runtime import Runtime
from rollout_guard.settings import Settings
from rollout_guard.telemetry import logger

if TYPE_CHECKING:
    from rollout_guard.fleet.dark_checks import Timers
    from rollout_guard.fleet.state import FleetState


@dataclass(frozen=True)
class Overrides:
    """Collaborators a caller brings instead of those the settings pick (the CLI's fleet state in memory; the
    tests', the simulator's and the bench's fakes and clocks)."""

    jobs: JobsPort | None = None  # the alert path's IoT
    deployments: DeploymentsPort | None = None  # the alert path's Greengrass v2
    fleet_jobs: JobsPort | None = None  # the fleet signal's IoT
    fleet_state: FleetState | None = None
    timers: Timers | None = None
    clock: Callable[[], float] | None = None  # the detector's, epoch seconds


def build_runtime(settings: Settings, overrides: Overrides = Overrides()) -> Runtime:  # noqa: B008 - frozen
    """The runtime of `settings`, with `overrides` in place of what they name."""
    alert_path = build_alert_path(settings, overrides)
    return Runtime(alert_path, lambda: build_fleet_path(settings, overrides, alert_path.policy))


def build_alert_path(settings: Settings, overrides: Overrides = Overrides()) -> AlertPath:  # noqa: B008 - frozen
    attempts = settings.max_attempts
    queue, bus = settings.dead_letter_queue_url, settings.event_bus
    policy = load_file(settings.policy_file)
    jobs = overrides.jobs if overrides.jobs is not None else iot_jobs(settings)
    return AlertPath(
        policy=policy,
        jobs=jobs,
        deployments=overrides.deployments if overrides.deployments is not None else _deployments(settings, policy),
        dry_run=settings.dry_run,
        kill_switch=_kill_switch(settings),
        claims=_claims(settings),
        dead_letters=DeadLetterQueue(queue, lambda: make_client("sqs", attempts)) if queue else None,
        announcer=HaltAnnouncer(bus, lambda: make_client("events", attempts)) if bus else None,
        tracer=_tracer(settings),
        alarms=CloudWatchAlarms(lambda: make_client("cloudwatch", attempts)),
        throttles=_throttles(settings),
        escalations=_escalations(settings),
        # IoT's adapter makes reverts too; a caller's jobs port without CreateJob (a test's fake) prepares none
        after=AfterRollouts(cast(RevertJobs, jobs) if hasattr(jobs, "create_job") else None,
                            _after_rollout(settings)),
    )


def build_fleet_path(settings: Settings, overrides: Overrides, policy: Policy) -> FleetPath:
    """Made at the first fleet batch: its state (the state table), its own paced IoT client, its timers."""
    from rollout_guard.fleet.dark_checks import InProgressListing

    state = overrides.fleet_state if overrides.fleet_state is not None else _fleet_state(settings)
    if state is None:
        raise FleetNeedsState("fleet events are counted in the state table, and none is configured")
    jobs = overrides.fleet_jobs if overrides.fleet_jobs is not None else iot_jobs(settings, settings.fleet_iot_rate)
    timers = overrides.timers if overrides.timers is not None else _timers(settings)
    deployments = overrides.deployments if overrides.deployments is not None else _deployments(settings, policy)
    return FleetPath(policy=policy, state=state, jobs=jobs, listing=InProgressListing(), timers=timers,
                     clock=overrides.clock or time.time, deployments=deployments)


def iot_jobs(settings: Settings, rate: float | None = None) -> JobsPort:
    """The IoT adapter, paced at `rate` requests a second per operation (the alert path's by default)."""
    from rollout_guard.adapters.iot import IotJobs

    return IotJobs(pace(make_client(max_attempts=settings.max_attempts), settings.iot_rate if rate is None else rate))


def _deployments(settings: Settings, policy: Policy) -> DeploymentsPort | None:
    """Greengrass v2, for a policy with a `deployments` rule only; its client is made at its first call."""
    if not any(rule.deployments is not None for rule in policy.rules):
        return None
    from rollout_guard.adapters.greengrass import GreengrassDeployments

    return GreengrassDeployments(lambda: pace(make_client("greengrassv2", max_attempts=settings.max_attempts),
                                              settings.iot_rate))


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


def _after_rollout(settings: Settings) -> AfterRollout:
    if not settings.state_table:
        return InMemoryAfterRollout()  # one invocation's memory: a regression is announced again by the next
    from rollout_guard.adapters.dynamo_after import DynamoAfterRollout

    attempts = settings.max_attempts
    return DynamoAfterRollout(settings.state_table, lambda: make_client("dynamodb", max_attempts=attempts))


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


def _fleet_state(settings: Settings) -> FleetState | None:
    if not settings.state_table:
        return None
    from rollout_guard.adapters.dynamo_fleet import DynamoFleetState

    attempts = settings.max_attempts
    return DynamoFleetState(settings.state_table, lambda: make_client("dynamodb", max_attempts=attempts))
