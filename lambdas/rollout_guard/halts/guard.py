"""The guard's use case: from a parsed alert to decisions carried out through the jobs port.

The port (`jobs.JobsPort`) is `iot.IotJobs` in production and an in-memory fake in unit tests; this module never
imports an adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from typing import Any

from rollout_guard.halts import decisions, deployment_halts
from rollout_guard.halts.alert_kinds import AlarmAlert, Alert, DefenderAlert, FleetAlert, Requested, request_of
from rollout_guard.halts.cancelling import Cancelling
from rollout_guard.halts.claims import Claims, NoClaims
from rollout_guard.halts.decisions import (
    ACTING,
    BLOCKED,
    FAILED,
    BlastRadius,
    Decision,
)
from rollout_guard.halts.deployments import DeploymentsPort
from rollout_guard.halts.jobs import JobsError, JobsPort
from rollout_guard.halts.reverts import AfterRollouts
from rollout_guard.halts.throttle.records import InMemoryThrottles, ThrottleRecords
from rollout_guard.halts.throttle.timers import EscalationTimers
from rollout_guard.halts.throttle.use_case import Throttling
from rollout_guard.policy import THROTTLE, Policy, Rule
from rollout_guard.times import epoch

IGNORED = "ignored"
HANDLED = "handled"


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

    @property
    def announcing(self) -> int:
        """How many events the outcome announces: jobs cancelled, throttled or restored, and notices."""
        return sum(1 for decision in self.decisions if decision.announced)

    def count(self, action: str) -> int:
        return sum(1 for decision in self.decisions if decision.action == action)

    @property
    def rule_name(self) -> str | None:
        return self.rule.name if self.rule else None

    def with_action(self, action: str) -> list[Decision]:
        return [decision for decision in self.decisions if decision.action == action]

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "detail": self.detail,
            "rule": self.rule_name,
            "alert": self.alert.summary(),
            "decisions": [decision.to_dict() for decision in self.decisions],
        }


def respond(alert: Alert, policy: Policy, jobs: JobsPort, dry_run: bool = False,
            out_of_time: Callable[[], bool] = lambda: False, kill_switch: Callable[[], bool] = lambda: False,
            claims: Claims | None = None, throttles: ThrottleRecords | None = None,
            escalations: EscalationTimers | None = None, deployments: DeploymentsPort | None = None,
            after: AfterRollouts | None = None) -> Outcome:
    """Decide and act on one alert. Errors listing jobs propagate (nothing can be decided); errors about one job
    become that job's `failed` decision so the others go on. Once `out_of_time()` says so, no new call starts: the
    jobs left are reported `failed`, for a retry of the alert to finish. `kill_switch()` is asked only when some job
    could be cancelled; when it says so, every action is a dry run. Each cancel and escalation first takes its claim
    (`claims`), so concurrent invocations act on a job once. A `throttle` rule slows its jobs instead; the alarm's
    return to OK restores them (`throttles` keeps what they were). A rule's Greengrass deployments are stopped
    beside its jobs (`deployments`, `_with_deployments`); its revert follows a halt or a regression (`after`)."""
    why_not = decisions.inaction_reason(alert)
    rule = decisions.select_rule(policy, alert)
    if why_not and not _recovered(alert, rule):
        return Outcome(alert, IGNORED, why_not)
    if rule is None:
        return Outcome(alert, IGNORED, f"no rule matches {alert.subject}")
    request = request_of(alert)
    if request is not None:  # an operator's halt: the request within the rule's guardrails
        rule = decisions.as_requested(rule, request)
        dry_run = dry_run or request.dry_run
    chosen = _chosen(alert, rule, jobs, deployments)
    if isinstance(chosen, Outcome):
        return chosen
    candidates, skipped, stopping = chosen
    dry_run = dry_run or rule.dry_run or (bool(candidates or stopping) and kill_switch())
    claims = claims or NoClaims()
    if rule.action == THROTTLE:
        acted = _throttling(alert, rule, candidates, Throttling(rule, alert, jobs, claims,
                                                                throttles or InMemoryThrottles(), dry_run, out_of_time,
                                                                escalations))
    else:
        work = Cancelling(jobs, claims, rule, decisions.render_comment(rule, alert), dry_run, out_of_time,
                          at_ms=_moment_ms(alert))
        acted = (_with_deployments(rule, candidates, stopping, work, deployments)
                 if stopping and deployments is not None else work.run(candidates))
    acted = after.follow(rule, acted, dry_run) if after is not None else acted
    detail = f"rule {rule.name} matched {alert.subject}" + ("" if skipped or acted else "; no job selected")
    return Outcome(alert, HANDLED, detail, rule, deployment_halts.said(skipped + acted))


def _chosen(alert: Alert, rule: Rule, jobs: JobsPort, deployments: DeploymentsPort | None
            ) -> tuple[list[str], list[Decision], list[str]] | Outcome:
    """The jobs to confirm, those screened out, and the deployments to confirm; or the outcome that nothing can be
    chosen (no job, and no deployment)."""
    chosen = _candidates(alert, rule, jobs)
    stopping: list[str] = []
    unlisted: list[Decision] = []  # the deployments could not be listed: reported, the jobs halted all the same
    if deployments is not None and rule.action != THROTTLE:
        try:
            stopping = deployment_halts.selected(rule, alert, deployments)
        except JobsError as error:
            unlisted = [deployment_halts.unlisted(rule, error)]
    if isinstance(chosen, Outcome):
        return chosen if not stopping and not unlisted else ([], unlisted, stopping)
    return chosen[0], chosen[1] + unlisted, stopping


def _with_deployments(rule: Rule, candidates: list[str], stopping: list[str], work: Cancelling,
                      deployments: DeploymentsPort) -> list[Decision]:
    """The rule's deployments confirmed first: a job that is one of them is cancelled through its deployment, and
    the cap counts jobs and deployments together. The jobs go first; the deployments are cancelled only when the
    jobs' cap held (nothing is cancelled past it)."""
    confirmed = [deployment_halts.confirm(rule, deployment_id, deployments, work.dry_run) for deployment_id in stopping]
    acting = [decision for decision in confirmed if decision.action in ACTING]
    through = {decision.job_id for decision in acting}
    if len(acting) > rule.max_jobs:
        cap = BlastRadius(rule, 0, len(acting))
        return ([cap.block(job_id, None) for job_id in candidates if job_id not in through]
                + [_blocked(cap, decision) for decision in confirmed])
    work.already = len(acting)
    done = work.run([job_id for job_id in candidates if job_id not in through])
    if any(decision.action == BLOCKED for decision in done):
        cap = BlastRadius(rule, 0, len(acting) + sum(decision.action == BLOCKED for decision in done))
        return done + [_blocked(cap, decision) for decision in confirmed]
    return done + [deployment_halts.carry_out(decision, deployments, work.jobs, work.claims, work.out_of_time)
                   for decision in confirmed]


def _moment_ms(alert: Alert) -> float | None:
    """When the alert's cause happened (a fleet alert: its crossing), epoch ms, if it says."""
    moment = epoch(alert.timestamp)
    return moment * 1000 if moment is not None else None


def _blocked(cap: BlastRadius, decision: Decision) -> Decision:
    if decision.action not in ACTING:
        return decision
    return replace(cap.block(decision.job_id, decision), deployment=decision.deployment)


def _recovered(alert: Alert, rule: Rule | None) -> bool:
    """An alarm back to OK whose rule throttles: its jobs are restored (an operator's resume is no alarm)."""
    return isinstance(alert, AlarmAlert) and alert.state == "OK" and rule is not None and rule.action == THROTTLE


def _throttling(alert: Alert, rule: Rule, candidates: list[str], work: Throttling) -> list[Decision]:
    """Throttle on ALARM, restore on OK; past the cap (more candidates than `max_jobs`) nothing is throttled."""
    request = request_of(alert)
    if (isinstance(alert, AlarmAlert) and alert.state == "OK") or (request is not None and request.action is Requested.RESUME):
        return work.restore(candidates)
    if not BlastRadius(rule, len(candidates)).safe:  # before any confirmation: every candidate may be active
        detail = f"{len(candidates)} jobs exceed max_jobs {rule.max_jobs} of rule {rule.name}; nothing throttled"
        return [Decision(job_id, BLOCKED, rule.reason_code, False, detail) for job_id in candidates]
    return work.throttle(candidates)


def _candidates(alert: Alert, rule: Rule, jobs: JobsPort) -> tuple[list[str], list[Decision]] | Outcome:
    """The jobs the rule may act on for this alert, and those it named but screened out; or the outcome that
    nothing can be chosen."""
    if isinstance(alert, FleetAlert) and alert.deployment_ids:
        return [], []  # the fleet signal of a deployment: that deployment alone
    if isinstance(alert, DefenderAlert):
        named = tuple(jobs.job_ids_on_thing(alert.thing_name))
        if not named:
            return Outcome(alert, HANDLED, f"no active job has an execution on thing {alert.thing_name}", rule)
    else:
        named = alert.job_ids
    if named:
        return decisions.screen_named(rule, named)
    if rule.jobs is None:
        return Outcome(alert, HANDLED, f"the alert names no job and rule {rule.name} has no jobs globs", rule)
    candidates = decisions.select_from_active(rule, jobs.active_job_ids())
    request = request_of(alert)
    if request is not None:
        glob = request.jobs
        candidates = [job_id for job_id in candidates if glob is not None and fnmatchcase(job_id, glob)]
    return candidates, []
