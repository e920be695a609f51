"""The fleet state adapter: `fleet_state.FleetState` over the DynamoDB state table (low-level client, one
UpdateItem per write, BatchGetItem for reads)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from .casualties import Casualty
from .claims import TABLE_KEY, TABLE_TTL
from .fleet_state import (
    CASUALTIES_TTL_S,
    CASUALTY_PREFIX,
    MINUTE_TTL_S,
    THING_TTL_S,
    Disconnects,
    ThingDays,
    casualties_key,
    minute_key,
)

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
                returned: str = "NONE") -> dict[str, Any]:
        self.writes += 1
        answer: dict[str, Any] = self._client.update_item(
            TableName=self.table, Key={TABLE_KEY: {"S": key}}, UpdateExpression=expression,
            ExpressionAttributeNames={"#ttl": TABLE_TTL, **names},
            ExpressionAttributeValues={":ttl": {"N": str(int(time.time()) + _ttl(key))}, **values},
            ReturnValues=returned)
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

    def count_disconnects(self, minute: int, fleet: int, on_jobs: int) -> None:
        self._update(minute_key(minute), "ADD disconnects :f, job_disconnects :j SET #ttl = :ttl", {},
                     {":f": {"N": str(fleet)}, ":j": {"N": str(on_jobs)}})

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

    def disconnects(self, minutes: Iterable[int]) -> dict[int, Disconnects]:
        by_key = {minute_key(minute): minute for minute in minutes}
        found = self._get(by_key)
        return {minute: Disconnects(int(found[key].get("disconnects", {}).get("N", 0)),
                                    int(found[key].get("job_disconnects", {}).get("N", 0)))
                for key, minute in by_key.items() if key in found}

    def add_casualties(self, job_id: str, found: Iterable[Casualty]) -> list[Casualty]:
        sets, names, values = ["#ttl = :ttl"], {}, {}
        for index, casualty in enumerate(sorted(set(found))):
            names[f"#c{index}"] = CASUALTY_PREFIX + casualty.thing
            values[f":c{index}"] = {"S": casualty.encode()}
            sets.append(f"#c{index} = if_not_exists(#c{index}, :c{index})")
        answer = self._update(casualties_key(job_id), "SET " + ", ".join(sets), names, values, "ALL_NEW")
        return [Casualty.decode(name[len(CASUALTY_PREFIX):], value["S"])
                for name, value in answer.get("Attributes", {}).items() if name.startswith(CASUALTY_PREFIX)]


def _ttl(key: str) -> int:
    if key.startswith("thing#"):
        return THING_TTL_S
    if key.startswith("minute#"):
        return MINUTE_TTL_S
    return CASUALTIES_TTL_S
