"""The detector: the fleet's own events in, a job's casualties counted once, a halt when its rule's threshold is
crossed.

One SQS batch at a time. The batch is planned first (every message parsed and its writes grouped: one write per
thing day, per minute and per job, whatever the number of events), then settled message by message through
Powertools' batch utility: a message fails when one of its writes failed, and only the failed ones come back.
Writes are set unions and additions, so a message that comes back writes nothing twice (see `fleet_state`).

Dark things are found by dark checks that the detector schedules for itself: every disconnect goes into one
delayed message per batch (`Timers`), due `dark_after` (plus a slack for late connect events) after the disconnect
by the event's own clock. When the check comes back, a thing that connected again within `dark_after` is fine;
one that did not counts as dark for the job it was executing: a job whose execution on it is IN_PROGRESS
(ListJobExecutionsForThing), or else the job it reported SUCCEEDED for within `success_grace` before it
disconnected. The client id is taken as the thing name (AWS's convention); a client id that is not a thing name
is not counted (`UnmappedClients`).
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from functools import partial
from typing import Any, Protocol

from .alerts import FLEET, Alert
from .casualties import DARK, FAILURES, Casualty, Verdict, outage, verdict
from .fleet_events import THING_NAME, DarkCheck, Execution, FleetEvent, NotAFleetEvent, Presence, parse_body
from .fleet_state import FleetState, ThingDays, minute_of, thing_key
from .jobs import JobsError, JobsPort
from .observability import Metric
from .policy import Policy, Rule
from .telemetry import count, log

SUCCEEDED = "SUCCEEDED"
DARK_CHECK_SLACK_S = 5  # connect events in flight when a check falls due
MAX_DELAY_S = 900  # SQS's longest message delay


class Timers(Protocol):
    def schedule(self, check: DarkCheck, delay_s: int) -> None:
        """Send the check back to the detector after `delay_s` seconds."""


Respond = Callable[[Alert, Policy], Any]  # the runtime's halt: the guard with one rule, reported and announced


def due(check: DarkCheck) -> float:
    """When a dark check may judge (epoch seconds): `dark_after`, and the slack, after its last disconnect."""
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


class Detector:
    def __init__(self, policy: Policy, state: FleetState, jobs: JobsPort, respond: Respond,
                 timers: Timers | None = None, clock: Callable[[], float] = time.time):
        self.policy, self.state, self.jobs, self.respond = policy, state, jobs, respond
        self.timers, self.clock = timers, clock
        self.reports: list[dict[str, Any]] = []  # what each evaluation found, for the CLI

    # --- planning a batch ------------------------------------------------------------------------------------

    def plan(self, messages: list[tuple[str, Any]]) -> Plan:
        """`messages` are (message id, body) pairs in the batch's order."""
        plan = Plan()
        parsed: list[tuple[str, FleetEvent]] = []
        for message_id, body in messages:
            try:
                parsed.append((message_id, parse_body(body)))
            except NotAFleetEvent as error:
                count(Metric.FLEET_EVENTS_UNRECOGNISED)
                log("error", "Unrecognised fleet event", message_id=message_id, problem=str(error))
                plan.problems[message_id] = str(error)
        count(Metric.FLEET_EVENTS_RECEIVED, len(parsed))

        things: dict[str, tuple[set[int], set[tuple[int, str]]]] = defaultdict(lambda: (set(), set()))
        failures: dict[str, list[Casualty]] = defaultdict(list)
        disconnects: list[tuple[str, str, int]] = []
        needs: dict[str, list[tuple[str, str]]] = defaultdict(list)  # message -> [(kind of write, its key)]
        checks = self.policy.dark_checks()
        for message_id, event in parsed:
            if isinstance(event, Execution) and event.status == SUCCEEDED:
                key = thing_key(event.thing, event.at_ms)
                things[key][1].add((event.at_ms, event.job_id))
                needs[message_id].append(("thing", key))
            elif isinstance(event, Execution) and event.status in FAILURES:
                failures[event.job_id].append(Casualty(event.at_ms, event.thing, FAILURES[event.status]))
                needs[message_id].append(("job", event.job_id))
            elif isinstance(event, Presence) and event.connected:
                key = thing_key(event.client_id, event.at_ms)
                things[key][0].add(event.at_ms)
                needs[message_id].append(("thing", key))
            elif isinstance(event, Presence) and checks:  # disconnects matter only when a rule counts dark things
                disconnects.append((message_id, event.client_id, event.at_ms))
                needs[message_id] += [("timers", ""), ("minute", str(minute_of(event.at_ms)))]
            elif isinstance(event, DarkCheck):
                needs[message_id].append(("check", message_id))

        writes: dict[tuple[str, str], _Once] = {}
        for key, (connected, succeeded) in things.items():
            writes["thing", key] = _Once(partial(self.state.note_thing, key, connected, succeeded))
        for job_id, casualties in failures.items():
            writes["job", job_id] = _Once(partial(self._add, job_id, casualties))
        if disconnects:
            pairs = tuple(dict.fromkeys((client, at) for _, client, at in disconnects))
            writes["timers", ""] = _Once(partial(self._schedule_all, [DarkCheck(after, pairs) for after in checks]))
            per_minute = Counter(minute_of(at) for _, at in pairs)  # a disconnect delivered twice counts once
            for minute, n in per_minute.items():
                writes["minute", str(minute)] = _Once(partial(self.state.count_disconnects, minute, n, 0))
        events = dict(parsed)
        for message_id, wanted in needs.items():
            event = events[message_id]
            if isinstance(event, DarkCheck):
                plan.steps[message_id] = [_Once(partial(self._check, event))]
            else:
                plan.steps[message_id] = [writes[need] for need in wanted]
        return plan

    # --- dark checks -----------------------------------------------------------------------------------------

    def _schedule_all(self, checks: list[DarkCheck]) -> None:
        for check in checks:
            self._schedule(check)

    def _schedule(self, check: DarkCheck) -> None:
        delay = max(0, math.ceil(due(check) - self.clock()))
        if self.timers is not None:
            self.timers.schedule(check, min(delay, MAX_DELAY_S))
        elif delay == 0:  # no queue (the CLI): a check already due runs now
            self._check(check)
        else:
            log("warning", "Dark check not scheduled: no fleet queue configured", disconnects=len(check.disconnects),
                due_in_s=delay)

    def _check(self, check: DarkCheck) -> None:
        """Which of the disconnected things stayed dark, and on which job."""
        if self.clock() < due(check) and self.timers is not None:  # early: a clock apart, or over SQS's longest delay
            self.timers.schedule(check, min(math.ceil(due(check) - self.clock()), MAX_DELAY_S))
            return
        grace_ms = max((rule.casualties.success_grace_s for rule in self.policy.fleet_rules() if rule.casualties),
                       default=0) * 1000
        after_ms = check.dark_after_s * 1000
        keys = {(client, at): {thing_key(client, at + offset) for offset in (-grace_ms, 0, after_ms)}
                for client, at in check.disconnects if THING_NAME.fullmatch(client)}
        days = self.state.things(key for wanted in keys.values() for key in wanted)
        on_jobs: Counter[int] = Counter()
        dark: dict[str, list[Casualty]] = defaultdict(list)
        for client, at in check.disconnects:
            if (client, at) not in keys:
                count(Metric.UNMAPPED_CLIENTS)
                log("warning", "Client id is not a thing name: not counted", client_id=client)
                continue
            seen = ThingDays()
            for key in keys[client, at]:
                found = days.get(key, ThingDays())
                seen.connected |= found.connected
                seen.succeeded |= found.succeeded
            jobs = self._executing(client, at, after_ms, grace_ms, seen)
            if jobs is None:
                continue
            if jobs:
                on_jobs[minute_of(at)] += 1
            if not any(at < connected <= at + after_ms for connected in seen.connected):
                for job_id in jobs:
                    rule = fleet_rule(self.policy, job_id)
                    if rule and rule.casualties and rule.casualties.dark_after_s == check.dark_after_s:
                        dark[job_id].append(Casualty(at, client, DARK))
        if check.dark_after_s == min(self.policy.dark_checks(), default=check.dark_after_s):
            for minute, n in on_jobs.items():
                self.state.count_disconnects(minute, 0, n)
        for job_id, casualties in dark.items():
            self._add(job_id, casualties)

    def _executing(self, client: str, at: int, after_ms: int, grace_ms: int, seen: ThingDays) -> list[str] | None:
        """The jobs the thing was executing when it disconnected at `at`: IN_PROGRESS there, or else reported
        SUCCEEDED within the grace before; [] for none, None when IoT does not know the thing."""
        reconnected = any(at < connected <= at + after_ms for connected in seen.connected)
        succeeded_near = [job for when, job in sorted(seen.succeeded) if at - grace_ms <= when <= at + after_ms]
        if reconnected:  # fine; still, a thing that reported SUCCEEDED around it was a job's, not the rest's
            return succeeded_near[-1:]
        try:
            in_progress = self.jobs.jobs_in_progress_on_thing(client)
        except JobsError as error:
            if error.not_found:
                count(Metric.UNMAPPED_CLIENTS)
                log("warning", "No thing of this client id: not counted", client_id=client)
                return None
            raise
        if in_progress:
            return in_progress
        before = [job for when, job in sorted(seen.succeeded) if at - grace_ms <= when <= at]
        return before[-1:]

    # --- counting and halting --------------------------------------------------------------------------------

    def _add(self, job_id: str, found: list[Casualty]) -> None:
        rule = fleet_rule(self.policy, job_id)
        if rule is None or rule.casualties is None:
            return
        self._evaluate(job_id, rule, self.state.add_casualties(job_id, found))

    def _evaluate(self, job_id: str, rule: Rule, found: list[Casualty]) -> Verdict | None:
        threshold = rule.casualties
        if threshold is None:
            return None
        dark = [c for c in found if c.kind == DARK]
        executed = None
        if threshold.percent is not None or (dark and threshold.fleet_things):
            try:
                executed = self.jobs.describe(job_id).executed
            except JobsError as error:
                if not error.not_found:
                    raise  # the message fails and comes back: the casualties stay counted
                log("info", "Casualties of a job that no longer exists: nothing to halt", job_id=job_id)
                return None
        why_not_dark = None
        if dark and threshold.fleet_things:
            counts = self.state.disconnects({minute_of(c.at_ms) for c in dark})
            others = sum(minute.others for minute in counts.values())
            why_not_dark = outage(len(dark), executed or 0, others, threshold.fleet_things)
        judged = verdict(threshold, found, executed, why_not_dark)
        count(Metric.CASUALTIES_COUNTED, len(judged.counted))
        if judged.discounted:
            count(Metric.DARK_DISCOUNTED, judged.discounted)
            log("warning", "Dark things not counted: the rest of the fleet went dark too", job_id=job_id,
                rule=rule.name, detail=judged.detail)
        report: dict[str, Any] = {"jobId": job_id, "rule": rule.name, "crossed": judged.crossed,
                                  "casualties": len(judged.counted), "discounted": judged.discounted,
                                  "detail": judged.detail}
        self.reports.append(report)
        log("info", "Casualties counted", **report)
        if judged.crossed:
            crossing = judged.crossing
            when = (datetime.fromtimestamp(crossing.at_ms / 1000, tz=timezone.utc).isoformat() if crossing else None)
            alert = Alert(kind=FLEET, via="detector", job_ids=(job_id,), reason=judged.detail, timestamp=when,
                          correlation_id=f"fleet:{job_id}")
            outcome = self.respond(alert, Policy((rule,)))
            report["outcome"] = outcome.to_dict() if hasattr(outcome, "to_dict") else outcome
        return judged
