"""The "Rollout Halted" announcement: one EventBridge event per cancelled job, for chat or e-mail rules to follow."""

from __future__ import annotations

import json
from typing import Any

SOURCE = "rollout-guard"
DETAIL_TYPE = "Rollout Halted"
BATCH = 10  # PutEvents takes at most 10 entries


def entries(outcome: dict[str, Any], bus: str) -> list[dict[str, Any]]:
    """The PutEvents entries for every cancelled job of an outcome."""
    return [
        {
            "Source": SOURCE,
            "DetailType": DETAIL_TYPE,
            "EventBusName": bus,
            "Detail": json.dumps({
                "jobId": decision["jobId"],
                "rule": outcome["rule"],
                "reasonCode": decision["reasonCode"],
                "force": decision["force"],
                "alert": outcome["alert"],
            }),
        }
        for decision in outcome["decisions"]
        if decision["action"] == "canceled"
    ]


def publish(client: Any, outcome: dict[str, Any], bus: str) -> int:
    """Put the events; returns how many EventBridge did not accept (botocore already retried the call)."""
    pending = entries(outcome, bus)
    failed = 0
    for start in range(0, len(pending), BATCH):
        answer = client.put_events(Entries=pending[start:start + BATCH])
        failed += answer.get("FailedEntryCount", 0)
    return failed
