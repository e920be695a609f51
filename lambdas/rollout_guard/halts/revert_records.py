"""What the guard keeps after a rollout: a job found regressed (announced once) and the revert prepared for it, as
the port `AfterRollout` (the state table's `after#<job>` items in production, `adapters.dynamo_after`), its types,
its error, and a store for one process (`InMemoryAfterRollout`: the CLI and the tests without a state table)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Protocol


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
