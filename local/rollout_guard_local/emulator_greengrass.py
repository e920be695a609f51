"""Greengrass v2 deployments, which moto 5 lacks, added to the emulator from the API reference.

CreateDeployment, ListDeployments, GetDeployment and CancelDeployment answer over HTTP where AWS does
(`/greengrass/v2/deployments...`, signed as `greengrass`, the same host as moto's Greengrass v1), with the shapes of
botocore's `greengrassv2` model. What the reference leaves open, the emulator assumes, and the README lists:

- A deployment to a thing group runs on an IoT job (developer guide: its namespace is `aws-gg-deployment`): the
  emulator creates that job in moto's IoT (a random id, the target, the components as its document), so the
  guard's fleet signal and `status` see it as they would in an account.
- Only the latest revision per target is in force: a new deployment to the same target cancels the one before
  (status CANCELED, `isLatestForTarget` false), as the reference says of revisions.
- CancelDeployment of an ACTIVE deployment marks it CANCELED and cancels its IoT job (what Greengrass does to the
  job is not documented; the job no longer rolls out in either case). Of a deployment already COMPLETED, CANCELED,
  FAILED or INACTIVE: ConflictException (HTTP 409), which the reference lists for CancelDeployment without saying
  when; an unknown id: ResourceNotFoundException (404).
- A deployment's status follows its IoT job once the job is finished (COMPLETED -> COMPLETED, CANCELED ->
  CANCELED): a deployment to a group stays ACTIVE while its job is.
- ListDeployments' `historyFilter` defaults to LATEST_ONLY (the reference's default); pages of `maxResults` (50
  when not given) with an opaque `nextToken`.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

from moto.core.responses import BaseResponse

ROOT = "{0}/greengrass/v2/deployments"
PAGE = 50
FINISHED_JOB = {"COMPLETED": "COMPLETED", "CANCELED": "CANCELED"}


def install() -> None:
    """Add the v2 routes beside moto's Greengrass v1 ones (before the server builds its URL map)."""
    from moto.greengrass import urls

    urls.url_paths.update({
        f"{ROOT}$": GreengrassV2Response.dispatch,
        f"{ROOT}/(?P<deploymentId>[^/]+)$": GreengrassV2Response.dispatch,
        f"{ROOT}/(?P<deploymentId>[^/]+)/cancel$": GreengrassV2Response.dispatch,
    })


class _Error(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _deployments(account: str, region: str) -> dict[str, dict[str, Any]]:
    """The emulator's deployments, kept on moto's Greengrass backend of the account and region (so moto's reset
    clears them)."""
    from moto.greengrass.models import greengrass_backends

    backend = greengrass_backends[account][region]
    found: dict[str, dict[str, Any]] | None = backend.__dict__.get("_rollout_guard_v2")
    if found is None:
        found = backend.__dict__["_rollout_guard_v2"] = {}
    return found


class GreengrassV2Response(BaseResponse):
    def __init__(self) -> None:
        super().__init__(service_name="greengrassv2")

    def call_action(self) -> Any:
        try:
            return super().call_action()
        except _Error as error:
            return error.status, {"status": error.status, "x-amzn-ErrorType": error.code}, json.dumps(
                {"message": error.message})

    @property
    def _store(self) -> dict[str, dict[str, Any]]:
        return _deployments(self.current_account, self.region)

    def _iot(self) -> Any:
        from moto.iot.models import iot_backends

        return iot_backends[self.current_account][self.region]

    def _body(self) -> dict[str, Any]:
        return json.loads(self.body or "{}")

    def _found(self) -> dict[str, Any]:
        deployment_id = self.path.split("/greengrass/v2/deployments/", 1)[1].split("/", 1)[0]
        deployment = self._store.get(deployment_id)
        if deployment is None:
            raise _Error(404, "ResourceNotFoundException", f"Deployment {deployment_id} not found")
        self._follow_job(deployment)
        return deployment

    def _follow_job(self, deployment: dict[str, Any]) -> None:
        job = self._iot().jobs.get(deployment.get("iotJobId") or "")
        if deployment["deploymentStatus"] == "ACTIVE" and job is not None and job.status in FINISHED_JOB:
            deployment["deploymentStatus"] = FINISHED_JOB[job.status]

    def create_deployment(self) -> Any:
        body = self._body()
        target, name = body.get("targetArn"), body.get("deploymentName") or ""
        if not isinstance(target, str) or ":iot:" not in target:
            raise _Error(400, "ValidationException", "targetArn must be the ARN of a thing or a thing group")
        deployment_id = str(uuid.uuid4())
        for other in self._store.values():
            if other["targetArn"] == target and other["isLatestForTarget"]:
                other["isLatestForTarget"] = False
                if other["deploymentStatus"] == "ACTIVE":  # a new revision cancels the old
                    other["deploymentStatus"] = "CANCELED"
                    self._cancel_job(other)
        job_id = str(uuid.uuid4())
        job_arn, _, _ = self._iot().create_job(
            job_id=job_id, targets=[target], document_source=None,
            document=json.dumps({"components": body.get("components") or {}}),
            description=f"Greengrass deployment {deployment_id}", presigned_url_config={},
            target_selection="CONTINUOUS", job_executions_rollout_config=(body.get("iotJobConfiguration") or {}).get(
                "jobExecutionsRolloutConfig") or {}, document_parameters={},
            abort_config=(body.get("iotJobConfiguration") or {}).get("abortConfig") or {},
            job_execution_retry_config={}, scheduling_config={}, timeout_config={})
        self._store[deployment_id] = {
            "targetArn": target, "revisionId": str(sum(d["targetArn"] == target for d in self._store.values()) + 1),
            "deploymentId": deployment_id, "deploymentName": name, "deploymentStatus": "ACTIVE",
            "iotJobId": job_id, "iotJobArn": job_arn, "components": body.get("components") or {},
            "deploymentPolicies": body.get("deploymentPolicies") or {"failureHandlingPolicy": "ROLLBACK"},
            "iotJobConfiguration": body.get("iotJobConfiguration") or {},
            "creationTimestamp": datetime.now(timezone.utc).timestamp(), "isLatestForTarget": True,
            "tags": body.get("tags") or {},
        }
        return 201, {"status": 201}, json.dumps({"deploymentId": deployment_id, "iotJobId": job_id,
                                                 "iotJobArn": job_arn})

    def list_deployments(self) -> Any:
        target = self._get_param("targetArn")
        history = self._get_param("historyFilter") or "LATEST_ONLY"
        parent = self._get_param("parentTargetArn")
        size = int(self._get_param("maxResults") or PAGE)
        start = int(self._get_param("nextToken") or 0)
        for deployment in self._store.values():
            self._follow_job(deployment)
        chosen = [d for d in self._store.values()
                  if (target is None or d["targetArn"] == target) and (parent is None or d.get("parentTargetArn") == parent)
                  and (history == "ALL" or d["isLatestForTarget"])]
        page = chosen[start:start + size]
        answer: dict[str, Any] = {"deployments": [
            {key: d[key] for key in ("targetArn", "revisionId", "deploymentId", "deploymentName",
                                     "creationTimestamp", "deploymentStatus", "isLatestForTarget")}
            for d in page]}
        if start + size < len(chosen):
            answer["nextToken"] = str(start + size)
        return json.dumps(answer)

    def get_deployment(self) -> Any:
        return json.dumps(self._found())

    def cancel_deployment(self) -> Any:
        deployment = self._found()
        if deployment["deploymentStatus"] != "ACTIVE":
            raise _Error(409, "ConflictException",
                         f"Deployment {deployment['deploymentId']} is {deployment['deploymentStatus']}")
        deployment["deploymentStatus"] = "CANCELED"
        self._cancel_job(deployment)
        return json.dumps({"message": f"Deployment {deployment['deploymentId']} is CANCELED"})

    def _cancel_job(self, deployment: dict[str, Any]) -> None:
        job = self._iot().jobs.get(deployment["iotJobId"])
        if job is not None and job.status not in FINISHED_JOB:
            job.status = "CANCELED"
