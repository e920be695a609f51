"""An in-memory IoT Jobs and Greengrass v2 for the guard's unit tests: the ports without AWS."""

from __future__ import annotations

import time
from dataclasses import replace

from rollout_guard.halts.claims import ClaimOutcome
from rollout_guard.halts.deployments import DeploymentsError, DeploymentsPort, DeploymentView
from rollout_guard.halts.jobs import JobsError, JobsPort, JobView


class FakeJobs:
    def __init__(self, jobs: dict[str, JobView] | None = None, executions: dict[str, list[str]] | None = None,
                 latency: float = 0.0):
        self.jobs = dict(jobs or {})
        self.latency = latency  # seconds each describe and cancel takes, as a network call would
        self.executions = executions or {}
        self.calls: list[tuple] = []
        self.fail_cancel: set[str] = set()
        self.fail_describe: set[str] = set()
        self.fail_execution: set[str] = set()
        self.executions_of: dict[tuple[str, str], str] = {}  # (job, thing) -> execution status

    def describe(self, job_id: str) -> JobView:
        self.calls.append(("describe", job_id))
        time.sleep(self.latency)
        if job_id in self.fail_describe:
            raise JobsError("DescribeJob", "ServiceUnavailableException", "try later")
        if job_id not in self.jobs:
            raise JobsError("DescribeJob", "ResourceNotFoundException", f"Job {job_id} not found")
        return self.jobs[job_id]

    def active_job_ids(self) -> list[str]:
        self.calls.append(("list",))
        return [job.job_id for job in self.jobs.values() if job.active]

    def job_ids_on_thing(self, thing_name: str) -> list[str]:
        self.calls.append(("on_thing", thing_name))
        return list(self.executions.get(thing_name, []))

    def jobs_in_progress_on_thing(self, thing_name: str) -> list[str]:
        self.calls.append(("in_progress_on", thing_name))
        return [job for (job, thing), status in self.executions_of.items()
                if thing == thing_name and status == "IN_PROGRESS"]

    def cancel(self, job_id: str, reason_code: str | None, comment: str | None, force: bool) -> dict[str, str]:
        self.calls.append(("cancel", job_id, reason_code, comment, force))
        time.sleep(self.latency)
        if job_id in self.fail_cancel:
            raise JobsError("CancelJob", "ThrottlingException", "Rate exceeded")
        self.jobs[job_id] = JobView(job_id, "CANCELED", self.jobs[job_id].targets, force_canceled=force)
        return {"jobId": job_id, "jobArn": f"arn:aws:iot:eu-west-1:123456789012:job/{job_id}"}

    def things_in_progress(self, job_id: str) -> list[str]:
        self.calls.append(("in_progress", job_id))
        return [thing for (job, thing), status in self.executions_of.items() if job == job_id and status == "IN_PROGRESS"]

    def force_cancel_execution(self, job_id: str, thing_name: str) -> bool:
        self.calls.append(("force_execution", job_id, thing_name))
        if thing_name in self.fail_execution:
            raise JobsError("CancelJobExecution", "ThrottlingException", "Rate exceeded")
        if self.executions_of[(job_id, thing_name)] != "IN_PROGRESS":
            return False
        self.executions_of[(job_id, thing_name)] = "CANCELED"
        return True

    def update(self, job_id: str, rollout: dict, abort: dict | None) -> None:
        self.calls.append(("update", job_id))
        view = self.jobs[job_id]
        if not view.active:
            raise JobsError("UpdateJob", "InvalidRequestException", f"Job {job_id} is {view.status}")
        self.jobs[job_id] = replace(view, rollout=rollout, abort=abort or view.abort)

    def cancels(self) -> list[tuple]:
        return [call for call in self.calls if call[0] == "cancel"]

    # --- reverts (`halts.reverts.RevertJobs`) ---

    def succeeded_things(self, job_id: str) -> list[str]:
        self.calls.append(("succeeded", job_id))
        return [f"arn:aws:iot:eu-west-1:123456789012:thing/{thing}"
                for (job, thing), status in self.executions_of.items() if job == job_id and status == "SUCCEEDED"]

    def job_exists(self, job_id: str) -> bool:
        return job_id in self.jobs

    def thing_group(self, name: str, thing_arns: list[str]) -> str:
        self.calls.append(("thing_group", name, len(thing_arns)))
        self.groups = {**getattr(self, "groups", {}), name: list(thing_arns)}
        return f"arn:aws:iot:eu-west-1:123456789012:thinggroup/{name}"

    def create_job(self, job) -> str:
        self.calls.append(("create_job", job.job_id))
        if job.job_id in self.jobs:
            raise JobsError("CreateJob", "ResourceAlreadyExistsException", f"Job {job.job_id} already exists")
        self.jobs[job.job_id] = JobView(job.job_id, "IN_PROGRESS", job.targets)
        self.created = [*getattr(self, "created", []), job]
        return f"arn:aws:iot:eu-west-1:123456789012:job/{job.job_id}"


def active(job_id: str, *groups: str) -> JobView:
    return JobView(job_id, "IN_PROGRESS", tuple(f"arn:aws:iot:eu-west-1:123456789012:thinggroup/{g}" for g in groups))


def _keeps_to_the_port(fake: FakeJobs) -> JobsPort:
    """Never called: mypy (in make test) fails here when the fake drifts from the port."""
    return fake


class KeptTimers:
    """The detector's dark checks kept, to be delivered when a test says (as SQS would after their delay); the
    queue is quiet (`drained`) when the test says so."""

    def __init__(self, drained: bool = False):
        self.scheduled: list[tuple] = []
        self.quiet = drained

    def schedule(self, check, delay_s):
        self.scheduled.append((check, delay_s))

    def drained(self, in_flight):
        return self.quiet


class HeldClaims:
    """An in-memory claim store that already holds some claims; `asked` records every claim asked for."""

    def __init__(self, held: dict[tuple[str, str], ClaimOutcome]):
        self.held = held
        self.asked: list[tuple[str, str]] = []

    def begin(self, context) -> None:
        return None

    def once(self, job_id, level, act):
        from rollout_guard.halts.claims import ACTED, DONE_ELSEWHERE, Claimed

        self.asked.append((job_id, level))
        if (job_id, level) in self.held:
            return Claimed(self.held[(job_id, level)])
        act()
        self.held[(job_id, level)] = DONE_ELSEWHERE
        return Claimed(ACTED)


class FakeDeployments:
    """Greengrass v2 deployments in memory: the deployments port without AWS."""

    def __init__(self, *views: DeploymentView):
        self.views = {view.deployment_id: view for view in views}
        self.calls: list[tuple] = []
        self.conflict: set[str] = set()  # finished between GetDeployment and the cancel (the API's 409)
        self.unlistable = False  # ListDeployments fails

    def active(self) -> list[DeploymentView]:
        self.calls.append(("list",))
        if self.unlistable:
            raise DeploymentsError("ListDeployments", "InternalServerException", "try later")
        return [view for view in self.views.values() if view.active]

    def describe(self, deployment_id: str) -> DeploymentView:
        self.calls.append(("describe", deployment_id))
        if deployment_id not in self.views:
            raise DeploymentsError("GetDeployment", "ResourceNotFoundException", f"{deployment_id} not found")
        return self.views[deployment_id]

    def cancel(self, deployment_id: str) -> str:
        self.calls.append(("cancel", deployment_id))
        if deployment_id in self.conflict:
            raise DeploymentsError("CancelDeployment", "ConflictException", "The deployment is already COMPLETED")
        self.views[deployment_id] = replace(self.views[deployment_id], status="CANCELED")
        return ""

    def cancels(self) -> list[str]:
        return [call[1] for call in self.calls if call[0] == "cancel"]


def deployment(deployment_id: str, name: str, group: str = "fleet-eu", status: str = "ACTIVE",
               job_id: str | None = None, latest: bool = True) -> DeploymentView:
    return DeploymentView(deployment_id, name, f"arn:aws:iot:eu-west-1:123456789012:thinggroup/{group}", status,
                          latest, job_id or f"job-{deployment_id}")


def _deployments_keep_to_the_port(fake: FakeDeployments) -> DeploymentsPort:
    """Never called: mypy fails here when the fake drifts from the port."""
    return fake
