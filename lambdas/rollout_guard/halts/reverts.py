"""After a rollout: a job found regressed is announced once, and a rule's `revert` prepares the way back.

A revert is a job of its own, sent to exactly the things that SUCCEEDED on the bad job (ListJobExecutionsForJob,
every page), with the rule's revert document or job template, rollout rate and abort criterion, under the id
`<job>-revert` (a number after it when that id is taken). With `approval: required` the plan is kept in the state
table and announced ("Revert Ready"); nothing is created until an operator approves (`rollout-guard revert --job J
--approve`). With `auto` it is created at once. A job is prepared for once, a revert job is never reverted, and a
second approval creates nothing. This module holds the port of the IoT calls a revert makes (`RevertJobs`) and the
use case; what is kept is `revert_records`' (the state table's `after#<job>` items in production).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Protocol

from rollout_guard.halts.decisions import (
    CANCELED,
    REGRESSED,
    REVERT_FAILED,
    REVERT_READY,
    REVERTED,
    SKIPPED,
    WOULD_CANCEL,
    WOULD_REVERT,
    Act,
    Decision,
)
from rollout_guard.halts.jobs import JobsError
from rollout_guard.halts.revert_records import AfterRollout, KeptError, RevertPlan
from rollout_guard.iot_limits import TARGETS_MAX
from rollout_guard.policy import Abort, Rule
from rollout_guard.policy.model import Approval, Revert
from rollout_guard.telemetry import log

SUFFIX = "-revert"
ATTEMPTS = 9  # `<job>-revert`, then `<job>-revert-2` ... `-9`: past that, a revert is not prepared (said so)
FOLLOWED = (CANCELED, REGRESSED, WOULD_CANCEL)  # the decisions a rule's revert follows


@dataclass(frozen=True)
class NewJob:
    """A revert job as CreateJob takes it."""

    job_id: str
    targets: tuple[str, ...]
    description: str
    document: dict[str, Any] | None = None
    template_arn: str | None = None
    max_per_minute: int | None = None
    abort: dict[str, Any] | None = None


class RevertJobs(Protocol):
    """IoT as a revert uses it. Every failure is a `JobsError`."""

    def succeeded_things(self, job_id: str) -> list[str]:
        """The ARNs of the things whose execution of the job SUCCEEDED (every page)."""

    def job_exists(self, job_id: str) -> bool: ...

    def thing_group(self, name: str, thing_arns: list[str]) -> str:
        """A static thing group of these things (made, or added to): its ARN."""

    def create_job(self, job: NewJob) -> str:
        """CreateJob; its ARN. A taken id is a `JobsError` with code ResourceAlreadyExistsException."""


TAKEN = "ResourceAlreadyExistsException"
APPROVED = "REVERT_APPROVED"  # the reason code of an operator's approval


def abort_config(abort: Abort | None) -> dict[str, Any] | None:
    if abort is None:
        return None
    return {"criteriaList": [abort.criterion()]}


def _said(job_id: str, reason_code: str, action: Act, detail: str, revert_job_id: str | None = None) -> Decision:
    """A revert's decision: about the bad job, naming the revert job."""
    return Decision(job_id, action, reason_code, False, detail, revert_job_id=revert_job_id)


def revert_ids(job_id: str) -> list[str]:
    """The ids a revert of the job may take, in order (each within CreateJob's 64 characters)."""
    first = f"{job_id[:64 - len(SUFFIX)]}{SUFFIX}"
    return [first] + [f"{job_id[:64 - len(SUFFIX) - 2]}{SUFFIX}-{n}" for n in range(2, ATTEMPTS + 1)]


class AfterRollouts:
    """The use case: regressions announced once; reverts prepared, created on approval (or at once)."""

    def __init__(self, jobs: RevertJobs | None, kept: AfterRollout,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.jobs, self.kept, self.now = jobs, kept, now

    def follow(self, rule: Rule, decisions: list[Decision], dry_run: bool) -> list[Decision]:
        """The outcome's decisions, a regression already announced skipped, and after each job halted or found
        regressed, its revert's decision (when the rule has one)."""
        followed: list[Decision] = []
        for decision in decisions:
            if decision.action == REGRESSED and not self._first_regression(decision):
                decision = replace(decision, action=SKIPPED, detail="regression already announced")
            followed.append(decision)
            if rule.revert is None or decision.deployment is not None:
                continue
            if decision.action in FOLLOWED:
                followed.append(self._prepared(rule, rule.revert, decision.job_id,
                                               dry_run or decision.action == WOULD_CANCEL))
            elif decision.action == SKIPPED and rule.revert.approval == Approval.AUTO and not dry_run:
                followed += self._unfinished(rule, decision.job_id)
        return followed

    def _unfinished(self, rule: Rule, job_id: str) -> list[Decision]:
        """An `auto` revert prepared before and not created (IoT refused, or the invocation ran out of time) is
        created when its job's crossing comes again (the same alert retried, a later casualty): never left
        half done. Only a kept plan is finished here; a new one is prepared only after a halt or a regression."""
        try:
            plan = self.kept.plan(job_id)
        except KeptError as error:
            return [_said(job_id, rule.reason_code, REVERT_FAILED, f"revert not looked at: {error}")]
        if plan is None or plan.created_at:
            return []
        return [self.create(plan, reason_code=rule.reason_code)]

    def _first_regression(self, decision: Decision) -> bool:
        """Announced once; when the store cannot say, announced again rather than not at all."""
        try:
            return self.kept.regressed(decision.job_id, decision.detail)
        except KeptError as error:
            log("warning", "Regression announced without its record", job_id=decision.job_id, error=str(error))
            return True

    def _prepared(self, rule: Rule, revert: Revert, job_id: str, dry_run: bool) -> Decision:
        try:
            return self._prepare(rule, revert, job_id, dry_run)
        except (JobsError, KeptError) as error:
            return _said(job_id, rule.reason_code, REVERT_FAILED, f"revert not prepared: {error}")

    def _prepare(self, rule: Rule, revert: Revert, job_id: str, dry_run: bool) -> Decision:
        def said(action: Act, detail: str, revert_job_id: str | None = None) -> Decision:
            return _said(job_id, rule.reason_code, action, detail, revert_job_id)

        kept = self.kept.plan(job_id)
        if kept is not None:
            return said(SKIPPED, f"a revert of this job was prepared already ({kept.revert_job_id})",
                        kept.revert_job_id)
        if self.kept.is_revert(job_id):
            return said(SKIPPED, "this job is a revert: never reverted automatically")
        if self.jobs is None:
            return said(REVERT_FAILED, "no IoT client to prepare a revert with")
        things = self.jobs.succeeded_things(job_id)
        revert_job_id = next((i for i in revert_ids(job_id) if not self.jobs.job_exists(i)), None)
        if revert_job_id is None:
            return said(SKIPPED, f"revert not prepared: the ids {SUFFIX} to {SUFFIX}-{ATTEMPTS} are all taken")
        plan = RevertPlan(job_id, revert_job_id, rule.name, len(things), revert.approval, self.now().isoformat(),
                          revert.document, revert.document_file, revert.template_arn, revert.max_per_minute,
                          abort_config(revert.abort))
        if not things:
            return said(SKIPPED, "no thing SUCCEEDED on this job: nothing to revert")
        if dry_run:
            return said(WOULD_REVERT, f"dry run: would prepare revert {revert_job_id} of {len(things)} thing(s) "
                                      f"with {plan.what}", revert_job_id)
        if not self.kept.prepare(plan):
            return said(SKIPPED, "a revert of this job was prepared already", revert_job_id)
        if revert.approval == Approval.AUTO:
            return self.create(plan, things, rule.reason_code)
        return said(REVERT_READY, f"revert {revert_job_id} of {len(things)} thing(s) with {plan.what} is ready; "
                                  f"approve: rollout-guard revert --job {job_id} --approve", revert_job_id)

    def create(self, plan: RevertPlan, things: list[str] | None = None, reason_code: str = APPROVED) -> Decision:
        """The plan's revert job, to the things that SUCCEEDED on the bad job (listed again unless given): once.
        `reason_code`: the rule's when the guard creates it, an operator's approval's otherwise."""
        def said(action: Act, detail: str, revert_job_id: str | None = plan.revert_job_id) -> Decision:
            return _said(plan.job_id, reason_code, action, detail, revert_job_id)

        if plan.created_at:
            return said(SKIPPED, f"revert {plan.revert_job_id} was created already ({plan.created_at}): "
                                 "nothing created")
        if self.jobs is None:
            return said(REVERT_FAILED, "no IoT client to create the revert with")
        try:
            things = things if things is not None else self.jobs.succeeded_things(plan.job_id)
            if not things:
                return said(SKIPPED, "no thing SUCCEEDED on this job: nothing to revert")
            targets = (tuple(things) if len(things) <= TARGETS_MAX
                       else (self.jobs.thing_group(plan.revert_job_id, things),))
            self.jobs.create_job(NewJob(plan.revert_job_id, targets, f"rollout-guard revert of {plan.job_id} "
                                        f"(rule {plan.rule})", plan.document, plan.template_arn,
                                        plan.max_per_minute, plan.abort))
        except JobsError as error:
            if error.code != TAKEN:
                return said(REVERT_FAILED, f"revert not created: {error}")
            self._created(plan)
            return said(SKIPPED, f"revert {plan.revert_job_id} exists already: nothing created")
        self._created(plan)
        return said(REVERTED, f"revert {plan.revert_job_id} created for {len(things)} thing(s) with {plan.what}")

    def _created(self, plan: RevertPlan) -> None:
        """The job exists: a record that cannot be written is logged (a second approval then meets CreateJob's
        refusal of the taken id, and creates nothing either)."""
        try:
            self.kept.created(replace(plan, created_at=self.now().isoformat()))
        except KeptError as error:
            log("error", "Revert created, its record not written", job_id=plan.job_id,
                revert_job_id=plan.revert_job_id, error=str(error))
