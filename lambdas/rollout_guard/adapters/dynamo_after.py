"""What the guard keeps after a rollout (`reverts.AfterRollout`) in the state table: one `after#<job>` item per job
found regressed or prepared for (`regressed`, the first detail; `plan`, the revert plan as JSON; `created`, when
its revert job was created), one per revert job the guard created (`revert_of`), and the index `after#*` (`jobs`,
every job with an item: `rollout-guard status` reads it). Each write is conditional, so each happens once whatever
the number of invocations. DynamoDB's errors (past botocore's retries) become `KeptError`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import cached_property
from typing import Any

from rollout_guard.halts.revert_records import KeptError, RevertPlan
from rollout_guard.schema import AFTER, TABLE_KEY, TABLE_TTL

INDEX = f"{AFTER.prefix}*"  # no job id holds '*'
ATTRIBUTES = ("regressed", "plan", "created", "revert_of")


@contextmanager
def _reported(what: str) -> Iterator[None]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            raise _Once from error
        raise KeptError(f"the state table could not {what}: {error}") from error
    except BotoCoreError as error:
        raise KeptError(f"the state table could not {what}: {error}") from error


class _Once(Exception):
    """The conditional write found it done already."""


class DynamoAfterRollout:
    def __init__(self, table: str, make_client: Callable[[], Any]):
        self.table = table
        self._make_client = make_client

    @cached_property
    def _client(self) -> Any:
        return self._make_client()

    def _set(self, key: str, values: dict[str, str], condition: str | None, what: str) -> bool:
        """SET each attribute of `values` (strings) and the TTL; False when `condition` found it done."""
        sets = ", ".join(f"#{name} = :{name}" for name in values)  # names as #name: `plan` is a reserved word
        names = {"#ttl": TABLE_TTL, **{f"#{name}": name for name in values}}
        params: dict[str, Any] = {
            "TableName": self.table, "Key": {TABLE_KEY: {"S": key}},
            "UpdateExpression": f"SET {sets}, #ttl = :ttl", "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {**{f":{name}": {"S": value} for name, value in values.items()},
                                          ":ttl": {"N": str(int(time.time()) + AFTER.ttl_s)}}}
        if condition:
            params["ConditionExpression"] = condition
            names.update({f"#{name}": name for name in ATTRIBUTES if f"#{name}" in condition})
        try:
            with _reported(what):
                self._client.update_item(**params)
        except _Once:
            return False
        return True

    def _index(self, job_id: str) -> None:
        with _reported("index the job"):
            self._client.update_item(TableName=self.table, Key={TABLE_KEY: {"S": INDEX}},
                                     UpdateExpression="ADD jobs :j SET #ttl = :ttl",
                                     ExpressionAttributeNames={"#ttl": TABLE_TTL},
                                     ExpressionAttributeValues={":j": {"SS": [job_id]},
                                                                ":ttl": {"N": str(int(time.time()) + AFTER.ttl_s)}})

    def _item(self, key: str) -> dict[str, Any]:
        with _reported("read what it keeps after a rollout"):
            item: dict[str, Any] = self._client.get_item(TableName=self.table, Key={TABLE_KEY: {"S": key}},
                                                         ConsistentRead=True).get("Item", {})
        return item

    def regressed(self, job_id: str, detail: str) -> bool:
        self._index(job_id)
        return self._set(AFTER.prefix + job_id, {"regressed": detail}, "attribute_not_exists(#regressed)",
                         f"record job {job_id} regressed")

    def prepare(self, plan: RevertPlan) -> bool:
        self._index(plan.job_id)
        return self._set(AFTER.prefix + plan.job_id, {"plan": plan.to_json()}, "attribute_not_exists(#plan)",
                         f"keep the revert plan of job {plan.job_id}")

    def plan(self, job_id: str) -> RevertPlan | None:
        item = self._item(AFTER.prefix + job_id)
        if "plan" not in item:
            return None
        plan = RevertPlan.from_json(item["plan"]["S"])
        created = item.get("created", {}).get("S")
        return plan if created is None else replace(plan, created_at=created)

    def created(self, plan: RevertPlan) -> bool:
        done = self._set(AFTER.prefix + plan.job_id, {"created": plan.created_at or ""},
                         "attribute_exists(#plan) AND attribute_not_exists(#created)",
                         f"record the revert of job {plan.job_id} created")
        if done:
            self._set(AFTER.prefix + plan.revert_job_id, {"revert_of": plan.job_id}, None,
                      f"record job {plan.revert_job_id} a revert")
        return done

    def is_revert(self, job_id: str) -> bool:
        return "revert_of" in self._item(AFTER.prefix + job_id)

    def kept(self) -> list[tuple[str, str | None, RevertPlan | None]]:
        """Every job kept after a rollout: (job, its regression's detail, its revert plan)."""
        jobs = sorted(self._item(INDEX).get("jobs", {}).get("SS", []))
        found = []
        for job_id in jobs:
            item = self._item(AFTER.prefix + job_id)
            regressed = item.get("regressed", {}).get("S")
            found.append((job_id, regressed, self.plan(job_id) if "plan" in item else None))
        return found
