"""The fleet signal's state: the port the detector writes through, and its items in the one state table.

Every item is found by the table's key and removed by its TTL (`schema`: the key, and each kind's prefix and TTL), beside
the exactly-once claims (README, "The state table"). Every write is a set union, an addition, a put that keeps the
first value or a maximum, so a duplicate or a late event writes nothing new and the order of arrival does not
matter; and no item grows with the fleet:

- `thing#<thing>#<YYYY-MM-DD>`: `connected`, the set of its connect times (epoch ms); `succeeded`, the set of
  "<epoch ms>|<job>" of its SUCCEEDED reports; kept 3 days. (One thing's day.)
- `watch#<thing>`: `succeeded`, as a thing's day holds it, for a policy with a rule that watches after success
  (`watch_after`); kept 8 days, so a thing is watched a week after it SUCCEEDED whatever day it goes dark.
- `minute#<epoch minute>#<shard>`: `disconnects`, the fleet's disconnects that minute; `job_disconnects`, how many of
  those the dark checks found on a job (so the rest of the fleet's share is the difference); `connects`, the
  fleet's connects that minute (a recheck's "the fleet is back"); kept 2 days. `MINUTE_SHARDS` items a minute, a
  batch writing to one of them, so that a reconnect storm spreads over partitions; reads add them up.
- `casualty#<job>#<thing>` (and `...#still`): the thing's first casualty for the job, "<epoch ms>|<kind>", put only
  if absent; `#still` confirms a dark thing (still dark once the fleet was back, or a failure reported since);
  kept 30 days. (One thing.)
- `casualties#<job>#<epoch minute>#<shard>`: `c`, the set of "<epoch ms>|<thing>|<kind>" of the job's casualties
  that minute whose thing falls in that shard (`BUCKET_SHARDS` by the thing's name); kept 30 days. (An outage can
  darken every thing a job is executing or just updated at once: IoT updates at most 1,000 a minute, so up to ~10,000
  in one minute with the default success grace; a shard holds a sixteenth.)
- `casualties#<job>#<epoch minute>`: `s:<shard>:<kind>`, how many of that shard's bucket are of that kind; kept 30
  days. (At most 16 x 5 numbers.)
- `casualties#<job>`: `n:<epoch minute>:<kind>`, that minute's count of that kind over its shards; kept 30 days.
  (One number per minute of the rollout that had a casualty.) Counts are maxima (`#n < :n`), so a late writer never
  lowers one; each writer adds up what the item above answered after its own write, so the last one writes the sum.
- `stream`: `sent`, the highest of every settled batch's oldest SentTimestamp (epoch ms): the fleet queue has been
  read past that moment (the low-water mark a dark check waits for); kept 2 days.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import NamedTuple, Protocol

from rollout_guard import schema
from rollout_guard.fleet.casualties import STILL_DARK, Casualty, Tally

MINUTE_SHARDS = 4
BUCKET_SHARDS = 16
STREAM_KEY = schema.STREAM.prefix
THING_PREFIX, MINUTE_PREFIX = schema.THING.prefix, schema.MINUTE.prefix
CASUALTY_PREFIX, CASUALTIES_PREFIX = schema.CASUALTY.prefix, schema.CASUALTIES.prefix


def thing_key(thing: str, at_ms: int) -> str:
    return f"{THING_PREFIX}{thing}#{datetime.fromtimestamp(at_ms / 1000, tz=timezone.utc).date().isoformat()}"


def watch_key(thing: str) -> str:
    return f"{schema.WATCH.prefix}{thing}"


def minute_key(minute: int, shard: int) -> str:
    return f"{MINUTE_PREFIX}{minute}#{shard}"


def marker_key(job_id: str, casualty: Casualty) -> str:
    """One thing's casualty record for a job: its first casualty, and apart from it its `still_dark` record."""
    return f"{CASUALTY_PREFIX}{job_id}#{casualty.thing}" + ("#still" if casualty.kind == STILL_DARK else "")


def bucket_shard(thing: str) -> int:
    return zlib.crc32(thing.encode()) % BUCKET_SHARDS


def bucket_key(job_id: str, minute: int, shard: int) -> str:
    return f"{CASUALTIES_PREFIX}{job_id}#{minute}#{shard}"


def minute_tally_key(job_id: str, minute: int) -> str:
    return f"{CASUALTIES_PREFIX}{job_id}#{minute}"


def kind_counts(bucket: Iterable[str]) -> Counter[str]:
    """How many of a bucket's casualties are of each kind."""
    return Counter(text.rsplit("|", 1)[1] for text in bucket)


def shard_sums(minute_tally: dict[str, int]) -> Counter[str]:
    """A minute's count of each kind, over its shards (`s:<shard>:<kind>` attributes)."""
    sums: Counter[str] = Counter()
    for name, n in minute_tally.items():
        if name.startswith("s:"):
            sums[name.rsplit(":", 1)[1]] += n
    return sums


def tally_key(job_id: str) -> str:
    return f"{CASUALTIES_PREFIX}{job_id}"


def ttl_of(key: str) -> int:
    """How long an item of this key is kept (seconds)."""
    return schema.kind_of(key).ttl_s


def first_of_each(job_id: str, found: Iterable[Casualty]) -> dict[str, Casualty]:
    """The earliest record of each thing (and apart, of its `still_dark` record), by marker key: any number of
    outcomes of one thing, in one batch, become one record."""
    first: dict[str, Casualty] = {}
    for casualty in sorted(found):
        first.setdefault(marker_key(job_id, casualty), casualty)
    return first


def encode(casualty: Casualty) -> str:
    return f"{casualty.at_ms}|{casualty.thing}|{casualty.kind}"


def decode(text: str) -> Casualty:
    at, thing, kind = text.split("|", 2)
    return Casualty(int(at), thing, kind)


@dataclass
class ThingDays:
    """What the table knows of a thing around a disconnect: its connect times and SUCCEEDED reports."""

    connected: set[int] = field(default_factory=set)
    succeeded: set[tuple[int, str]] = field(default_factory=set)  # (epoch ms, job id)


class MinuteCounts(NamedTuple):
    fleet: int = 0  # disconnects
    on_jobs: int = 0
    connects: int = 0

    @property
    def others(self) -> int:
        return max(0, self.fleet - self.on_jobs)

    def __add__(self, other: object) -> MinuteCounts:
        if not isinstance(other, MinuteCounts):
            return NotImplemented
        return MinuteCounts(self.fleet + other.fleet, self.on_jobs + other.on_jobs, self.connects + other.connects)



class FleetState(Protocol):
    def note_thing(self, key: str, connected: Iterable[int], succeeded: Iterable[tuple[int, str]]) -> None:
        """Add connect times and SUCCEEDED reports to a thing's day (one write)."""

    def count_minute(self, minute: int, shard: int, counts: MinuteCounts) -> None:
        """Add to one shard of a minute's counts (one write)."""

    def things(self, keys: Iterable[str]) -> dict[str, ThingDays]:
        """The thing days of `keys` that exist (reads only)."""

    def minutes(self, minutes: Iterable[int]) -> dict[int, MinuteCounts]:
        """The counts of those minutes, every shard added up (reads only)."""

    def add_casualties(self, job_id: str, found: Iterable[Casualty]) -> None:
        """Record casualties of the job: a thing keeps its first record; the minute buckets and the tally follow
        the records kept (a retry after a failure mends them)."""

    def tally(self, job_id: str) -> Tally:
        """The job's casualties counted per minute and kind (one read)."""

    def casualties(self, job_id: str, minutes: Iterable[int]) -> list[Casualty]:
        """The job's casualties of those minutes (reads only)."""

    def stream_position(self) -> int:
        """The fleet queue's low-water mark (epoch ms): 0 when unknown."""

    def advance_stream(self, sent_ms: int) -> None:
        """Raise the low-water mark to `sent_ms` (never lowers it)."""
