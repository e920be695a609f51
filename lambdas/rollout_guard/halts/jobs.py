"""The jobs port: what the guard needs of AWS IoT Jobs, its error, the job view and the API's own rules.

The use case (`guard`) and the pure decisions import this module only; `iot.IotJobs` implements the port against
AWS and the unit tests' fake implements it in memory. The CancelJob constraints live here because they are facts of
the API that every caller (the guard, the `cancel` drop-in) must respect before sending anything.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from rollout_guard.iot_limits import COMMENT_LIMIT

# --- IoT's vocabulary ---------------------------------------------------------------------------------------

class JobStatus(StrEnum):
    """IoT's statuses of a job and of a job execution, in the API's own words."""

    QUEUED = "QUEUED"
    SCHEDULED = "SCHEDULED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    CANCELED = "CANCELED"
    DELETION_IN_PROGRESS = "DELETION_IN_PROGRESS"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    REJECTED = "REJECTED"
    TIMED_OUT = "TIMED_OUT"


INACTIVE_JOB_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.CANCELED, JobStatus.DELETION_IN_PROGRESS})
# What ListJobs is asked for; moto's QUEUED counts as active.
ACTIVE_LISTING_STATUSES = (JobStatus.IN_PROGRESS, JobStatus.SCHEDULED)
ACTIVE_EXECUTION_STATUSES = frozenset({JobStatus.QUEUED, JobStatus.IN_PROGRESS})
# DescribeJob's jobProcessDetails counts of the things that took the job (QUEUED ones have not started it).
EXECUTED_COUNTS = ("numberOfInProgressThings", "numberOfSucceededThings", "numberOfFailedThings",
                   "numberOfRejectedThings", "numberOfTimedOutThings")

# --- CancelJob's constraints (botocore's service model) ------------------------------------------------------



NOT_FOUND = "ResourceNotFoundException"


class JobsError(Exception):
    """A call to IoT Jobs failed for good (after the client's retries, where the error is retryable).

    `answered` says whether the service answered with this error; when it did not (no connection, a timeout, no
    credentials), the request may never have left this machine."""

    def __init__(self, operation: str, code: str, message: str, answered: bool = True):
        self.operation = operation
        self.code = code
        self.message = message
        self.answered = answered
        super().__init__(f"{operation} failed: {code}: {message}")

    @property
    def not_found(self) -> bool:
        return self.code == NOT_FOUND


@dataclass(frozen=True)
class JobView:
    """What DescribeJob confirmed about a job."""

    job_id: str
    status: str
    targets: tuple[str, ...] = ()
    force_canceled: bool = False
    executed: int = 0  # things that started the job (in progress, succeeded, failed, rejected, timed out)
    succeeded: int = 0
    rollout: dict[str, Any] | None = None  # jobExecutionsRolloutConfig, as DescribeJob gives it
    abort: dict[str, Any] | None = None  # abortConfig, as DescribeJob gives it
    packages: tuple[str, ...] = ()  # destinationPackageVersions: the package version ARNs the job installs
    completed_ms: int | None = None  # completedAt (epoch ms), of a finished job

    @property
    def active(self) -> bool:
        return self.status not in INACTIVE_JOB_STATUSES

    @property
    def cancelled_without_force(self) -> bool:
        """Cancelled, but its IN_PROGRESS executions may still run: a forcing rule can escalate."""
        return self.status == JobStatus.CANCELED and not self.force_canceled

    def targets_group(self, group: str) -> bool:
        return any(target.endswith(f":thinggroup/{group}") for target in self.targets)


class JobsPort(Protocol):
    """IoT Jobs as the guard uses it. Every failure is a `JobsError`."""

    def describe(self, job_id: str) -> JobView: ...

    def active_job_ids(self) -> list[str]: ...

    def job_ids_on_thing(self, thing_name: str) -> list[str]: ...

    def jobs_in_progress_on_thing(self, thing_name: str) -> list[str]: ...

    def cancel(self, job_id: str, reason_code: str | None, comment: str | None, force: bool) -> dict[str, str]: ...

    def things_in_progress(self, job_id: str) -> list[str]: ...

    def force_cancel_execution(self, job_id: str, thing_name: str) -> bool: ...

    def update(self, job_id: str, rollout: dict[str, Any], abort: dict[str, Any] | None) -> None:
        """UpdateJob: the job's rollout configuration, and its abort configuration when given."""


# --- the comment, as the API counts and refuses it -----------------------------------------------------------


def is_control(char: str) -> bool:
    """What the API's comment pattern `[^\\p{C}]+` refuses: control, format, surrogate, private and unassigned."""
    return unicodedata.category(char).startswith("C")


def comment_length(text: str) -> int:
    """Length as the API counts it, in UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def safe_comment(text: str) -> str:
    """Control characters become spaces; the result fits the API's 2028 characters."""
    cleaned = "".join(" " if is_control(char) else char for char in text)
    if comment_length(cleaned) <= COMMENT_LIMIT:
        return cleaned.strip()
    units = 0
    for index, char in enumerate(cleaned):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > COMMENT_LIMIT:
            return cleaned[:index].strip()
    return cleaned.strip()
