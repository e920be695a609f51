"""The guard's use case: from a parsed alert to decisions carried out through a jobs port.

The port is `iot.IotJobs` in production and an in-memory fake in unit tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from . import decisions
from .alerts import DEFENDER, Alert
from .decisions import CANCEL, CANCELED, ESCALATE, ESCALATED, FAILED, SKIPPED, Decision, JobView
from .iot import IotError
from .policy import Policy, Rule

IGNORED = "ignored"
HANDLED = "handled"
WORKERS = 4
OUT_OF_TIME = "the invocation ran out of time; a retry of the alert finishes the job"


class JobsPort(Protocol):
    def describe(self, job_id: str) -> JobView: ...

    def active_job_ids(self) -> list[str]: ...

    def job_ids_on_thing(self, thing_name: str) -> list[str]: ...

    def cancel(self, job_id: str, reason_code: str, comment: str, force: bool) -> dict[str, Any]: ...

    def things_in_progress(self, job_id: str) -> list[str]: ...

    def force_cancel_execution(self, job_id: str, thing_name: str) -> bool: ...


@dataclass
class Outcome:
    alert: Alert
    status: str
    detail: str
    rule: Rule | None = None
    decisions: list[Decision] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(decision.action == FAILED for decision in self.decisions)

    def count(self, action: str) -> int:
        return sum(1 for decision in self.decisions if decision.action == action)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "detail": self.detail,
            "rule": self.rule.name if self.rule else None,
            "alert": self.alert.summary(),
            "decisions": [decision.to_dict() for decision in self.decisions],
        }


def respond(
    alert: Alert,
    policy: Policy,
    jobs: JobsPort,
    dry_run: bool = False,
    out_of_time: Callable[[], bool] = lambda: False,
    kill_switch: Callable[[], bool] = lambda: False,
) -> Outcome:
    """Decide and act on one alert. Errors listing jobs propagate (nothing can be decided); errors about one job
    become that job's `failed` decision so the others go on. Once `out_of_time()` says so, no new call starts: the
    jobs left are reported `failed`, for a retry of the alert to finish. `kill_switch()` is asked only when some job
    could be cancelled; when it says so, every action is a dry run."""
    why_not = decisions.inaction_reason(alert)
    if why_not:
        return Outcome(alert, IGNORED, why_not)
    rule = decisions.select_rule(policy, alert)
    if rule is None:
        return Outcome(alert, IGNORED, f"no rule matches {alert.subject}")

    if alert.kind == DEFENDER:
        named = tuple(jobs.job_ids_on_thing(alert.thing_name))
        if not named:
            return Outcome(alert, HANDLED, f"no active job has an execution on thing {alert.thing_name}", rule)
    else:
        named = alert.job_ids
    if named:
        candidates, skipped = decisions.screen_named(rule, named)
    elif rule.jobs is None:
        return Outcome(alert, HANDLED, f"the alert names no job and rule {rule.name} has no jobs globs", rule)
    else:
        candidates, skipped = decisions.select_from_active(rule, jobs.active_job_ids()), []

    dry_run = dry_run or rule.dry_run or (bool(candidates) and kill_switch())
    comment = decisions.render_comment(rule, alert)
    if len(candidates) <= rule.max_jobs:
        # The cap cannot be exceeded, so each job goes from DescribeJob straight to CancelJob: confirmations and
        # cancellations overlap, and a fan-out takes as long as the slower of the two, not their sum.
        planned = _each(lambda job_id: _one_job(jobs, rule, job_id, comment, dry_run, out_of_time), candidates)
    else:
        views = _each(lambda job_id: _confirm(jobs, job_id, out_of_time), candidates)
        confirmed = dict(zip(candidates, views, strict=True))
        planned = decisions.plan(rule, candidates, confirmed, dry_run=dry_run)
        planned = _each(lambda decision: _carry_out(jobs, decision, comment, out_of_time), planned)
    outcome = Outcome(alert, HANDLED, f"rule {rule.name} matched {alert.subject}", rule, skipped + planned)
    if not outcome.decisions:
        outcome.detail += "; no job selected"
    return outcome


def _each(work: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    """`work` over `items` on a few threads, results in the items' order. boto3 clients are thread-safe."""
    if len(items) <= 1:
        return [work(item) for item in items]
    from concurrent.futures import ThreadPoolExecutor  # only a fan-out pays for it

    with ThreadPoolExecutor(max_workers=min(WORKERS, len(items))) as pool:
        return list(pool.map(work, items))


def _one_job(jobs: JobsPort, rule: Rule, job_id: str, comment: str, dry_run: bool,
             out_of_time: Callable[[], bool]) -> Decision:
    confirmed = _confirm(jobs, job_id, out_of_time)
    (decision,) = decisions.plan(rule, [job_id], {job_id: confirmed}, dry_run=dry_run)
    return _carry_out(jobs, decision, comment, out_of_time)


def _confirm(jobs: JobsPort, job_id: str, out_of_time: Callable[[], bool]) -> JobView | str:
    if out_of_time():
        return OUT_OF_TIME
    try:
        return jobs.describe(job_id)
    except IotError as error:
        return str(error)


def _carry_out(jobs: JobsPort, decision: Decision, comment: str, out_of_time: Callable[[], bool]) -> Decision:
    if decision.action == ESCALATE:
        return _escalate(jobs, decision, out_of_time)
    if decision.action != CANCEL:
        return decision
    if out_of_time():
        return replace(decision, action=FAILED, detail=f"cancel not attempted: {OUT_OF_TIME}")
    try:
        jobs.cancel(decision.job_id, decision.reason_code, comment, decision.force)
    except IotError as error:
        return replace(decision, action=FAILED, detail=f"cancel failed: {error}")
    force = "with force" if decision.force else "without force"
    return replace(decision, action=CANCELED, detail=f"{decision.detail}; CancelJob accepted ({force})")


def _escalate(jobs: JobsPort, decision: Decision, out_of_time: Callable[[], bool]) -> Decision:
    """The documented way to stop what a cancel without force left running: list the job's IN_PROGRESS executions,
    then force-cancel each one."""
    try:
        things = jobs.things_in_progress(decision.job_id)
    except IotError as error:
        return replace(decision, action=FAILED, detail=f"escalation failed: {error}")
    if not things:
        return replace(decision, action=SKIPPED, detail="job is CANCELED and no execution is IN_PROGRESS")
    stopped, failures = 0, []
    for thing in things:
        if out_of_time():
            failures.append(f"{thing}: {OUT_OF_TIME}")
            continue
        try:
            stopped += jobs.force_cancel_execution(decision.job_id, thing)
        except IotError as error:
            failures.append(f"{thing}: {error}")
    if failures:
        detail = f"escalation stopped {stopped} of {len(things)} IN_PROGRESS executions; failed: " + "; ".join(failures)
        return replace(decision, action=FAILED, detail=detail)
    return replace(decision, action=ESCALATED,
                   detail=f"{decision.detail}; force-cancelled {stopped} IN_PROGRESS execution(s)")
