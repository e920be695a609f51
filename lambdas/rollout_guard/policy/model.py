"""The policy as the guard reads it: rules, what each matches, the action it takes (cancel or throttle) and its
settings. Validated on reading (`policy.reading`); everything here is already checked."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any


class Action(StrEnum):
    """What a rule does to the jobs it selects (the policy's `action`)."""

    CANCEL = "cancel"
    THROTTLE = "throttle"


CANCEL, THROTTLE = Action.CANCEL, Action.THROTTLE
# A throttled job's timer looks again this often (alarm OK: restore; ALARM past escalate_after: cancel), and a
# throttle older than `max_throttled` is announced once as stale. Scheduler's one-time schedules are minutes apart
# at best; the record of a throttle is kept 30 days (schema.THROTTLE), so a throttle is stale well before.
RECHECK_DEFAULT_S, RECHECK_BOUNDS = 15 * 60, (60, 86400)
MAX_THROTTLED_DEFAULT_S, MAX_THROTTLED_BOUNDS = 86400, (3600, 14 * 86400)
SUCCESS_GRACE_DEFAULT_S = 600
# A fleet rule keeps watching the things that SUCCEEDED for up to a week (`watch_after`), also after the job
# completed: the state keeps a thing's successes that long (`schema.WATCH`).
WATCH_AFTER_BOUNDS = (0, 7 * 86400)


class PolicyError(ValueError):
    """The policy is invalid; `problems` lists every reason."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class Match:
    alarm_name: str | None = None
    source: str | None = None
    severity: tuple[str, ...] | None = None  # lower-cased
    security_profile: str | None = None
    signal: str | None = None


@dataclass(frozen=True)
class Casualties:
    """When a fleet-signal rule halts: `things` casualties (within `within_s` seconds of each other, when given),
    or `percent` of the job's executed things once `min_things` have executed; whichever is crossed first.

    A thing is a casualty when its execution fails (FAILED, REJECTED, TIMED_OUT) or when it goes dark: it
    disconnects while executing the job, or within `success_grace_s` after reporting SUCCEEDED, and does not
    reconnect within `dark_after_s`. Dark things count only when the rest of the fleet (`fleet_things` in all) did
    not go dark at a comparable rate in the same minutes (a network outage is not a firmware casualty)."""

    things: int | None = None
    within_s: int | None = None
    percent: float | None = None
    min_things: int | None = None
    dark_after_s: int | None = None
    fleet_things: int | None = None
    success_grace_s: int = SUCCESS_GRACE_DEFAULT_S
    # How long after a thing SUCCEEDED it still counts when it goes dark (or reports another package version), also
    # after the job COMPLETED: a crossing then is a regression (nothing to cancel).
    watch_after_s: int = 0

    @property
    def after_success_s(self) -> int:
        """How long after SUCCEEDED a thing that goes dark still counts for the job."""
        return max(self.success_grace_s, self.watch_after_s)


@dataclass(frozen=True)
class Abort:
    """An abort criterion the guard adds to a throttled job's own `abortConfig` (IoT enforces it)."""

    failure_type: str
    percent: float
    min_executed: int

    def criterion(self) -> dict[str, Any]:
        """As an abortConfig's criteriaList takes it (UpdateJob, CreateJob)."""
        return {"failureType": self.failure_type, "action": "CANCEL", "thresholdPercentage": self.percent,
                "minNumberOfExecutedThings": self.min_executed}


@dataclass(frozen=True)
class Throttle:
    """What a `throttle` rule does to a job: a flat rollout rate, an abort criterion, and when to cancel after all."""

    max_per_minute: int
    abort: Abort | None = None
    escalate_after_s: int | None = None
    recheck_s: int = RECHECK_DEFAULT_S
    max_throttled_s: int = MAX_THROTTLED_DEFAULT_S


class Approval(StrEnum):
    """Whether a prepared revert waits for an operator (`rollout-guard revert --approve`) or is created at once."""

    REQUIRED = "required"
    AUTO = "auto"


@dataclass(frozen=True)
class Revert:
    """The way back a rule prepares when it halts a job or finds it regressed: a job of its own (the revert job
    document, or a job template), sent to the things that SUCCEEDED on the bad job, at its own rate and abort."""

    document: dict[str, Any] | None = None  # the job document, read from the file the policy names
    document_file: str | None = None  # that file's name, as the policy gives it
    template_arn: str | None = None
    approval: Approval = Approval.REQUIRED
    max_per_minute: int | None = None
    abort: Abort | None = None


@dataclass(frozen=True)
class Rule:
    name: str
    match: Match
    jobs: tuple[str, ...] | None
    thing_group: str | None
    reason_code: str
    force: bool
    max_jobs: int
    dry_run: bool
    comment: str | None
    casualties: Casualties | None = None
    action: Action = CANCEL
    throttle: Throttle | None = None
    # Globs over Greengrass v2 deployment names (`thing_group` then names the deployment's target group): the rule
    # also stops the ACTIVE deployments they match, through CancelDeployment.
    deployments: tuple[str, ...] | None = None
    revert: Revert | None = None


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...]

    def fleet_rules(self) -> tuple[Rule, ...]:
        return self._fleet_rules

    def watches(self) -> bool:
        """Whether a fleet rule watches things after they SUCCEEDED (`watch_after`): their successes are kept."""
        return any(rule.casualties is not None and rule.casualties.watch_after_s for rule in self.rules)

    def dark_checks(self) -> tuple[int, ...]:
        """Every `dark_after` of the fleet rules, in seconds: a disconnect is checked after each."""
        return self._dark_checks

    # Worked out once per policy (a policy never changes): the detector asks for each event of a batch.
    @cached_property
    def _fleet_rules(self) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule.casualties is not None)

    @cached_property
    def _dark_checks(self) -> tuple[int, ...]:
        return tuple(sorted({rule.casualties.dark_after_s for rule in self.fleet_rules()
                             if rule.casualties is not None and rule.casualties.dark_after_s is not None}))


