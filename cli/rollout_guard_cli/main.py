"""`rollout-guard`: the operator's command line.

  invoke EVENT_FILE   run the Lambda's handler locally on an alert, a fleet event (or an SQS batch of them) or IoT's
                      CreateJob from CloudTrail (exit 0 handled, 1 a halt or a write failed, 2 bad input)
  cancel ...          manual halt, a drop-in for `aws iot cancel-job`
  halt --jobs GLOB    ask every regional guard (--everywhere, or --region R ...) to halt the matching jobs
  throttle --jobs G   ask every regional guard to slow the matching jobs (--max-per-minute N [--abort T:P:M])
  resume --jobs G     ask every regional guard to put back the matching jobs it throttled
  status              the active jobs of every regional guard, their progress, rules and recent halts
  doctor              what the live account still lacks for the guard as configured, per region (reads only; exit
                      0 fine, 1 a problem, 2 bad input)
  events [KIND]       print sample alerts
  state init NAME     create the exactly-once state table
  policy check FILE   validate a policy
  replay EVENTS       what the fleet signal would have done on a stream of the fleet's events (offline; exit 0 ran,
                      2 bad input)
  drill               the whole flow on a local emulator
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import re
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path

from rollout_guard_cdk.project import project_policy_file

from . import cancel, samples

HANDLED, HALT_FAILED, BAD_INPUT = 0, 1, 2


def fail(message: str, code: int = BAD_INPUT) -> int:
    print(f"rollout-guard: {message}", file=sys.stderr)
    return code


def cmd_invoke(args: argparse.Namespace) -> int:
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
    from rollout_guard.bootstrap import build_runtime
    from rollout_guard.halts.alerts import UnrecognisedAlert
    from rollout_guard.halts.jobs import JobsError
    from rollout_guard.policy import PolicyError
    from rollout_guard.settings import Settings, SettingsError
    from rollout_guard.telemetry import logger
    from rollout_guard_local.context import LocalContext

    logger.setLevel(logging.INFO if args.verbose else logging.CRITICAL)
    # An invocation that stopped before counting anything (bad input) has no metric: nothing to warn the operator of.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    try:
        if boto3.session.Session().get_credentials() is None:
            return fail("AWS credentials not found (environment, shared files, instance role), nothing decided",
                        HALT_FAILED)
        settings = Settings.from_env({**os.environ, **_settings_env(args, policy_file)})
        runtime = build_runtime(settings, fleet_state=None if settings.state_table else _in_memory())
        # The handler's own output (metrics) goes to stderr, or nowhere: stdout carries only the result.
        with contextlib.ExitStack() as stack:
            sink = sys.stderr if args.verbose else stack.enter_context(open(os.devnull, "w"))  # noqa: PTH123
            stack.enter_context(contextlib.redirect_stdout(sink))
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
    if isinstance(result, handler.FleetBatch):
        return _fleet_result(result, args.state_table, len(event.get("Records", [event])))
    print(json.dumps(result, indent=2))
    return HANDLED


def _in_memory():
    from rollout_guard_local.memory_fleet import InMemoryFleetState

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


def cmd_state_init(args: argparse.Namespace) -> int:
    """Create the state table (the schema the stack deploys) where boto3 points; exit 0 also when it exists."""
    from botocore.exceptions import BotoCoreError, ClientError

    from rollout_guard.adapters.clients import make_client
    from rollout_guard.schema import TABLE_KEY, TABLE_TTL

    from .state import create_state_table

    try:
        created = create_state_table(make_client("dynamodb"), args.name)
    except (BotoCoreError, ClientError) as error:
        return fail(f"cannot create state table {args.name}: {error}".splitlines()[0], HALT_FAILED)
    if not created:
        print(f"state table {args.name} already exists")
        return 0
    print(f"state table {args.name} created (key {TABLE_KEY}, TTL on {TABLE_TTL})")
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    if args.kind:
        print(json.dumps(samples.KINDS[args.kind](), indent=2))
    else:
        print(json.dumps({kind: build() for kind, build in samples.KINDS.items()}, indent=2))
    return 0


def cmd_policy_check(args: argparse.Namespace) -> int:
    from rollout_guard.policy import PolicyError, load_file

    try:
        policy = load_file(args.file)
    except PolicyError as error:
        print(f"rollout-guard: policy {args.file} is invalid:", file=sys.stderr)
        for problem in error.problems:
            print(f"  - {problem}", file=sys.stderr)
        return BAD_INPUT
    print(f"policy {args.file} is valid: {len(policy.rules)} rule(s): {', '.join(r.name for r in policy.rules)}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """The fleet signal offline on a stream of the fleet's events: would each job have halted, when, on what."""
    from rollout_guard.policy import PolicyError, load_file
    from rollout_guard.telemetry import logger

    from . import replay

    try:
        policy = load_file(args.policy)
        if not policy.fleet_rules():
            return fail(f"policy {args.policy} has no fleet-signal rule (match.signal: casualties) to replay")
        events = replay.read_events(Path(args.events))
        targets = replay.read_jobs(Path(args.jobs)) if args.jobs else None
    except PolicyError as error:
        return fail(f"invalid policy {args.policy}: {error.problems[0]}")
    except replay.ReplayError as error:
        return fail(str(error))
    logger.setLevel(logging.CRITICAL)
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    with contextlib.redirect_stdout(io.StringIO()):  # the detector's metrics: not the replay's output
        verdicts = replay.replay(events, policy, targets)
    basis = replay.FROM_FILE.format(path=args.jobs) if args.jobs else replay.FROM_EVENTS
    if args.output == "json":
        print(json.dumps(replay.as_json(verdicts, basis), indent=2))
    else:
        print(replay.as_text(verdicts, basis))
    return 0


def _regions(args: argparse.Namespace) -> list:
    """The guards asked, once the operator's input is checked: the deadline first, then the regions (each known,
    asked once). Raises ValueError with the one line to print; nothing has been asked."""
    from .everywhere import targets

    args.deadline = deadline(args.deadline)
    if not args.everywhere and not args.region:
        raise ValueError("say where: --everywhere, or --region R (repeatable)")
    return targets(args.everywhere, list(dict.fromkeys(args.region or [])))


DEADLINE_MAX_S = 900.0
DECIMAL = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,6})?")  # as the AWS CLI reads numbers: ASCII digits, nothing else


def deadline(text: str | float) -> float:
    """--deadline: a finite number of seconds above 0 and at most 900 (the guard's own timeout)."""
    raw = str(text)
    value = float(raw) if DECIMAL.fullmatch(raw) else float("nan")
    if not 0 < value <= DEADLINE_MAX_S:
        raise ValueError(f"--deadline {raw!r} must be a number of seconds above 0 and at most {DEADLINE_MAX_S:g}")
    return value


def cmd_halt(args: argparse.Namespace) -> int:
    """Exit 0 when every region answered and no job failed; 1 otherwise; 2 when nothing could be asked."""
    from rollout_guard.halts.alerts import REQUEST_GLOB
    from rollout_guard.halts.jobs import REASON_CODE

    from . import everywhere

    if not REQUEST_GLOB.fullmatch(args.jobs):
        return fail(f"--jobs {args.jobs!r} must be a glob of letters, digits, _ - * ? (64 at most)")
    if args.reason_code is not None and not REASON_CODE.fullmatch(args.reason_code):
        return fail(f"--reason-code {args.reason_code!r} must be 1 to 128 of A-Z, 0-9 and _")
    return _ask_every_guard(args, everywhere.halt_request)


def _ask_every_guard(args: argparse.Namespace, request_of) -> int:
    """An operator's request (halt, throttle, resume) to each region's guard at once; the table of their answers.
    Exit 0 when every region answered and no job failed; 1 otherwise; 2 when nothing could be asked."""
    from rollout_guard_cdk.config import ConfigError

    from . import everywhere

    try:
        found = _regions(args)
    except (ValueError, ConfigError) as error:
        return fail(str(error))
    ask = everywhere.via_local if args.local else everywhere.via_lambda
    request = request_of(args)
    answers = everywhere.ask_everyone(found, lambda target: ask(target, request), args.deadline, acts=True)
    if args.output == "json":
        print(json.dumps({"request": request["detail"], "regions": answers}, indent=2))
    else:
        print(everywhere.halt_table(answers))
    return HALT_FAILED if everywhere.halt_failed(answers) else HANDLED


# ASCII digits only, as the AWS CLI reads numbers (`\d` would take any script's digits)
ABORT = re.compile(r"(FAILED|REJECTED|TIMED_OUT|ALL):([0-9]{1,3}(?:\.[0-9]{1,2})?):([0-9]{1,10})")
WHOLE = re.compile(r"[0-9]{1,4}")


def cmd_throttle(args: argparse.Namespace) -> int:
    """`throttle` and `resume`: like `halt`, through each region's guard and its operator rule's guardrails."""
    from rollout_guard.halts.alerts import REQUEST_GLOB
    from rollout_guard.policy import RATE_RANGE, throttle_settings

    from . import everywhere

    if not REQUEST_GLOB.fullmatch(args.jobs):
        return fail(f"--jobs {args.jobs!r} must be a glob of letters, digits, _ - * ? (64 at most)")
    if args.command == "throttle":
        rate = args.max_per_minute
        if not (WHOLE.fullmatch(rate) and RATE_RANGE[0] <= int(rate) <= RATE_RANGE[1]):
            return fail(f"--max-per-minute {rate!r} must be a whole number from 1 to 1000 (UpdateJob's range)")
        args.max_per_minute = int(rate)
        found_abort = ABORT.fullmatch(args.abort) if args.abort is not None else None
        asked = {"max_per_minute": args.max_per_minute, **({"abort": {
            "failure_type": found_abort.group(1), "percent": float(found_abort.group(2)),
            "min_executed": int(found_abort.group(3))}} if found_abort else {})}
        if args.abort is not None and (found_abort is None or throttle_settings(asked)[1]):  # the policy's bounds
            return fail(f"--abort {args.abort!r} must be FAILURE_TYPE:PERCENT:MIN_EXECUTED, e.g. FAILED:10:20 "
                        "(percent above 0, at most 100, two decimals; at least 1 executed)")
        args.abort = ({"failureType": found_abort.group(1), "percent": float(found_abort.group(2)),
                       "minExecuted": int(found_abort.group(3))} if found_abort else None)
    return _ask_every_guard(args, everywhere.throttle_request)


def cmd_status(args: argparse.Namespace) -> int:
    from rollout_guard_cdk.config import ConfigError

    from . import everywhere

    if not args.everywhere and not args.region:
        args.everywhere = True  # a first look: everything, unless narrowed
    try:
        found = _regions(args)
    except (ValueError, ConfigError) as error:
        return fail(str(error))
    answers = everywhere.ask_everyone(found, everywhere.region_status, args.deadline)
    for answer in answers:
        answer.setdefault("active", [])
        answer.setdefault("recentHalts", [])
    if args.output == "json":
        print(json.dumps({"regions": answers}, indent=2))
    else:
        print(everywhere.status_text(answers))
    return HANDLED if all(answer["status"] == everywhere.ANSWERED for answer in answers) else HALT_FAILED


def cmd_doctor(args: argparse.Namespace) -> int:
    """Exit 0 when no check found a problem, 1 when one did (or a region did not answer), 2 on bad input."""
    from rollout_guard.policy import PolicyError
    from rollout_guard_cdk.config import ConfigError

    from . import doctor, doctor_policy, everywhere

    if args.print_policy:  # what whoever runs doctor needs; nothing is asked
        print(json.dumps(doctor_policy.policy(), indent=2))
        return HANDLED
    if not args.everywhere and not args.region:
        args.everywhere = True
    try:
        found = _regions(args)
        configs = {target.name: doctor.guard_config(target) for target in found}
    except PolicyError as error:
        return fail(f"invalid policy: {error.problems[0]}")
    except (ValueError, ConfigError) as error:
        return fail(str(error))
    answers = everywhere.ask_everyone(found, lambda target: doctor.examine(target, configs[target.name]),
                                      args.deadline)
    if args.output == "json":
        print(json.dumps(doctor.as_json(answers), indent=2))
    else:
        print(doctor.as_text(answers))
    return HALT_FAILED if doctor.failed(answers) else HANDLED


def cmd_drill(args: argparse.Namespace) -> int:
    import importlib.util

    if importlib.util.find_spec("moto") is None:
        return fail("the drill runs on the moto emulator: pip install 'rollout-guard[local]'")
    from . import drill

    return drill.run(policy_file=Path(args.policy) if args.policy else project_policy_file())


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="rollout-guard", description="Halt AWS IoT firmware rollouts on alerts.")
    commands = top.add_subparsers(dest="command", required=True)

    invoke = commands.add_parser("invoke", help="run the Lambda handler locally on an event file (an alert, a fleet "
                                                "event or batch, a CloudTrail CreateJob)")
    invoke.add_argument("event_file")
    invoke.add_argument("--policy", help="policy file (default: the project's, from cdk.json)")
    invoke.add_argument("--dry-run", action="store_true", help="decide but cancel nothing")
    invoke.add_argument("--verbose", action="store_true", help="show the handler's logs and metrics on stderr")
    invoke.add_argument("--state-table", help="take exactly-once claims, and count the fleet signal, in this DynamoDB "
                                              "table (see `state init`)")
    invoke.add_argument("--fleet-queue", help="SQS queue URL where the detector schedules its dark checks (without "
                                              "it, a check already due runs at once)")
    invoke.set_defaults(run=cmd_invoke)

    # `main` parses `cancel` with its own parser; it is listed here for --help.
    commands.add_parser("cancel", help="cancel a job; a drop-in for `aws iot cancel-job`", add_help=False)

    events = commands.add_parser("events", help="print sample events (alerts, fleet events, CreateJob)")
    events.add_argument("kind", nargs="?", choices=sorted(samples.KINDS))
    events.set_defaults(run=cmd_events)

    policy = commands.add_parser("policy", help="policy tools")
    policy_commands = policy.add_subparsers(dest="policy_command", required=True)
    check = policy_commands.add_parser("check", help="validate a policy file")
    check.add_argument("file")
    check.set_defaults(run=cmd_policy_check)

    state = commands.add_parser("state", help="the exactly-once state table")
    state_commands = state.add_subparsers(dest="state_command", required=True)
    init = state_commands.add_parser("init", help="create the state table where boto3 points (exit 0 if it exists)")
    init.add_argument("name")
    init.set_defaults(run=cmd_state_init)

    halt = commands.add_parser("halt", help="ask every regional guard to halt the matching active jobs")
    halt.add_argument("--reason-code", help="the reason code (default: the guard's operator rule's)")
    halt.add_argument("--comment", help="the CancelJob comment")
    halt.add_argument("--force", action="store_true", help="also cancel IN_PROGRESS executions")
    _asking_every_guard(halt, cmd_halt)

    throttle = commands.add_parser("throttle", help="ask every regional guard to slow the matching active jobs "
                                                    "(UpdateJob), saving what they were for `resume`")
    throttle.add_argument("--max-per-minute", required=True, help="the new rollout rate, 1 to 1000")
    throttle.add_argument("--abort", help="an abort criterion armed on the job, FAILURE_TYPE:PERCENT:MIN_EXECUTED "
                                          "(e.g. FAILED:10:20)")
    _asking_every_guard(throttle, cmd_throttle)

    resume = commands.add_parser("resume", help="ask every regional guard to put back the matching jobs it "
                                                "throttled, as they were")
    _asking_every_guard(resume, cmd_throttle)

    status = commands.add_parser("status", help="active jobs per region: progress, covering rules, recent halts")
    _where(status)
    status.set_defaults(run=cmd_status)

    checking = commands.add_parser("doctor", help="what the live account still lacks for the guard as configured "
                                                  "(reads only; exit 0 fine, 1 a problem, 2 bad input)")
    _where(checking)
    checking.add_argument("--print-policy", action="store_true",
                          help="print the least-privilege IAM policy doctor needs (reads only) and exit")
    checking.set_defaults(run=cmd_doctor)

    replaying = commands.add_parser("replay", help="what the fleet signal would have done on a stream of the fleet's "
                                                   "events (offline, no AWS call)")
    replaying.add_argument("events", help="a file or folder of JSON lines (gzip too), as the topic rules deliver them")
    replaying.add_argument("--policy", required=True, help="the policy whose fleet-signal rules to try")
    replaying.add_argument("--jobs", help="JSON or YAML mapping each job id to its target things (else: from the "
                                          "events, an approximation)")
    replaying.add_argument("--output", choices=["text", "json"], default="text")
    replaying.set_defaults(run=cmd_replay)

    drill = commands.add_parser("drill", help="run the whole flow on a local moto server")
    drill.add_argument("--policy", help="policy file (default: the project's)")
    drill.set_defaults(run=cmd_drill)
    return top


def _asking_every_guard(command: argparse.ArgumentParser, run) -> None:
    """The options of an operator's request to every regional guard (halt, throttle, resume)."""
    command.add_argument("--jobs", required=True, help="glob over job ids (letters, digits, _ - * ?)")
    command.add_argument("--dry-run", action="store_true", help="each guard says what it would do, changes nothing")
    _where(command)
    command.add_argument("--local", action="store_true",
                         help="run each region's guard here against the region's endpoints instead of invoking it")
    command.set_defaults(run=run)


def _where(command: argparse.ArgumentParser) -> None:
    where = command.add_mutually_exclusive_group()
    where.add_argument("--everywhere", action="store_true", help="every environment of the project")
    where.add_argument("--region", action="append", help="a region of the project's environments (repeatable)")
    command.add_argument("--deadline", default="60",
                         help=f"seconds to wait for each region, above 0 and at most {DEADLINE_MAX_S:g} (default 60)")
    command.add_argument("--output", choices=["text", "json"], default="text")


class _CancelParser(argparse.ArgumentParser):
    """Usage errors of `cancel` exit as the AWS CLI's do (252), so scripts written for it keep working."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(cancel.USAGE_ERROR, f"rollout-guard cancel: error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["cancel"]:
        halt = _CancelParser(prog="rollout-guard cancel", description="Cancel an IoT job (aws iot cancel-job).")
        cancel.add_arguments(halt)
        return cancel.run(halt.parse_args(argv[1:]))
    args = parser().parse_args(argv)
    return args.run(args)


def run_captured(argv: list[str], env: Mapping[str, str]) -> tuple[int, str, str]:
    """The command in this process with `env` as its whole environment for the call (the drill's invokes, the CLI's
    tests): its exit code (argparse's usage errors included), stdout and stderr, without a process's start-up."""
    out, err, saved = io.StringIO(), io.StringIO(), dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as stop:
                if isinstance(stop.code, str):
                    print(stop.code, file=sys.stderr)  # sys.exit("message"): Python prints it and exits 1
                code = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return code, out.getvalue(), err.getvalue()


if __name__ == "__main__":
    sys.exit(main())
