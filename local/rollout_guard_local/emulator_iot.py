"""What moto 5.2 lacks of IoT, added to the emulator the drill and the tests start.

- Event configurations (DescribeEventConfigurations, UpdateEventConfigurations): every event type off until turned
  on, as in a new account; the types are botocore's `EventType` enum, and an unknown one is refused as IoT does.
- Device Defender Detect's security profiles (Create, Describe, List): name, alert targets and behaviors kept, so
  `doctor` can see where a profile sends its violations.
- UpdateJob: the rollout, abort, timeout and retry configurations and the description of a job that is not finished,
  kept on moto's job so that DescribeJob shows them; values checked as botocore's model and the IoT developer guide
  bound them (botocore checks types and minimums client-side; the maximums are checked here). A finished job is
  refused with InvalidRequestException: AWS does not document UpdateJob's answer there (Stubber tests pin the
  guard's handling of whatever error comes back).
- CreateJob of a job id that is taken: ResourceAlreadyExistsException (HTTP 409), as IoT answers, where moto
  silently replaces the job; a job's destinationPackageVersions kept and shown by DescribeJob (moto drops them).
- CancelJob of an unknown job id: ResourceNotFoundException (HTTP 404), as IoT answers, where moto fails with an
  internal error (HTTP 500) that a client would retry.

The handlers are added to moto's IoT responses, so they answer over HTTP exactly where moto's own do; `install()` is
idempotent and the emulator's server entry point calls it before it starts.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

PROFILE_NAME = re.compile(r"[a-zA-Z0-9:_-]{1,128}")


_MOTO: dict[str, Any] = {}  # moto's own handlers, called by the emulator's after their own checks


def install() -> None:
    from moto.iot.responses import IoTResponse

    _MOTO.setdefault("cancel_job", IoTResponse.cancel_job)  # kept once: install() stays idempotent
    _MOTO.setdefault("create_job", IoTResponse.create_job)
    _MOTO.setdefault("describe_job", IoTResponse.describe_job)
    for name, handler in _HANDLERS.items():
        setattr(IoTResponse, name, handler)


def _event_types() -> tuple[str, ...]:
    import botocore.session

    return tuple(botocore.session.get_session().get_service_model("iot").shape_for("EventType").enum)


def _extras(backend: Any) -> dict[str, Any]:
    """The emulator's own state, kept on moto's backend of the account and region (so moto's reset clears it)."""
    extras: dict[str, Any] | None = backend.__dict__.get("_rollout_guard_extras")
    if extras is None:
        now = datetime.now(timezone.utc)
        extras = {"events": dict.fromkeys(_event_types(), False), "events_created": now, "events_modified": now,
                  "profiles": {}}
        backend.__dict__["_rollout_guard_extras"] = extras
    return extras


def _invalid(message: str) -> Exception:
    from moto.iot.exceptions import InvalidRequestException

    return InvalidRequestException(message)


def describe_event_configurations(self: Any) -> Any:
    from moto.core.responses import ActionResult

    extras = _extras(self.iot_backend)
    return ActionResult({"eventConfigurations": {kind: {"Enabled": on} for kind, on in extras["events"].items()},
                         "creationDate": extras["events_created"], "lastModifiedDate": extras["events_modified"]})


def update_event_configurations(self: Any) -> Any:
    from moto.core.responses import EmptyResult

    extras = _extras(self.iot_backend)
    wanted = self._get_param("eventConfigurations") or {}
    unknown = sorted(set(wanted) - set(extras["events"]))
    if unknown:
        raise _invalid(f"Invalid event type: {unknown[0]}")
    for kind, configuration in wanted.items():
        extras["events"][kind] = bool((configuration or {}).get("Enabled", False))
    extras["events_modified"] = datetime.now(timezone.utc)
    return EmptyResult()


def create_security_profile(self: Any) -> Any:
    from moto.core.responses import ActionResult
    from moto.iot.exceptions import ResourceAlreadyExistsException

    name = self._get_param("securityProfileName")
    if not PROFILE_NAME.fullmatch(name or ""):
        raise _invalid(f"Invalid security profile name: {name}")
    backend = self.iot_backend
    profiles = _extras(backend)["profiles"]
    arn = f"arn:aws:iot:{backend.region_name}:{backend.account_id}:securityprofile/{name}"
    if name in profiles:
        raise ResourceAlreadyExistsException("Security profile already exists", name, arn)
    now = datetime.now(timezone.utc)
    profiles[name] = {"securityProfileName": name, "securityProfileArn": arn,
                      "securityProfileDescription": self._get_param("securityProfileDescription"),
                      "behaviors": self._get_param("behaviors") or [],
                      "alertTargets": self._get_param("alertTargets") or {}, "version": 1,
                      "creationDate": now, "lastModifiedDate": now}
    return ActionResult({"securityProfileName": name, "securityProfileArn": arn})


def describe_security_profile(self: Any) -> Any:
    from moto.core.responses import ActionResult
    from moto.iot.exceptions import ResourceNotFoundException

    name = self._get_param("securityProfileName")
    profile = _extras(self.iot_backend)["profiles"].get(name)
    if profile is None:
        raise ResourceNotFoundException(f"Security profile {name} does not exist")
    return ActionResult({key: value for key, value in profile.items() if value is not None})


def list_security_profiles(self: Any) -> Any:
    from moto.core.responses import ActionResult

    profiles = _extras(self.iot_backend)["profiles"].values()
    return ActionResult({"securityProfileIdentifiers": [
        {"name": p["securityProfileName"], "arn": p["securityProfileArn"]} for p in profiles]})


FINISHED = ("COMPLETED", "CANCELED", "DELETION_IN_PROGRESS")
RATE_MAX, THRESHOLD_MAX, INCREMENT = 1000, 100, (1.1, 5.0)


def cancel_job(self: Any) -> Any:
    self.iot_backend.describe_job(job_id=self._get_param("jobId"))  # ResourceNotFoundException if none
    return _MOTO["cancel_job"](self)


def create_job(self: Any) -> Any:
    """CreateJob of an id that is taken: ResourceAlreadyExistsException (409), where moto replaces the job."""
    from moto.iot.exceptions import ResourceAlreadyExistsException

    job_id = self._get_param("jobId")
    taken = self.iot_backend.jobs.get(job_id)
    if taken is not None:
        raise ResourceAlreadyExistsException(f"Job {job_id} already exists", job_id, taken.job_arn)
    answer = _MOTO["create_job"](self)
    self.iot_backend.jobs[job_id].destination_package_versions = self._get_param("destinationPackageVersions") or []
    return answer


def describe_job(self: Any) -> Any:
    """moto's answer with the job's destinationPackageVersions, which moto does not keep."""
    answer = _MOTO["describe_job"](self)
    job = self.iot_backend.jobs.get(self._get_param("jobId"))
    packages = getattr(job, "destination_package_versions", None)
    if packages:
        answer.result["job"]["destinationPackageVersions"] = packages
    return answer


def update_job(self: Any) -> Any:
    from moto.core.responses import EmptyResult

    job = self.iot_backend.describe_job(job_id=self._get_param("jobId"))  # ResourceNotFoundException if none
    if job.status in FINISHED:
        raise _invalid(f"Job {job.job_id} is {job.status} and cannot be updated")
    rollout, abort = self._get_param("jobExecutionsRolloutConfig"), self._get_param("abortConfig")
    problem = _rollout_problem(rollout) or _abort_problem(abort)
    if problem:
        raise _invalid(problem)
    if rollout is not None:
        job.job_executions_rollout_config = rollout
    if abort is not None:
        job.abort_config = abort
    for param, attribute in (("timeoutConfig", "timeout_config"), ("jobExecutionsRetryConfig",
                             "job_execution_retry_config"), ("description", "description")):
        if self._get_param(param) is not None:
            setattr(job, attribute, self._get_param(param))
    return EmptyResult()


def _rollout_problem(rollout: Any) -> str | None:
    if rollout is None:
        return None
    rate = rollout.get("maximumPerMinute")
    if rate is not None and not 1 <= int(rate) <= RATE_MAX:
        return f"maximumPerMinute {rate} must be from 1 to {RATE_MAX}"
    exponential = rollout.get("exponentialRate")
    if exponential is not None:
        if not 1 <= int(exponential.get("baseRatePerMinute", 0)) <= RATE_MAX:
            return f"baseRatePerMinute must be from 1 to {RATE_MAX}"
        if not INCREMENT[0] <= float(exponential.get("incrementFactor", 0)) <= INCREMENT[1]:
            return "incrementFactor must be from 1.1 to 5"
    return None


def _abort_problem(abort: Any) -> str | None:
    if abort is None:
        return None
    criteria = abort.get("criteriaList") or []
    if not criteria:
        return "abortConfig.criteriaList needs at least one criterion"
    for criterion in criteria:
        if float(criterion.get("thresholdPercentage", 0)) > THRESHOLD_MAX:
            return f"thresholdPercentage must be at most {THRESHOLD_MAX}"
    kinds = [criterion.get("failureType") for criterion in criteria]
    if len(set(kinds)) != len(kinds):
        return "abortConfig.criteriaList holds one criterion per failureType"
    return None


_HANDLERS = {
    "create_job": create_job,
    "describe_job": describe_job,
    "describe_event_configurations": describe_event_configurations,
    "update_event_configurations": update_event_configurations,
    "create_security_profile": create_security_profile,
    "describe_security_profile": describe_security_profile,
    "list_security_profiles": list_security_profiles,
    "update_job": update_job,
    "cancel_job": cancel_job,
}
