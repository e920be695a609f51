"""The commands that ask every region's guard at once: `halt`, `throttle`, `resume`, `status` and `doctor`. The
operator's input is checked first (one line, exit 2, nothing asked); then a table or JSON of the regions' answers."""

from __future__ import annotations

import argparse
import json
import re

from .exits import HALT_FAILED, HANDLED, fail
from .tables import csv_table


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


def halt(args: argparse.Namespace) -> int:
    """Exit 0 when every region answered and no job failed; 1 otherwise; 2 when nothing could be asked."""
    from rollout_guard.halts.alert_kinds import REQUEST_GLOB
    from rollout_guard.iot_limits import DEPLOYMENT_NAME_MAX, REASON_CODE

    from . import everywhere

    if args.jobs is None and args.deployments is None:
        return fail("say what to halt: --jobs GLOB, --deployments GLOB, or both")
    if args.jobs is not None and not REQUEST_GLOB.fullmatch(args.jobs):
        return fail(f"--jobs {args.jobs!r} must be a glob of letters, digits, _ - * ? (64 at most)")
    if args.deployments is not None and not (args.deployments.strip() and args.deployments.isprintable()
                                             and len(args.deployments) <= DEPLOYMENT_NAME_MAX):
        return fail(f"--deployments {args.deployments!r} must be 1 to {DEPLOYMENT_NAME_MAX} printable characters")
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
        print(everywhere.halt_table(answers, args.output))
    return HALT_FAILED if everywhere.halt_failed(answers) else HANDLED


# ASCII digits only, as the AWS CLI reads numbers (`\d` would take any script's digits)
ABORT = re.compile(r"(FAILED|REJECTED|TIMED_OUT|ALL):([0-9]{1,3}(?:\.[0-9]{1,2})?):([0-9]{1,10})")
WHOLE = re.compile(r"[0-9]{1,4}")


def throttle(args: argparse.Namespace) -> int:
    """`throttle` and `resume`: like `halt`, through each region's guard and its operator rule's guardrails."""
    from rollout_guard.halts.alert_kinds import REQUEST_GLOB
    from rollout_guard.iot_limits import RATE_RANGE
    from rollout_guard.policy import throttle_settings

    from . import everywhere

    if args.jobs is None:
        return fail("the following arguments are required: --jobs")
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


def status(args: argparse.Namespace) -> int:
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
    elif args.output == "csv":
        print(csv_table(everywhere.status_rows(answers), everywhere.STATUS_HEADERS))
    else:
        print(everywhere.status_text(answers))
    return HANDLED if all(answer["status"] == everywhere.ANSWERED for answer in answers) else HALT_FAILED


def doctor(args: argparse.Namespace) -> int:
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
    elif args.output == "csv":
        print(csv_table(doctor.check_rows(answers), doctor.HEADERS))
    else:
        print(doctor.as_text(answers))
    return HALT_FAILED if doctor.failed(answers) else HANDLED


