"""`rollout-guard invoke EVENT_FILE`: the Lambda's handler run here on an alert, a fleet event (or an SQS batch of
them) or IoT's CreateJob from CloudTrail, against whatever AWS boto3 points at (exit 0 handled, 1 a halt or a write
failed, 2 bad input). A local tool: the drill runs it in its own process (`main`)."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import warnings
from pathlib import Path

from rollout_guard_cdk.project import project_policy_file

from .exits import HALT_FAILED, HANDLED, fail


def add_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("event_file")
    command.add_argument("--policy", help="policy file (default: the project's, from cdk.json)")
    command.add_argument("--dry-run", action="store_true", help="decide but cancel nothing")
    command.add_argument("--verbose", action="store_true", help="show the handler's logs and metrics on stderr")
    command.add_argument("--state-table", help="take exactly-once claims, and count the fleet signal, in this DynamoDB "
                                              "table (see `state init`)")
    command.add_argument("--fleet-queue", help="SQS queue URL where the detector schedules its dark checks (without "
                                              "it, a check already due runs at once)")


def main(argv: list[str]) -> int:
    """`invoke` alone (its arguments after the word `invoke`), as the drill runs it in its own process."""
    command = argparse.ArgumentParser(prog="rollout-guard invoke")
    add_arguments(command)
    return run(command.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    try:
        event = json.loads(Path(args.event_file).read_text(encoding="utf-8"))
    except OSError as error:
        return fail(f"cannot read event file {args.event_file}: {error.strerror}")
    except ValueError as error:
        return fail(f"event file {args.event_file} is not JSON: {error}")
    except RecursionError:
        return fail(f"event file {args.event_file} is nested too deeply to be an alert")
    policy_file = Path(args.policy) if args.policy else project_policy_file()
    if policy_file is None:
        return fail("no project policy found (no cdk.json here or above): pass --policy FILE")

    import boto3
    from botocore.exceptions import BotoCoreError

    from rollout_guard import handler
    from rollout_guard.bootstrap import Overrides, build_runtime
    from rollout_guard.halts.alerts import UnrecognisedAlert
    from rollout_guard.halts.jobs import JobsError
    from rollout_guard.policy import PolicyError
    from rollout_guard.settings import Settings, SettingsError
    from rollout_guard.telemetry import logger
    from rollout_guard_local.context import LocalContext

    logger.setLevel(logging.INFO if args.verbose else logging.CRITICAL)
    # An invocation that stopped before counting anything (bad input) has no metric: nothing to warn the operator of.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    batch, result = None, None
    try:
        if boto3.session.Session().get_credentials() is None:
            return fail("AWS credentials not found (environment, shared files, instance role), nothing decided",
                        HALT_FAILED)
        settings = Settings.from_env({**os.environ, **_settings_env(args, policy_file)})
        runtime = build_runtime(settings, Overrides(fleet_state=None if settings.state_table else _in_memory()))
        # The handler's own output (metrics) goes to stderr, or nowhere: stdout carries only the result.
        with contextlib.ExitStack() as stack:
            sink = sys.stderr if args.verbose else stack.enter_context(open(os.devnull, "w"))  # noqa: PTH123
            stack.enter_context(contextlib.redirect_stdout(sink))
            if runtime.carries_fleet_events(event):
                batch = handler.invoke_fleet(event, LocalContext(), runtime=runtime)
            else:
                result = handler.invoke(event, LocalContext(), runtime=runtime)
    except UnrecognisedAlert as error:
        return fail(f"not a recognisable alert: {error}")
    except PolicyError as error:
        return fail(f"invalid policy {policy_file}: {error}")
    except SettingsError as error:
        return fail(str(error))
    except handler.HaltIncomplete as error:
        print(json.dumps(error.outcome, indent=2))
        return HALT_FAILED
    except JobsError as error:
        return fail(f"AWS error, nothing decided: {error}", HALT_FAILED)
    except BotoCoreError as error:  # no region, no credentials, a bad profile: before any call
        return fail(f"AWS is not configured, nothing decided: {error}", HALT_FAILED)
    if batch is not None:
        return _fleet_result(batch, args.state_table, len(event.get("Records", [event])))
    print(json.dumps(result, indent=2))
    return HANDLED


def _in_memory():
    from rollout_guard.adapters.memory_fleet import InMemoryFleetState

    return InMemoryFleetState()  # fleet events counted within this invocation only


def _fleet_result(batch, state_table: str | None, messages: int) -> int:
    """A fleet batch: what each evaluation found, and the messages that failed (SQS would deliver those again). A
    batch of bad input only is one line and exit 2; a poison message among valid ones is reported alone (the valid
    ones were counted) and exits 1, as a batch with a failure."""
    failed = [item["itemIdentifier"] for item in batch.answer["batchItemFailures"]]
    if failed and len(batch.rejected) >= messages:  # bad input only: nothing was written
        return fail(f"not a fleet event: {next(iter(batch.rejected.values()))}")
    counted_in = f"state table {state_table}" if state_table else "memory: only this invocation's events count"
    print(json.dumps({**batch.answer, "rejected": batch.rejected, "evaluations": batch.reports,
                      "countedIn": counted_in}, indent=2))
    return HALT_FAILED if failed else HANDLED


def _settings_env(args: argparse.Namespace, policy_file: Path) -> dict[str, str]:
    """The CLI's own choices, over the guard's variables the operator may have set (ROLLOUT_GUARD_IOT_RATE...)."""
    from rollout_guard import settings

    chosen = {settings.POLICY_FILE: str(policy_file)}
    if args.dry_run:
        chosen[settings.DRY_RUN] = "true"
    if args.state_table:
        chosen[settings.STATE_TABLE] = args.state_table
    if args.fleet_queue:
        chosen[settings.FLEET_QUEUE] = args.fleet_queue
    return chosen


