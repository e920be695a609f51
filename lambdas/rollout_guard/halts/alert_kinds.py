"""What the guard hears: one frozen dataclass per kind of alert, each with the fields its kind has, and the words
the alert path decides on (`Kind`, `Via`, `Requested`). `alerts.parse` makes them from what AWS delivers; the
detector, the gate and the watchdog make their own.

Every alert answers `kind`, `via`, `correlation_id`, `reason`, `job_ids` (as the alert gave them: checked later,
never repaired), `timestamp` (when the condition began, ISO 8601, if known), `subject` and `summary()` (the JSON of a
result, unchanged from when an alert was one class: a timer's rule is shown as its `source`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from rollout_guard.documents import show
from rollout_guard.iot_limits import JOB_GLOB
from rollout_guard.policy import Throttle


class Kind(StrEnum):
    ALARM = "cloudwatch_alarm"
    DEFENDER = "defender_violation"
    CUSTOM = "custom"
    FLEET = "fleet_signal"  # made by the detector when a job's casualties cross a rule's threshold
    JOB_CREATED = "job_created"  # IoT CreateJob through CloudTrail: the pre-start gate looks at it
    ESCALATION_DUE = "escalation_due"  # a throttle's timer: restore, cancel, forget or look again
    REVERT_REQUESTED = "revert_requested"  # an operator looks at a prepared revert, or approves it


class Via(StrEnum):
    """How the alert reached the guard (its delivery path), or who made it."""

    EVENTBRIDGE = "eventbridge"
    SNS = "sns"
    ALARM_ACTION = "alarm_action"  # CloudWatch's Lambda alarm action
    DETECTOR = "detector"
    CLOUDTRAIL = "cloudtrail"
    TIMER = "timer"
    GATE = "gate"  # an alarm found firing when a job was created


class Requested(StrEnum):
    """What an operator's request asks of the jobs it names."""

    HALT = "cancel"
    THROTTLE = "throttle"
    RESUME = "resume"  # put back what the guard throttled


# --- the wire: what AWS and the guard's own senders put on the bus -----------------------------------------

# The event a throttle's timer (an EventBridge Scheduler one-time schedule) puts on the guard's bus. Its name is
# from when the timer only escalated; kept, so that the timers of a guard deployed before still arrive.
TIMER_SOURCE = "rollout-guard.timer"
ESCALATION_DUE_TYPE = "Rollout Escalation Due"
# An operator's halt, from `rollout-guard halt` or put on the control bus: a custom alert of this source that names
# a glob over job ids instead of jobs. The policy's rules match it by its source, like any custom alert.
OPERATOR_SOURCE = "rollout-guard.operator"
HALT_REQUESTED = "Rollout Halt Requested"
# An operator's throttle and resume (`rollout-guard throttle`, `rollout-guard resume`): the same source and globs.
THROTTLE_REQUESTED, RESUME_REQUESTED = "Rollout Throttle Requested", "Rollout Resume Requested"
REQUESTS = {HALT_REQUESTED: Requested.HALT, THROTTLE_REQUESTED: Requested.THROTTLE,
            RESUME_REQUESTED: Requested.RESUME}
# An operator's look at a prepared revert, or approval of it (`rollout-guard revert`): the same source, one job.
REVERT_REQUESTED = "Rollout Revert Requested"
REQUEST_GLOB = JOB_GLOB  # an operator names jobs as a policy does
ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"
CLOUDTRAIL_CALL = "AWS API Call via CloudTrail"
JOB_ID_DIMENSION = "JobId"
# The kinds by their old names, which the stack and the CLI read.
ALARM, DEFENDER, CUSTOM, FLEET = Kind.ALARM, Kind.DEFENDER, Kind.CUSTOM, Kind.FLEET
JOB_CREATED, ESCALATION_DUE = Kind.JOB_CREATED, Kind.ESCALATION_DUE


class UnrecognisedAlert(ValueError):
    """The input is not one of the alert shapes the guard understands."""


@dataclass(frozen=True)
class HaltRequest:
    """What an operator asked for: the jobs (a glob) or Greengrass deployments (a glob over their names, or both),
    and optionally the reason code, comment, force and dry run."""

    jobs: str | None
    reason_code: str | None = None
    comment: str | None = None
    force: bool | None = None
    dry_run: bool = False
    requested_by: str | None = None
    action: Requested = Requested.HALT
    throttle: Throttle | None = None  # a throttle's settings
    deployments: str | None = None


@dataclass(frozen=True)
class AlarmAlert:
    """A CloudWatch alarm's state change (EventBridge, SNS, the Lambda action), or one the guard made for a rule
    (the gate's, the watchdog's)."""

    via: Via
    alarm_name: str
    state: str
    previous_state: str | None = None
    # The alarm's actions held back by its actions suppressor, now and in the previous state (EventBridge only).
    actions_suppressed_by: str | None = None
    previous_actions_suppressed_by: str | None = None
    reason: str = ""
    job_ids: tuple[Any, ...] = ()
    timestamp: str | None = None  # the state's timestamp
    correlation_id: str | None = None
    kind: ClassVar[Kind] = Kind.ALARM

    @property
    def subject(self) -> str:
        return f"alarm {self.alarm_name}"

    def summary(self) -> dict[str, Any]:
        return _summary(self, alarmName=self.alarm_name, state=self.state, previousState=self.previous_state,
                        actionsSuppressedBy=self.actions_suppressed_by,
                        previousActionsSuppressedBy=self.previous_actions_suppressed_by)


@dataclass(frozen=True)
class DefenderAlert:
    """A Device Defender violation on one thing (SNS); the jobs are those executing on the thing."""

    via: Via
    security_profile: str
    thing_name: str
    violation_event_type: str
    reason: str = ""
    timestamp: str | None = None
    correlation_id: str | None = None
    kind: ClassVar[Kind] = Kind.DEFENDER
    job_ids: ClassVar[tuple[Any, ...]] = ()

    @property
    def subject(self) -> str:
        return f"thing {self.thing_name} ({self.security_profile})"

    def summary(self) -> dict[str, Any]:
        return _summary(self, securityProfile=self.security_profile, thingName=self.thing_name,
                        violationEventType=self.violation_event_type)


@dataclass(frozen=True)
class CustomAlert:
    """A monitoring tool's alert naming jobs (EventBridge or SNS), or an operator's request naming a glob."""

    via: Via
    source: str | None = None
    severity: str | None = None
    reason: str = ""
    job_ids: tuple[Any, ...] = ()
    timestamp: str | None = None
    correlation_id: str | None = None
    request: HaltRequest | None = None  # an operator's request (source `OPERATOR_SOURCE`)
    kind: ClassVar[Kind] = Kind.CUSTOM

    @property
    def subject(self) -> str:
        return f"source {self.source}" if self.source else "custom alert"

    def summary(self) -> dict[str, Any]:
        return _summary(self, source=self.source, severity=self.severity,
                        jobsGlob=self.request.jobs if self.request else None,
                        deploymentsGlob=self.request.deployments if self.request else None)


@dataclass(frozen=True)
class FleetAlert:
    """The fleet signal: a job's (or a Greengrass deployment's) casualties crossed its rule's threshold (made by the
    detector)."""

    job_ids: tuple[Any, ...]
    reason: str = ""
    timestamp: str | None = None  # when the threshold was crossed
    correlation_id: str | None = None
    deployment_ids: tuple[str, ...] = ()
    kind: ClassVar[Kind] = Kind.FLEET
    via: ClassVar[Via] = Via.DETECTOR

    @property
    def subject(self) -> str:
        if self.deployment_ids:
            return f"the fleet signal of deployment {self.deployment_ids[0]}"
        return f"the fleet signal of job {_named(self.job_ids)}"

    def summary(self) -> dict[str, Any]:
        return _summary(self, deploymentIds=list(self.deployment_ids))


@dataclass(frozen=True)
class JobCreated:
    """IoT's CreateJob as CloudTrail records it: the pre-start gate's question."""

    job_ids: tuple[Any, ...]
    timestamp: str | None = None
    correlation_id: str | None = None
    kind: ClassVar[Kind] = Kind.JOB_CREATED
    via: ClassVar[Via] = Via.CLOUDTRAIL
    reason: ClassVar[str] = ""

    @property
    def subject(self) -> str:
        return f"the creation of job {_named(self.job_ids)}"

    def summary(self) -> dict[str, Any]:
        return _summary(self)


@dataclass(frozen=True)
class RevertRequested:
    """An operator's look at the revert prepared for a job (`approve`: create it), under the operator rule."""

    job_ids: tuple[str]
    approve: bool = False
    requested_by: str | None = None
    correlation_id: str | None = None
    timestamp: str | None = None
    kind: ClassVar[Kind] = Kind.REVERT_REQUESTED
    via: ClassVar[Via] = Via.EVENTBRIDGE
    reason: ClassVar[str] = ""

    @property
    def subject(self) -> str:
        return f"{'the approval' if self.approve else 'a look'} of the revert of job {self.job_ids[0]}"

    def summary(self) -> dict[str, Any]:
        return _summary(self, source=OPERATOR_SOURCE)


@dataclass(frozen=True)
class EscalationDue:
    """A throttle's timer fell due: the job, the alarm that throttled it, the rule that did, since when
    (`timestamp`) and when the check fell due (`due_at`; timers set before it was carried carry none)."""

    job_ids: tuple[Any, ...]
    alarm_name: str
    rule: str
    timestamp: str | None = None
    due_at: str | None = None
    correlation_id: str | None = None
    kind: ClassVar[Kind] = Kind.ESCALATION_DUE
    via: ClassVar[Via] = Via.TIMER
    reason: ClassVar[str] = ""

    @property
    def subject(self) -> str:
        return f"the throttle timer of job {self.job_ids[0]} (alarm {self.alarm_name})"

    def summary(self) -> dict[str, Any]:
        return _summary(self, alarmName=self.alarm_name, source=self.rule)


Alert = AlarmAlert | DefenderAlert | CustomAlert | FleetAlert | JobCreated | EscalationDue | RevertRequested

# The keys of an alert's summary, in the order a result has always shown them.
SUMMARY_KEYS = ("kind", "via", "correlationId", "alarmName", "state", "previousState", "actionsSuppressedBy",
                "previousActionsSuppressedBy", "source", "severity", "securityProfile", "thingName",
                "violationEventType", "jobIds", "reason", "timestamp", "jobsGlob", "deploymentIds",
                "deploymentsGlob")


def _summary(alert: Alert, **own: Any) -> dict[str, Any]:
    fields = {"kind": alert.kind, "via": alert.via, "correlationId": alert.correlation_id,
              "jobIds": [job_id if isinstance(job_id, str) else show(job_id) for job_id in alert.job_ids],
              "reason": alert.reason, "timestamp": alert.timestamp, **own}
    return {key: fields[key] for key in SUMMARY_KEYS if fields.get(key) not in (None, "", [])}


def _named(job_ids: tuple[Any, ...]) -> str:
    job = job_ids[0] if job_ids else "?"
    return job if isinstance(job, str) else show(job)


def request_of(alert: Alert) -> HaltRequest | None:
    """The operator's request an alert carries, if it is one."""
    return alert.request if isinstance(alert, CustomAlert) else None
