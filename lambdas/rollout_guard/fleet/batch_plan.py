"""A fleet batch planned before anything is written: every message parsed, its writes grouped (one per thing day,
per minute and per job, whatever the number of events), and each message given the steps it waits on.

Settling a message runs its steps in order: its own writes, then every write of the batch (so what follows sees the
whole batch, whatever its order), the low-water mark, the dark checks it schedules, the checks it judges. A write
shared by several messages is done once (`Once`); one that fails fails the messages that wait on it, and only
those come back. The detector (`detector`) says what each step does (`Work`).
"""

from __future__ import annotations

import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from typing import Any

from rollout_guard.fleet.casualties import FAILURES, Casualty, minute_of
from rollout_guard.fleet.events import (
    ComponentsBroke,
    DarkCheck,
    Execution,
    FleetEvent,
    NotAFleetEvent,
    PackagesReported,
    Presence,
    parse_body,
)
from rollout_guard.fleet.state import MINUTE_SHARDS, MinuteCounts, thing_key, watch_key
from rollout_guard.halts.jobs import JobStatus
from rollout_guard.observability import Metric
from rollout_guard.telemetry import count, log

Message = tuple[str, Any] | tuple[str, Any, int | None]  # (message id, body[, SentTimestamp in epoch ms])


class Needs(StrEnum):
    """What a message waits on besides the batch's writes."""

    THING = "thing"  # a thing day's connects and successes
    JOB = "job"  # a job's casualties counted
    MINUTE = "minute"  # the fleet's connects and disconnects of a minute
    TIMERS = "timers"  # the batch's dark checks scheduled
    CHECK = "check"  # the batch's dark checks judged
    BROKEN = "broken"  # Greengrass components that broke, counted against their devices' latest deployments
    PACKAGES = "packages"  # `$package` shadow reports, compared with the watched jobs' package versions


@dataclass(frozen=True)
class Need:
    what: Needs
    key: str = ""  # the thing day's key, the job id, the minute; none for the batch's timers and checks


@dataclass(frozen=True)
class Work:
    """What each step of a batch does (the detector's)."""

    note_thing: Callable[[str, set[int], set[tuple[int, str]]], Any]
    count_casualties: Callable[[str, list[Casualty]], Any]
    count_minute: Callable[[int, int, MinuteCounts], Any]
    advance: Callable[[int, list[Once]], Any]  # the low-water mark, once the batch's writes are done
    schedule: Callable[[list[DarkCheck]], Any]
    judge: Callable[[list[DarkCheck], int], Any]  # the checks, and the messages in flight
    attribute: Callable[[list[ComponentsBroke]], Any] = lambda broke: None  # broken components, once noted
    compare: Callable[[list[PackagesReported]], Any] = lambda reports: None  # package versions, once noted


class Once:
    """A write shared by the messages of a batch: done by the first message that needs it, its answer (or its
    error) handed to the others."""

    def __init__(self, work: Callable[[], Any]):
        self._work = work
        self._outcome: tuple[bool, Any] | None = None  # (failed, the answer or the error), once done

    def __call__(self) -> Any:
        if self._outcome is None:
            try:
                self._outcome = (False, self._work())
            except Exception as error:  # handed to every message that shares the write
                self._outcome = (True, error)
        failed, found = self._outcome
        if failed:
            raise found
        return found

    @property
    def failed(self) -> bool:
        return self._outcome is not None and self._outcome[0]


@dataclass
class Plan:
    """A batch's messages and, for each, the writes it waits on (in order)."""

    steps: dict[str, list[Callable[[], Any]]] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)

    def settle(self, message_id: str) -> None:
        if message_id in self.problems:
            raise NotAFleetEvent(self.problems[message_id])
        for step in self.steps.get(message_id, []):
            step()


@dataclass
class Batch:
    """What a batch's events add up to, before anything is written."""

    things: dict[str, tuple[set[int], set[tuple[int, str]]]] = field(
        default_factory=lambda: defaultdict(lambda: (set(), set())))
    failures: dict[str, list[Casualty]] = field(default_factory=lambda: defaultdict(list))
    disconnects: dict[tuple[str, int], None] = field(default_factory=dict)  # in order, each once
    connects: Counter[int] = field(default_factory=Counter)  # per minute
    checks: list[DarkCheck] = field(default_factory=list)
    broke: list[ComponentsBroke] = field(default_factory=list)
    packages: list[PackagesReported] = field(default_factory=list)
    needs: dict[str, list[Need]] = field(default_factory=dict)
    sent: list[int] = field(default_factory=list)


def plan(messages: Iterable[Message], dark_afters: tuple[int, ...], work: Work, watching: bool = False) -> Plan:
    """`messages` are (message id, body[, SentTimestamp]) in the batch's order; `dark_afters` the dark checks the
    policy asks for (none: disconnects are not counted); `watching`: a rule watches things after they SUCCEEDED
    (their successes are kept past their days)."""
    planned, batch = Plan(), Batch()
    parsed: list[tuple[str, FleetEvent]] = []
    for message_id, body, *sent in messages:
        try:
            parsed.append((message_id, parse_body(body)))
        except NotAFleetEvent as error:
            count(Metric.FLEET_EVENTS_UNRECOGNISED)
            log("error", "Unrecognised fleet event", message_id=message_id, problem=str(error))
            planned.problems[message_id] = str(error)
            continue
        if sent and sent[0] and not isinstance(parsed[-1][1], DarkCheck):
            batch.sent.append(sent[0])
    count(Metric.FLEET_EVENTS_RECEIVED, len(parsed))
    for message_id, event in parsed:
        gather(batch, message_id, event, counts_dark=bool(dark_afters), watching=watching)
    writes = _writes(batch, work, parsed)
    return _steps(planned, batch, writes, dark_afters, work)


def gather(batch: Batch, message_id: str, event: FleetEvent, counts_dark: bool, watching: bool = False) -> None:
    """One event's part of the batch's writes, and what its message waits on (an event that adds nothing, such as a
    disconnect no rule counts, leaves its message waiting on nothing)."""
    needs: list[Need] = []
    if isinstance(event, Execution) and event.status == JobStatus.SUCCEEDED:
        for key in (thing_key(event.thing, event.at_ms), *([watch_key(event.thing)] if watching else [])):
            batch.things[key][1].add((event.at_ms, event.job_id))
            needs.append(Need(Needs.THING, key))
    elif isinstance(event, Execution) and event.status in FAILURES:
        batch.failures[event.job_id].append(Casualty(event.at_ms, event.thing, FAILURES[event.status]))
        needs.append(Need(Needs.JOB, event.job_id))
    elif isinstance(event, Presence) and event.connected:
        key = thing_key(event.client_id, event.at_ms)
        batch.things[key][0].add(event.at_ms)
        needs.append(Need(Needs.THING, key))
        if counts_dark:
            batch.connects[minute_of(event.at_ms)] += 1
            needs.append(Need(Needs.MINUTE, str(minute_of(event.at_ms))))
    elif isinstance(event, Presence) and counts_dark:  # disconnects matter only when a rule counts dark things
        batch.disconnects[event.client_id, event.at_ms] = None
        needs += [Need(Needs.MINUTE, str(minute_of(event.at_ms))), Need(Needs.TIMERS)]
    elif isinstance(event, DarkCheck):
        batch.checks.append(event)
        needs.append(Need(Needs.CHECK))
    elif isinstance(event, ComponentsBroke) and event.components:
        batch.broke.append(event)
        needs.append(Need(Needs.BROKEN))
    elif isinstance(event, PackagesReported) and watching:  # only a rule that watches after success compares them
        batch.packages.append(event)
        needs.append(Need(Needs.PACKAGES))
    if needs:
        batch.needs[message_id] = needs  # a message's id is its own in a batch


def _writes(batch: Batch, work: Work, parsed: list[tuple[str, FleetEvent]]) -> dict[Need, Once]:
    """The batch's writes, each once; a minute's counts go to the shard of the batch's first message (a minute
    written by many consumers at once is spread over `MINUTE_SHARDS` items)."""
    writes: dict[Need, Once] = {}
    for key, (connected, succeeded) in batch.things.items():
        writes[Need(Needs.THING, key)] = Once(partial(work.note_thing, key, connected, succeeded))
    for job_id, casualties in batch.failures.items():
        writes[Need(Needs.JOB, job_id)] = Once(partial(work.count_casualties, job_id, casualties))
    disconnects = Counter(minute_of(at) for _, at in batch.disconnects)  # one delivered twice counts once
    for minute in set(disconnects) | set(batch.connects):  # only a parsed event adds a minute
        shard = zlib.crc32(str(parsed[0][0]).encode()) % MINUTE_SHARDS
        counts = MinuteCounts(disconnects[minute], 0, batch.connects[minute])
        writes[Need(Needs.MINUTE, str(minute))] = Once(partial(work.count_minute, minute, shard, counts))
    return writes


def _steps(planned: Plan, batch: Batch, writes: dict[Need, Once], dark_afters: tuple[int, ...], work: Work) -> Plan:
    """Each message waits on its own writes, then on every write of the batch (so that what follows sees the
    whole batch, whatever its order): the checks it schedules, the low-water mark, the checks it judges."""
    every = Once(partial(_settle_quietly, list(writes.values())))
    after: list[Callable[[], Any]] = [every]
    if batch.sent:
        after.append(Once(partial(work.advance, min(batch.sent), list(writes.values()))))
    pairs = tuple(batch.disconnects)
    timers = Once(partial(work.schedule, [DarkCheck(s, pairs) for s in dark_afters]))
    judge = Once(partial(work.judge, batch.checks, len(batch.needs) + len(planned.problems)))
    broke = Once(partial(work.attribute, batch.broke))
    compared = Once(partial(work.compare, batch.packages))
    for message_id, wanted in batch.needs.items():
        own: list[Callable[[], Any]] = [writes[need] for need in wanted if need in writes]
        extra: list[Callable[[], Any]] = [timers] if Need(Needs.TIMERS) in wanted else []
        extra += [judge] if Need(Needs.CHECK) in wanted else []
        extra += [broke] if Need(Needs.BROKEN) in wanted else []
        extra += [compared] if Need(Needs.PACKAGES) in wanted else []
        planned.steps[message_id] = own + after + extra
    return planned


def _settle_quietly(writes: list[Once]) -> None:
    """Every write of the batch; one that fails fails its own messages (which wait on it), not this step."""
    for write in writes:
        try:
            write()
        except Exception:  # noqa: S110 - reported through the messages that wait on it
            pass
