"""The fleet state in memory (`rollout_guard.fleet.state.FleetState`): what `rollout-guard invoke` and `replay`
count in when no state table is given, the in-memory fake of the unit tests, and the simulator's state at a million
devices.

It keeps the same items as the DynamoDB adapter (same keys, same attributes), so that the simulator's write log
(which item was written when, by the simulation's clock) and item sizes are those of the real schema.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from rollout_guard.fleet.casualties import Casualty, Tally, confirmation, minute_of
from rollout_guard.fleet.state import (
    BUCKET_SHARDS,
    STREAM_KEY,
    FleetState,
    MinuteCounts,
    ThingDays,
    bucket_key,
    bucket_shard,
    decode,
    encode,
    first_of_each,
    minute_key,
    minute_tally_key,
    shard_sums,
    tally_key,
)
from rollout_guard.fleet.state import MINUTE_SHARDS as SHARDS

# The stream is complete: everything the detector will judge on has been written before it judges (the CLI and the
# replay settle a batch before its checks); the simulator passes False to keep the low-water mark as the table does.
COMPLETE = 2**62


class InMemoryFleetState:
    def __init__(self, clock: Callable[[], float] = time.time, complete: bool = True) -> None:
        self.items: dict[str, dict[str, Any]] = defaultdict(dict)
        self.log: list[tuple[float, str]] = []  # (clock, key) of every write
        self.clock = clock
        self.complete = complete

    @property
    def writes(self) -> int:
        return len(self.log)

    def _write(self, key: str) -> dict[str, Any]:
        self.log.append((self.clock(), key))
        return self.items[key]

    def note_thing(self, key: str, connected: Iterable[int], succeeded: Iterable[tuple[int, str]]) -> None:
        item = self._write(key)
        item.setdefault("connected", set()).update(connected)
        item.setdefault("succeeded", set()).update(f"{at}|{job}" for at, job in succeeded)

    def count_minute(self, minute: int, shard: int, counts: MinuteCounts) -> None:
        item = self._write(minute_key(minute, shard))
        for name, value in zip(("disconnects", "job_disconnects", "connects"), counts, strict=True):
            item[name] = item.get(name, 0) + value

    def things(self, keys: Iterable[str]) -> dict[str, ThingDays]:
        found = {}
        for key in keys:
            if key in self.items:
                item = self.items[key]
                succeeded = {(int(text.split("|", 1)[0]), text.split("|", 1)[1]) for text in item["succeeded"]}
                found[key] = ThingDays(set(item["connected"]), succeeded)
        return found

    def minutes(self, minutes: Iterable[int]) -> dict[int, MinuteCounts]:
        found = {}
        for minute in minutes:
            shards = [self.items[key] for shard in range(SHARDS) if (key := minute_key(minute, shard)) in self.items]
            if shards:
                found[minute] = sum((MinuteCounts(item.get("disconnects", 0), item.get("job_disconnects", 0),
                                                  item.get("connects", 0)) for item in shards), MinuteCounts())
        return found

    def add_casualties(self, job_id: str, found: Iterable[Casualty]) -> None:
        kept = []
        pending = first_of_each(job_id, found)
        while pending:
            confirmations = []
            for key, casualty in pending.items():
                record = self._write(key)  # a conditional put costs a write whether or not it puts
                record.setdefault("first", f"{casualty.at_ms}|{casualty.kind}")
                at, _, kind = record["first"].partition("|")
                kept.append(Casualty(int(at), casualty.thing, kind))
                if (confirmed := confirmation(kept[-1], casualty)) is not None:
                    confirmations.append(confirmed)
            pending = first_of_each(job_id, confirmations)
        by_minute: dict[int, list[Casualty]] = defaultdict(list)
        for casualty in kept:
            by_minute[minute_of(casualty.at_ms)].append(casualty)
        for minute, casualties in by_minute.items():
            self._count(job_id, minute, casualties)

    def _count(self, job_id: str, minute: int, casualties: list[Casualty]) -> None:
        """As the table does: shards' buckets, the minute's tally of its shards, the job's tally of its minutes."""
        by_shard: dict[int, list[Casualty]] = defaultdict(list)
        for casualty in casualties:
            by_shard[bucket_shard(casualty.thing)].append(casualty)
        for shard, found in sorted(by_shard.items()):
            item = self._write(bucket_key(job_id, minute, shard))
            bucket, kinds = item.setdefault("c", set()), item.setdefault("kinds", Counter())
            for text in {encode(c) for c in found} - bucket:  # what DynamoDB's set answers, counted as it grows
                bucket.add(text)
                kinds[text.rsplit("|", 1)[1]] += 1
            for kind in {c.kind for c in found}:
                self._maximum(minute_tally_key(job_id, minute), f"s:{shard}:{kind}", kinds[kind])
        sums = shard_sums(self.items[minute_tally_key(job_id, minute)])
        for kind in {c.kind for c in casualties}:
            self._maximum(tally_key(job_id), f"n:{minute}:{kind}", sums[kind])

    def _maximum(self, key: str, name: str, value: int) -> None:
        item = self._write(key)
        item[name] = max(item.get(name, 0), value)

    def tally(self, job_id: str) -> Tally:
        minutes: dict[int, dict[str, int]] = defaultdict(dict)
        for name, n in self.items.get(tally_key(job_id), {}).items():
            _, minute, kind = name.split(":", 2)
            minutes[int(minute)][kind] = n
        return Tally(dict(minutes))

    def casualties(self, job_id: str, minutes: Iterable[int]) -> list[Casualty]:
        return [decode(text) for minute in minutes for shard in range(BUCKET_SHARDS)
                for text in self.items.get(bucket_key(job_id, minute, shard), {}).get("c", ())]

    def stream_position(self) -> int:
        return COMPLETE if self.complete else int(self.items.get(STREAM_KEY, {}).get("sent", 0))

    def advance_stream(self, sent_ms: int) -> None:
        item = self._write(STREAM_KEY)
        item["sent"] = max(item.get("sent", 0), sent_ms)

    def item_size(self, key: str) -> int:
        """Bytes as DynamoDB counts them (attribute names and values), near enough for the 400 KB limit."""
        size = len(key) + 5
        for name, value in self.items[key].items():
            if name == "kinds":  # the in-memory count of the set, not an attribute
                continue
            size += len(name) + (sum(len(str(v)) for v in value) if isinstance(value, set) else len(str(value)))
        return size


def _keeps_to_the_port(state: InMemoryFleetState) -> FleetState:
    """Never called: mypy (in make test) fails here when this drifts from the port."""
    return state
