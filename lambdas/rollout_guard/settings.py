"""The function's configuration: environment variables read once, validated, and passed down."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

POLICY_FILE = "ROLLOUT_GUARD_POLICY_FILE"
DRY_RUN = "ROLLOUT_GUARD_DRY_RUN"
MAX_ATTEMPTS = "ROLLOUT_GUARD_MAX_ATTEMPTS"
EVENT_BUS = "ROLLOUT_GUARD_EVENT_BUS"
TRACING = "ROLLOUT_GUARD_TRACING"
IOT_RATE = "ROLLOUT_GUARD_IOT_RATE"
KILL_SWITCH = "ROLLOUT_GUARD_KILL_SWITCH_PARAMETER"
DEAD_LETTER_QUEUE = "ROLLOUT_GUARD_DEAD_LETTER_QUEUE_URL"
STATE_TABLE = "ROLLOUT_GUARD_STATE_TABLE"
FLEET_QUEUE = "ROLLOUT_GUARD_FLEET_QUEUE_URL"
FLEET_IOT_RATE = "ROLLOUT_GUARD_FLEET_IOT_RATE"
ESCALATION_BUS = "ROLLOUT_GUARD_ESCALATION_BUS_ARN"
ESCALATION_ROLE = "ROLLOUT_GUARD_ESCALATION_ROLE_ARN"
ESCALATION_DEAD_LETTERS = "ROLLOUT_GUARD_ESCALATION_DLQ_ARN"

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no", ""}


class SettingsError(ValueError):
    """The environment does not configure the guard correctly."""


@dataclass(frozen=True)
class Settings:
    policy_file: str
    dry_run: bool = False
    max_attempts: int = 5
    event_bus: str | None = None  # where "Rollout Halted" events go; none are sent without it
    tracing: bool = False  # X-Ray subsegments through Powertools' Tracer
    iot_rate: float = 10.0  # requests a second per IoT operation; 0 = unpaced
    kill_switch_parameter: str | None = None  # the SSM parameter that turns every action into a dry run
    dead_letter_queue_url: str | None = None  # where unrecognisable alerts are kept
    state_table: str | None = None  # the DynamoDB table of exactly-once claims; none: act without claims
    fleet_queue_url: str | None = None  # where the detector schedules its dark checks (the fleet queue)
    # requests a second per IoT operation for the fleet signal's own calls (DescribeJob, the dark checks' listings):
    # one consumer's share of the fleet's budget (the stack sets it), so that the fleet never takes the rate a halt
    # needs; 0 = unpaced
    fleet_iot_rate: float = 10.0
    # A throttle's escalation timer: EventBridge Scheduler puts the due event on this bus, through this role.
    escalation_bus_arn: str | None = None
    escalation_role_arn: str | None = None
    escalation_dead_letters_arn: str | None = None  # where Scheduler keeps a timer it could not deliver

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        policy_file = env.get(POLICY_FILE, "").strip()
        if not policy_file:
            raise SettingsError(f"{POLICY_FILE} is not set: it names the policy file")
        dry_run, tracing = _flag(env, DRY_RUN), _flag(env, TRACING)
        attempts = env.get(MAX_ATTEMPTS, "5").strip()
        if not attempts.isdigit() or not 1 <= int(attempts) <= 20:
            raise SettingsError(f"{MAX_ATTEMPTS} must be a whole number from 1 to 20, not {attempts!r}")
        return cls(
            policy_file=policy_file,
            iot_rate=_rate(env, IOT_RATE, "10"),
            fleet_iot_rate=_rate(env, FLEET_IOT_RATE, "10"),
            dry_run=dry_run,
            tracing=tracing,
            max_attempts=int(attempts),
            event_bus=env.get(EVENT_BUS, "").strip() or None,
            kill_switch_parameter=env.get(KILL_SWITCH, "").strip() or None,
            dead_letter_queue_url=env.get(DEAD_LETTER_QUEUE, "").strip() or None,
            state_table=env.get(STATE_TABLE, "").strip() or None,
            fleet_queue_url=env.get(FLEET_QUEUE, "").strip() or None,
            escalation_bus_arn=env.get(ESCALATION_BUS, "").strip() or None,
            escalation_role_arn=env.get(ESCALATION_ROLE, "").strip() or None,
            escalation_dead_letters_arn=env.get(ESCALATION_DEAD_LETTERS, "").strip() or None,
        )


def _rate(env: Mapping[str, str], name: str, default: str) -> float:
    rate = env.get(name, default).strip()
    try:
        value = float(rate)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1000:
        raise SettingsError(f"{name} must be a number of requests a second from 0 to 1000, not {rate!r}")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "false").strip().lower()
    if value not in _TRUE | _FALSE:
        raise SettingsError(f"{name} must be true or false, not {value!r}")
    return value in _TRUE
