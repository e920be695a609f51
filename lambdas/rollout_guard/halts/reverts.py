"""After a rollout: a job found regressed is announced once, and a rule's `revert` prepares the way back.

A revert is a job of its own, sent to exactly the things that SUCCEEDED on the bad job (ListJobExecutionsForJob,
every page), with the rule's revert document or job template, rollout rate and abort criterion, under the id
`<job>-revert` (a number after it when that id is taken). With `approval: required` the plan is kept in the state
table and announced ("Revert Ready"); nothing is created until an operator approves (`rollout-guard revert --job J
--approve`). With `auto` it is created at once. A job is prepared for once, a revert job is never reverted, and a
second approval creates nothing. This module holds the port of what is kept (`AfterRollout`; the state table's
`after#<job>` items in production), the port of the IoT calls a revert makes (`RevertJobs`) and the use case.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
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
    Decision,
)
from rollout_guard.halts.jobs import JobsError
from rollout_guard.iot_limits import TARGETS_MAX
from rollout_guard.policy import Abort, Rule
from rollout_guard.policy.model import Approval, Revert
from rollout_guard.telemetry import log

SUFFIX = "-revert"
ATTEMPTS = 9  # `<job>-revert`, then `<job>-revert-2` ... `-9`: past that, a revert is not prepared (said so)
FOLLOWED = (CANCELED, REGRESSED, WOULD_CANCEL)  # the decisions a rule's revert follows


@dataclass(frozen=True)
class RevertPlan:
    """A revert prepared for a bad job: kept as JSON in the state table, shown by `rollout-guard revert`."""

    job_id: str  # the bad job
    revert_job_id: str
    rule: str
    things: int  # the things that SUCCEEDED on the bad job when it was prepared
    approval: str
    prepared_at: str  # ISO 8601
    document: dict[str, Any] | None = None
    document_file: str | None = None
    template_arn: str | None = None
    max_per_minute: int | None = None
    abort: dict[str, Any] | None = None  # abortConfig, as CreateJob takes it
    created_at: str | None = None  # when the revert job was created

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RevertPlan:
        return cls(**json.loads(text))

    @property
    def what(self) -> str:
        """The document or template, as a plan names it."""
        return (f"document {self.document_file}" if self.document_file else f"template {self.template_arn}"
                if self.template_arn else "the rule's inline document")

    def to_dict(self) -> dict[str, Any]:
        return {"jobId": self.job_id, "revertJobId": self.revert_job_id, "rule": self.rule, "things": self.things,
                "approval": self.approval, "preparedAt": self.prepared_at, "documentFile": self.document_file,
                "templateArn": self.template_arn, "maxPerMinute": self.max_per_minute, "abortConfig": self.abort,
                "createdAt": self.created_at, "state": "created" if self.created_at else "ready"}


class KeptError(RuntimeError):
    """What is kept after a rollout could not be read or written (the adapter says why)."""


Kept = tuple[str, str | None, RevertPlan | None]  # a job, its regression's detail, its revert plan


class AfterRollout(Protocol):
    """What the guard keeps after a rollout (the state table's `after#<job>` items). Failures are `KeptError`."""

    def regressed(self, job_id: str, detail: str) -> bool:
        """Record the job regressed; True only the first time (it is announced once)."""

    def prepare(self, plan: RevertPlan) -> bool:
        """Keep the plan unless one is kept for its job; True when this one was kept."""

    def plan(self, job_id: str) -> RevertPlan | None: ...

    def created(self, plan: RevertPlan) -> bool:
        """Record the plan's revert job created (and the revert job as one); True only the first time."""

    def is_revert(self, job_id: str) -> bool:
        """Whether the job is a revert the guard created."""

    def kept(self) -> list[Kept]:
        """Every job kept after a rollout, by id."""


class InMemoryAfterRollout:
    """One process's memory (the CLI and the tests without a state table)."""

    def __init__(self) -> None:
        self.regressions: dict[str, str] = {}
        self.plans: dict[str, RevertPlan] = {}
        self.reverts: set[str] = set()

    def regressed(self, job_id: str, detail: str) -> bool:
        if job_id in self.regressions:
            return False
        self.regressions[job_id] = detail
        return True

    def prepare(self, plan: RevertPlan) -> bool:
        return self.plans.setdefault(plan.job_id, plan) is plan

    def plan(self, job_id: str) -> RevertPlan | None:
        return self.plans.get(job_id)

    def created(self, plan: RevertPlan) -> bool:
        kept = self.plans.get(plan.job_id)
        if kept is None or kept.created_at:
            return False
        self.plans[plan.job_id] = plan
        self.reverts.add(plan.revert_job_id)
        return True

    def is_revert(self, job_id: str) -> bool:
        return job_id in self.reverts

    def kept(self) -> list[Kept]:
        return [(job_id, self.regressions.get(job_id), self.plans.get(job_id))
                for job_id in sorted({*self.regressions, *self.plans})]


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
            if rule.revert is not None and decision.action in FOLLOWED and decision.deployment is None:
                followed.append(self._prepared(rule, rule.revert, decision.job_id,
                                               dry_run or decision.action == WOULD_CANCEL))
        return followed

    def _first_regression(self, decision: Decision) -> bool:
        """Announced once; when the store cannot say, announced again rather than not at all."""
        try:
            return self.kept.regressed(decision.job_id, decision.detail)
        except KeptError as error:
            log("warning", "Regression announced without its record", job_id=decision.job_id, error=str(error))
            return True

    def _prepared(self, rule: Rule, revert: Revert, job_id: str, dry_run: bool) -> Decision:
        def said(action: Any, detail: str, revert_job_id: str | None = None) -> Decision:
            return Decision(job_id, action, rule.reason_code, False, detail, revert_job_id=revert_job_id)

        try:
            return self._prepare(rule, revert, job_id, dry_run, said)
        except (JobsError, KeptError) as error:
            return said(REVERT_FAILED, f"revert not prepared: {error}")

    def _prepare(self, rule: Rule, revert: Revert, job_id: str, dry_run: bool,
                 said: Callable[..., Decision]) -> Decision:
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
            return self.create(plan, things, said)
        return said(REVERT_READY, f"revert {revert_job_id} of {len(things)} thing(s) with {plan.what} is ready; "
                                  f"approve: rollout-guard revert --job {job_id} --approve", revert_job_id)

    def create(self, plan: RevertPlan, things: list[str] | None = None,
               said: Callable[..., Decision] | None = None) -> Decision:
        """The plan's revert job, to the things that SUCCEEDED on the bad job (listed again unless given): once."""
        said = said or (lambda action, detail, revert_job_id=None: Decision(
            plan.job_id, action, APPROVED, False, detail, revert_job_id=revert_job_id))
        if plan.created_at:
            return said(SKIPPED, f"revert {plan.revert_job_id} was created already ({plan.created_at}): "
                                 "nothing created", plan.revert_job_id)
        if self.jobs is None:
            return said(REVERT_FAILED, "no IoT client to create the revert with", plan.revert_job_id)
        try:
            things = things if things is not None else self.jobs.succeeded_things(plan.job_id)
            if not things:
                return said(SKIPPED, "no thing SUCCEEDED on this job: nothing to revert", plan.revert_job_id)
            targets = (tuple(things) if len(things) <= TARGETS_MAX
                       else (self.jobs.thing_group(plan.revert_job_id, things),))
            self.jobs.create_job(NewJob(plan.revert_job_id, targets, f"rollout-guard revert of {plan.job_id} "
                                        f"(rule {plan.rule})", plan.document, plan.template_arn,
                                        plan.max_per_minute, plan.abort))
        except JobsError as error:
            if error.code != TAKEN:
                return said(REVERT_FAILED, f"revert not created: {error}", plan.revert_job_id)
            self._created(plan)
            return said(SKIPPED, f"revert {plan.revert_job_id} exists already: nothing created", plan.revert_job_id)
        self._created(plan)
        return said(REVERTED, f"revert {plan.revert_job_id} created for {len(things)} thing(s) with {plan.what}",
                    plan.revert_job_id)

    def _created(self, plan: RevertPlan) -> None:
        """The job exists: a record that cannot be written is logged (a second approval then meets CreateJob's
        refusal of the taken id, and creates nothing either)."""
        try:
            self.kept.created(replace(plan, created_at=self.now().isoformat()))
        except KeptError as error:
            log("error", "Revert created, its record not written", job_id=plan.job_id,
                revert_job_id=plan.revert_job_id, error=str(error))
