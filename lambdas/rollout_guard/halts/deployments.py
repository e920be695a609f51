"""The deployments port: what the guard needs of Greengrass v2 deployments, its error and the deployment view.

A Greengrass v2 deployment to a thing group runs on an IoT job (namespace `aws-gg-deployment`), but the deployment is
what the guard stops: CancelDeployment marks it CANCELED and Greengrass's own record agrees (what a bare CancelJob
does to that record is undocumented). `greengrass.GreengrassDeployments` implements the port against AWS; the unit
tests' fake implements it in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from rollout_guard.halts.jobs import JobsError


class DeploymentStatus(StrEnum):
    """A deployment's `deploymentStatus`, in the API's own words."""

    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"
    CANCELED = "CANCELED"
    FAILED = "FAILED"
    INACTIVE = "INACTIVE"


# What a cancel does not undo (Greengrass v2 API reference, CancelDeployment; developer guide, "Cancel deployments"
# and "Greengrass nucleus lite"): every decision, announcement and the README say it.
NOT_UNDONE = ("CancelDeployment stops only devices that have not received the deployment yet: devices that already "
              "received it keep it, a device applying it may finish, and nucleus lite ignores the cancel")


class DeploymentsError(JobsError):
    """A call to Greengrass v2 failed for good (after the client's retries, where the error is retryable)."""


@dataclass(frozen=True)
class DeploymentView:
    """A deployment as ListDeployments (a summary) or GetDeployment (`iot_job_id` and the failure policy too) shows
    it."""

    deployment_id: str
    name: str
    target_arn: str
    status: str
    latest: bool = True  # isLatestForTarget: only the latest revision per target is in force
    iot_job_id: str | None = None
    failure_handling: str | None = None  # deploymentPolicies.failureHandlingPolicy: ROLLBACK or DO_NOTHING

    @property
    def active(self) -> bool:
        return self.status == DeploymentStatus.ACTIVE and self.latest

    def targets_group(self, group: str) -> bool:
        return self.target_arn.endswith(f":thinggroup/{group}")


class DeploymentsPort(Protocol):
    """Greengrass v2 deployments as the guard uses them. Every failure is a `DeploymentsError`."""

    def active(self) -> list[DeploymentView]:
        """The latest deployment of each target whose status is ACTIVE (ListDeployments, every page)."""

    def describe(self, deployment_id: str) -> DeploymentView: ...

    def cancel(self, deployment_id: str) -> str:
        """CancelDeployment; returns the service's message."""
