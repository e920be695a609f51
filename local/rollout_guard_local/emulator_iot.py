"""What moto 5.2 lacks of IoT, added to the emulator the drill and the tests start.

- Event configurations (DescribeEventConfigurations, UpdateEventConfigurations): every event type off until turned
  on, as in a new account; the types are botocore's `EventType` enum, and an unknown one is refused as IoT does.
- Device Defender Detect's security profiles (Create, Describe, List): name, alert targets and behaviors kept, so
  `doctor` can see where a profile sends its violations.

The handlers are added to moto's IoT responses, so they answer over HTTP exactly where moto's own do; `install()` is
idempotent and the emulator's server entry point calls it before it starts.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

PROFILE_NAME = re.compile(r"[a-zA-Z0-9:_-]{1,128}")


def install() -> None:
    from moto.iot.responses import IoTResponse

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


_HANDLERS = {
    "describe_event_configurations": describe_event_configurations,
    "update_event_configurations": update_event_configurations,
    "create_security_profile": create_security_profile,
    "describe_security_profile": describe_security_profile,
    "list_security_profiles": list_security_profiles,
}
