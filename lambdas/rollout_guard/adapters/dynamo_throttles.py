"""The throttle records adapter: one item per throttled job in the state table (`schema.THROTTLE`). DynamoDB's
errors (past botocore's retries) become `RecordsError`, reported for their job alone."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

from rollout_guard.halts.throttle.records import RecordsError, Throttled
from rollout_guard.schema import TABLE_KEY, TABLE_TTL, THROTTLE


@contextmanager
def _reported(what: str, job_id: str) -> Iterator[None]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (BotoCoreError, ClientError) as error:
        raise RecordsError(f"the state table could not {what} the throttle record of job {job_id}: {error}") from error


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
        with _reported("read", job_id):
            item = self._client.get_item(TableName=self.table, Key=self._key(job_id), ConsistentRead=True).get("Item")
        return Throttled.from_json(item["record"]["S"]) if item else None

    def put(self, record: Throttled) -> None:
        expires = int(time.time()) + THROTTLE.ttl_s
        with _reported("write", record.job_id):
            self._client.put_item(TableName=self.table, Item={**self._key(record.job_id),
                                                              "record": {"S": record.to_json()},
                                                              TABLE_TTL: {"N": str(expires)}})

    def delete(self, job_id: str) -> None:
        with _reported("delete", job_id):
            self._client.delete_item(TableName=self.table, Key=self._key(job_id))
