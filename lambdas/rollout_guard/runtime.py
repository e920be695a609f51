"""The function's runtime: one invocation dispatched, over the paths `bootstrap` built from `Settings`.

An SQS batch of fleet events (or one bare fleet event, from the CLI: a batch of one) goes to the fleet path, built
at the first such batch (its modules load then, not at cold start); anything else is an alert for the alert path.
Each path has its own result: an alert's JSON (`AlertPath.handle`), a batch's `FleetBatch` (`FleetPath.handle`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Any

from rollout_guard.alert_path import AlertPath
from rollout_guard.fleet import events as fleet_events
from rollout_guard.fleet_path import FleetBatch, FleetPath


class Runtime:
    def __init__(self, alert_path: AlertPath, fleet_path: Callable[[], FleetPath]):
        self.alert_path = alert_path
        self._fleet_path = cache(fleet_path)  # made once, at the first fleet batch

    @staticmethod
    def carries_fleet_events(event: Any) -> bool:
        return fleet_events.is_fleet_event(event) or fleet_events.is_sqs_batch(event)

    def alert(self, event: Any, context: Any) -> dict[str, Any]:
        self.alert_path.claims.begin(context)
        return self.alert_path.handle(event, context)

    def fleet(self, event: Any, context: Any) -> FleetBatch:
        self.alert_path.claims.begin(context)
        if fleet_events.is_fleet_event(event):  # one bare event (the CLI): as a batch of one
            event = {"Records": [{"messageId": "local-1", "eventSource": "aws:sqs", "body": json.dumps(event)}]}
        return self._fleet_path().handle(event, context, halt=lambda alert, policy: self.alert_path.act(
            alert, policy, context))
