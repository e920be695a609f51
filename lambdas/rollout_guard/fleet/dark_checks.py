"""Dark checks: the detector's own timers, and the judging of which disconnected things stayed dark, on which job.

Every disconnect of a batch goes into one delayed message (`Timers`), due `dark_after` (plus a slack for late
connect events) after the disconnect by the event's own clock. A check judges once the fleet queue has been read
past the moments it depends on (the low-water mark; `dark_things.judged_until`), waiting for it at most
`WATERMARK_WAIT_S`. Which things stayed dark, and on which job, is `dark_things`' pure logic; dark things discounted
as a network outage are checked again once the rest of the fleet is back, and count if still dark. The client id is
taken as the thing name (AWS's convention); a client id that is not a thing name is not counted.
"""

from __future__ import annotations

import math
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable
from functools import cached_property
from typing import Protocol

from rollout_guard.fleet import dark_things
from rollout_guard.fleet.casualties import DARK, STILL_DARK, Casualty, minute_of
from rollout_guard.fleet.dark_things import DARK_CHECK_SLACK_S, RECHECK_ROUNDS, WATERMARK_WAIT_S, recheck_step_s
from rollout_guard.fleet.evaluation import fleet_rule
from rollout_guard.fleet.events import THING_NAME, DarkCheck, deployment_of
from rollout_guard.fleet.state import MINUTE_SHARDS, FleetState, MinuteCounts, ThingDays, thing_key, watch_key
from rollout_guard.halts.jobs import JobsError, JobsPort
from rollout_guard.observability import Metric
from rollout_guard.policy import Policy
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


# A job's new casualties counted: (job id, casualties, the dark_after they were judged by, judged early).
Count = Callable[[str, list[Casualty], int | None, bool], None]


def due(check: DarkCheck) -> float:
    """When a dark check may judge (epoch seconds): `dark_after`, and the slack, after its last disconnect; a
    recheck when it says."""
    if check.round:
        return check.due_ms / 1000
    return max(at for _, at in check.disconnects) / 1000 + check.dark_after_s + DARK_CHECK_SLACK_S


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


class DarkChecks:
    """Schedules the checks, judges those due, and hands each job's dark things to `counted`."""

    def __init__(self, policy: Policy, state: FleetState, jobs: JobsPort, counted: Count, timers: Timers | None,
                 clock: Callable[[], float], listing: InProgressListing):
        self.policy, self.state, self.jobs, self.counted = policy, state, jobs, counted
        self.timers, self.clock, self.listing = timers, clock, listing

    def schedule_all(self, checks: list[DarkCheck]) -> None:
        for check in checks:
            self.schedule(check)

    def schedule(self, check: DarkCheck, after_s: float | None = None) -> None:
        delay = max(0, math.ceil(after_s if after_s is not None else due(check) - self.clock()))
        if self.timers is not None:
            self.timers.schedule(check, min(delay, MAX_DELAY_S))
        elif delay == 0:  # no queue (the CLI, the replay): the batch is settled, a check already due runs now
            self.judge([check])
        else:
            log("warning", "Dark check not scheduled: no fleet queue configured", disconnects=len(check.disconnects),
                due_in_s=delay)

    def judge(self, checks: list[DarkCheck], in_flight: int = 0) -> None:
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
                self.schedule(check, due(check) - now)
                continue
            behind = position < until_ms and self.timers is not None
            if behind and drained is None:
                drained = self._drained(in_flight)
            if behind and not drained and now < until_ms / 1000 + WATERMARK_WAIT_S:
                self.schedule(check, WATERMARK_POLL_S)
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
        disconnects = [(check, client, at) for check, _ in checks for client, at in check.disconnects]
        seen = self._seen(disconnects)
        gone = [(client, at) for check, client, at in disconnects if (client, at) in seen
                and not dark_things.came_back(at, seen[client, at].connected, check.dark_after_s * 1000)]
        in_progress = self._in_progress({client for client, _ in gone})
        on_jobs: Counter[int] = Counter()
        dark: dict[tuple[str, int], list[Casualty]] = defaultdict(list)  # (job, dark_after) -> its dark things
        for check, client, at in disconnects:
            if (client, at) not in seen or client not in in_progress and (client, at) in gone:
                continue
            jobs = dark_things.executing(at, seen[client, at], check.dark_after_s * 1000, self.grace_ms,
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
            self.counted(job_id, casualties, dark_after_s, bool(early))

    def grace_ms(self, job_id: str) -> int:
        """How long after its SUCCEEDED a thing that goes dark counts for the job: its rule's success grace or
        `watch_after`, whichever is longer (a deployment's subject: the longest success grace of the rules)."""
        rule = fleet_rule(self.policy, job_id) if deployment_of(job_id) is None else None
        if rule is not None and rule.casualties is not None:
            return rule.casualties.after_success_s * 1000
        return self._longest_grace_ms

    @cached_property
    def _longest_grace_ms(self) -> int:
        return max((rule.casualties.success_grace_s for rule in self.policy.fleet_rules() if rule.casualties),
                   default=0) * 1000

    def _seen(self, disconnects: list[tuple[DarkCheck, str, int]]) -> dict[tuple[str, int], ThingDays]:
        """Each mapped disconnect's connects and SUCCEEDED reports around it (one read of every day involved, and
        of the thing's watched successes when a rule watches)."""
        grace_ms, watched = self._longest_grace_ms, self.policy.watches()
        keys = {(client, at): {thing_key(client, at + offset) for offset in (-grace_ms, 0, check.dark_after_s * 1000)}
                | ({watch_key(client)} if watched else set())
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
                self.counted(check.job_id, [Casualty(at, client, STILL_DARK) for client, at in still], None, False)
            count(Metric.STILL_DARK_COUNTED, len(still))
            return
        dropped_in = {minute_of(at) for _, at in still}
        counts = self.state.minutes(range(min(dropped_in), minute_of(now_ms) + 1))
        back = dark_things.fleet_is_back(sum(counts[m].others for m in dropped_in if m in counts),
                                         sum(c.connects for c in counts.values()))
        if back and not check.fleet_back_ms:
            self.schedule(check._replace(disconnects=tuple(still), round=check.round + 1, fleet_back_ms=now_ms,
                                         due_ms=now_ms + check.dark_after_s * 1000))
        elif check.round < RECHECK_ROUNDS:
            self.schedule(check._replace(disconnects=tuple(still), round=check.round + 1, due_ms=now_ms + step_ms))
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
