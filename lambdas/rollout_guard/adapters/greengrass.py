"""The Greengrass adapter: the deployments port (`deployments.DeploymentsPort`) over Greengrass v2, the only module
that talks to it. Retries are the client's (see `clients`)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from rollout_guard.adapters.calls import Calls
from rollout_guard.halts.deployments import DeploymentsError, DeploymentStatus, DeploymentView

PAGE_SIZE = 100  # ListDeployments' maxResults at most


class GreengrassDeployments:
    """The deployments port over Greengrass v2. Every failure surfaces as `DeploymentsError`. The client is made
    at the first call (`client` may be a factory), so an alert that matches no deployments rule pays nothing."""

    def __init__(self, client: Any):
        self._client = client

    @cached_property
    def _call(self) -> Calls:
        made = self._client() if callable(self._client) else self._client
        return Calls(made, DeploymentsError)

    def active(self) -> list[DeploymentView]:
        listed = self._call.pages("list_deployments", "deployments", historyFilter="LATEST_ONLY", maxResults=PAGE_SIZE)
        views = (_view(item) for item in listed)
        return [view for view in views if view.active]

    def describe(self, deployment_id: str) -> DeploymentView:
        answer = self._call("get_deployment", deploymentId=deployment_id)
        return _view(answer)

    def cancel(self, deployment_id: str) -> str:
        answer = self._call("cancel_deployment", deploymentId=deployment_id)
        return str(answer.get("message") or "")


def _view(item: dict[str, Any]) -> DeploymentView:
    policies = item.get("deploymentPolicies") or {}
    return DeploymentView(
        deployment_id=item["deploymentId"],
        name=item.get("deploymentName") or "",
        target_arn=item.get("targetArn") or "",
        status=item.get("deploymentStatus") or DeploymentStatus.INACTIVE,
        latest=bool(item.get("isLatestForTarget", True)),
        iot_job_id=item.get("iotJobId") or None,
        failure_handling=policies.get("failureHandlingPolicy"),
    )
