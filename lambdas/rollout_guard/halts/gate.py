"""The pre-start gate: a job created while its rule's alarm is already in ALARM is halted at once.

An alarm-based halt acts on a state change; an alarm already in ALARM when a rollout starts never changes state,
so without the gate that rollout would run to the end. IoT's CreateJob reaches the guard as CloudTrail's
"AWS API Call via CloudTrail" event (only where a trail records management events). For the first rule, in policy
order, whose `alarm_name` glob has an alarm in ALARM right now (DescribeAlarms) and whose jobs globs allow the new
job, the gate makes that alarm's alert and the guard acts on it with that rule alone.
"""

from __future__ import annotations

from typing import Protocol

from rollout_guard.halts.alert_kinds import AlarmAlert, JobCreated, Via
from rollout_guard.halts.decisions import allowed_by_rule
from rollout_guard.policy import Policy, Rule


class AlarmsPort(Protocol):
    def firing(self, glob: str) -> list[str]:
        """Names of the alarms matching the glob that are in ALARM now."""

    def state(self, name: str) -> str | None:
        """The alarm's state now (OK, ALARM, INSUFFICIENT_DATA), or None when there is no such alarm."""


def prefix_of(glob: str) -> str:
    """The literal start of a glob: what DescribeAlarms can narrow by (AlarmNamePrefix)."""
    for index, char in enumerate(glob):
        if char in "*?[":
            return glob[:index]
    return glob


def check(created: JobCreated, policy: Policy, alarms: AlarmsPort) -> tuple[AlarmAlert, Rule] | None:
    """The alert to act on, and its rule, when the created job starts under a firing alarm; None otherwise."""
    job_id = created.job_ids[0]
    for rule in policy.rules:
        glob = rule.match.alarm_name
        if glob is None or not isinstance(job_id, str) or not allowed_by_rule(rule, job_id):
            continue
        firing = sorted(alarms.firing(glob))
        if firing:
            name = firing[0]
            reason = f"alarm {name} was already in ALARM when job {job_id} was created"
            return AlarmAlert(via=Via.GATE, correlation_id=created.correlation_id, alarm_name=name, state="ALARM",
                              reason=reason, job_ids=(job_id,), timestamp=created.timestamp), rule
    return None
