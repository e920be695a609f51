"""The fleet's own events as the detector receives them: one SQS message each, from the stack's IoT topic rules
(`SELECT *, topic() AS topic`) or from the detector itself (a dark check it scheduled).

- a Jobs execution event (`$aws/events/jobExecution/<jobId>/<operation>`): `jobId`, `thingArn`, `status`,
  `timestamp` (epoch seconds);
- a lifecycle event (`$aws/events/presence/<connected|disconnected>/<clientId>`): `clientId`, `eventType`,
  `timestamp` (epoch milliseconds);
- a dark check: `{"rolloutGuard": "dark-check", "darkAfter": S, "disconnects": [[THING, AT_MS], ...]}`, with
  `"round": N` (1 and up), `"jobId"`, `"dueAt"` (epoch ms) and `"fleetBackAt"` (epoch ms, once the rest of the
  fleet was seen back) when it judges again a job's dark things discounted as a network outage.

- a Greengrass v2 event as EventBridge delivers it (`source: aws.greengrass`): "Greengrass V2 Effective Deployment
  Status Change" (the core device in `resources[0]`, `detail.deploymentId` or, in older documentation,
  `detail.deployment-id`, `detail.coreDeviceExecutionStatus`, the event's `time`), read as an execution of the
  deployment (`deployment_subject`); "Greengrass V2 Installed Component Status Change", whose ERRORED or BROKEN
  components count against the device's latest deployment (`ComponentsBroke`).
- a `$package` reserved shadow's accepted update (`$aws/things/<thing>/shadow/name/$package/update/accepted`, with
  the topic rule's `topic`): `state.reported` (each package's `version`), `timestamp` (epoch seconds).

Parsing is strict about types, as for alerts: anything else raises `NotAFleetEvent` with a one-line reason.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, NamedTuple

from rollout_guard.documents import show
from rollout_guard.iot_limits import DEPLOYMENT_ID

JOB_EXECUTION = "JOB_EXECUTION"
PRESENCE = ("connected", "disconnected")
DARK_CHECK = "dark-check"
MARKER = "rolloutGuard"
THING_NAME = re.compile(r"[a-zA-Z0-9:_-]{1,128}")
# The moments a fleet event may carry: from 2015 (before IoT Jobs existed) to 2100. Fixed, not "now": parsing stays
# a pure function, and replays of recorded or simulated streams keep their own clock. Bounded here, before anything
# is written, so that no later step (a thing-day key, a minute) meets a time it cannot show.
EARLIEST_MS, LATEST_MS = 1_420_070_400_000, 4_102_444_800_000
BAD_TIME = "timestamp must be an epoch time from 2015 to 2100 (seconds or milliseconds)"
MAX_DEPTH = 32  # nesting of a message: an event is 2 deep, a dark check 3
MAX_BODY = 256 * 1024  # SQS's largest message


class NotAFleetEvent(ValueError):
    """The message is not an event the detector understands."""


# NamedTuples, not dataclasses: the runtime imports this module on every cold start to tell fleet input from alerts,
# and a frozen dataclass costs about a millisecond to create there.
class Execution(NamedTuple):
    job_id: str
    thing: str
    status: str
    at_ms: int


class Presence(NamedTuple):
    client_id: str
    connected: bool
    at_ms: int


class DarkCheck(NamedTuple):
    dark_after_s: int
    disconnects: tuple[tuple[str, int], ...]  # (client id, when it disconnected)
    round: int = 0  # 0: the first look; 1 and up: a recheck of things discounted as an outage
    job_id: str | None = None  # a recheck's job
    due_ms: int = 0  # a recheck's time
    fleet_back_ms: int = 0  # when a recheck saw the rest of the fleet back (0: not yet)

    def message(self) -> dict[str, Any]:
        message: dict[str, Any] = {MARKER: DARK_CHECK, "darkAfter": self.dark_after_s,
                                   "disconnects": [list(d) for d in self.disconnects]}
        if self.round:
            message.update(round=self.round, jobId=self.job_id, dueAt=self.due_ms, fleetBackAt=self.fleet_back_ms)
        return message


class ComponentsBroke(NamedTuple):
    """Components of a Greengrass core device ERRORED or BROKEN (none: a healthy report, which counts nothing)."""

    thing: str
    at_ms: int
    components: tuple[str, ...]


class PackagesReported(NamedTuple):
    """A thing's `$package` reserved shadow accepted an update: the versions of the packages it reports installed."""

    thing: str
    at_ms: int
    versions: tuple[tuple[str, str], ...]  # (package name, version name)


FleetEvent = Execution | Presence | DarkCheck | ComponentsBroke | PackagesReported
# The `$package` reserved named shadow's accepted updates (IoT's software package catalog: a device reports each
# package as `{"<package>": {"version": "<version>", "attributes": {...}}}` under `state.reported`).
PACKAGE_TOPIC = re.compile(r"\$aws/things/(?P<thing>[^/]+)/shadow/name/\$package/update/accepted")

# Greengrass v2's events, and the words the detector reads them in.
GREENGRASS = "aws.greengrass"
DEPLOYMENT_STATUS = "Greengrass V2 Effective Deployment Status Change"
COMPONENT_STATUS = "Greengrass V2 Installed Component Status Change"
# A core device's execution status -> the job execution status it means to the detector; CANCELED counts nothing.
DEVICE_STATUSES = {"FAILED": "FAILED", "REJECTED": "REJECTED", "SUCCEEDED": "SUCCEEDED", "COMPLETED": "SUCCEEDED",
                   "CANCELED": "CANCELED"}
BROKEN_STATES = ("ERRORED", "BROKEN")
# The detector keys a deployment's casualties as it keys a job's, by a subject no job id can be (':' is not in IoT's
# job id pattern).
DEPLOYMENT_PREFIX = "deployment:"


def deployment_subject(deployment_id: str) -> str:
    return DEPLOYMENT_PREFIX + deployment_id


def deployment_of(subject: str) -> str | None:
    """The deployment id a subject names, or None for a job id."""
    return subject[len(DEPLOYMENT_PREFIX):] if subject.startswith(DEPLOYMENT_PREFIX) else None


def is_sqs_batch(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    return (isinstance(records, list) and bool(records)
            and all(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records))


def is_fleet_event(event: Any) -> bool:
    """A bare fleet event (as a topic rule selects it), which the CLI accepts as the detector would."""
    return isinstance(event, dict) and (event.get("eventType") in (JOB_EXECUTION, *PRESENCE) or MARKER in event
                                        or event.get("source") == GREENGRASS
                                        or (isinstance(event.get("topic"), str)
                                            and PACKAGE_TOPIC.fullmatch(event["topic"]) is not None))


def parse_body(body: Any) -> FleetEvent:
    """An SQS message body (JSON text) as a fleet event."""
    if not isinstance(body, str):
        raise NotAFleetEvent("the message body must be JSON text")
    if len(body) > MAX_BODY:
        raise NotAFleetEvent(f"the message body is over {MAX_BODY} characters")
    try:
        message = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise NotAFleetEvent("the message body is not JSON") from error
    return parse(message)


def parse(message: Any) -> FleetEvent:
    if not isinstance(message, dict):
        raise NotAFleetEvent(f"expected a JSON object, got {type(message).__name__}")
    if _deeper_than(message, MAX_DEPTH):
        raise NotAFleetEvent(f"the message is nested deeper than {MAX_DEPTH}")
    if message.get(MARKER) == DARK_CHECK:
        return _dark_check(message)
    if message.get("source") == GREENGRASS:
        return _greengrass(message)
    if isinstance(message.get("topic"), str) and (found := PACKAGE_TOPIC.fullmatch(message["topic"])):
        return _packages(_thing(found["thing"]), message)
    kind = message.get("eventType")
    if kind == JOB_EXECUTION:
        thing_arn = _text(message.get("thingArn"), "thingArn")
        return Execution(_text(message.get("jobId"), "jobId"), _thing(thing_arn.rpartition("/")[2]),
                         _text(message.get("status"), "status"), _time(message.get("timestamp")))
    if kind in PRESENCE:
        return Presence(_text(message.get("clientId"), "clientId"), kind == "connected",
                        _time(message.get("timestamp")))
    raise NotAFleetEvent(f"eventType {show(kind)} is not a job execution or lifecycle event")


def _packages(thing: str, message: dict[str, Any]) -> PackagesReported:
    state = message.get("state")
    reported = state.get("reported") if isinstance(state, dict) else None
    if not isinstance(reported, dict):
        raise NotAFleetEvent("a $package shadow update needs state.reported")
    versions: list[tuple[str, str]] = []
    for name, package in reported.items():
        if package is None:  # a package removed from the shadow says nothing
            continue
        version = package.get("version") if isinstance(package, dict) else None
        if not isinstance(version, str) or not version:
            raise NotAFleetEvent(f"state.reported.{show(name)}.version must be a non-empty string")
        versions.append((str(name), version))
    return PackagesReported(thing, _time(message.get("timestamp")), tuple(sorted(versions)))


def _dark_check(message: dict[str, Any]) -> DarkCheck:
    dark_after = message.get("darkAfter")
    if isinstance(dark_after, bool) or not isinstance(dark_after, int) or dark_after < 0:
        raise NotAFleetEvent("darkAfter must be a whole number of seconds")
    found = message.get("disconnects")
    if not isinstance(found, list) or not found:
        raise NotAFleetEvent("disconnects must be a non-empty list")
    pairs = []
    for item in found:
        if not isinstance(item, list) or len(item) != 2:
            raise NotAFleetEvent("each disconnect must be [client id, epoch milliseconds]")
        pairs.append((_text(item[0], "client id"), _time(item[1])))
    round_ = message.get("round", 0)
    if isinstance(round_, bool) or not isinstance(round_, int) or round_ < 0:
        raise NotAFleetEvent("round must be a whole number")
    if round_:
        back = message.get("fleetBackAt", 0)
        return DarkCheck(dark_after, tuple(pairs), round_, _text(message.get("jobId"), "jobId"),
                         _time(message.get("dueAt")), 0 if back == 0 else _time(back))
    return DarkCheck(dark_after, tuple(pairs))


def _greengrass(message: dict[str, Any]) -> Execution | ComponentsBroke:
    kind = message.get("detail-type")
    if kind not in (DEPLOYMENT_STATUS, COMPONENT_STATUS):
        raise NotAFleetEvent(f"Greengrass detail-type {show(kind)} is not a deployment or component status change")
    resources, detail = message.get("resources"), message.get("detail")
    if not isinstance(resources, list) or not resources or not isinstance(detail, dict):
        raise NotAFleetEvent("a Greengrass event needs resources (the core device) and a detail object")
    device = _text(resources[0], "resources[0]")
    if ":coreDevices:" not in device:
        raise NotAFleetEvent(f"resources[0] {show(device)} is not a core device ARN")
    thing, at_ms = _thing(device.rpartition(":coreDevices:")[2]), _iso_time(message.get("time"))
    if kind == COMPONENT_STATUS:
        components = detail.get("components")
        if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
            raise NotAFleetEvent("detail.components must be a list of objects")
        broken = tuple(_text(c.get("componentName"), "componentName") for c in components
                       if c.get("lifecycleState") in BROKEN_STATES)
        return ComponentsBroke(thing, at_ms, broken)
    deployment_id = detail.get("deploymentId", detail.get("deployment-id"))
    status = detail.get("coreDeviceExecutionStatus")
    if status not in DEVICE_STATUSES:
        raise NotAFleetEvent(f"detail.coreDeviceExecutionStatus {show(status)} must be one of: "
                             + ", ".join(DEVICE_STATUSES))
    deployment_id = _text(deployment_id, "detail.deploymentId")
    if not DEPLOYMENT_ID.fullmatch(deployment_id):
        raise NotAFleetEvent(f"detail.deploymentId {show(deployment_id)} is not a deployment id")
    return Execution(deployment_subject(deployment_id), thing, DEVICE_STATUSES[status], at_ms)


def _iso_time(value: Any) -> int:
    """EventBridge's `time` (ISO 8601 with its zone, "Z" as EventBridge writes it) in epoch milliseconds, bounded as
    every fleet time is. A time without a zone is refused: read in the machine's zone it could be hours off."""
    from datetime import datetime

    if not isinstance(value, str):
        raise NotAFleetEvent("time must be an ISO 8601 string")
    try:
        when = datetime.fromisoformat(value)
    except ValueError as error:
        raise NotAFleetEvent(f"time {show(value)} is not ISO 8601") from error
    if when.tzinfo is None:
        raise NotAFleetEvent(f"time {show(value)} has no time zone")
    return _time(int(when.timestamp() * 1000))


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise NotAFleetEvent(f"{what} must be a non-empty string")
    return value


def _thing(name: str) -> str:
    if not THING_NAME.fullmatch(name):
        raise NotAFleetEvent(f"thing name {show(name)} is not a thing name")
    return name


def _time(value: Any) -> int:
    """Epoch milliseconds from seconds or milliseconds, between 2015 and 2100; anything else (a number of 400
    digits, infinity, NaN, the year 9999) is refused. A number from 2015's first millisecond on is milliseconds,
    below it seconds; the bounds are compared before any conversion, so no number can overflow one."""
    if isinstance(value, bool) or not isinstance(value, int | float) or (
            isinstance(value, float) and not math.isfinite(value)):
        raise NotAFleetEvent(BAD_TIME)
    at = value if value >= EARLIEST_MS else value * 1000
    if not EARLIEST_MS <= at <= LATEST_MS:
        raise NotAFleetEvent(BAD_TIME)
    return int(at)


def _deeper_than(message: dict[str, Any], limit: int) -> bool:
    """Whether the message nests deeper than `limit` (without recursion: a deep message cannot exhaust the stack).
    Most events hold at most one small object inside: the first level is all most of them cost."""
    level = [value for value in message.values() if isinstance(value, dict | list)]
    depth = 1
    while level:
        depth += 1
        if depth > limit:
            return True
        inner: list[Any] = []
        for item in level:
            inner += [value for value in (item.values() if isinstance(item, dict) else item)
                      if isinstance(value, dict | list)]
        level = inner
    return False
