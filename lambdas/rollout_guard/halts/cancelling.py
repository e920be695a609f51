"""Carrying out an alert's cancels: each candidate confirmed (DescribeJob), claimed, cancelled, and escalated to a
forced cancel where the rule says, on a few threads (boto3 clients are thread-safe). The use case (`guard`) hands
its candidates here; the decisions are `decisions`' pure rules."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import Any

from rollout_guard.halts import decisions
from rollout_guard.halts.claims import Claimed, ClaimLevel, Claims, NoClaims, cancel_level, skipped_detail
from rollout_guard.halts.decisions import (
    ACTING,
    CANCELED,
    ESCALATED,
    FAILED,
    SKIPPED,
    TO_CANCEL,
    TO_ESCALATE,
    BlastRadius,
    Decision,
)
from rollout_guard.halts.jobs import JobsError, JobsPort
from rollout_guard.policy import Rule

WORKERS = 4
OUT_OF_TIME = "the invocation ran out of time; a retry of the alert finishes the job"


def _cancelled(decision: Decision, claimed: Claimed) -> Decision:
    force = "with force" if decision.force else "without force"
    note = f"; {claimed.detail}" if claimed.detail else ""
    return replace(decision, action=CANCELED, detail=f"{decision.detail}; CancelJob accepted ({force}){note}")


class _Otherwise(Exception):
    """The confirmed decision is not the cancel claimed early: raised through the claim, which releases it."""

    def __init__(self, decision: Decision):
        super().__init__(decision.detail)
        self.decision = decision


class _Incomplete(Exception):
    """An escalation that did not finish: raised through the claim so that the claim is released."""

    def __init__(self, decision: Decision):
        super().__init__(decision.detail)
        self.decision = decision


class _Inline(Executor):
    """The executor of a single job: each call runs at once, so the common alert pays for no thread."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # handed over as a thread pool would, to be raised by result()
            future.set_exception(error)
        return future


class Cancelling:
    """The candidates of one alert, confirmed and carried out on a few threads (boto3 clients are thread-safe).

    A job goes from DescribeJob to CancelJob as soon as the blast-radius cap is sure to hold, and a job cleared to
    act takes the next free worker before another confirmation does, so confirmations and cancellations overlap and
    a fan-out takes as long as the slower of the two, not their sum. Once the cap is exceeded, no confirmation
    starts and nothing is carried out."""

    def __init__(self, jobs: JobsPort, claims: Claims, rule: Rule, comment: str, dry_run: bool,
                 out_of_time: Callable[[], bool], already: int = 0, at_ms: float | None = None):
        self.jobs, self.claims, self.rule, self.comment = jobs, claims, rule, comment
        self.dry_run, self.out_of_time, self.already = dry_run, out_of_time, already
        self.at_ms = at_ms  # when the alert's crossing happened (a watched job's regression is judged by it)

    def run(self, candidates: list[str]) -> list[Decision]:
        """`already`: what the same alert acts on besides these jobs (deployments), counted against the cap."""
        if not candidates:
            return []
        cap = BlastRadius(self.rule, len(candidates), self.already)
        if cap.safe and not self.dry_run and not isinstance(self.claims, NoClaims):
            return self._run_claiming_early(candidates)
        decided: dict[str, Decision] = {}
        to_confirm, cleared = deque(candidates), deque[Decision]()
        held: list[Decision] = []  # acting decisions waiting until the cap is sure to hold
        workers = min(WORKERS, len(candidates))
        with ThreadPoolExecutor(max_workers=workers) if workers > 1 else _Inline() as pool:
            running: dict[Future[Any], str] = {}
            while to_confirm or cleared or running:
                while len(running) < workers and (cleared or to_confirm):
                    if cleared:
                        decision = cleared.popleft()
                        running[pool.submit(self._carry_out, decision)] = decision.job_id
                    else:
                        job_id = to_confirm.popleft()
                        running[pool.submit(self._confirm, job_id)] = job_id
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    job_id, answer = running.pop(future), future.result()
                    if isinstance(answer, Decision):  # carried out
                        decided[job_id] = answer
                        continue
                    decision = decided[job_id] = decisions.decide(self.rule, job_id, answer, self.dry_run, self.at_ms)
                    cap.confirmed(decision)
                    if decision.action in ACTING:
                        held.append(decision)
                if cap.exceeded:  # nothing was carried out: the cap was never safe
                    return [cap.block(job_id, decided.get(job_id)) for job_id in candidates]
                if cap.safe:
                    cleared.extend(held)
                    held.clear()
        return [decided[job_id] for job_id in candidates]

    def _run_claiming_early(self, candidates: list[str]) -> list[Decision]:
        """The cap holds whatever the confirmations say: each job's claim is taken while its DescribeJob is in
        flight, so a halt waits for the slower of the two, not their sum."""
        workers = min(WORKERS, len(candidates))
        with ThreadPoolExecutor(max_workers=workers) as side, (
                ThreadPoolExecutor(max_workers=workers) if workers > 1 else _Inline()) as pool:
            done = [pool.submit(self._claimed_early, job_id, side) for job_id in candidates]
            return [future.result() for future in done]

    def _claimed_early(self, job_id: str, side: Executor) -> Decision:
        """The claim of the cancel the rule would make, taken beside DescribeJob. The cancel runs under it when
        the confirmed decision is that cancel; any other decision releases it and goes its own way (a skip, an
        escalation under its own claim). Another invocation holding the claim means that invocation acts."""
        described = side.submit(self._confirm, job_id)
        decided: list[Decision] = []

        def act() -> None:
            decision = decisions.decide(self.rule, job_id, described.result(), self.dry_run, self.at_ms)
            decided.append(decision)
            if decision.action != TO_CANCEL or decision.force != self.rule.force:
                raise _Otherwise(decision)
            self.jobs.cancel(job_id, decision.reason_code, self.comment, decision.force)

        try:
            claimed = self.claims.once(job_id, cancel_level(self.rule.force), act)
        except _Otherwise as otherwise:
            return self._carry_out(otherwise.decision)
        except JobsError as error:
            return replace(decided[0], action=FAILED, detail=f"cancel failed: {error}")
        decision = decided[0] if decided else decisions.decide(self.rule, job_id, described.result(), self.dry_run,
                                                               self.at_ms)
        if claimed.acted:
            return _cancelled(decision, claimed)
        if decision.action == TO_CANCEL:
            return replace(decision, action=SKIPPED, detail=skipped_detail(claimed))
        return self._carry_out(decision)  # not the claimed cancel (an escalation takes its own claim)

    def _confirm(self, job_id: str) -> decisions.Confirmed:
        if self.out_of_time():
            return OUT_OF_TIME
        try:
            return self.jobs.describe(job_id)
        except JobsError as error:
            return error

    def _carry_out(self, decision: Decision) -> Decision:
        if decision.action == TO_ESCALATE:
            return self._escalate(decision)
        if decision.action != TO_CANCEL:
            return decision
        if self.out_of_time():
            return replace(decision, action=FAILED, detail=f"cancel not attempted: {OUT_OF_TIME}")
        try:
            claimed = self.claims.once(decision.job_id, cancel_level(decision.force), lambda: self.jobs.cancel(
                decision.job_id, decision.reason_code, self.comment, decision.force))
        except JobsError as error:
            return replace(decision, action=FAILED, detail=f"cancel failed: {error}")
        if not claimed.acted:
            return replace(decision, action=SKIPPED, detail=skipped_detail(claimed))
        return _cancelled(decision, claimed)

    def _escalate(self, decision: Decision) -> Decision:
        """Under its own claim: a concurrent escalation of the same job skips."""
        escalated: list[Decision] = []

        def force() -> None:
            result = self._force(decision)
            if result.action == FAILED:
                raise _Incomplete(result)  # releases the claim: a retry of the alert escalates again
            escalated.append(result)

        try:
            claimed = self.claims.once(decision.job_id, ClaimLevel.ESCALATE, force)
        except _Incomplete as incomplete:
            return incomplete.decision
        if not claimed.acted:
            return replace(decision, action=SKIPPED, detail=skipped_detail(claimed, ClaimLevel.ESCALATE))
        return escalated[0] if escalated else decision

    def _force(self, decision: Decision) -> Decision:
        """The documented way to stop what a cancel without force left running: list the job's IN_PROGRESS
        executions, then force-cancel each one. A failure raises, releasing the claim for a retry."""
        try:
            things = self.jobs.things_in_progress(decision.job_id)
        except JobsError as error:
            return replace(decision, action=FAILED, detail=f"escalation failed: {error}")
        if not things:
            return replace(decision, action=SKIPPED, detail="job is CANCELED and no execution is IN_PROGRESS")
        stopped, failures = 0, []
        for thing in things:
            if self.out_of_time():
                failures.append(f"{thing}: {OUT_OF_TIME}")
                continue
            try:
                stopped += self.jobs.force_cancel_execution(decision.job_id, thing)
            except JobsError as error:
                failures.append(f"{thing}: {error}")
        if failures:
            detail = (f"escalation stopped {stopped} of {len(things)} IN_PROGRESS executions; failed: "
                      + "; ".join(failures))
            return replace(decision, action=FAILED, detail=detail)
        return replace(decision, action=ESCALATED,
                       detail=f"{decision.detail}; force-cancelled {stopped} IN_PROGRESS execution(s)")
