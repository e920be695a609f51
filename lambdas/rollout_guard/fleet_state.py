"""The fleet signal's state: the port the detector writes through, and its items in the one state table.

Every item is found by the table's key (`claims.TABLE_KEY`) and removed by its TTL (`claims.TABLE_TTL`), beside
the exactly-once claims (README, "The state table"). Every write is a set union or an addition, so a duplicate or
a late event writes nothing new and the order of arrival does not matter:

- `thing#<thing>#<YYYY-MM-DD>`: `connected`, the set of its connect times (epoch ms); `succeeded`, the set of
  "<epoch ms>|<job>" of its SUCCEEDED reports; kept 3 days.
- `minute#<epoch minute>`: `disconnects`, the fleet's disconnects that minute; `job_disconnects`, how many of
  those the dark checks found on a job (so the rest of the fleet's share is the difference); kept 2 days.
- `casualties#<job>`: one attribute per casualty, `c:<thing>` = "<epoch ms>|<kind>", the first one kept; kept
  30 days.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol

from .casualties import Casualty

THING_TTL_S = 3 * 86400
MINUTE_TTL_S = 2 * 86400
CASUALTIES_TTL_S = 30 * 86400
CASUALTY_PREFIX = "c:"


def thing_key(thing: str, at_ms: int) -> str:
    return f"thing#{thing}#{datetime.fromtimestamp(at_ms / 1000, tz=timezone.utc).date().isoformat()}"


def minute_of(at_ms: int) -> int:
    return at_ms // 60_000


def minute_key(minute: int) -> str:
    return f"minute#{minute}"


def casualties_key(job_id: str) -> str:
    return f"casualties#{job_id}"


@dataclass
class ThingDays:
    """What the table knows of a thing around a disconnect: its connect times and SUCCEEDED reports."""

    connected: set[int] = field(default_factory=set)
    succeeded: set[tuple[int, str]] = field(default_factory=set)  # (epoch ms, job id)


@dataclass(frozen=True)
class Disconnects:
    fleet: int = 0
    on_jobs: int = 0

    @property
    def others(self) -> int:
        return max(0, self.fleet - self.on_jobs)


class FleetState(Protocol):
    def note_thing(self, key: str, connected: Iterable[int], succeeded: Iterable[tuple[int, str]]) -> None:
        """Add connect times and SUCCEEDED reports to a thing's day (one write)."""

    def count_disconnects(self, minute: int, fleet: int, on_jobs: int) -> None:
        """Add to a minute's disconnect counts (one write)."""

    def things(self, keys: Iterable[str]) -> dict[str, ThingDays]:
        """The thing days of `keys` that exist (reads only)."""

    def disconnects(self, minutes: Iterable[int]) -> dict[int, Disconnects]:
        """The counts of those minutes (reads only)."""

    def add_casualties(self, job_id: str, found: Iterable[Casualty]) -> list[Casualty]:
        """Add casualties to the job (a thing counted before keeps its first record; one write) and return all of
        the job's casualties."""
