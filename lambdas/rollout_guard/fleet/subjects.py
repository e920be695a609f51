"""What the detector counts casualties of: IoT jobs, by their ids, and Greengrass v2 deployments, by a subject
(`events.deployment_subject`). A deployment's name (which its rule's globs match) and its executed devices (its IoT
job's) are asked of Greengrass once per deployment and kept: a deployment's name and job never change."""

from __future__ import annotations

from rollout_guard.fleet.events import deployment_of
from rollout_guard.halts.deployments import DeploymentsPort, DeploymentView
from rollout_guard.halts.jobs import NOT_FOUND, JobsError, JobsPort, JobView


class Subjects:
    def __init__(self, jobs: JobsPort, deployments: DeploymentsPort | None):
        self.jobs, self.deployments = jobs, deployments
        self._views: dict[str, DeploymentView | None] = {}

    def deployment(self, deployment_id: str) -> DeploymentView | None:
        """The deployment (None: Greengrass does not know it, or no rule names deployments)."""
        if deployment_id not in self._views:
            view = None
            if self.deployments is not None:
                try:
                    view = self.deployments.describe(deployment_id)
                except JobsError as error:
                    if not error.not_found:
                        raise  # the message fails and comes back
            self._views[deployment_id] = view
        return self._views[deployment_id]

    def describe(self, subject: str) -> JobView:
        """A job's view, or a deployment's IoT job's (what the thresholds count as executed)."""
        deployment_id = deployment_of(subject)
        if deployment_id is None:
            return self.jobs.describe(subject)
        view = self.deployment(deployment_id)
        if view is None or view.iot_job_id is None:
            raise JobsError("GetDeployment", NOT_FOUND, f"no deployment {deployment_id} with an IoT job")
        return self.jobs.describe(view.iot_job_id)
