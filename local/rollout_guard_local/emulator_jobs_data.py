"""The IoT Jobs data plane's UpdateJobExecution, which moto 5.2 lacks: how a device reports its execution, so that
the emulator's jobs move as a real fleet's do.

- `POST /things/{thingName}/jobs/{jobId}` (botocore's `iot-jobs-data` model, signing name `iot-jobs-data`) with
  `status` IN_PROGRESS, SUCCEEDED, FAILED, REJECTED or TIMED_OUT (TIMED_OUT is IoT's own word for a timer that
  ran out; the emulator lets a test say it) and optional `statusDetails`; answers `executionState`.
- An execution already in a terminal status is refused with InvalidStateTransitionException (HTTP 409), as the
  data plane's reference lists; an unknown execution is ResourceNotFoundException (404).
- Assumption (the IoT developer guide: a snapshot job is complete "when all of its executions have reached a
  terminal state"): a SNAPSHOT job whose every execution is terminal becomes COMPLETED; the job's
  `jobProcessDetails` counts follow its executions (moto keeps fixed numbers).

The request reaches moto's IoT backend (the signing name is aliased to IoT), where `call_action` answers it before
moto looks for an IoT control-plane operation of that path.
"""

from __future__ import annotations

import json
import re
from typing import Any

PATH = re.compile(r"/things/(?P<thing>[^/]+)/jobs/(?P<job>[^/]+)")
TERMINAL = ("SUCCEEDED", "FAILED", "REJECTED", "TIMED_OUT", "REMOVED", "CANCELED")
REPORTED = ("IN_PROGRESS", "SUCCEEDED", "FAILED", "REJECTED", "TIMED_OUT")
COUNTS = {"QUEUED": "numberOfQueuedThings", "IN_PROGRESS": "numberOfInProgressThings",
          "SUCCEEDED": "numberOfSucceededThings", "FAILED": "numberOfFailedThings",
          "REJECTED": "numberOfRejectedThings", "TIMED_OUT": "numberOfTimedOutThings",
          "REMOVED": "numberOfRemovedThings", "CANCELED": "numberOfCanceledThings"}
_MOTO: dict[str, Any] = {}


def install() -> None:
    from moto.iot.responses import IoTResponse
    from moto.moto_server import werkzeug_app

    werkzeug_app.SIGNING_ALIASES["iot-jobs-data"] = "iot"
    _MOTO.setdefault("call_action", IoTResponse.call_action)
    IoTResponse.call_action = call_action


def call_action(self: Any) -> Any:
    found = PATH.fullmatch(self.path)
    if self.method == "POST" and found and "/iot-jobs-data/" in self.headers.get("Authorization", ""):
        return update_job_execution(self, found["thing"], found["job"])
    return _MOTO["call_action"](self)


def _answer(status: int, body: dict[str, Any], code: str | None = None) -> Any:
    headers = {"status": status, "Content-Type": "application/json"}
    if code:
        headers["x-amzn-ErrorType"] = code
    return status, headers, json.dumps(body)


def update_job_execution(self: Any, thing: str, job_id: str) -> Any:
    backend = self.iot_backend
    execution = backend.job_executions.get((job_id, thing))
    if execution is None:
        return _answer(404, {"message": f"No job execution of job {job_id} on thing {thing}"},
                       "ResourceNotFoundException")
    body = json.loads(self.body or "{}")
    status = body.get("status")
    if status not in REPORTED:
        return _answer(400, {"message": f"status {status!r} must be one of {', '.join(REPORTED)}"},
                       "InvalidRequestException")
    if execution.status in TERMINAL:
        return _answer(409, {"message": f"Job execution is {execution.status}"}, "InvalidStateTransitionException")
    execution.status = status
    execution.status_details_map = body.get("statusDetails") or execution.status_details_map
    _follow(backend, backend.jobs[job_id])
    return _answer(200, {"executionState": {"status": status, "statusDetails": execution.status_details_map,
                                            "versionNumber": execution.version_number}})


def _follow(backend: Any, job: Any) -> None:
    """The job's counts from its executions; a SNAPSHOT job whose every execution is terminal is COMPLETED."""
    executions = [e for (job_id, _), e in backend.job_executions.items() if job_id == job.job_id]
    job.job_process_details = {name: sum(1 for e in executions if e.status == status)
                               for status, name in COUNTS.items()}
    snapshot = (job.target_selection or "SNAPSHOT") == "SNAPSHOT"
    if snapshot and executions and all(e.status in TERMINAL for e in executions) and job.status not in (
            "CANCELED", "DELETION_IN_PROGRESS"):
        from moto.core.utils import utcnow

        job.status, job.completed_at = "COMPLETED", utcnow()
