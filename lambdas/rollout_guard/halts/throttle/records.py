"""What the guard remembers of a job it throttled, so that the alarm's return to OK can put the job back: the
record, its port and its error, and a store for one process.

The record is saved before UpdateJob and kept in the state table (`adapters.dynamo_throttles`; `InMemoryThrottles`
where there is none, for one invocation only)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Throttled:
    job_id: str
    rule: str
    alarm: str  # the alarm whose ALARM throttled the job: its OK restores it
    saved_rollout: dict[str, Any] | None
    saved_abort: dict[str, Any] | None
    applied_rollout: dict[str, Any]
    applied_abort: dict[str, Any] | None
    at: str  # ISO 8601, when the guard throttled it
    stale_at: str | None = None  # ISO 8601, when its timer announced it stale (once)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Throttled:
        return cls(**json.loads(text))


class RecordsError(RuntimeError):
    """The state table could not read or write a throttle's record (the adapter says why)."""


class ThrottleRecords(Protocol):
    def get(self, job_id: str) -> Throttled | None: ...

    def put(self, record: Throttled) -> None: ...

    def delete(self, job_id: str) -> None: ...


class InMemoryThrottles:
    """Records for one process: the CLI without a state table (an OK in a later invocation finds nothing)."""

    def __init__(self) -> None:
        self.records: dict[str, Throttled] = {}

    def get(self, job_id: str) -> Throttled | None:
        return self.records.get(job_id)

    def put(self, record: Throttled) -> None:
        self.records[record.job_id] = record

    def delete(self, job_id: str) -> None:
        self.records.pop(job_id, None)
