"""`rollout-guard replay`: what the fleet signal would have done on a stream of the fleet's own events, offline.

The events are JSON lines (a file or a folder of them, gzip too), each one what the stack's topic rules deliver (a
Jobs execution event or a lifecycle event, with its `topic`), or Greengrass v2's deployment and component status
events as EventBridge delivers them: the fleet archive's objects, or anything of that shape. A deployment is named
by `--deployments` (id to name; else by its id, which a rule's globs over names rarely match).
The real detector runs on them in event-time order, in batches of ten, in memory, with no AWS call; its dark checks
come back when due by the events' clock. Which things were executing which job comes from `--jobs` (a JSON or YAML
mapping of job id to its target things), or from the events themselves: a thing executes a job from its first
outcome reported for it until its last, a thing that never reported is seen on no job, and a job's executed things
are those that reported (an approximation the output states).
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import gzip
import heapq
import io
import json
import logging
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollout_guard.fleet.events import (
    DEPLOYMENT_STATUS,
    JOB_EXECUTION,
    DarkCheck,
    Execution,
    NotAFleetEvent,
    deployment_subject,
    parse,
)
from rollout_guard.halts.deployments import DeploymentView
from rollout_guard.halts.jobs import JobsError, JobView

from .exits import fail
from .progress import shown

BATCH = 10
MAX_LINE = 256 * 1024  # characters: SQS's largest message, far above any fleet event
GZIP_MAGIC = b"\x1f\x8b"
FROM_EVENTS = ("things are taken as executing a job from their own execution events (a thing that never reported is "
               "on no job, and a job's executed things are those that reported): pass --jobs to name each job's "
               "targets")
FROM_FILE = "each job's targets from {path}; a target executes its job from the job's first event until it reports"


class ReplayError(ValueError):
    """Bad input: one line, nothing replayed."""


def read_events(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """Every event of the file or folder (sorted by event time), each parsed strictly first. Only regular files are
    read (a FIFO or a device is refused: it may never end), a line at a time up to `MAX_LINE` characters."""
    if not path.exists():
        raise ReplayError(f"no such file or folder: {path}")
    if not path.is_dir() and not path.is_file():
        raise ReplayError(f"{path} is not a regular file or a folder (a FIFO or a device is not replayed)")
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    events = []
    for file in files:
        try:
            with file.open("rb") as head:
                zipped = head.read(2) == GZIP_MAGIC  # Firehose's objects, whatever their names
            opener = gzip.open if zipped else open
            with opener(file, "rt", encoding="utf-8") as lines:
                events += _events_of(lines, file)
        except (OSError, UnicodeDecodeError, EOFError, zlib.error) as error:
            raise ReplayError(f"cannot read {file}: {str(error).splitlines()[0] if str(error) else type(error).__name__}"
                              ) from error
    if not events:
        raise ReplayError(f"no events in {path}")
    return sorted(events, key=lambda pair: pair[0])


def _events_of(lines: Any, file: Path) -> list[tuple[int, dict[str, Any]]]:
    events, number = [], 0
    while line := lines.readline(MAX_LINE + 1):
        number += 1
        if len(line) > MAX_LINE:
            raise ReplayError(f"{file} line {number}: longer than {MAX_LINE} characters (a fleet event is one short "
                              "JSON object)")
        if line.strip():
            events.append(_event(line, file, number))
    return events


def _event(line: str, file: Path, number: int) -> tuple[int, dict[str, Any]]:
    try:
        body = json.loads(line)
        event = parse(body)
    except (ValueError, RecursionError, OverflowError) as error:
        problem = error if isinstance(error, NotAFleetEvent) else "not JSON"
        raise ReplayError(f"{file} line {number}: not a fleet event: {problem}") from error
    if isinstance(event, DarkCheck):
        raise ReplayError(f"{file} line {number}: a dark check is the detector's own message, not a fleet event")
    return event.at_ms, body


def _mapping(path: Path, what: str) -> Any:
    """A JSON or YAML file the replay reads beside the events, or ReplayError with the one line naming it."""
    from rollout_guard.documents import DocumentError, load_json, load_yaml

    try:
        text = path.read_text(encoding="utf-8")
        return load_json(text) if path.suffix == ".json" else load_yaml(text)
    except (OSError, UnicodeDecodeError) as error:
        raise ReplayError(f"cannot read {what} file {path}: {error}") from error
    except DocumentError as error:
        raise ReplayError(f"{what} file {path}: {error.problems[0]}") from error


def read_jobs(path: Path) -> dict[str, set[str]]:
    document = _mapping(path, "jobs")
    if not isinstance(document, dict) or not all(
            isinstance(job, str) and isinstance(things, list) and all(isinstance(t, str) for t in things)
            for job, things in document.items()):
        raise ReplayError(f"jobs file {path} must map each job id to a list of thing names")
    return {job: set(things) for job, things in document.items()}


def read_deployments(path: Path) -> dict[str, str]:
    """`--deployments`: each Greengrass deployment id's name, as `aws greengrassv2 list-deployments` shows them (a
    JSON or YAML mapping of id to name)."""
    document = _mapping(path, "deployments")
    if not isinstance(document, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in document.items()):
        raise ReplayError(f"deployments file {path} must map each deployment id to its name")
    return dict(document)


@dataclass
class ReplayJobs:
    """IoT Jobs as the stream (and `--jobs`) show it at the replay's clock: `JobsPort` without AWS. Indexed by job
    and by thing, so that no answer costs more as the stream grows (a replay of a day of a large fleet is linear)."""

    clock: list[float]  # the replay's now, epoch seconds (shared with the detector)
    targets: dict[str, set[str]] | None = None
    by_job: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)  # job -> thing -> first, last report
    by_thing: dict[str, set[str]] = field(default_factory=dict)  # thing -> the jobs it reported on, or targets it
    firsts: dict[str, list[int]] = field(default_factory=dict)  # job -> its things' first reports, sorted
    first_event: dict[str, int] = field(default_factory=dict)  # job -> its first event
    halted: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, events: list[tuple[int, dict[str, Any]]], clock: list[float],
           targets: dict[str, set[str]] | None) -> ReplayJobs:
        jobs = cls(clock, targets=targets)
        for at_ms, body in events:  # read and checked by `read_events`: its time is the pair's
            if body.get("eventType") != JOB_EXECUTION and body.get("detail-type") != DEPLOYMENT_STATUS:
                continue
            parsed = parse(body)  # a Greengrass deployment's, as the detector keys it (its subject)
            if not isinstance(parsed, Execution):
                continue
            job, thing = parsed.job_id, parsed.thing
            things = jobs.by_job.setdefault(job, {})
            first, last = things.get(thing, (at_ms, at_ms))
            things[thing] = (min(first, at_ms), max(last, at_ms))
            jobs.by_thing.setdefault(thing, set()).add(job)
            jobs.first_event[job] = min(jobs.first_event.get(job, at_ms), at_ms)
        for job, targeted in (targets or {}).items():
            for thing in targeted:
                jobs.by_thing.setdefault(thing, set()).add(job)
        jobs.firsts = {job: sorted(first for first, _ in reports.values()) for job, reports in jobs.by_job.items()}
        return jobs

    def _now(self) -> int:
        return int(self.clock[0] * 1000)

    def describe(self, job_id: str) -> JobView:
        if job_id not in self.first_event and job_id not in (self.targets or {}):
            raise JobsError("DescribeJob", "ResourceNotFoundException", f"Job {job_id} not found")
        executed = bisect.bisect_right(self.firsts.get(job_id, []), self._now())
        return JobView(job_id, "CANCELED" if job_id in self.halted else "IN_PROGRESS", executed=executed)

    def active_job_ids(self) -> list[str]:
        return sorted((set(self.targets or {}) | set(self.first_event)) - set(self.halted))

    def job_ids_on_thing(self, thing_name: str) -> list[str]:
        return self.jobs_in_progress_on_thing(thing_name)

    def _executing(self, job_id: str, thing: str, now: int) -> bool:
        first, last = self.by_job.get(job_id, {}).get(thing, (None, None))
        if self.targets is not None:  # a target executes from the job's start until it reports
            started = self.first_event.get(job_id)
            return thing in self.targets.get(job_id, ()) and started is not None and started <= now and (
                first is None or now < first)
        return first is not None and last is not None and first <= now < last

    def jobs_in_progress_on_thing(self, thing_name: str) -> list[str]:
        now = self._now()
        return sorted(job for job in self.by_thing.get(thing_name, ()) if self._executing(job, thing_name, now))

    def cancel(self, job_id: str, reason_code: str | None, comment: str | None, force: bool) -> dict[str, str]:
        self.halted.setdefault(job_id, self.clock[0])
        return {"jobId": job_id}

    def things_in_progress(self, job_id: str) -> list[str]:
        now = self._now()
        things = set(self.targets.get(job_id, ())) if self.targets else set(self.by_job.get(job_id, {}))
        return sorted(thing for thing in things if self._executing(job_id, thing, now))

    def force_cancel_execution(self, job_id: str, thing_name: str) -> bool:
        return False

    def update(self, job_id: str, rollout: dict[str, Any], abort: dict[str, Any] | None) -> None:
        return None  # offline: the fleet signal cancels, and a replay changes nothing


class ReplayTimers:
    """Dark checks held until due by the events' clock."""

    def __init__(self) -> None:
        self.held: list[tuple[float, int, DarkCheck]] = []
        self._order = 0

    def schedule(self, check: DarkCheck, delay_s: int) -> None:
        from rollout_guard.fleet.dark_checks import due

        self._order += 1
        heapq.heappush(self.held, (max(due(check), 0.0), self._order, check))

    def drained(self, in_flight: int) -> bool:
        return True  # every event before the check's time was settled before it: the stream is in order

    def due_before(self, moment: float) -> list[tuple[float, DarkCheck]]:
        ready = []
        while self.held and self.held[0][0] <= moment:
            at, _, check = heapq.heappop(self.held)
            ready.append((at, check))
        return ready


@dataclass
class ReplayDeployments:
    """Greengrass v2 deployments as the stream shows them: `DeploymentsPort` without AWS. A deployment's name (which
    the rules' globs match) is the `--deployments` file's, else its id; its executed devices are those that
    reported (its IoT job is the stream's record of it, `ReplayJobs`)."""

    jobs: ReplayJobs
    names: dict[str, str]

    def active(self) -> list[DeploymentView]:
        return []

    def describe(self, deployment_id: str) -> DeploymentView:
        subject = deployment_subject(deployment_id)
        status = "CANCELED" if subject in self.jobs.halted else "ACTIVE"
        return DeploymentView(deployment_id, self.names.get(deployment_id, deployment_id), "", status,
                              iot_job_id=subject)

    def cancel(self, deployment_id: str) -> str:
        self.jobs.cancel(deployment_subject(deployment_id), None, None, False)
        return ""


@dataclass
class JobVerdict:
    job_id: str
    halted: bool = False
    at: str | None = None
    casualty: str | None = None
    casualties: int = 0
    discounted: int = 0
    why_discounted: str | None = None
    rule: str | None = None
    detail: str | None = None


@dataclass
class Replayed:
    """A replay's verdicts, and what the report draws from: the fleet state it counted in, when each job was halted
    (epoch seconds, by the events' clock), and its first event's time."""

    verdicts: dict[str, JobVerdict]
    state: Any
    halted: dict[str, float]
    first_ms: int


def replay(events: list[tuple[int, dict[str, Any]]], policy: Any, targets: dict[str, set[str]] | None,
           deployment_names: dict[str, str] | None = None,
           advance: Callable[[int], None] = lambda n: None) -> dict[str, JobVerdict]:
    """The detector on the events in event-time order; each job's (and deployment's) verdict."""
    return run(events, policy, targets, deployment_names, advance).verdicts


def run(events: list[tuple[int, dict[str, Any]]], policy: Any, targets: dict[str, set[str]] | None,
        deployment_names: dict[str, str] | None = None, advance: Callable[[int], None] = lambda n: None) -> Replayed:
    """`replay`, keeping what the report draws from."""
    from rollout_guard.adapters.memory_fleet import InMemoryFleetState
    from rollout_guard.fleet.casualties import FAILURES
    from rollout_guard.fleet.detector import Detector

    clock = [events[0][0] / 1000]
    jobs, timers = ReplayJobs.of(events, clock, targets), ReplayTimers()
    verdicts: dict[str, JobVerdict] = {}

    def halt(alert: Any, rule_policy: Any) -> None:
        for job_id in alert.job_ids:
            jobs.cancel(job_id, None, None, False)
        for deployment_id in alert.deployment_ids:
            jobs.cancel(deployment_subject(deployment_id), None, None, False)

    state = InMemoryFleetState(clock=lambda: clock[0])
    detector = Detector(policy, state, jobs, halt, timers=timers,
                        clock=lambda: clock[0], deployments=ReplayDeployments(jobs, deployment_names or {}))
    for start in range(0, len(events), BATCH):
        batch = events[start:start + BATCH]
        _checks_until(detector, timers, clock, batch[-1][0] / 1000)
        clock[0] = max(clock[0], batch[-1][0] / 1000)
        # A halted job's verdict is its first crossing: its later failures would only be counted and judged again
        # (work growing with its casualties) for a halt the function would skip. Its successes stay: they say
        # which job a thing that goes dark was executing.
        kept = [(n, body) for n, (_, body) in enumerate(batch)
                if not (body.get("jobId") in jobs.halted and body.get("status") in FAILURES)]
        if kept:
            _settle(detector, [(f"e{start + n}", json.dumps(body)) for n, body in kept])
        advance(len(batch))
    _checks_until(detector, timers, clock, float("inf"))
    for report in detector.reports:
        _note(verdicts.setdefault(report["jobId"], JobVerdict(report["jobId"])), report)
    return Replayed(verdicts, state, dict(jobs.halted), events[0][0])


def _checks_until(detector: Any, timers: ReplayTimers, clock: list[float], moment: float) -> None:
    while ready := timers.due_before(moment):
        for at, check in ready:
            clock[0] = max(clock[0], at)
            _settle(detector, [(f"check-{at}", json.dumps(check.message()))])


def _settle(detector: Any, messages: list[tuple[str, str]]) -> None:
    plan = detector.plan(messages)
    for message_id, _ in messages:
        plan.settle(message_id)


def _note(verdict: JobVerdict, report: dict[str, Any]) -> None:
    if verdict.halted:
        return  # the first crossing halted the job: what follows is what the function would skip
    verdict.rule, verdict.casualties, verdict.detail = report["rule"], report["casualties"], report["detail"]
    verdict.discounted = report["discounted"]
    # the latest evaluation's reason, or none: an earlier evaluation's note must not outlive its discount
    verdict.why_discounted = report["detail"].rsplit("; ", 1)[-1] if report["discounted"] else None
    if report["crossed"]:
        verdict.halted, verdict.at = True, report.get("crossingAt")
        verdict.casualty = report.get("crossingThing")


def as_json(verdicts: dict[str, JobVerdict], basis: str, tables: dict[str, list[Any]] | None = None) -> dict[str, Any]:
    """The verdicts under camelCase keys, as the AWS APIs spell theirs (`jobId`, `whyDiscounted`), each with its
    casualty table (`casualtyTable`: thing, kind, at, counted, why; the report's rows) when given."""
    return {"jobs": [{**{_camel(key): value for key, value in verdict.__dict__.items()},
                      **({"casualtyTable": [row.to_dict() for row in tables.get(verdict.job_id, [])]}
                         if tables is not None else {})}
                     for verdict in sorted(verdicts.values(), key=lambda v: v.job_id)],
            "jobsFrom": basis}


VERDICT_HEADERS = ["job", "would halt", "at (event time)", "on casualty", "casualties", "discounted", "rule"]


def verdict_rows(verdicts: dict[str, JobVerdict]) -> list[list[Any]]:
    return [[v.job_id, "yes" if v.halted else "no", v.at or "-", v.casualty or "-", v.casualties, v.discounted,
             v.rule or "-"] for v in sorted(verdicts.values(), key=lambda v: v.job_id)]


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.capitalize() for part in rest)


def as_text(verdicts: dict[str, JobVerdict], basis: str) -> str:
    from .tables import text_table

    lines = [text_table(verdict_rows(verdicts), VERDICT_HEADERS)]
    lines += [f"{v.job_id}: dark things discounted: {v.why_discounted}" for v in verdicts.values() if v.why_discounted]
    lines.append(f"Jobs from: {basis}")
    return "\n".join(lines)


def _policy(path: str) -> Any:
    """A policy to replay, or ReplayError with the one line that names it."""
    from rollout_guard.policy import PolicyError, load_file

    try:
        policy = load_file(path)
    except PolicyError as error:
        raise ReplayError(f"invalid policy {path}: {error.problems[0]}") from error
    if not policy.fleet_rules():
        raise ReplayError(f"policy {path} has no fleet-signal rule (match.signal: casualties) to replay")
    return policy


def compared(first: dict[str, JobVerdict], second: dict[str, JobVerdict], paths: tuple[str, str]) -> list[str]:
    """One line per job: when each policy would have halted it, or that it would not."""
    def said(verdict: JobVerdict | None) -> str:
        if verdict is None or not verdict.halted:
            return "would not halt"
        return f"halts at {verdict.at} on {verdict.casualty}"

    return [f"{job}: {paths[0]} {said(first.get(job))}; {paths[1]} {said(second.get(job))}"
            for job in sorted(set(first) | set(second))]


def command(args: argparse.Namespace) -> int:
    """The fleet signal offline on a stream of the fleet's events: would each job have halted, when, on what; with
    `--compare`, the same under a second policy beside it."""
    from rollout_guard.telemetry import logger

    try:
        if args.plot:
            _plotting()
        policy = _policy(args.policy)
        other = _policy(args.compare) if args.compare else None
        events = read_events(Path(args.events))
        targets = read_jobs(Path(args.jobs)) if args.jobs else None
        names = read_deployments(Path(args.deployments)) if args.deployments else None
    except ReplayError as error:
        return fail(str(error))
    logger.setLevel(logging.CRITICAL)
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    runs = 2 if other is not None else 1
    with contextlib.redirect_stdout(io.StringIO()), shown(f"replaying {len(events)} events", runs * len(events)) \
            as advance:  # the detector's metrics: not the replay's output
        ran = run(events, policy, targets, names, advance)
        others = run(events, other, targets, names, advance).verdicts if other is not None else None
    verdicts = ran.verdicts
    basis = FROM_FILE.format(path=args.jobs) if args.jobs else FROM_EVENTS
    drawn = _drawn(ran, policy, others, args.compare)
    try:
        _pictures(args, drawn, verdicts, basis)
    except ReplayError as error:
        return fail(str(error))
    if args.output == "json":
        answer = as_json(verdicts, basis, {chart.subject: chart.rows for chart in drawn})
        if others is not None:
            answer["compare"] = {"policy": args.compare, "jobs": as_json(others, basis)["jobs"]}
        print(json.dumps(answer, indent=2))
        return 0
    if args.output == "csv":
        from .tables import csv_table

        print(csv_table(verdict_rows(verdicts), VERDICT_HEADERS))
        return 0
    print(as_text(verdicts, basis))
    if others is not None:
        print(f"\nUnder {args.compare}:\n\n{as_text(others, basis)}\n")
        print("\n".join(compared(verdicts, others, (args.policy, args.compare))))
    return 0


def _drawn(ran: Replayed, policy: Any, others: dict[str, JobVerdict] | None, other_name: str | None) -> list[Any]:
    """The report's charts (a compared policy's crossing marked on each)."""
    from . import report_data

    drawn = report_data.charts(ran.state, ran.verdicts, policy, ran.halted, ran.first_ms)
    for chart in drawn:
        if others is not None and other_name is not None:
            report_data.compared(chart, others.get(chart.subject), other_name)
    return drawn


def _pictures(args: argparse.Namespace, drawn: list[Any], verdicts: dict[str, JobVerdict], basis: str) -> None:
    """`--report` (HTML) and `--plot` (PNG); a file that cannot be written is one line, exit 2."""
    title = f"rollout-guard replay of {Path(args.events).name} under {Path(args.policy).name}"
    summary = [f"{sum(v.halted for v in verdicts.values())} of {len(verdicts)} job(s) would halt.", f"Jobs from: {basis}"]
    if args.compare:
        summary.append(f"Compared with {args.compare}: its crossings are marked on each chart (purple, dashed).")
    try:
        if args.report:
            from . import report

            report.write(Path(args.report), drawn, title, summary)
        if args.plot:
            from . import plot

            with contextlib.redirect_stderr(io.StringIO()):  # matplotlib's first-run notes: not the replay's output
                plot.write(Path(args.plot), drawn, title)
    except OSError as error:
        raise ReplayError(f"cannot write {error.filename}: {error.strerror}") from error


def _plotting() -> None:
    """`--plot` draws with matplotlib (`pip install 'rollout-guard[report]'`; `make` installs it)."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise ReplayError("--plot needs matplotlib: pip install 'rollout-guard[report]'")
