"""A job's casualties evaluated against its fleet rule: which rule owns the job, what the counts read from the
fleet state say (`casualties.verdict`), and the casualties a halt's comment names."""

from __future__ import annotations

from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Protocol

from rollout_guard.fleet.casualties import DARK, SHOWN, Casualty, Verdict, minute_of, outage, verdict
from rollout_guard.fleet.events import deployment_of
from rollout_guard.fleet.state import FleetState
from rollout_guard.halts.decisions import allowed_by_rule
from rollout_guard.halts.jobs import JobsError, JobView
from rollout_guard.policy import Casualties, Policy, Rule
from rollout_guard.telemetry import log


class Describing(Protocol):
    def describe(self, job_id: str) -> JobView: ...


def fleet_rule(policy: Policy, job_id: str, deployment_name: Callable[[str], str | None] = lambda _: None
               ) -> Rule | None:
    """The first fleet-signal rule whose jobs globs allow the job (no globs, and no deployments named: any job); for
    a deployment's subject, the first whose deployments globs match the deployment's name."""
    deployment_id = deployment_of(job_id)
    if deployment_id is not None:
        name = deployment_name(deployment_id)
        return next((rule for rule in policy.fleet_rules() if name is not None and rule.deployments is not None
                     and any(fnmatchcase(name, glob) for glob in rule.deployments)), None)
    for rule in policy.fleet_rules():
        if allowed_by_rule(rule, job_id):
            return rule
    return None


def evaluate(job_id: str, threshold: Casualties, new: list[Casualty], state: FleetState,
             jobs: Describing) -> Verdict | None:
    """The job's verdict once `new` is counted (None: the job no longer exists, nothing to halt). Reads the job's
    tally, the casualties in reach of a window, and, when the threshold needs them, the job's executed things and
    the fleet's minutes; when it crossed, also the casualties its comment names."""
    tally = state.tally(job_id)
    dark_minutes = tally.dark_minutes()
    compared = threshold.fleet_things if dark_minutes else None  # dark things, set against the rest of the fleet
    try:
        executed = _executed(job_id, jobs) if threshold.percent is not None or compared else None
    except _Gone:
        return None
    why_not_dark = (outage(tally.total(DARK), executed or 0, _others(state, dark_minutes), compared)
                    if compared else None)
    reach = _window(new, threshold.within_s, tally.minutes)
    read = [*new, *state.casualties(job_id, reach)]
    judged = verdict(threshold, read, executed, why_not_dark, tally)
    if judged.crossed:  # the comment names the first things and the one that crossed: read them, once
        crossing = tally.nth_minute(threshold.things, why_not_dark) if threshold.things is not None else None
        minutes = set(_first_and_last(tally.minutes)) | ({crossing[0]} if crossing else set())
        read += state.casualties(job_id, sorted(minutes - set(reach)))
        judged = verdict(threshold, read, executed, why_not_dark, tally)
    return judged


class _Gone(Exception):
    """The job no longer exists."""


def _executed(job_id: str, jobs: Describing) -> int:
    try:
        return jobs.describe(job_id).executed
    except JobsError as error:
        if not error.not_found:
            raise  # the message fails and comes back: the casualties stay counted
        log("info", "Casualties of a job that no longer exists: nothing to halt", job_id=job_id)
        raise _Gone(job_id) from error


def _others(state: FleetState, dark_minutes: set[int]) -> int:
    """The rest of the fleet's disconnects in the minutes the job's things went dark."""
    return sum(minute.others for minute in state.minutes(dark_minutes).values())


def _window(new: list[Casualty], within_s: int | None, known: dict[int, dict[str, int]]) -> list[int]:
    """The minutes with casualties (`known`, the tally's) that a window holding a new casualty can reach (none
    without a window)."""
    if not new or within_s is None:
        return []
    window_ms = within_s * 1000
    low, high = minute_of(min(c.at_ms for c in new) - window_ms), minute_of(max(c.at_ms for c in new) + window_ms)
    return sorted(minute for minute in known if low <= minute <= high)


def _first_and_last(minutes: dict[int, dict[str, int]]) -> list[int]:
    """The minute buckets of the first casualties (those a comment names) and of the last."""
    known, wanted, seen = sorted(minutes), [], 0
    for minute in known:
        if seen >= SHOWN:
            break
        wanted.append(minute)
        seen += sum(minutes[minute].values())
    return sorted(set(wanted) | set(known[-1:]))
