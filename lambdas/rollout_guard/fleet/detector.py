"""The detector: the fleet's own events in, a job's casualties counted once, a halt when its rule's threshold is
crossed.

One SQS batch at a time. The batch is planned first (every message parsed and its writes grouped: one write per
thing day, per minute and per job, whatever the number of events), then settled message by message through
Powertools' batch utility: a message fails when one of its writes failed, and only the failed ones come back.
Writes are set unions, additions, first-value puts and maxima, so a message that comes back writes nothing twice
(see `fleet_state`). Whatever the order of the messages in the batch, every write of the batch is done before the
batch's dark checks are sent or judged, and before the batch moves the fleet queue's low-water mark.

Dark things are found by dark checks that the detector schedules for itself: every disconnect goes into one
delayed message per batch (`Timers`), due `dark_after` (plus a slack for late connect events) after the disconnect
by the event's own clock. A check judges once the fleet queue has been read past the moments it depends on (the
low-water mark; `dark_things.judged_until`), waiting for it at most `WATERMARK_WAIT_S`. Which things stayed dark,
and on which job, is `dark_things`' pure logic; dark things discounted as a network outage are checked again once
the rest of the fleet is back, and count if still dark. The client id is taken as the thing name (AWS's
convention); a client id that is not a thing name is not counted (`UnmappedClients`).
"""

from __future__ import annotations

import math
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from functools import partial
from typing import Any, Protocol

from rollout_guard.fleet import dark_things
from rollout_guard.fleet.casualties import (
    DARK,
    FAILURES,
    SHOWN,
    STILL_DARK,
    Casualty,
    Verdict,
    minute_of,
    outage,
    verdict,
)
from rollout_guard.fleet.dark_things import DARK_CHECK_SLACK_S, RECHECK_ROUNDS, WATERMARK_WAIT_S, recheck_step_s
from rollout_guard.fleet.events import (
    THING_NAME,
    DarkCheck,
    Execution,
    FleetEvent,
    NotAFleetEvent,
    Presence,
    parse_body,
)
from rollout_guard.fleet.state import MINUTE_SHARDS, FleetState, MinuteCounts, ThingDays, thing_key
from rollout_guard.halts.alerts import FLEET, Alert
from rollout_guard.halts.jobs import SUCCEEDED, JobsError, JobsPort
from rollout_guard.observability import Metric
from rollout_guard.policy import Policy, Rule
from rollout_guard.telemetry import count, log

MAX_DELAY_S = 900  # SQS's longest message delay
WATERMARK_POLL_S = 15  # a check that waits for the low-water mark comes back this much later
PER_THING_LOOKUPS = 5  # dark things a check asks IoT about one by one; past it, it lists the jobs' executions
LISTING_TTL_S = 30  # how long one listing of the fleet jobs' IN_PROGRESS executions serves the checks


class Timers(Protocol):
    def schedule(self, check: DarkCheck, delay_s: int) -> None:
        """Send the check back to the detector after `delay_s` seconds."""

    def drained(self, in_flight: int) -> bool:
        """Whether the fleet queue holds nothing to read and nothing in flight but this batch's `in_flight`
        messages (a quiet stream: every event sent so far is settled)."""


Respond = Callable[[Alert, Policy], Any]  # the runtime's halt: the guard with one rule, reported and announced
Message = tuple[str, Any] | tuple[str, Any, int | None]  # (message id, body[, SentTimestamp in epoch ms])


def due(check: DarkCheck) -> float:
    """When a dark check may judge (epoch seconds): `dark_after`, and the slack, after its last disconnect; a
    recheck when it says."""
    if check.round:
        return check.due_ms / 1000
    return max(at for _, at in check.disconnects) / 1000 + check.dark_after_s + DARK_CHECK_SLACK_S


def fleet_rule(policy: Policy, job_id: str) -> Rule | None:
    """The first fleet-signal rule whose jobs globs allow the job (no globs: any job)."""
    for rule in policy.fleet_rules():
        if rule.jobs is None or any(fnmatchcase(job_id, glob) for glob in rule.jobs):
            return rule
    return None


class _Once:
    """A write shared by the messages of a batch: done by the first message that needs it, its answer (or its
    error) handed to the others."""

    def __init__(self, work: Callable[[], Any]):
        self._work = work
        self._done = False
        self._answer: Any = None
        self._error: BaseException | None = None

    def __call__(self) -> Any:
        if not self._done:
            self._done = True
            try:
                self._answer = self._work()
            except Exception as error:  # handed to every message that shares the write
                self._error = error
        if self._error is not None:
            raise self._error
        return self._answer

    @property
    def failed(self) -> bool:
        return self._error is not None


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
class _Batch:
    """What a batch's events add up to, before anything is written."""

    things: dict[str, tuple[set[int], set[tuple[int, str]]]] = field(
        default_factory=lambda: defaultdict(lambda: (set(), set())))
    failures: dict[str, list[Casualty]] = field(default_factory=lambda: defaultdict(list))
    disconnects: dict[tuple[str, int], None] = field(default_factory=dict)  # in order, each once
    connects: Counter[int] = field(default_factory=Counter)  # per minute
    checks: list[DarkCheck] = field(default_factory=list)
    needs: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))
    sent: list[int] = field(default_factory=list)


class InProgressListing:
    """The fleet jobs' IN_PROGRESS executions, listed once for every check within `LISTING_TTL_S` (a thing that is
    dark cannot have started an execution since)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._listed: tuple[float, dict[str, list[str]]] | None = None

    def on_thing(self, jobs: JobsPort, policy: Policy) -> dict[str, list[str]]:
        if self._listed is None or self._clock() - self._listed[0] > LISTING_TTL_S:
            by_thing: dict[str, list[str]] = defaultdict(list)
            for job_id in jobs.active_job_ids():
                if fleet_rule(policy, job_id) is not None:
                    for thing in jobs.things_in_progress(job_id):
                        by_thing[thing].append(job_id)
            self._listed = (self._clock(), dict(by_thing))
        return self._listed[1]


class Detector:
    def __init__(self, policy: Policy, state: FleetState, jobs: JobsPort, respond: Respond,
                 timers: Timers | None = None, clock: Callable[[], float] = time.time,
                 listing: InProgressListing | None = None):
        self.policy, self.state, self.jobs, self.respond = policy, state, jobs, respond
        self.timers, self.clock = timers, clock
        self.listing = listing or InProgressListing()
        self.reports: list[dict[str, Any]] = []  # what each evaluation found, for the CLI

    # --- planning a batch ------------------------------------------------------------------------------------

    def plan(self, messages: Iterable[Message]) -> Plan:
        """`messages` are (message id, body[, SentTimestamp]) in the batch's order."""
        plan, batch = Plan(), _Batch()
        parsed: list[tuple[str, FleetEvent]] = []
        for message_id, body, *sent in messages:
            try:
                parsed.append((message_id, parse_body(body)))
            except NotAFleetEvent as error:
                count(Metric.FLEET_EVENTS_UNRECOGNISED)
                log("error", "Unrecognised fleet event", message_id=message_id, problem=str(error))
                plan.problems[message_id] = str(error)
                continue
            if sent and sent[0] and not isinstance(parsed[-1][1], DarkCheck):
                batch.sent.append(sent[0])
        count(Metric.FLEET_EVENTS_RECEIVED, len(parsed))
        for message_id, event in parsed:
            self._gather(batch, message_id, event)
        writes = self._writes(batch, shard=zlib.crc32(str(parsed[0][0] if parsed else "").encode()) % MINUTE_SHARDS)
        return self._steps(plan, batch, writes)

    def _gather(self, batch: _Batch, message_id: str, event: FleetEvent) -> None:
        dark_rules = bool(self.policy.dark_checks())
        if isinstance(event, Execution) and event.status == SUCCEEDED:
            key = thing_key(event.thing, event.at_ms)
            batch.things[key][1].add((event.at_ms, event.job_id))
            batch.needs[message_id].append(("thing", key))
        elif isinstance(event, Execution) and event.status in FAILURES:
            batch.failures[event.job_id].append(Casualty(event.at_ms, event.thing, FAILURES[event.status]))
            batch.needs[message_id].append(("job", event.job_id))
        elif isinstance(event, Presence) and event.connected:
            key = thing_key(event.client_id, event.at_ms)
            batch.things[key][0].add(event.at_ms)
            batch.needs[message_id].append(("thing", key))
            if dark_rules:
                batch.connects[minute_of(event.at_ms)] += 1
                batch.needs[message_id].append(("minute", str(minute_of(event.at_ms))))
        elif isinstance(event, Presence) and dark_rules:  # disconnects matter only when a rule counts dark things
            batch.disconnects[event.client_id, event.at_ms] = None
            batch.needs[message_id] += [("minute", str(minute_of(event.at_ms))), ("timers", "")]
        elif isinstance(event, DarkCheck):
            batch.checks.append(event)
            batch.needs[message_id].append(("check", ""))

    def _writes(self, batch: _Batch, shard: int) -> dict[tuple[str, str], _Once]:
        writes: dict[tuple[str, str], _Once] = {}
        for key, (connected, succeeded) in batch.things.items():
            writes["thing", key] = _Once(partial(self.state.note_thing, key, connected, succeeded))
        for job_id, casualties in batch.failures.items():
            writes["job", job_id] = _Once(partial(self._add, job_id, casualties))
        disconnects = Counter(minute_of(at) for _, at in batch.disconnects)  # one delivered twice counts once
        for minute in set(disconnects) | set(batch.connects):
            counts = MinuteCounts(disconnects[minute], 0, batch.connects[minute])
            writes["minute", str(minute)] = _Once(partial(self.state.count_minute, minute, shard, counts))
        return writes

    def _steps(self, plan: Plan, batch: _Batch, writes: dict[tuple[str, str], _Once]) -> Plan:
        """Each message waits on its own writes, then on every write of the batch (so that what follows sees the
        whole batch, whatever its order): the checks it schedules, the low-water mark, the checks it judges."""
        every = _Once(partial(_settle_quietly, list(writes.values())))
        after: list[Callable[[], Any]] = [every]
        if batch.sent:
            after.append(_Once(partial(self._advance, min(batch.sent), list(writes.values()))))
        pairs = tuple(batch.disconnects)
        timers = _Once(partial(self._schedule_all, [DarkCheck(s, pairs) for s in self.policy.dark_checks()]))
        judge = _Once(partial(self._judge, batch.checks, len(batch.needs) + len(plan.problems)))
        for message_id, wanted in batch.needs.items():
            own: list[Callable[[], Any]] = [writes[need] for need in wanted if need in writes]
            extra: list[Callable[[], Any]] = [timers] if ("timers", "") in wanted else []
            extra += [judge] if ("check", "") in wanted else []
            plan.steps[message_id] = own + after + extra
        return plan

    def _advance(self, sent_ms: int, writes: list[_Once]) -> None:
        """Move the low-water mark: only when every write of the batch was done, and never failing a message (a
        mark not moved only makes checks wait)."""
        if any(write.failed for write in writes):
            return
        try:
            self.state.advance_stream(sent_ms)
        except Exception as error:  # botocore raises many types; a check waits for the next batch's mark instead
            log("warning", "Fleet queue low-water mark not moved", error=str(error))

    # --- dark checks -----------------------------------------------------------------------------------------

    def _schedule_all(self, checks: list[DarkCheck]) -> None:
        for check in checks:
            self._schedule(check)

    def _schedule(self, check: DarkCheck, after_s: float | None = None) -> None:
        delay = max(0, math.ceil(after_s if after_s is not None else due(check) - self.clock()))
        if self.timers is not None:
            self.timers.schedule(check, min(delay, MAX_DELAY_S))
        elif delay == 0:  # no queue (the CLI, the replay): the batch is settled, a check already due runs now
            self._judge([check])
        else:
            log("warning", "Dark check not scheduled: no fleet queue configured", disconnects=len(check.disconnects),
                due_in_s=delay)

    def _judge(self, checks: list[DarkCheck], in_flight: int = 0) -> None:
        """The batch's dark checks that may judge now: due, and the fleet queue read past what they depend on (the
        low-water mark, or a quiet queue), or waited for long enough; the others go back to the queue."""
        if not checks:
            return
        now, position = self.clock(), self.state.stream_position()
        drained: bool | None = None
        ready: list[tuple[DarkCheck, bool]] = []
        for check in checks:
            until_ms = dark_things.judged_until(check.disconnects, check.dark_after_s) if check.round == 0 else 0
            if now < due(check):  # early: a clock apart, or a delay over SQS's longest
                self._schedule(check, due(check) - now)
                continue
            behind = position < until_ms and self.timers is not None
            if behind and drained is None:
                drained = self._drained(in_flight)
            if behind and not drained and now < until_ms / 1000 + WATERMARK_WAIT_S:
                self._schedule(check, WATERMARK_POLL_S)
            else:
                ready.append((check, behind and not drained))
        first = [(check, early) for check, early in ready if check.round == 0]
        if first:
            self._first_look(first)
        for check, _ in ready:
            if check.round:
                self._recheck(check)

    def _drained(self, in_flight: int) -> bool:
        try:
            return self.timers is not None and self.timers.drained(in_flight)
        except Exception as error:  # botocore raises many types; the check waits for the low-water mark instead
            log("warning", "Fleet queue depth unreadable", error=str(error))
            return False

    def _first_look(self, checks: list[tuple[DarkCheck, bool]]) -> None:
        """Which of the disconnected things stayed dark, and on which job."""
        grace_ms = max((rule.casualties.success_grace_s for rule in self.policy.fleet_rules() if rule.casualties),
                       default=0) * 1000
        disconnects = [(check, client, at) for check, _ in checks for client, at in check.disconnects]
        seen = self._seen(disconnects, grace_ms)
        gone = [(client, at) for check, client, at in disconnects if (client, at) in seen
                and not dark_things.came_back(at, seen[client, at].connected, check.dark_after_s * 1000)]
        in_progress = self._in_progress({client for client, _ in gone})
        on_jobs: Counter[int] = Counter()
        dark: dict[tuple[str, int], list[Casualty]] = defaultdict(list)  # (job, dark_after) -> its dark things
        for check, client, at in disconnects:
            if (client, at) not in seen or client not in in_progress and (client, at) in gone:
                continue
            jobs = dark_things.executing(at, seen[client, at], check.dark_after_s * 1000, grace_ms,
                                         in_progress.get(client))
            on_jobs[minute_of(at)] += 1 if jobs else 0
            if (client, at) in gone:
                for job_id in jobs:
                    dark[job_id, check.dark_after_s].append(Casualty(at, client, DARK))
        if min(check.dark_after_s for check, _ in checks) == min(self.policy.dark_checks(), default=0):
            shard = zlib.crc32(disconnects[0][1].encode()) % MINUTE_SHARDS
            for minute, n in on_jobs.items():  # counted once, by the checks of the shortest dark_after
                self.state.count_minute(minute, shard, MinuteCounts(0, n, 0))
        early = sum(1 for _, judged_early in checks if judged_early)
        if early:
            count(Metric.CHECKS_WITHOUT_WATERMARK, early)
            log("warning", "Dark checks judged before the fleet queue was read past them", checks=early)
        for (job_id, dark_after_s), casualties in dark.items():
            self._add(job_id, casualties, dark_after_s=dark_after_s, early=bool(early))

    def _seen(self, disconnects: list[tuple[DarkCheck, str, int]], grace_ms: int) -> dict[tuple[str, int], ThingDays]:
        """Each mapped disconnect's connects and SUCCEEDED reports around it (one read of every day involved)."""
        keys = {(client, at): {thing_key(client, at + offset) for offset in (-grace_ms, 0, check.dark_after_s * 1000)}
                for check, client, at in disconnects if THING_NAME.fullmatch(client)}
        for _, client, at in disconnects:
            if (client, at) not in keys:
                count(Metric.UNMAPPED_CLIENTS)
                log("warning", "Client id is not a thing name: not counted", client_id=client)
        days = self.state.things(key for wanted in keys.values() for key in wanted)
        seen = {}
        for pair, wanted in keys.items():
            merged = ThingDays()
            for key in wanted:
                found = days.get(key, ThingDays())
                merged.connected |= found.connected
                merged.succeeded |= found.succeeded
            seen[pair] = merged
        return seen

    def _in_progress(self, things: set[str]) -> dict[str, list[str]]:
        """IN_PROGRESS jobs of the dark things: asked thing by thing when they are few, else one listing of the
        fleet jobs' executions (IoT's calls a check makes stay bounded whatever the number of dark things). A thing
        IoT does not know is left out (not counted)."""
        if len(things) > PER_THING_LOOKUPS:
            listed = self.listing.on_thing(self.jobs, self.policy)
            return {thing: listed.get(thing, []) for thing in things}
        found = {}
        for thing in sorted(things):
            try:
                found[thing] = self.jobs.jobs_in_progress_on_thing(thing)
            except JobsError as error:
                if not error.not_found:
                    raise
                count(Metric.UNMAPPED_CLIENTS)
                log("warning", "No thing of this client id: not counted", client_id=thing)
        return found

    def _recheck(self, check: DarkCheck) -> None:
        """A job's things discounted as an outage: once the rest of the fleet is back, each has one more
        `dark_after` to come back, then counts (`still_dark`); while the fleet is not back, looked at again."""
        now_ms = int(self.clock() * 1000)
        still = self._still_dark(check.disconnects, now_ms)
        if not still:
            return
        step_ms = recheck_step_s(check.dark_after_s) * 1000
        if check.fleet_back_ms and now_ms >= check.fleet_back_ms + check.dark_after_s * 1000:
            if check.job_id:
                self._add(check.job_id, [Casualty(at, client, STILL_DARK) for client, at in still])
            count(Metric.STILL_DARK_COUNTED, len(still))
            return
        dropped_in = {minute_of(at) for _, at in still}
        counts = self.state.minutes(range(min(dropped_in), minute_of(now_ms) + 1))
        back = dark_things.fleet_is_back(sum(counts[m].others for m in dropped_in if m in counts),
                                         sum(c.connects for c in counts.values()))
        if back and not check.fleet_back_ms:
            self._schedule(check._replace(disconnects=tuple(still), round=check.round + 1, fleet_back_ms=now_ms,
                                          due_ms=now_ms + check.dark_after_s * 1000))
        elif check.round < RECHECK_ROUNDS:
            self._schedule(check._replace(disconnects=tuple(still), round=check.round + 1, due_ms=now_ms + step_ms))
        else:
            log("warning", "Dark things discounted as an outage, still dark, the fleet not back: not counted",
                job_id=check.job_id, things=len(still))

    def _still_dark(self, disconnects: tuple[tuple[str, int], ...], now_ms: int) -> list[tuple[str, int]]:
        """The things with no connect since their disconnect (every day of theirs up to now read once)."""
        days = {(client, at): [thing_key(client, when) for when in range(at, now_ms + 86_400_000, 86_400_000)]
                for client, at in disconnects}
        found = self.state.things(key for keys in days.values() for key in keys)
        return [(client, at) for (client, at), keys in days.items()
                if not any(dark_things.came_back_since(at, found.get(key, ThingDays()).connected) for key in keys)]

    # --- counting and halting --------------------------------------------------------------------------------

    def _add(self, job_id: str, found: list[Casualty], dark_after_s: int | None = None, early: bool = False) -> None:
        rule = fleet_rule(self.policy, job_id)
        if rule is None or rule.casualties is None:
            return
        if dark_after_s is not None and rule.casualties.dark_after_s != dark_after_s:
            return  # dark by another rule's dark_after
        self.state.add_casualties(job_id, found)
        judged = self._evaluate(job_id, rule, found, early)
        if judged is not None and judged.discounted and not judged.crossed:
            dark = tuple(sorted({(c.thing, c.at_ms) for c in found if c.kind == DARK}))
            dark_after_s = rule.casualties.dark_after_s
            if dark and dark_after_s:
                step_ms = recheck_step_s(dark_after_s) * 1000
                self._schedule(DarkCheck(dark_after_s, dark, 1, job_id, int(self.clock() * 1000) + step_ms))

    def _evaluate(self, job_id: str, rule: Rule, new: list[Casualty], early: bool = False) -> Verdict | None:
        threshold = rule.casualties
        if threshold is None:
            return None
        tally = self.state.tally(job_id)
        dark_minutes = tally.dark_minutes()
        executed = None
        if threshold.percent is not None or (dark_minutes and threshold.fleet_things):
            try:
                executed = self.jobs.describe(job_id).executed
            except JobsError as error:
                if not error.not_found:
                    raise  # the message fails and comes back: the casualties stay counted
                log("info", "Casualties of a job that no longer exists: nothing to halt", job_id=job_id)
                return None
        why_not_dark = None
        if dark_minutes and threshold.fleet_things:
            others = sum(minute.others for minute in self.state.minutes(dark_minutes).values())
            why_not_dark = outage(tally.total(DARK), executed or 0, others, threshold.fleet_things)
        read = [*new, *self.state.casualties(job_id, _window(new, threshold.within_s, tally.minutes))]
        judged = verdict(threshold, read, executed, why_not_dark, tally)
        if judged.crossed:  # the comment names the first things and the one that crossed: read them, once
            crossing = tally.nth_minute(threshold.things, why_not_dark) if threshold.things is not None else None
            minutes = set(_first_and_last(tally.minutes)) | ({crossing[0]} if crossing else set())
            read += self.state.casualties(job_id, sorted(minutes - set(_window(new, threshold.within_s,
                                                                                tally.minutes))))
            judged = verdict(threshold, read, executed, why_not_dark, tally)
        self._report(job_id, rule, judged, early)
        return judged

    def _report(self, job_id: str, rule: Rule, judged: Verdict, early: bool) -> None:
        count(Metric.CASUALTIES_COUNTED, judged.total)
        if judged.discounted:
            count(Metric.DARK_DISCOUNTED, judged.discounted)
            log("warning", "Dark things not counted: the rest of the fleet went dark too", job_id=job_id,
                rule=rule.name, detail=judged.detail)
        report: dict[str, Any] = {"jobId": job_id, "rule": rule.name, "crossed": judged.crossed,
                                  "casualties": judged.total, "discounted": judged.discounted,
                                  "detail": judged.detail}
        if early:
            report["judgedWithoutWatermark"] = True
        self.reports.append(report)
        log("info", "Casualties counted", **report)
        if judged.crossed:
            crossing = judged.crossing
            when = (datetime.fromtimestamp(crossing.at_ms / 1000, tz=timezone.utc).isoformat() if crossing else None)
            if crossing:
                report["crossingAt"], report["crossingThing"] = when, crossing.thing
            alert = Alert(kind=FLEET, via="detector", job_ids=(job_id,), reason=judged.detail, timestamp=when,
                          correlation_id=f"fleet:{job_id}")
            outcome = self.respond(alert, Policy((rule,)))
            report["outcome"] = outcome.to_dict() if hasattr(outcome, "to_dict") else outcome


def _window(new: list[Casualty], within_s: int | None, known: dict[int, dict[str, int]]) -> list[int]:
    """The minutes with casualties (`known`, the tally's) that a window holding a new casualty can reach (none
    without a window)."""
    if not new or within_s is None:
        return []
    reach = within_s // 60 + 1
    low, high = min(minute_of(c.at_ms) for c in new) - reach, max(minute_of(c.at_ms) for c in new) + reach
    return sorted(minute for minute in known if low <= minute <= high)


def _first_and_last(minutes: dict[int, dict[str, int]]) -> list[int]:
    """The minute buckets of the first casualties (those a comment names) and of the last."""
    known, wanted, seen = sorted(minutes), [], 0
    for minute in known:
        if seen >= SHOWN:
            break
        wanted.append(minute)
        seen += sum(minutes[minute].values())
    return sorted(set(wanted) | set(known[-1:]))


def _settle_quietly(writes: list[_Once]) -> None:
    """Every write of the batch; one that fails fails its own messages (which wait on it), not this step."""
    for write in writes:
        try:
            write()
        except Exception:  # noqa: S110 - reported through the messages that wait on it
            pass
