"""The timers adapter: `dark_checks.Timers` as delayed messages on the fleet queue, which the detector reads."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from rollout_guard.fleet.events import DarkCheck


class DarkCheckQueue:
    def __init__(self, url: str, client: Callable[[], Any]):
        self.url = url
        self._client = client
        self._made: Any = None

    @property
    def _sqs(self) -> Any:
        if self._made is None:
            self._made = self._client()
        return self._made

    def schedule(self, check: DarkCheck, delay_s: int) -> None:
        self._sqs.send_message(QueueUrl=self.url, MessageBody=json.dumps(check.message()), DelaySeconds=delay_s)

    def drained(self, in_flight: int) -> bool:
        """SQS's approximate counts: nothing visible, nothing in flight but this batch (delayed checks aside)."""
        counts = self._sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return (int(counts["ApproximateNumberOfMessages"]) == 0
                and int(counts["ApproximateNumberOfMessagesNotVisible"]) <= in_flight)
