"""`rollout-guard halt` and `rollout-guard status`: every regional guard of the project at once.

The environments are the project's (`environments` in cdk.json's `rollout-guard` context; without them, the one
guard in boto3's region). `halt` asks each guard to halt the matching active jobs and each applies its own policy's
guardrails (its operator rule's jobs globs and max_jobs, its kill switch, its exactly-once claims):

- by default through Lambda: the guard's function (found in the environment's stack) is invoked with a
  "Rollout Halt Requested" event and answers with its decisions;
- with `--local`, the same guard runs on this machine (`rollout-guard invoke`) against the region's endpoints, with
  the environment's policy and the deployed state table (found in its stack): for an emulator, or
  when the function cannot be reached.

Regions are asked at once; one that fails or does not answer within the deadline is reported, the others finish.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from rollout_guard.halts.jobs import INACTIVE_JOB_STATUSES
from rollout_guard_cdk import outputs
from rollout_guard_cdk.environments import GUARD_STACK, Deployment, Environment
from rollout_guard_cdk.project import DEFAULT_POLICY_FILE, project_context

from . import operator_requests
from .progress import shown
from .tables import text_table

ANSWERED, FAILED, NO_ANSWER = "answered", "failed", "no answer"
# A job's progress as `status` shows it: DescribeJob's counts, under camelCase keys as the AWS APIs spell theirs
# (`status --output json` has no key with a space).
PROGRESS = (("queued", "numberOfQueuedThings"), ("inProgress", "numberOfInProgressThings"),
            ("succeeded", "numberOfSucceededThings"), ("failed", "numberOfFailedThings"),
            ("rejected", "numberOfRejectedThings"), ("timedOut", "numberOfTimedOutThings"),
            ("canceled", "numberOfCanceledThings"), ("removed", "numberOfRemovedThings"))
RECENT_HALTS = 5


class Usage(ValueError):
    """The command cannot run as asked (no project, an unknown region): exit 2, nothing asked."""


@dataclass(frozen=True)
class Target:
    name: str
    region: str
    stack: str
    policy_file: Path
    context: dict[str, Any] = field(default_factory=dict)


def targets(everywhere: bool, regions: list[str], start: Path | None = None) -> list[Target]:
    """The guards asked: every environment, or those of the given regions."""
    folder, context = _project(start)
    deployment = Deployment.from_context(context)
    if deployment.environments:
        known = [_target(folder, context, deployment, environment) for environment in deployment.environments]
    else:
        import boto3

        region = boto3.session.Session().region_name
        wanted = regions or ([region] if region else [])
        strange = [r for r in wanted if r not in iot_regions()]
        if strange:
            raise Usage(f"region {strange[0]!r} is not a region where AWS offers IoT (botocore's list): nothing asked")
        known = [Target(r, r, GUARD_STACK, folder / context.get("policyFile", DEFAULT_POLICY_FILE), context)
                 for r in wanted]
    if everywhere:
        return known
    unknown = [region for region in regions if region not in {t.region for t in known}]
    if unknown:
        raise Usage(f"no guard of this project in region {unknown[0]} (environments: "
                    f"{', '.join(t.region for t in known) or 'none'})")
    return [t for t in known if t.region in regions]


def iot_regions() -> set[str]:
    """Every region botocore knows IoT in, in every partition: a region the project names no environment for must
    be one of them (an unknown one would be asked, and answered by no one)."""
    import boto3

    session = boto3.session.Session()
    return {region for partition in session.get_available_partitions()
            for region in session.get_available_regions("iot", partition_name=partition)}


def _project(start: Path | None) -> tuple[Path, dict[str, Any]]:
    found = project_context(start)
    if found is None:
        raise Usage("no project here (no readable cdk.json here or above): its environments name the guards")
    return found


def _target(folder: Path, context: dict[str, Any], deployment: Deployment, environment: Environment) -> Target:
    own = deployment.guard_context(context, environment)
    return Target(environment.name, environment.region, environment.stack_name,
                  folder / own.get("policyFile", DEFAULT_POLICY_FILE), own)


def client(service: str, region: str) -> Any:
    from rollout_guard.adapters.clients import make_client

    return make_client(service, max_attempts=3, region=region)


def outputs_of(stack: dict[str, Any]) -> dict[str, str]:
    """A stack's outputs (DescribeStacks' answer for one stack), by key (`rollout_guard_cdk.outputs`)."""
    return {found["OutputKey"]: found["OutputValue"] for found in stack.get("Outputs", [])}


def deployed(target: Target, output: str) -> str:
    """One of the guard's resources, as its CloudFormation stack's output names it."""
    stack = client("cloudformation", target.region).describe_stacks(StackName=target.stack)["Stacks"][0]
    found = outputs_of(stack).get(output)
    if found is None:
        raise RuntimeError(f"stack {target.stack} in {target.region} has no output {output}")
    return found


# --- halt ---------------------------------------------------------------------------------------------------


def via_lambda(target: Target, request: dict[str, Any]) -> dict[str, Any]:
    answer = client("lambda", target.region).invoke(FunctionName=deployed(target, outputs.FUNCTION),
                                                    Payload=json.dumps(request).encode())
    payload = json.loads(answer["Payload"].read() or b"{}")
    if answer.get("FunctionError"):
        raise RuntimeError(f"{payload.get('errorType', 'error')}: {payload.get('errorMessage', '')}".strip())
    result: dict[str, Any] = payload
    return result


def via_local(target: Target, request: dict[str, Any]) -> dict[str, Any]:
    from rollout_guard import settings

    table = deployed(target, outputs.STATE_TABLE)
    env = {**os.environ, "AWS_REGION": target.region, "AWS_DEFAULT_REGION": target.region}
    if target.context.get("killSwitchParameter"):
        env[settings.KILL_SWITCH] = target.context["killSwitchParameter"]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump(request, file)
    try:
        done = subprocess.run([sys.executable, "-m", "rollout_guard_cli.main", "invoke", file.name, "--policy",
                               str(target.policy_file), "--state-table", table], env=env, capture_output=True,
                              text=True, timeout=600)
    finally:
        Path(file.name).unlink()
    if done.returncode == 2 or not done.stdout.strip():
        raise RuntimeError(done.stderr.strip().removeprefix("rollout-guard: ") or f"exit {done.returncode}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def ask_everyone(found: list[Target], ask: Callable[[Target], dict[str, Any]],
                 deadline_s: float, acts: bool = False) -> list[dict[str, Any]]:
    """Every target asked at once; the answers in the targets' order, each with its status. A request that `acts`
    (a halt, a throttle, a resume) and was sent but not answered in time may have acted: the answer says so."""
    pool = ThreadPoolExecutor(max_workers=max(1, len(found)))
    started: set[str] = set()

    def asked(target: Target) -> dict[str, Any]:
        started.add(target.name)
        return ask(target)

    futures = {pool.submit(asked, target): target for target in found}
    with shown(f"asking {len(found)} region(s)", len(found)) as advance:
        for future in futures:
            future.add_done_callback(lambda _: advance(1))
        wait(futures, timeout=deadline_s)
    pool.shutdown(wait=False, cancel_futures=True)
    answers = []
    for future, target in futures.items():
        entry: dict[str, Any] = {"environment": target.name, "region": target.region}
        if not future.done():
            detail = (f"sent, no answer within {deadline_s:g} s yet: it may have acted; run `rollout-guard status`"
                      if acts and target.name in started else f"no answer within {deadline_s:g} s")
            entry.update(status=NO_ANSWER, detail=detail, decisions=[])
        elif future.exception() is not None:
            error = future.exception()
            entry.update(status=FAILED, detail=f"{type(error).__name__}: {error}".splitlines()[0], decisions=[])
        else:
            result = future.result()
            entry.update(result, status=ANSWERED, detail=result.get("detail", ""),
                         decisions=result.get("decisions", []))
        answers.append(entry)
    return answers


def halt_request(args: Any) -> dict[str, Any]:
    who = os.environ.get("USER") or "an operator"
    return operator_requests.halt_request(jobs=args.jobs, reason_code=args.reason_code, comment=args.comment,
                                force=True if args.force else None, dry_run=args.dry_run,
                                requested_by=f"rollout-guard halt ({who})",
                                time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                deployments=args.deployments)


def throttle_request(args: Any) -> dict[str, Any]:
    who = os.environ.get("USER") or "an operator"
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if args.command == "resume":
        return operator_requests.resume_request(jobs=args.jobs, dry_run=args.dry_run,
                                      requested_by=f"rollout-guard resume ({who})", time=when)
    return operator_requests.throttle_request(jobs=args.jobs, max_per_minute=args.max_per_minute, abort=args.abort,
                                    dry_run=args.dry_run, requested_by=f"rollout-guard throttle ({who})", time=when)


def halt_failed(answers: list[dict[str, Any]]) -> bool:
    return any(a["status"] != ANSWERED or any(d["action"] == "failed" for d in a["decisions"]) for a in answers)


HALT_HEADERS = ["region", "environment", "job", "action", "reason code", "detail"]
STATUS_HEADERS = ["region", "environment", "job", "status", "queued", "in progress", "succeeded", "failed", "rules"]


def halt_table(answers: list[dict[str, Any]], output: str = "table") -> str:
    from .tables import shown as shown_as

    return shown_as(halt_rows(answers), HALT_HEADERS, output)


def halt_rows(answers: list[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for answer in answers:
        decisions = answer["decisions"] or [{"jobId": "-", "action": answer["status"] if answer["status"] != ANSWERED
                                             else "-", "reasonCode": "-", "detail": answer["detail"]}]
        for decision in decisions:
            shown = f"deployment {decision['deploymentId']}" if decision.get("deploymentId") else decision["jobId"]
            rows.append([answer["region"], answer["environment"], shown, decision["action"],
                         decision.get("reasonCode", "-"), decision.get("detail") or answer["detail"]])
    return rows


# --- status -------------------------------------------------------------------------------------------------


def region_status(target: Target) -> dict[str, Any]:
    from rollout_guard.policy import load_file

    policy = load_file(target.policy_file)
    iot = client("iot", target.region)
    listed = [job for page in iot.get_paginator("list_jobs").paginate() for job in page.get("jobs", [])]
    records = _throttle_records(target)
    active, halted = [], []
    for summary in listed:
        job = iot.describe_job(jobId=summary["jobId"])["job"]
        details = job.get("jobProcessDetails") or {}
        covered = [rule.name for rule in policy.rules if rule.jobs is not None
                   and any(fnmatchcase(job["jobId"], glob) for glob in rule.jobs)]
        entry = {"jobId": job["jobId"], "status": job["status"], "rules": covered,
                 "progress": {label: int(details.get(key) or 0) for label, key in PROGRESS}}
        if job["status"] not in INACTIVE_JOB_STATUSES:
            throttled = records.get(job["jobId"]) if records is not None else None
            if throttled is not None:
                entry["throttled"] = {"rule": throttled.rule, "by": throttled.alarm, "at": throttled.at,
                                      "saved": throttled.saved_rollout, "current": job.get("jobExecutionsRolloutConfig")}
            active.append(entry)
        elif job["status"] == "CANCELED":
            entry.update(reasonCode=job.get("reasonCode"), comment=job.get("comment"),
                         at=str(job.get("completedAt") or job.get("lastUpdatedAt") or ""))
            halted.append(entry)
    halted.sort(key=lambda entry: entry["at"], reverse=True)
    found = {"detail": "", "active": active, "recentHalts": halted[:RECENT_HALTS],
             "watched": _watched(policy, iot, [s for s in listed if s.get("status") == "COMPLETED"]),
             "afterRollout": _after_rollout(target)}
    if any(rule.deployments is not None for rule in policy.rules):  # Greengrass is asked only where a rule names it
        found["deployments"] = _deployments(policy, target.region, iot)
    return found


def _deployments(policy: Any, region: str, iot: Any) -> list[dict[str, Any]]:
    """The latest Greengrass v2 deployment of each target: its status, the rules that cover it, and how many
    devices had succeeded (its IoT job's count: after a cancel, those that kept the deployment)."""
    from rollout_guard.halts.deployment_halts import allowed

    greengrass = client("greengrassv2", region)
    listed = [item for page in greengrass.get_paginator("list_deployments").paginate(historyFilter="LATEST_ONLY")
              for item in page.get("deployments", [])]
    shown = []
    for item in listed:
        deployment = greengrass.get_deployment(deploymentId=item["deploymentId"])
        job_id = deployment.get("iotJobId")
        details = iot.describe_job(jobId=job_id)["job"].get("jobProcessDetails") or {} if job_id else {}
        shown.append({"deploymentId": deployment["deploymentId"], "deploymentName": deployment.get("deploymentName"),
                      "targetArn": deployment.get("targetArn"), "status": deployment.get("deploymentStatus"),
                      "iotJobId": job_id, "succeeded": int(details.get("numberOfSucceededThings") or 0),
                      "rules": [rule.name for rule in policy.rules if allowed(rule, deployment.get("deploymentName") or "")]})
    return shown


def _watched(policy: Any, iot: Any, completed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """COMPLETED jobs a fleet rule still watches (`watch_after` since the job completed has not run out): their
    things that go dark still count, as a regression."""
    from datetime import datetime, timedelta, timezone

    from rollout_guard.fleet.evaluation import fleet_rule

    now, shown = datetime.now(timezone.utc), []
    for summary in completed:
        rule = fleet_rule(policy, summary["jobId"])
        watch = rule.casualties.watch_after_s if rule is not None and rule.casualties is not None else 0
        done = summary.get("completedAt")
        if rule is None or not watch or not isinstance(done, datetime):
            continue
        until = done.astimezone(timezone.utc) + timedelta(seconds=watch)
        if until > now:
            shown.append({"jobId": summary["jobId"], "rule": rule.name, "completedAt": done.isoformat(),
                          "watchedUntil": until.isoformat()})
    return shown


def _after_rollout(target: Target) -> list[dict[str, Any]]:
    """What the deployed guard keeps after rollouts (its state table): jobs found regressed, reverts prepared."""
    from botocore.exceptions import BotoCoreError, ClientError

    from rollout_guard.adapters.dynamo_after import DynamoAfterRollout

    try:
        table = deployed(target, outputs.STATE_TABLE)
    except (RuntimeError, ClientError, BotoCoreError):
        return []
    kept = DynamoAfterRollout(table, lambda: client("dynamodb", target.region)).kept()
    return [{"jobId": job_id, "regressed": regressed, "revert": plan.to_dict() if plan else None}
            for job_id, regressed, plan in kept]


def _throttle_records(target: Target) -> Any:
    """The deployed guard's record of the jobs it throttled (its state table), or None without a stack."""
    from botocore.exceptions import BotoCoreError, ClientError

    from rollout_guard.adapters.dynamo_throttles import DynamoThrottles

    try:
        table = deployed(target, outputs.STATE_TABLE)
    except (RuntimeError, ClientError, BotoCoreError):
        return None
    return DynamoThrottles(table, lambda: client("dynamodb", target.region))


def status_rows(answers: list[dict[str, Any]]) -> list[list[Any]]:
    """The main table of `status`: each region's active jobs and their progress (`--output csv` prints these)."""
    rows = []
    for answer in answers:
        if answer["status"] != ANSWERED:
            rows.append([answer["region"], answer["environment"], "-", answer["status"], *["-"] * 4,
                         answer["detail"]])
            continue
        for job in answer["active"] or [{"jobId": "-", "status": "no active job", "progress": {}, "rules": []}]:
            progress = job["progress"]
            done_badly = sum(progress.get(k, 0) for k in ("failed", "rejected", "timedOut")) if progress else "-"
            rows.append([answer["region"], answer["environment"], job["jobId"], job["status"],
                         str(progress.get("queued", "-")), str(progress.get("inProgress", "-")),
                         str(progress.get("succeeded", "-")), str(done_badly), ", ".join(job["rules"]) or "-"])
    return rows


def status_text(answers: list[dict[str, Any]]) -> str:
    rows, halts, throttled = status_rows(answers), [], []
    for answer in answers:
        if answer["status"] != ANSWERED:
            continue
        for job in answer["active"]:
            if "throttled" in job:
                held = job["throttled"]
                throttled.append([answer["region"], job["jobId"], json.dumps(held["current"]),
                                  json.dumps(held["saved"]), held["rule"], held["by"], held["at"]])
        for job in answer["recentHalts"]:
            halts.append([answer["region"], job["jobId"], job.get("reasonCode") or "-",
                          (job.get("comment") or "")[:70]])
    text = text_table(rows, STATUS_HEADERS)
    deployments = [[answer["region"], item["deploymentName"] or "-", item["deploymentId"], item["status"],
                    str(item["succeeded"]), ", ".join(item["rules"]) or "-"]
                   for answer in answers for item in answer.get("deployments", [])]
    if deployments:
        text += "\n\nGreengrass deployments (latest per target; a cancel does not undo what succeeded):\n\n" + text_table(
            deployments, ["region", "deployment", "id", "status", "succeeded", "rules"])
    watched = [[answer["region"], job["jobId"], job["rule"], job["completedAt"], job["watchedUntil"]]
               for answer in answers for job in answer.get("watched", [])]
    if watched:
        text += "\n\nWatched after success (completed; devices that fall count as a regression):\n\n" + text_table(
            watched, ["region", "job", "rule", "completed", "watched until"])
    after = [[answer["region"], item["jobId"], "regressed" if item["regressed"] else "-",
              item["revert"]["revertJobId"] if item["revert"] else "-",
              item["revert"]["state"] if item["revert"] else "-", str(item["revert"]["things"]) if item["revert"] else "-"]
             for answer in answers for item in answer.get("afterRollout", [])]
    if after:
        text += "\n\nAfter the rollout (approve a ready revert: rollout-guard revert --job J --approve):\n\n" + text_table(
            after, ["region", "job", "regression", "revert", "revert state", "things"])
    if throttled:
        text += "\n\nThrottled by the guard:\n\n" + text_table(
            throttled, ["region", "job", "rollout now", "saved (restored on OK or resume)", "rule", "by", "since"])
    if halts:
        text += "\n\nRecent halts:\n\n" + text_table(halts, ["region", "job", "reason code", "comment"])
    return text

