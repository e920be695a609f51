"""The fleet state adapter: `fleet_state.FleetState` over the DynamoDB state table (low-level client, one
UpdateItem per write, BatchGetItem for reads)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from rollout_guard.fleet.casualties import Casualty, Tally, confirmation, minute_of
from rollout_guard.fleet.state import (
    BUCKET_SHARDS,
    MINUTE_SHARDS,
    STREAM_KEY,
    MinuteCounts,
    ThingDays,
    bucket_key,
    bucket_shard,
    decode,
    encode,
    first_of_each,
    kind_counts,
    minute_key,
    minute_tally_key,
    shard_sums,
    tally_key,
    ttl_of,
)
from rollout_guard.schema import TABLE_KEY, TABLE_TTL

BATCH_GET = 100  # keys per BatchGetItem
UNPROCESSED_ROUNDS = 5


class DynamoFleetState:
    def __init__(self, table: str, client: Callable[[], Any]):
        self.table = table
        self._make = client
        self._made: Any = None
        self.writes = 0  # items written, for the bench's writes-per-event figure

    @property
    def _client(self) -> Any:
        if self._made is None:  # made at the first fleet event, not at every cold start
            self._made = self._make()
        return self._made

    def _update(self, key: str, expression: str, names: dict[str, str], values: dict[str, Any],
                returned: str = "NONE", condition: str | None = None) -> dict[str, Any]:
        """One UpdateItem; a condition that does not hold answers {} (the item already holds as much)."""
        self.writes += 1
        request: dict[str, Any] = {
            "TableName": self.table, "Key": {TABLE_KEY: {"S": key}}, "UpdateExpression": expression,
            "ExpressionAttributeNames": {"#ttl": TABLE_TTL, **names},
            "ExpressionAttributeValues": {":ttl": {"N": str(int(time.time()) + ttl_of(key))}, **values},
            "ReturnValues": returned}
        if condition:
            request["ConditionExpression"] = condition
        try:
            answer: dict[str, Any] = self._client.update_item(**request)
        except self._client.exceptions.ConditionalCheckFailedException:
            return {}
        return answer

    def note_thing(self, key: str, connected: Iterable[int], succeeded: Iterable[tuple[int, str]]) -> None:
        adds, values = [], {}
        if connected := sorted(set(connected)):
            adds.append("connected :c")
            values[":c"] = {"NS": [str(at) for at in connected]}
        if succeeded := sorted(set(succeeded)):
            adds.append("succeeded :s")
            values[":s"] = {"SS": [f"{at}|{job}" for at, job in succeeded]}
        if adds:
            self._update(key, f"ADD {', '.join(adds)} SET #ttl = :ttl", {}, values)

    def count_minute(self, minute: int, shard: int, counts: MinuteCounts) -> None:
        self._update(minute_key(minute, shard), "ADD disconnects :f, job_disconnects :j, connects :c SET #ttl = :ttl",
                     {}, {":f": {"N": str(counts.fleet)}, ":j": {"N": str(counts.on_jobs)},
                          ":c": {"N": str(counts.connects)}})

    def _get(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        wanted = sorted(set(keys))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), BATCH_GET):
            request = {self.table: {"Keys": [{TABLE_KEY: {"S": key}} for key in wanted[start:start + BATCH_GET]],
                                    "ConsistentRead": True}}
            for _ in range(UNPROCESSED_ROUNDS):
                answer = self._client.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self.table, []):
                    found[item[TABLE_KEY]["S"]] = item
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(0.05)
            else:
                raise RuntimeError(f"BatchGetItem left keys unprocessed after {UNPROCESSED_ROUNDS} rounds")
        return found

    def things(self, keys: Iterable[str]) -> dict[str, ThingDays]:
        days = {}
        for key, item in self._get(keys).items():
            succeeded = set()
            for text in item.get("succeeded", {}).get("SS", []):
                at, _, job = text.partition("|")
                succeeded.add((int(at), job))
            days[key] = ThingDays({int(at) for at in item.get("connected", {}).get("NS", [])}, succeeded)
        return days

    def minutes(self, minutes: Iterable[int]) -> dict[int, MinuteCounts]:
        wanted = {minute_key(minute, shard): minute for minute in minutes for shard in range(MINUTE_SHARDS)}
        found: dict[int, MinuteCounts] = {}
        for key, item in self._get(wanted).items():
            counts = MinuteCounts(*(int(item.get(name, {}).get("N", 0))
                                    for name in ("disconnects", "job_disconnects", "connects")))
            found[wanted[key]] = found.get(wanted[key], MinuteCounts()) + counts
        return found

    def add_casualties(self, job_id: str, found: Iterable[Casualty]) -> None:
        kept: dict[int, list[Casualty]] = {}
        pending = first_of_each(job_id, found)
        while pending:
            confirmations = []
            for key, casualty in pending.items():
                first = self._first(key, casualty)
                kept.setdefault(minute_of(first.at_ms), []).append(first)
                if (confirmed := confirmation(first, casualty)) is not None:
                    confirmations.append(confirmed)
            pending = first_of_each(job_id, confirmations)
        for minute, casualties in kept.items():
            self._count(job_id, minute, casualties)

    def _count(self, job_id: str, minute: int, casualties: list[Casualty]) -> None:
        """A minute's casualties into their shards' buckets, each shard's counts into the minute's tally, the
        minute's sums into the job's tally (maxima all the way: the last writer writes the sum)."""
        by_shard: dict[int, list[Casualty]] = {}
        for casualty in casualties:
            by_shard.setdefault(bucket_shard(casualty.thing), []).append(casualty)
        minute_tally: dict[str, int] = {}
        for shard, found in sorted(by_shard.items()):
            answer = self._update(bucket_key(job_id, minute, shard), "ADD c :c SET #ttl = :ttl", {},
                                  {":c": {"SS": sorted({encode(c) for c in found})}}, "ALL_NEW")
            kinds = kind_counts(answer["Attributes"]["c"]["SS"])
            for kind in sorted({c.kind for c in found}):
                minute_tally = self._maximum(minute_tally_key(job_id, minute), f"s:{shard}:{kind}", kinds[kind])
        sums = shard_sums(minute_tally)
        for kind in sorted({c.kind for c in casualties}):
            self._maximum(tally_key(job_id), f"n:{minute}:{kind}", sums[kind])

    def _maximum(self, key: str, name: str, value: int) -> dict[str, int]:
        """Raise a count to `value` (never lower it); the item's counts after it."""
        answer = self._update(key, "SET #n = :n, #ttl = :ttl", {"#n": name}, {":n": {"N": str(value)}}, "ALL_NEW",
                              condition="attribute_not_exists(#n) OR #n < :n")
        item = answer.get("Attributes") or self._get([key]).get(key, {})
        return {name: int(value["N"]) for name, value in item.items() if "N" in value and ":" in name}

    def _first(self, key: str, casualty: Casualty) -> Casualty:
        """The thing's record under `key`: this casualty if it is the first, else the one kept."""
        answer = self._update(key, "SET #first = if_not_exists(#first, :v), #ttl = :ttl", {"#first": "first"},
                              {":v": {"S": f"{casualty.at_ms}|{casualty.kind}"}}, "ALL_NEW")
        at, _, kind = answer["Attributes"]["first"]["S"].partition("|")
        return Casualty(int(at), casualty.thing, kind)

    def tally(self, job_id: str) -> Tally:
        item = self._get([tally_key(job_id)]).get(tally_key(job_id), {})
        minutes: dict[int, dict[str, int]] = {}
        for name, value in item.items():
            if name.startswith("n:"):
                _, minute, kind = name.split(":", 2)
                minutes.setdefault(int(minute), {})[kind] = int(value["N"])
        return Tally(minutes)

    def casualties(self, job_id: str, minutes: Iterable[int]) -> list[Casualty]:
        found = self._get(bucket_key(job_id, minute, shard) for minute in minutes for shard in range(BUCKET_SHARDS))
        return [decode(text) for item in found.values() for text in item.get("c", {}).get("SS", [])]

    def stream_position(self) -> int:
        item = self._get([STREAM_KEY]).get(STREAM_KEY, {})
        return int(item.get("sent", {}).get("N", 0))

    def advance_stream(self, sent_ms: int) -> None:
        self._update(STREAM_KEY, "SET sent = :s, #ttl = :ttl", {}, {":s": {"N": str(sent_ms)}},
                     condition="attribute_not_exists(sent) OR sent < :s")
