"""The dead-letter adapter: an alert no retry could make recognisable is kept in the SQS queue at once."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cached_property
from typing import Any


class DeadLetterQueue:
    def __init__(self, url: str, client_factory: Callable[[], Any]):
        self.url = url
        self._client_factory = client_factory

    @cached_property
    def _client(self) -> Any:  # most invocations never need it: made at the first dead letter, not at cold start
        return self._client_factory()

    def keep(self, event: Any, problem: str) -> None:
        """Keep the event with the reason; a failure raises, for the platform's retries and destination to keep it."""
        body = json.dumps({"problem": problem, "event": event}, default=str)
        self._client.send_message(QueueUrl=self.url, MessageBody=body)
