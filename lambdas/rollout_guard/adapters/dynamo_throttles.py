"""The throttle records adapter: one item per throttled job in the state table (`schema.THROTTLE`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cached_property
from typing import Any

from rollout_guard.halts.throttles import Throttled
from rollout_guard.schema import TABLE_KEY, TABLE_TTL, THROTTLE


class DynamoThrottles:
    def __init__(self, table: str, make_client: Callable[[], Any]):
        self.table = table
        self._make_client = make_client

    @cached_property
    def _client(self) -> Any:
        return self._make_client()

    def _key(self, job_id: str) -> dict[str, Any]:
        return {TABLE_KEY: {"S": f"{THROTTLE.prefix}{job_id}"}}

    def get(self, job_id: str) -> Throttled | None:
        item = self._client.get_item(TableName=self.table, Key=self._key(job_id), ConsistentRead=True).get("Item")
        return Throttled.from_json(item["record"]["S"]) if item else None

    def put(self, record: Throttled) -> None:
        expires = int(time.time()) + THROTTLE.ttl_s
        self._client.put_item(TableName=self.table, Item={**self._key(record.job_id), "record": {"S": record.to_json()},
                                                          TABLE_TTL: {"N": str(expires)}})

    def delete(self, job_id: str) -> None:
        self._client.delete_item(TableName=self.table, Key=self._key(job_id))
