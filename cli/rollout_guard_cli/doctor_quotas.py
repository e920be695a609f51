"""Doctor's checks of what the guard spends in a real account, and of what keeps a throttled job from being
forgotten: the region's trails (CloudTrail allows 5, not adjustable), Metrics Insights alarms (200 by default), the
jobs the guard holds throttled (each holds a job-concurrency slot while it trickles), and the timers' role."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from rollout_guard_cdk import outputs

from .doctor_account import OK, PROBLEM, WARNING, Account, Finding, role_allows

TRAILS_PER_REGION = 5  # CloudTrail's quota, not adjustable
INSIGHTS_ALARMS = 200  # Metrics Insights alarms per account and region, CloudWatch's default quota
INSIGHTS_WARNING = 0.9
THROTTLED_LONG_S = 3600


def check_trail_quota(account: Account) -> Iterator[Finding]:
    """With `gateTrail`, the stack makes one trail in the region: it fails to deploy where 5 already are."""
    if not account.config.gate_trail:
        return
    region, ours = account.target.region, f"{account.target.stack}-gate"
    trails = account.client("cloudtrail").describe_trails(includeShadowTrails=False).get("trailList", [])
    here = [t["Name"] for t in trails if t.get("HomeRegion", region) == region]
    if ours in here:
        verdict = WARNING if len(here) >= TRAILS_PER_REGION else OK
        yield Finding("trail quota", verdict, f"{len(here)} of {TRAILS_PER_REGION} trails in {region}, the gate's "
                      "among them" + (": no other trail can be made here" if verdict == WARNING else ""))
    elif len(here) >= TRAILS_PER_REGION:
        yield Finding("trail quota", PROBLEM, f"{len(here)} trails in {region} already, CloudTrail's limit of "
                      f"{TRAILS_PER_REGION} (not adjustable): gateTrail cannot be deployed",
                      "gateTrail: false, and let one of the region's trails log write management events")
    else:
        yield Finding("trail quota", OK, f"{len(here)} of {TRAILS_PER_REGION} trails in {region}: room for the gate's")


def _insights(alarm: dict[str, Any]) -> bool:
    return any(str(metric.get("Expression", "")).lstrip().upper().startswith("SELECT")
               for metric in alarm.get("Metrics", []))


def check_insights_alarms(account: Account) -> Iterator[Finding]:
    """The fleet signal alarms on its topic rules with Metrics Insights queries (two a rule)."""
    if not account.config.fleet_signal:
        return
    count = sum(1 for alarm in account.alarms if _insights(alarm))
    needed = 0 if account.stack is not None else 2 * (2 if account.config.policy.dark_checks() else 1)
    total = count + needed
    found = (f"{count} Metrics Insights alarm(s) in the account and region" + (f", {needed} more with the stack"
                                                                                if needed else "")
             + f", of {INSIGHTS_ALARMS} by default")
    if total > INSIGHTS_ALARMS:
        yield Finding("metrics insights alarms", PROBLEM, found + ": the stack's alarms cannot be created",
                      "ask for a higher Metrics Insights alarms quota (Service Quotas, CloudWatch)")
    elif total >= INSIGHTS_WARNING * INSIGHTS_ALARMS:
        yield Finding("metrics insights alarms", WARNING, found + ": near the quota",
                      "ask for a higher Metrics Insights alarms quota (Service Quotas, CloudWatch)")
    else:
        yield Finding("metrics insights alarms", OK, found)


def _timers(account: Account) -> dict[str, dict[str, Any]]:
    """The guard's pending throttle timers, the latest per job: their events name the job and its throttle."""
    from rollout_guard.halts.throttle.timers import ESCALATION_SCHEDULE_PREFIX

    scheduler = account.client("scheduler")
    latest: dict[str, dict[str, Any]] = {}
    for page in scheduler.get_paginator("list_schedules").paginate(NamePrefix=ESCALATION_SCHEDULE_PREFIX):
        for summary in page.get("Schedules", []):
            detail = json.loads(scheduler.get_schedule(Name=summary["Name"])["Target"].get("Input") or "{}")
            job = detail.get("jobId")
            if isinstance(job, str) and str(detail.get("dueAt", "")) >= str(latest.get(job, {}).get("dueAt", "")):
                latest[job] = detail
    return latest


def check_throttled_jobs(account: Account) -> Iterator[Finding]:
    """Each job the guard holds throttled (its pending timer says since when): over an hour is a warning, since a
    job still rolling out holds a slot of the account's job concurrency."""
    if account.output(outputs.ESCALATION_SCHEDULER_ROLE) is None:
        return
    timers = _timers(account)
    if not timers:
        yield Finding("throttled jobs", OK, "no job is throttled by the guard")
        return
    now = datetime.now(timezone.utc)
    iot = account.client("iot")
    for job_id, detail in sorted(timers.items()):
        status = iot.describe_job(jobId=job_id)["job"].get("status")
        if status in ("COMPLETED", "CANCELED", "DELETION_IN_PROGRESS"):
            continue
        since = datetime.fromisoformat(str(detail.get("throttledAt")))
        held_s = int((now - (since if since.tzinfo else since.replace(tzinfo=timezone.utc))).total_seconds())
        found = (f"{job_id} throttled by {detail.get('alarmName')} (rule {detail.get('rule')}) for "
                 f"{held_s // 60} min; next look {detail.get('dueAt')}")
        if held_s > THROTTLED_LONG_S:
            yield Finding("throttled jobs", WARNING, found + ": it holds a job-concurrency slot while it trickles",
                          f"rollout-guard resume --jobs {job_id} (or rollout-guard halt --jobs {job_id})")
        else:
            yield Finding("throttled jobs", OK, found)


def check_timer_role(account: Account) -> Iterator[Finding]:
    """Scheduler puts each timer's event on the bus as the stack's role: without events:PutEvents there, every
    throttle's timer fails and its job is watched by nobody."""
    role = account.output(outputs.ESCALATION_SCHEDULER_ROLE)
    if role is None:
        return
    bus = ":event-bus/default"
    allowed = role_allows(account, role, "events:PutEvents", lambda r: r == "*" or r.endswith(bus))
    if allowed:
        yield Finding("timer role", OK, f"{role} may put the throttle timers' events on the default bus")
    else:
        yield Finding("timer role", PROBLEM, f"{role} may not put events on the default bus: every throttle's "
                      "timer would fail, and its job be watched by nobody", f"cdk deploy {account.target.stack}")
