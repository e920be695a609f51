"""An operator's request to a guard (`halt`, `throttle`, `resume`) as the CLI sends it: the EventBridge event the
guard reads (`halts.alert_requests` reads it), with the source and detail types the guard knows. Its id is derived from its
content, so the same request sent twice is one request to the guard's exactly-once claims."""

from __future__ import annotations

import json
import uuid
from typing import Any

from rollout_guard.halts.alert_kinds import HALT_REQUESTED, OPERATOR_SOURCE, RESUME_REQUESTED, THROTTLE_REQUESTED

# The envelope's account, region and time the guard does not read; fixed, so the id depends on the detail only.
ACCOUNT, REGION, TIME = "123456789012", "eu-west-1", "2026-11-29T10:00:00Z"


def operator_event(detail_type: str, detail: dict[str, Any], time: str | None = None) -> dict[str, Any]:
    """The request as EventBridge delivers it; `time` the operator's, else the fixed envelope time."""
    return {
        "version": "0",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, json.dumps([OPERATOR_SOURCE, detail_type, detail], sort_keys=True))),
        "detail-type": detail_type,
        "source": OPERATOR_SOURCE,
        "account": ACCOUNT,
        "time": time or TIME,
        "region": REGION,
        "resources": [],
        "detail": detail,
    }


def halt_request(jobs: str | None = "fw-2-4-*", reason_code: str | None = "OPERATOR_HALT", comment: str | None = None,
                 force: bool | None = None, dry_run: bool = False, requested_by: str | None = "ops@example.com",
                 time: str | None = None, deployments: str | None = None) -> dict[str, Any]:
    """An operator's halt, as `rollout-guard halt` sends it to each guard and as it may be put on the control bus:
    a glob over job ids, over Greengrass deployment names, or both."""
    detail: dict[str, Any] = {**({"jobs": jobs} if jobs is not None else {}), "dryRun": dry_run}
    for key, value in (("deployments", deployments), ("reasonCode", reason_code),
                       ("comment", comment), ("force", force), ("requestedBy", requested_by)):
        if value is not None:
            detail[key] = value
    return operator_event(HALT_REQUESTED, detail, time)


def throttle_request(jobs: str = "fw-2-4-*", max_per_minute: int = 5, abort: dict[str, Any] | None = None,
                     dry_run: bool = False, requested_by: str | None = "ops@example.com",
                     time: str | None = None) -> dict[str, Any]:
    """An operator's throttle (`rollout-guard throttle`): the jobs' rollout slowed, an abort criterion armed."""
    detail: dict[str, Any] = {"jobs": jobs, "maxPerMinute": max_per_minute, "dryRun": dry_run}
    if abort:
        detail["abort"] = abort
    if requested_by:
        detail["requestedBy"] = requested_by
    return operator_event(THROTTLE_REQUESTED, detail, time)


def resume_request(jobs: str = "fw-2-4-*", dry_run: bool = False, requested_by: str | None = "ops@example.com",
                   time: str | None = None) -> dict[str, Any]:
    """An operator's resume (`rollout-guard resume`): the jobs the guard throttled put back as they were."""
    detail: dict[str, Any] = {"jobs": jobs, "dryRun": dry_run, **({"requestedBy": requested_by} if requested_by else {})}
    return operator_event(RESUME_REQUESTED, detail, time)
