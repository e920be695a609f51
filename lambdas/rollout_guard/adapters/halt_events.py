"""The "Rollout Halted" announcement: one EventBridge event per cancelled job, for chat or e-mail rules to follow."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from rollout_guard.halts.decisions import CANCELED
from rollout_guard.observability import HALTED_DETAIL_TYPE, HALTED_SOURCE

if TYPE_CHECKING:
    from rollout_guard.halts.guard import Outcome

SOURCE, DETAIL_TYPE = HALTED_SOURCE, HALTED_DETAIL_TYPE
BATCH = 10  # PutEvents takes at most 10 entries


def entries(outcome: Outcome, bus: str) -> list[dict[str, Any]]:
    """The PutEvents entries for every cancelled job of an outcome."""
    alert = outcome.alert.summary()
    return [
        {
            "Source": SOURCE,
            "DetailType": DETAIL_TYPE,
            "EventBusName": bus,
            "Detail": json.dumps({
                "jobId": decision.job_id,
                "rule": outcome.rule_name,
                "reasonCode": decision.reason_code,
                "subject": outcome.alert.subject,
                "force": decision.force,
                "alert": alert,
            }),
        }
        for decision in outcome.with_action(CANCELED)
    ]


class HaltAnnouncer:
    def __init__(self, bus: str, client_factory: Callable[[], Any]):
        self.bus = bus
        self._client_factory = client_factory

    @cached_property
    def _client(self) -> Any:  # made at the first halt, not at cold start
        return self._client_factory()

    def announce(self, outcome: Outcome) -> int:
        """Put the events; returns how many EventBridge did not accept (botocore already retried the call). Raises
        when the call itself fails."""
        pending = entries(outcome, self.bus)
        failed = 0
        for start in range(0, len(pending), BATCH):
            answer = self._client.put_events(Entries=pending[start:start + BATCH])
            failed += int(answer.get("FailedEntryCount", 0))
        return failed
