"""The detector: the fleet's own events in, a job's casualties counted once, a halt when its rule's threshold is
crossed.

One SQS batch at a time, in three parts: the batch is planned (`batch_plan`: every message parsed and its writes
grouped), then settled message by message through Powertools' batch utility: a message fails when one of its
writes failed, and only the failed ones come back. Writes are set unions, additions, first-value puts and maxima,
so a message that comes back writes nothing twice (see `fleet.state`). Whatever the order of the messages in the
batch, every write of the batch is done before the batch's dark checks (`dark_checks`) are sent or judged, and
before the batch moves the fleet queue's low-water mark. Each job's new casualties are evaluated against its rule
(`evaluation`); the detector reports each evaluation and halts the job whose threshold was crossed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

from rollout_guard.fleet import batch_plan, packages
from rollout_guard.fleet.batch_plan import Message, Once, Plan, Work
from rollout_guard.fleet.casualties import DARK, FAILURES, OTHER_VERSION, Casualty, Verdict
from rollout_guard.fleet.dark_checks import DarkChecks, InProgressListing, Timers
from rollout_guard.fleet.dark_things import job_by_success, recheck_step_s
from rollout_guard.fleet.evaluation import evaluate, fleet_rule
from rollout_guard.fleet.events import ComponentsBroke, DarkCheck, PackagesReported, deployment_of
from rollout_guard.fleet.state import FleetState, ThingDays, thing_key, watch_key
from rollout_guard.fleet.subjects import Subjects
from rollout_guard.halts.alert_kinds import FleetAlert
from rollout_guard.halts.deployments import DeploymentsPort
from rollout_guard.halts.jobs import JobsError, JobsPort
from rollout_guard.observability import Metric
from rollout_guard.policy import Policy, Rule
from rollout_guard.telemetry import count, log

DAY_MS = 86_400_000
Respond = Callable[[FleetAlert, Policy], Any]  # the runtime's halt: the guard with one rule, reported and announced


class Detector:
    def __init__(self, policy: Policy, state: FleetState, jobs: JobsPort, respond: Respond,
                 timers: Timers | None = None, clock: Callable[[], float] = time.time,
                 listing: InProgressListing | None = None, deployments: DeploymentsPort | None = None):
        self.policy, self.state, self.jobs, self.respond, self.clock = policy, state, jobs, respond, clock
        self.subjects = Subjects(jobs, deployments)
        self.dark_checks = DarkChecks(policy, state, jobs, self.count, timers, clock, listing or InProgressListing())
        self.reports: list[dict[str, Any]] = []  # what each evaluation found, for the CLI

    def plan(self, messages: Iterable[Message]) -> Plan:
        """`messages` are (message id, body[, SentTimestamp]) in the batch's order."""
        work = Work(note_thing=self.state.note_thing, count_casualties=self.count,
                    count_minute=self.state.count_minute, advance=self._advance,
                    schedule=self.dark_checks.schedule_all, judge=self.dark_checks.judge,
                    attribute=self._attribute, compare=self._compare)
        return batch_plan.plan(messages, self.policy.dark_checks(), work, watching=self.policy.watches())

    def _advance(self, sent_ms: int, writes: list[Once]) -> None:
        """Move the low-water mark: only when every write of the batch was done, and never failing a message (a
        mark not moved only makes checks wait)."""
        if any(write.failed for write in writes):
            return
        try:
            self.state.advance_stream(sent_ms)
        except Exception as error:  # botocore raises many types; a check waits for the next batch's mark instead
            log("warning", "Fleet queue low-water mark not moved", error=str(error))

    def count(self, job_id: str, found: list[Casualty], dark_after_s: int | None = None, early: bool = False) -> None:
        """A job's new casualties counted under its rule, evaluated, reported; a halt when they cross it. Dark
        things discounted as an outage are looked at again (`dark_checks`)."""
        rule = fleet_rule(self.policy, job_id, self._deployment_name)
        if rule is None or rule.casualties is None:
            return
        if dark_after_s is not None and rule.casualties.dark_after_s != dark_after_s:
            return  # dark by another rule's dark_after
        self.state.add_casualties(job_id, found)
        judged = evaluate(job_id, rule.casualties, found, self.state, self.subjects)
        if judged is None:
            return
        report = self._report(job_id, rule, judged, early)
        if judged.crossed:
            self.halt(job_id, rule, judged, report)
        elif judged.discounted:
            dark = tuple(sorted({(c.thing, c.at_ms) for c in found if c.kind == DARK}))
            dark_after_s = rule.casualties.dark_after_s
            if dark and dark_after_s:
                step_ms = recheck_step_s(dark_after_s) * 1000
                self.dark_checks.schedule(DarkCheck(dark_after_s, dark, 1, job_id, int(self.clock() * 1000) + step_ms))

    def _deployment_name(self, deployment_id: str) -> str | None:
        view = self.subjects.deployment(deployment_id)
        return view.name if view is not None else None

    def _attribute(self, broke: list[ComponentsBroke]) -> None:
        """Broken components count against their device's latest deployment: the last one it reported succeeded
        before they broke (this day or the day before); a device with none seen is logged, not counted."""
        days = self.state.things({thing_key(event.thing, event.at_ms - offset) for event in broke
                                  for offset in (0, DAY_MS)})
        found: dict[str, list[Casualty]] = {}
        for event in broke:
            seen = [(when, subject) for offset in (0, DAY_MS)
                    for when, subject in days.get(thing_key(event.thing, event.at_ms - offset), ThingDays()).succeeded
                    if deployment_of(subject) is not None and when <= event.at_ms]
            if not seen:
                log("warning", "Components broke on a device with no deployment seen: not counted",
                    thing=event.thing, components=list(event.components))
                continue
            found.setdefault(max(seen)[1], []).append(Casualty(event.at_ms, event.thing, FAILURES["FAILED"]))
        for subject, casualties in found.items():
            self.count(subject, casualties)

    def _compare(self, reports: list[PackagesReported]) -> None:
        """A watched thing whose `$package` shadow reports another version of a package than the job it last
        SUCCEEDED on installs (within its rule's watch) counts against that job (`packages`)."""
        days = self.state.things({watch_key(report.thing) for report in reports})
        installed: dict[str, dict[str, str]] = {}
        found: dict[str, list[Casualty]] = {}
        for report in reports:
            seen = days.get(watch_key(report.thing), ThingDays())
            for job_id in job_by_success(report.at_ms, seen, self.dark_checks.grace_ms, report.at_ms):
                if job_id not in installed:
                    installed[job_id] = packages.job_versions(self._packages_of(job_id))
                if packages.strays(report.versions, installed[job_id]):
                    found.setdefault(job_id, []).append(Casualty(report.at_ms, report.thing, OTHER_VERSION))
        for job_id, casualties in found.items():
            self.count(job_id, casualties)

    def _packages_of(self, job_id: str) -> tuple[str, ...]:
        try:
            return self.jobs.describe(job_id).packages
        except JobsError as error:
            if not error.not_found:
                raise  # the message fails and comes back
            return ()

    def _report(self, job_id: str, rule: Rule, judged: Verdict, early: bool) -> dict[str, Any]:
        count(Metric.CASUALTIES_COUNTED, judged.total)
        if judged.discounted:
            count(Metric.DARK_DISCOUNTED, judged.discounted)
            log("warning", "Dark things not counted: the rest of the fleet went dark too", job_id=job_id,
                rule=rule.name, detail=judged.detail)
        report: dict[str, Any] = {"jobId": job_id, "rule": rule.name, "crossed": judged.crossed,
                                  "casualties": judged.total, "discounted": judged.discounted,
                                  "detail": judged.detail}
        if (deployment_id := deployment_of(job_id)) is not None:
            report["deploymentId"] = deployment_id  # its subject stays the report's `jobId`, as the state keys it
        if early:
            report["judgedWithoutWatermark"] = True
        self.reports.append(report)
        log("info", "Casualties counted", **report)
        return report

    def halt(self, job_id: str, rule: Rule, judged: Verdict, report: dict[str, Any]) -> None:
        """The crossed job halted through the alert path (the guard, with this rule alone); its report says when
        and on which thing it crossed, and what the halt did."""
        crossing = judged.crossing
        when = datetime.fromtimestamp(crossing.at_ms / 1000, tz=timezone.utc).isoformat() if crossing else None
        if crossing:
            report["crossingAt"], report["crossingThing"] = when, crossing.thing
        deployment_id = deployment_of(job_id)
        alert = FleetAlert(job_ids=(job_id,) if deployment_id is None else (), reason=judged.detail, timestamp=when,
                           correlation_id=f"fleet:{job_id}",
                           deployment_ids=(deployment_id,) if deployment_id is not None else ())
        outcome = self.respond(alert, Policy((rule,)))
        report["outcome"] = outcome.to_dict() if hasattr(outcome, "to_dict") else outcome
