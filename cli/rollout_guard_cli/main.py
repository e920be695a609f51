"""`rollout-guard`: the operator's command line.

  invoke EVENT_FILE   run the Lambda's handler locally on an alert, a fleet event (or an SQS batch of them) or IoT's
                      CreateJob from CloudTrail (exit 0 handled, 1 a halt or a write failed, 2 bad input)
  cancel ...          manual halt, a drop-in for `aws iot cancel-job`
  cancel-deployment   cancel a Greengrass v2 deployment, a drop-in for `aws greengrassv2 cancel-deployment`
  halt --jobs GLOB    ask every regional guard (--everywhere, or --region R ...) to halt the matching jobs (and,
                      with --deployments GLOB, Greengrass v2 deployments)
  throttle --jobs G   ask every regional guard to slow the matching jobs (--max-per-minute N [--abort T:P:M])
  resume --jobs G     ask every regional guard to put back the matching jobs it throttled
  status              the active jobs of every regional guard, their progress, rules and recent halts
  revert --job ID     the revert a rule prepared for a job after a halt or a regression; --approve creates it once
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
import sys
from pathlib import Path

from rollout_guard_cdk.project import project_policy_file

from . import cancel, cancel_deployment, events, invoke, regional, replay, revert
from .exits import BAD_INPUT, HALT_FAILED, fail
from .tables import OUTPUTS


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


def cmd_state_init(args: argparse.Namespace) -> int:
    """Create the state table (the schema the stack deploys) where boto3 points; exit 0 also when it exists."""
    from botocore.exceptions import BotoCoreError, ClientError

    from rollout_guard.adapters.clients import make_client
    from rollout_guard.schema import TABLE_KEY, TABLE_TTL, create_state_table

    try:
        created = create_state_table(make_client("dynamodb"), args.name)
    except (BotoCoreError, ClientError) as error:
        return fail(f"cannot create state table {args.name}: {error}".splitlines()[0], HALT_FAILED)
    if not created:
        print(f"state table {args.name} already exists")
        return 0
    print(f"state table {args.name} created (key {TABLE_KEY}, TTL on {TABLE_TTL})")
    return 0


def cmd_drill(args: argparse.Namespace) -> int:
    import importlib.util

    if importlib.util.find_spec("moto") is None:
        return fail("the drill runs on the moto emulator: pip install 'rollout-guard[local]'")
    from . import drill

    return drill.run(policy_file=Path(args.policy) if args.policy else project_policy_file())


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="rollout-guard", description="Halt AWS IoT firmware rollouts on alerts.")
    commands = top.add_subparsers(dest="command", required=True)

    invoking = commands.add_parser("invoke", help="run the Lambda handler locally on an event file (an alert, a fleet "
                                                  "event or batch, a CloudTrail CreateJob)")
    invoke.add_arguments(invoking)
    invoking.set_defaults(run=invoke.run)

    # `main` parses `cancel` with its own parser; it is listed here for --help.
    commands.add_parser("cancel", help="cancel a job; a drop-in for `aws iot cancel-job`", add_help=False)
    commands.add_parser("cancel-deployment", help="cancel a Greengrass v2 deployment; a drop-in for "
                                                  "`aws greengrassv2 cancel-deployment`", add_help=False)

    showing = commands.add_parser("events", help="print sample events (alerts, fleet events, CreateJob)")
    showing.add_argument("kind", nargs="?", choices=sorted(events.KINDS))
    showing.set_defaults(run=events.run)

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
    halt.add_argument("--deployments", help="glob over Greengrass v2 deployment names (with or instead of --jobs)")
    _asking_every_guard(halt, regional.halt)

    throttle = commands.add_parser("throttle", help="ask every regional guard to slow the matching active jobs "
                                                    "(UpdateJob), saving what they were for `resume`")
    throttle.add_argument("--max-per-minute", required=True, help="the new rollout rate, 1 to 1000")
    throttle.add_argument("--abort", help="an abort criterion armed on the job, FAILURE_TYPE:PERCENT:MIN_EXECUTED "
                                          "(e.g. FAILED:10:20)")
    _asking_every_guard(throttle, regional.throttle)

    resume = commands.add_parser("resume", help="ask every regional guard to put back the matching jobs it "
                                                "throttled, as they were")
    _asking_every_guard(resume, regional.throttle)

    status = commands.add_parser("status", help="active jobs per region: progress, covering rules, recent halts")
    _where(status)
    status.set_defaults(run=regional.status)

    checking = commands.add_parser("doctor", help="what the live account still lacks for the guard as configured "
                                                  "(reads only; exit 0 fine, 1 a problem, 2 bad input)")
    _where(checking)
    checking.add_argument("--print-policy", action="store_true",
                          help="print the least-privilege IAM policy doctor needs (reads only) and exit")
    checking.set_defaults(run=regional.doctor)

    replaying = commands.add_parser("replay", help="what the fleet signal would have done on a stream of the fleet's "
                                                   "events (offline, no AWS call)")
    replaying.add_argument("events", help="a file or folder of JSON lines (gzip too), as the topic rules deliver them")
    replaying.add_argument("--policy", required=True, help="the policy whose fleet-signal rules to try")
    replaying.add_argument("--jobs", help="JSON or YAML mapping each job id to its target things (else: from the "
                                          "events, an approximation)")
    replaying.add_argument("--compare", help="a second policy: both policies' verdicts, side by side")
    replaying.add_argument("--deployments", help="JSON or YAML mapping each Greengrass deployment id to its name "
                                                 "(else a deployment is named by its id)")
    replaying.add_argument("--output", choices=OUTPUTS, default="table",
                           help="table (text is the same), json, or csv (one row per job)")
    replaying.add_argument("--report", help="also write a self-contained HTML report here: a chart per job, its "
                                            "casualties table below")
    replaying.add_argument("--plot", help="also write the charts as one PNG image here")
    replaying.set_defaults(run=replay.command)

    reverting = commands.add_parser("revert", help="show the revert a rule prepared for a job, or create it with "
                                                   "--approve (once)", description=revert.DESCRIPTION)
    revert.add_arguments(reverting)
    drill = commands.add_parser("drill", help="run the whole flow on a local moto server")
    drill.add_argument("--policy", help="policy file (default: the project's)")
    drill.set_defaults(run=cmd_drill)
    return top


def _asking_every_guard(command: argparse.ArgumentParser, run) -> None:
    """The options of an operator's request to every regional guard (halt, throttle, resume)."""
    command.add_argument("--jobs", help="glob over job ids (letters, digits, _ - * ?)")
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
                         help=f"seconds to wait for each region, above 0 and at most {regional.DEADLINE_MAX_S:g} (default 60)")
    command.add_argument("--output", choices=OUTPUTS, default="table",
                         help="table (text is the same), json, or csv (the main table's rows)")


class _CancelParser(argparse.ArgumentParser):
    """Usage errors of the drop-ins exit as the AWS CLI's do (252), so scripts written for it keep working."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(cancel.USAGE_ERROR, f"{self.prog}: error: {message}\n")


DROP_INS = {
    "cancel": (cancel, "Cancel an IoT job (aws iot cancel-job)."),
    "cancel-deployment": (cancel_deployment, "Cancel a Greengrass v2 deployment (aws greengrassv2 "
                                             "cancel-deployment)."),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] and argv[0] in DROP_INS:
        command, description = DROP_INS[argv[0]]
        halt = _CancelParser(prog=f"rollout-guard {argv[0]}", description=description)
        command.add_arguments(halt)
        return command.run(halt.parse_args(argv[1:]))
    args = parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
