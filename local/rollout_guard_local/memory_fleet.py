"""The fleet state in memory (`rollout_guard.fleet_state.FleetState`): what `rollout-guard invoke` counts in when
no state table is given (only what that one invocation sees), and the in-memory fake of the unit tests."""

from __future__ import annotations

from collections.abc import Iterable

from rollout_guard.casualties import Casualty
from rollout_guard.fleet_state import Disconnects, FleetState, ThingDays


class InMemoryFleetState:
    def __init__(self) -> None:
        self.days: dict[str, ThingDays] = {}
        self.minutes: dict[int, Disconnects] = {}
        self.casualties: dict[str, dict[str, Casualty]] = {}
        self.writes = 0

    def note_thing(self, key: str, connected: Iterable[int], succeeded: Iterable[tuple[int, str]]) -> None:
        self.writes += 1
        day = self.days.setdefault(key, ThingDays())
        day.connected |= set(connected)
        day.succeeded |= set(succeeded)

    def count_disconnects(self, minute: int, fleet: int, on_jobs: int) -> None:
        self.writes += 1
        known = self.minutes.get(minute, Disconnects())
        self.minutes[minute] = Disconnects(known.fleet + fleet, known.on_jobs + on_jobs)

    def things(self, keys: Iterable[str]) -> dict[str, ThingDays]:
        return {key: self.days[key] for key in keys if key in self.days}

    def disconnects(self, minutes: Iterable[int]) -> dict[int, Disconnects]:
        return {minute: self.minutes[minute] for minute in minutes if minute in self.minutes}

    def add_casualties(self, job_id: str, found: Iterable[Casualty]) -> list[Casualty]:
        self.writes += 1
        known = self.casualties.setdefault(job_id, {})
        for casualty in sorted(found):
            known.setdefault(casualty.thing, casualty)
        return list(known.values())


def _keeps_to_the_port(state: InMemoryFleetState) -> FleetState:
    """Never called: mypy (in make test) fails here when this drifts from the port."""
    return state
