"""`rollout-guard revert --job ID [--approve]`: the revert a rule prepared for a job, shown (things, document,
rollout) or, with --approve, created through the guard, under the operator rule's guardrails.

The request is the guard's own event ("Rollout Revert Requested"), so the guard that prepared the plan creates the
job: invoked in its region (as `halt` does; `--local` runs it here against the region's endpoints), or, with
`--state-table`, run in this process on that table with the policy given (the emulator, a shell with
credentials). Exit 0: the plan shown, the revert created, or found created already (nothing created again);
1: AWS refused or the guard failed; 2: bad input or no revert prepared for the job, nothing done."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from .exits import BAD_INPUT, HALT_FAILED, HANDLED, fail


def add_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--job", required=True, help="the bad job whose revert to show or approve")
    command.add_argument("--approve", action="store_true", help="create the revert job (once)")
    command.add_argument("--region", help="the guard's region (default: boto3's)")
    command.add_argument("--local", action="store_true",
                         help="run the region's guard here against the region's endpoints instead of invoking it")
    command.add_argument("--state-table", help="run the guard in this process on this state table (with --policy)")
    command.add_argument("--policy", help="with --state-table: the policy file (default: the project's)")
    command.add_argument("--deadline", default="60", help="seconds to wait for the guard (default 60)")
    command.add_argument("--output", choices=["text", "json"], default="text")
    command.set_defaults(run=run)


def main(argv: list[str]) -> int:
    """`revert` alone (its arguments after the word `revert`), as the drill runs it."""
    command = argparse.ArgumentParser(prog="rollout-guard revert", description=DESCRIPTION)
    add_arguments(command)
    args = command.parse_args(argv)
    return int(args.run(args))


DESCRIPTION = ("Show the revert a rule prepared for a job it halted or found regressed (things, document, rollout), "
               "or create it with --approve (once).")


def request(job_id: str, approve: bool) -> dict[str, Any]:
    from rollout_guard.halts.alert_kinds import REVERT_REQUESTED

    from .operator_requests import operator_event

    who = os.environ.get("USER") or "an operator"
    detail = {"jobId": job_id, "approve": approve, "requestedBy": f"rollout-guard revert ({who})"}
    return operator_event(REVERT_REQUESTED, detail, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


def run(args: argparse.Namespace) -> int:
    from rollout_guard.iot_limits import JOB_ID

    from .regional import deadline

    if not JOB_ID.fullmatch(args.job):
        return fail(f"--job {args.job!r} must be a job id: 1 to 64 of letters, digits, _ and -")
    try:
        wait_s = deadline(args.deadline)
    except ValueError as error:
        return fail(str(error))
    if args.policy and not args.state_table:
        return fail("--policy goes with --state-table (a guard in its region reads its own policy)")
    event = request(args.job, args.approve)
    try:
        answer = _here(args, event) if args.state_table else _in_region(args, event, wait_s)
    except _Refused as refused:
        return fail(str(refused), refused.code)
    if args.output == "json":
        print(json.dumps(answer, indent=2))
    return _shown(args, answer)


class _Refused(Exception):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def _here(args: argparse.Namespace, event: dict[str, Any]) -> dict[str, Any]:
    """The guard in this process (`invoke`'s path) on the request."""
    from . import invoke

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump(event, file)
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = invoke.run(argparse.Namespace(event_file=file.name, policy=args.policy, dry_run=False,
                                                 verbose=False, state_table=args.state_table, fleet_queue=None))
    finally:
        Path(file.name).unlink()
    if not out.getvalue().strip():
        raise _Refused(err.getvalue().strip().removeprefix("rollout-guard: ") or f"exit {code}", code or HALT_FAILED)
    answer: dict[str, Any] = json.loads(out.getvalue())
    return answer


def _in_region(args: argparse.Namespace, event: dict[str, Any], wait_s: float) -> dict[str, Any]:
    from rollout_guard_cdk.config import ConfigError

    from . import everywhere

    try:
        import boto3

        region = args.region or boto3.session.Session().region_name
        if not region:
            raise _Refused("say where: --region R (no default region is configured)", BAD_INPUT)
        (target,) = everywhere.targets(False, [region])
    except (ValueError, ConfigError) as error:
        raise _Refused(str(error), BAD_INPUT) from error
    ask = everywhere.via_local if args.local else everywhere.via_lambda
    (answer,) = everywhere.ask_everyone([target], lambda found: ask(found, event), wait_s, acts=args.approve)
    if answer["status"] != everywhere.ANSWERED:
        raise _Refused(f"{answer['region']}: {answer['detail']}", HALT_FAILED)
    return answer


def _shown(args: argparse.Namespace, answer: dict[str, Any]) -> int:
    """The plan, or what the approval did, as text (unless JSON was asked); the exit code."""
    plan = answer.get("revert")
    text = args.output == "text"
    if plan is None:
        return fail(answer.get("detail") or f"no revert prepared for job {args.job}", BAD_INPUT)
    if not args.approve:
        if text:
            print(plan_text(plan))
        return HANDLED
    decision = (answer.get("decisions") or [{}])[0]
    action, detail = decision.get("action"), decision.get("detail", answer.get("detail", ""))
    if action in ("reverted", "skipped", "would_revert"):
        if text:
            print(f"{plan['revertJobId']}: {detail}")
        return HANDLED
    return fail(f"revert of job {args.job} not created: {detail}", HALT_FAILED)


def plan_text(plan: dict[str, Any]) -> str:
    document = (f"document {plan['documentFile']}" if plan.get("documentFile") else
                f"template {plan['templateArn']}" if plan.get("templateArn") else "the rule's inline document")
    rollout = f"{plan['maxPerMinute']} things a minute" if plan.get("maxPerMinute") else "IoT's default rate"
    abort = plan.get("abortConfig")
    if abort:
        criterion = abort["criteriaList"][0]
        rollout += (f"; abort when {criterion['thresholdPercentage']:g}% {criterion['failureType']} once "
                    f"{criterion['minNumberOfExecutedThings']} executed")
    state = f"created {plan['createdAt']}" if plan.get("createdAt") else "ready, waiting for approval"
    lines = [f"revert {plan['revertJobId']} of job {plan['jobId']} (rule {plan['rule']}): {state}",
             f"  things:   {plan['things']} (those whose execution of {plan['jobId']} SUCCEEDED, listed again "
             "when approved)",
             f"  document: {document}",
             f"  rollout:  {rollout}",
             f"  prepared: {plan['preparedAt']}"]
    if not plan.get("createdAt"):
        lines.append(f"  approve:  rollout-guard revert --job {plan['jobId']} --approve")
    return "\n".join(lines)
