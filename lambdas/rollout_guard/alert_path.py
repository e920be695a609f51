"""The alert path: one alert parsed, decided and carried out (`guard`), the pre-start gate's question (`gate`) and a
throttle's timer (`timer_check`), each reported, counted and announced.

Failure semantics:
- an input that is not an alert is kept in the dead-letter queue with its reason and the invocation succeeds (no
  retry could help); without a queue configured (the CLI) it raises `UnrecognisedAlert`;
- a job that could not be confirmed or cancelled raises `HaltIncomplete` after every other job was handled, so the
  platform retries the alert (a retry re-checks each job with DescribeJob, and its exactly-once claim, and never
  cancels twice) and finally dead-letters it: no alert is lost; a job that does not exist is skipped, not failed;
- logging never raises (`telemetry.log`), and a claim store that cannot be reached never stops a halt;
- any other failure (listing jobs, AWS faults past the retries) raises, with the same retry and dead-letter path.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rollout_guard.halts import alerts, decisions, guard
from rollout_guard.halts.alert_kinds import (
    OPERATOR_SOURCE,
    Alert,
    CustomAlert,
    EscalationDue,
    JobCreated,
    RevertRequested,
    UnrecognisedAlert,
    Via,
)
from rollout_guard.halts.claims import Claims, NoClaims
from rollout_guard.halts.decisions import (
    BLOCKED,
    CANCELED,
    ESCALATED,
    FAILED,
    NO_SUCH_JOB,
    REGRESSED,
    RESTORED,
    REVERT_FAILED,
    REVERT_READY,
    REVERTED,
    SKIPPED,
    THROTTLED,
    WOULD_CANCEL,
    WOULD_REVERT,
    Decision,
)
from rollout_guard.halts.deployments import DeploymentsPort
from rollout_guard.halts.jobs import JobsPort
from rollout_guard.halts.reverts import APPROVED, AfterRollouts
from rollout_guard.halts.throttle.records import InMemoryThrottles, ThrottleRecords
from rollout_guard.observability import RESTORE_SKIPPED_DETAIL_TYPE, Metric
from rollout_guard.policy import Policy, Rule
from rollout_guard.telemetry import count, log, logger, milliseconds
from rollout_guard.times import epoch

if TYPE_CHECKING:  # the gate's and the watchdog's modules load when their first event does, not at cold start
    from rollout_guard.adapters.dead_letters import DeadLetterQueue
    from rollout_guard.adapters.halt_events import HaltAnnouncer
    from rollout_guard.adapters.kill_switch import KillSwitch
    from rollout_guard.halts.gate import AlarmsPort
    from rollout_guard.halts.throttle.timers import EscalationTimers
    from rollout_guard.halts.throttle.watchdog import Recheck

SAFETY_MARGIN_S = 10.0
ACTION_METRICS = {
    CANCELED: Metric.JOBS_CANCELLED,
    WOULD_CANCEL: Metric.JOBS_WOULD_CANCEL,
    SKIPPED: Metric.JOBS_SKIPPED,
    BLOCKED: Metric.JOBS_BLOCKED,
    FAILED: Metric.JOBS_FAILED,
    ESCALATED: Metric.JOBS_ESCALATED,
    THROTTLED: Metric.JOBS_THROTTLED,
    RESTORED: Metric.JOBS_RESTORED,
    REGRESSED: Metric.JOBS_REGRESSED,
    REVERT_READY: Metric.REVERTS_READY,
    REVERTED: Metric.REVERTS_CREATED,
    REVERT_FAILED: Metric.REVERTS_FAILED,
}


class HaltIncomplete(RuntimeError):
    """Some job could not be confirmed or cancelled; `outcome` (the result as JSON) says which."""

    def __init__(self, outcome: dict[str, Any]):
        self.outcome = outcome
        failed = [d["jobId"] for d in outcome["decisions"] if d["action"] == FAILED]
        super().__init__(f"could not halt jobs {failed}")


@dataclass(frozen=True)
class AlertPath:
    policy: Policy
    jobs: JobsPort
    deployments: DeploymentsPort | None = None  # Greengrass v2, when a rule names deployments
    dry_run: bool = False
    kill_switch: KillSwitch | None = None
    claims: Claims = field(default_factory=NoClaims)
    dead_letters: DeadLetterQueue | None = None
    announcer: HaltAnnouncer | None = None
    tracer: Any = None  # Powertools' Tracer, when tracing is on
    alarms: AlarmsPort | None = None  # the pre-start gate's and the watchdog's look at the alarms
    throttles: ThrottleRecords = field(default_factory=InMemoryThrottles)  # what throttled jobs were (state table)
    escalations: EscalationTimers | None = None  # a throttle's timers (EventBridge Scheduler)
    after: AfterRollouts | None = None  # regressions announced once, reverts prepared and kept (state table)

    def handle(self, event: Any, context: Any) -> dict[str, Any]:
        """One alert's result; raises as the module docstring says."""
        count(Metric.ALERTS_RECEIVED)
        with self._span("handle"):
            try:
                alert = alerts.parse(event)
            except UnrecognisedAlert as error:
                return self._reject(event, error)
            if alert.correlation_id:
                logger.set_correlation_id(alert.correlation_id)
            logger.append_keys(alert_kind=alert.kind)
            if isinstance(alert, JobCreated):
                return self._gate(alert, context)
            if isinstance(alert, EscalationDue):
                return self._watch(alert, context)
            if isinstance(alert, RevertRequested):
                return self._revert(alert)
            return self.act(alert, self.policy, context).to_dict()

    def act(self, alert: Alert, policy: Policy, context: Any) -> guard.Outcome:
        """The guard on one alert, reported and announced; raises `HaltIncomplete` when a job was left."""
        outcome = guard.respond(alert, policy, self.jobs, dry_run=self.dry_run,
                                out_of_time=deadline(context), kill_switch=self._kill_switch_engaged,
                                claims=self.claims, throttles=self.throttles, escalations=self.escalations,
                                deployments=self.deployments, after=self.after)
        self._report(outcome)
        if outcome.announcing:
            self._after_halt(outcome)
        if outcome.failed:
            raise HaltIncomplete(outcome.to_dict())
        return outcome

    def _gate(self, created: JobCreated, context: Any) -> dict[str, Any]:
        from rollout_guard.halts import gate

        found = gate.check(created, self.policy, self.alarms) if self.alarms is not None else None
        if found is None:
            detail = f"no rule's alarm is in ALARM for {created.subject}"
            log("info", "Job created, no alarm firing", alert=created.summary(), detail=detail)
            return _ignored(created, detail)
        alert, rule = found
        count(Metric.JOBS_GATED)
        log("warning", "Job created while its alarm fires", alarm=alert.alarm_name, rule=rule.name,
            job_id=created.job_ids[0])
        return self.act(alert, Policy((rule,)), context).to_dict()

    def _watch(self, due: EscalationDue, context: Any) -> dict[str, Any]:
        """A throttle's timer (`halts.throttle.watchdog`): restore, cancel, forget, or look again later. A next timer that
        could not be set fails the invocation after the rest is done (retried, then dead-lettered: heard)."""
        from rollout_guard.halts.throttle import timer_check, watchdog

        checked = timer_check.check(due, self.policy, self.throttles, self.jobs, self.alarms, self.escalations)
        verdict = checked.verdict
        if checked.unset is not None:
            count(Metric.THROTTLE_TIMERS_FAILED)
            log("error", "Throttle timer not set: the job is not watched until the retry", error=str(checked.unset))
        if isinstance(verdict, watchdog.Done):
            log("info", "Throttle timer: nothing more to watch", alert=due.summary(), detail=verdict.detail)
            return _ignored(due, verdict.detail, rule=due.rule)
        if isinstance(verdict, watchdog.Recheck):
            result = self._still_throttled(due, verdict, watchdog.throttle_rule(self.policy, verdict.record.rule))
        else:
            if isinstance(verdict, watchdog.Escalate):
                count(Metric.THROTTLES_ESCALATED)
                log("warning", "Throttled job still under a firing alarm: cancelling", alarm=verdict.record.alarm,
                    rule=verdict.rule.name, job_id=verdict.record.job_id)
            result = self.act(verdict.alert, Policy((verdict.rule,)), context).to_dict()
        if checked.unset is not None:
            raise checked.unset
        return result

    def _revert(self, request: RevertRequested) -> dict[str, Any]:
        """An operator's look at a job's prepared revert (its plan), or its approval (the revert job created, once),
        under the operator rule's guardrails: its jobs globs, its dry run and the kill switch."""
        job_id = request.job_ids[0]
        rule = decisions.select_rule(self.policy, CustomAlert(via=Via.EVENTBRIDGE, source=OPERATOR_SOURCE))
        if rule is None or not decisions.allowed_by_rule(rule, job_id):
            return _ignored(request, f"no operator rule allows job {job_id}")
        plan = self.after.kept.plan(job_id) if self.after is not None else None
        if self.after is None or plan is None:
            return {**_ignored(request, f"no revert prepared for job {job_id}", rule.name), "revert": None}
        if not request.approve:
            return {**_ignored(request, f"revert {plan.revert_job_id} of job {job_id}: {plan.things} thing(s) with "
                                        f"{plan.what}", rule.name), "revert": plan.to_dict()}
        if self.dry_run or rule.dry_run or self._kill_switch_engaged():
            decision = Decision(job_id, WOULD_REVERT, APPROVED, False, f"dry run: would create {plan.revert_job_id}",
                                revert_job_id=plan.revert_job_id)
        else:
            decision = self.after.create(plan)
        outcome = guard.Outcome(request, guard.HANDLED, f"rule {rule.name} matched {request.subject}", rule,
                                [decision])
        self._report(outcome)
        if outcome.announcing:
            self._after_halt(outcome)
        return {**outcome.to_dict(), "revert": (self.after.kept.plan(job_id) or plan).to_dict()}

    def _still_throttled(self, due: EscalationDue, verdict: Recheck, rule: Rule | None) -> dict[str, Any]:
        """Looked at again later; a throttle past `max_throttled` is announced once ("Rollout Throttle Stale")."""
        if verdict.stale is None:
            log("info", "Throttle still held", alert=due.summary(), detail=verdict.detail)
            return _ignored(due, verdict.detail, rule=due.rule)
        self.throttles.put(verdict.record)  # its stale_at: announced once
        count(Metric.THROTTLES_STALE)
        outcome = guard.Outcome(due, guard.HANDLED, verdict.detail, rule, [verdict.stale])
        self._report(outcome)
        self._after_halt(outcome)
        return outcome.to_dict()

    def _span(self, name: str) -> contextlib.AbstractContextManager[Any]:
        return self.tracer.provider.in_subsegment(f"## {name}") if self.tracer else contextlib.nullcontext()

    def _reject(self, event: Any, error: UnrecognisedAlert) -> dict[str, Any]:
        count(Metric.ALERTS_UNRECOGNISED)
        log("error", "Unrecognised alert", problem=str(error))
        if self.dead_letters is None:
            raise error
        # Kept at once: a retry could not make it recognisable. If keeping it fails, the error goes up, and the
        # platform's retries and on-failure destination keep it instead.
        self.dead_letters.keep(event, str(error))
        return {"status": "rejected", "detail": str(error), "rule": None, "decisions": []}

    def _kill_switch_engaged(self) -> bool:
        if self.kill_switch is None:
            return False
        state = self.kill_switch.state()
        if state.problem:
            count(Metric.KILL_SWITCH_UNREADABLE)
            log("error", "Kill switch unreadable: acting as if off", problem=state.problem)
        if state.engaged:
            count(Metric.KILL_SWITCH_ENGAGED)
            log("warning", "Kill switch on: every action is a dry run", parameter=self.kill_switch.name)
        return state.engaged

    def _report(self, outcome: guard.Outcome) -> None:
        for action, metric in ACTION_METRICS.items():
            count(metric, outcome.count(action))
        count(Metric.JOBS_NOT_FOUND, sum(1 for d in outcome.decisions if d.detail == NO_SUCH_JOB))
        count(Metric.RESTORES_SKIPPED, sum(1 for d in outcome.decisions if d.notice == RESTORE_SKIPPED_DETAIL_TYPE))
        decided = [decision.to_dict() for decision in outcome.decisions]
        rule = outcome.rule_name
        if outcome.count(BLOCKED):
            log("error", "BLAST RADIUS CAP HIT: nothing cancelled", rule=rule, blocked=outcome.count(BLOCKED),
                decisions=decided)
        log("info", "Alert handled", status=outcome.status, detail=outcome.detail, rule=rule,
            alert=outcome.alert.summary(), decisions=decided)

    def _after_halt(self, outcome: guard.Outcome) -> None:
        """Time-to-halt and the "Rollout Halted" events. A failure here is logged and counted, never raised: the jobs
        are already cancelled, and a retry of the alert would not announce them again."""
        started = epoch(outcome.alert.timestamp)
        if started is not None and outcome.count(CANCELED):
            elapsed_ms = (time.time() - started) * 1000
            milliseconds(Metric.TIME_TO_HALT, max(0.0, elapsed_ms))
        if self.announcer is None:
            return
        try:
            failed = self.announcer.announce(outcome)
        except Exception as error:  # botocore raises many types; all mean the announcement did not go out
            failed = outcome.announcing
            log("error", "Rollout Halted events not sent", exc_info=True, error=str(error))
        if failed:
            log("error", "Rollout Halted events rejected", failed=failed)
        count(Metric.HALT_EVENTS_FAILED, failed)


def deadline(context: Any) -> Callable[[], bool]:
    """`out_of_time()` for an invocation: stop starting calls while a retried call could still finish before the
    timeout; what is left is reported failed, and the platform's retry of the alert finishes it."""
    end = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - SAFETY_MARGIN_S
    return lambda: time.monotonic() > end


def _ignored(alert: Alert, detail: str, rule: str | None = None) -> dict[str, Any]:
    """The result of an event that calls for nothing (the guard's own outcome shape, naming the rule if any)."""
    return {**guard.Outcome(alert, guard.IGNORED, detail).to_dict(), "rule": rule}
