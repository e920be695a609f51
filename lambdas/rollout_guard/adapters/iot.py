"""The IoT adapter: the jobs port (`jobs.JobsPort`) and the reverts' (`reverts.RevertJobs`) over AWS IoT Jobs, the only
module that talks to it.

Retries are the client's (see `clients`)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from rollout_guard.adapters.calls import Calls
from rollout_guard.halts.jobs import (
    ACTIVE_EXECUTION_STATUSES,
    ACTIVE_LISTING_STATUSES,
    EXECUTED_COUNTS,
    INACTIVE_JOB_STATUSES,
    JobsError,
    JobView,
)
from rollout_guard.halts.reverts import NewJob

PAGE_SIZE = 250


class IotJobs:
    """The jobs port over IoT Jobs. Every failure surfaces as `JobsError`.

    A job seen finished (or cancelled here) is remembered for `FINISHED_TTL` seconds, so a storm of duplicate alerts
    costs one DescribeJob per job and instance, not one per delivery. The memory is short because a deleted job's id
    can be used again for a new rollout."""

    FINISHED_TTL = 30.0

    def __init__(self, client: Any, clock: Callable[[], float] = time.monotonic):
        self._call = Calls(client)
        self._pages = self._call.pages
        self._clock = clock
        self._finished: dict[str, tuple[float, JobView]] = {}

    def describe(self, job_id: str) -> JobView:
        remembered = self._finished.get(job_id)
        if remembered and self._clock() - remembered[0] < self.FINISHED_TTL:
            return remembered[1]
        job = self._call("describe_job", jobId=job_id)["job"]
        details = job.get("jobProcessDetails") or {}
        view = JobView(job_id=job["jobId"], status=job["status"], targets=tuple(job.get("targets", ())),
                       force_canceled=bool(job.get("forceCanceled", False)),
                       executed=sum(int(details.get(name) or 0) for name in EXECUTED_COUNTS),
                       succeeded=int(details.get("numberOfSucceededThings") or 0),
                       rollout=job.get("jobExecutionsRolloutConfig") or None, abort=job.get("abortConfig") or None,
                       packages=tuple(job.get("destinationPackageVersions") or ()),
                       completed_ms=int(job["completedAt"].timestamp() * 1000) if job.get("completedAt") else None)
        if not view.active:
            self._finished[job_id] = (self._clock(), view)
        return view

    def active_job_ids(self) -> list[str]:
        """Ids of jobs listed as active. A listing is a hint only: callers confirm each job with `describe`."""
        listed = (job for status in ACTIVE_LISTING_STATUSES
                  for job in self._pages("list_jobs", "jobs", status=status, maxResults=PAGE_SIZE))
        return list(dict.fromkeys(job["jobId"] for job in listed if job.get("status") not in INACTIVE_JOB_STATUSES))

    def job_ids_on_thing(self, thing_name: str) -> list[str]:
        """Ids of jobs with a queued or in-progress execution on the thing."""
        summaries = self._pages(
            "list_job_executions_for_thing", "executionSummaries", thingName=thing_name, maxResults=PAGE_SIZE
        )
        return list(dict.fromkeys(
            summary["jobId"] for summary in summaries
            if summary.get("jobExecutionSummary", {}).get("status") in ACTIVE_EXECUTION_STATUSES
        ))

    def jobs_in_progress_on_thing(self, thing_name: str) -> list[str]:
        """Ids of jobs whose execution on the thing is IN_PROGRESS: the job a dark thing was executing."""
        summaries = self._pages("list_job_executions_for_thing", "executionSummaries", thingName=thing_name,
                                status="IN_PROGRESS", maxResults=PAGE_SIZE)
        return list(dict.fromkeys(
            summary["jobId"] for summary in summaries
            if summary.get("jobExecutionSummary", {}).get("status", "IN_PROGRESS") == "IN_PROGRESS"
        ))

    def cancel(self, job_id: str, reason_code: str | None, comment: str | None, force: bool) -> dict[str, Any]:
        params: dict[str, Any] = {"jobId": job_id, "force": force}
        if reason_code:
            params["reasonCode"] = reason_code
        if comment:
            params["comment"] = comment
        answer = self._call("cancel_job", **params)
        self._finished[job_id] = (self._clock(), JobView(job_id=job_id, status="CANCELED", force_canceled=force))
        return {key: answer[key] for key in ("jobArn", "jobId", "description") if key in answer}

    def things_in_progress(self, job_id: str) -> list[str]:
        """Names of the things whose execution of the job is IN_PROGRESS."""
        summaries = self._pages("list_job_executions_for_job", "executionSummaries", jobId=job_id,
                                status="IN_PROGRESS", maxResults=PAGE_SIZE)
        return [summary["thingArn"].rsplit("/", 1)[-1] for summary in summaries
                if summary.get("jobExecutionSummary", {}).get("status", "IN_PROGRESS") == "IN_PROGRESS"]

    def force_cancel_execution(self, job_id: str, thing_name: str) -> bool:
        """Force-cancel one IN_PROGRESS execution; False when it had already finished (nothing left to stop)."""
        try:
            self._call("cancel_job_execution", jobId=job_id, thingName=thing_name, force=True)
        except JobsError as error:
            if error.code == "InvalidStateTransitionException":
                return False
            raise
        return True

    def update(self, job_id: str, rollout: dict[str, Any], abort: dict[str, Any] | None) -> None:
        self._finished.pop(job_id, None)
        self._call("update_job", jobId=job_id, jobExecutionsRolloutConfig=rollout,
                   **({"abortConfig": abort} if abort else {}))

    # --- reverts (`halts.reverts.RevertJobs`) -------------------------------------------------------------------

    def succeeded_things(self, job_id: str) -> list[str]:
        """ARNs of the things whose execution of the job SUCCEEDED, every page."""
        summaries = self._pages("list_job_executions_for_job", "executionSummaries", jobId=job_id,
                                status="SUCCEEDED", maxResults=PAGE_SIZE)
        return list(dict.fromkeys(summary["thingArn"] for summary in summaries
                                  if summary.get("jobExecutionSummary", {}).get("status", "SUCCEEDED") == "SUCCEEDED"))

    def job_exists(self, job_id: str) -> bool:
        try:
            self._call("describe_job", jobId=job_id)
        except JobsError as error:
            if error.not_found:
                return False
            raise
        return True

    def thing_group(self, name: str, thing_arns: list[str]) -> str:
        """A static thing group of these things: made (or found), each thing added (adding a member again is no
        error, so a retry finishes the group)."""
        try:
            arn: str = self._call("create_thing_group", thingGroupName=name)["thingGroupArn"]
        except JobsError as error:
            if error.code != "ResourceAlreadyExistsException":
                raise
            arn = self._call("describe_thing_group", thingGroupName=name)["thingGroupArn"]
        for thing_arn in thing_arns:
            self._call("add_thing_to_thing_group", thingGroupName=name, thingArn=thing_arn)
        return arn

    def create_job(self, job: NewJob) -> str:
        params: dict[str, Any] = {"jobId": job.job_id, "targets": list(job.targets), "targetSelection": "SNAPSHOT",
                                  "description": job.description}
        if job.document is not None:
            params["document"] = json.dumps(job.document)
        if job.template_arn is not None:
            params["jobTemplateArn"] = job.template_arn
        if job.max_per_minute is not None:
            params["jobExecutionsRolloutConfig"] = {"maximumPerMinute": job.max_per_minute}
        if job.abort is not None:
            params["abortConfig"] = job.abort
        arn: str = self._call("create_job", **params)["jobArn"]
        return arn
