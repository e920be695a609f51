"""The timers adapter: `detector.Timers` as delayed messages on the fleet queue, which the detector reads."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .fleet_events import DarkCheck


class DarkCheckQueue:
    def __init__(self, url: str, client: Callable[[], Any]):
        self.url = url
        self._client = client
        self._made: Any = None

    def schedule(self, check: DarkCheck, delay_s: int) -> None:
        if self._made is None:
            self._made = self._client()
        self._made.send_message(QueueUrl=self.url, MessageBody=json.dumps(check.message()), DelaySeconds=delay_s)
