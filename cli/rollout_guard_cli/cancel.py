"""`rollout-guard cancel`: the manual halt, a drop-in for `aws iot cancel-job`.

Same options, same input files, same output and the AWS CLI v2 exit codes (252 for a bad command line or parameter,
254 for an error answered by the service, 255 for anything else), plus `--dry-run`. Unlike the AWS CLI it checks
every value against the API's constraints before any call, so a typo never reaches a production account.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rollout_guard.documents import DocumentError, DuplicateKeys, load_json, load_yaml, show
from rollout_guard.halts.jobs import comment_length, is_control
from rollout_guard.iot_limits import COMMENT_LIMIT, JOB_ID, REASON_CODE

USAGE_ERROR = 252
SERVICE_ERROR = 254
OTHER_ERROR = 255
INPUT_KEYS = ("jobId", "reasonCode", "comment", "force")
INPUT_SKELETON = {"jobId": "", "reasonCode": "", "comment": "", "force": True}
OUTPUT_SKELETON = {"jobArn": "jobArn", "jobId": "jobId", "description": "description"}


class CancelInputError(ValueError):
    """A parameter breaks the CancelJob constraints; nothing was sent."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--job-id", help="the job to cancel")
    _job_arguments(parser)
    add_common_arguments(parser)


def _job_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason-code", help="upper-case letters, digits and _, at most 128")
    parser.add_argument("--comment", help="at most 2028 characters, no control characters")
    force = parser.add_mutually_exclusive_group()
    force.add_argument("--force", dest="force", action="store_true", default=None,
                       help="also cancel IN_PROGRESS executions (devices may be left unable to report)")
    force.add_argument("--no-force", dest="force", action="store_false", help="cancel QUEUED executions only (default)")


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The AWS CLI's input, skeleton, output and connection options, and `--dry-run`."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--cli-input-json", help="parameters as JSON, or file://PATH")
    source.add_argument("--cli-input-yaml", help="parameters as YAML, or file://PATH")
    # As in the AWS CLI: input and yaml-input print a skeleton whatever else is given; output first validates the
    # command (with --cli-input-* if given) and prints a sample answer in the --output format.
    parser.add_argument("--generate-cli-skeleton", nargs="?", const="input", choices=("input", "yaml-input", "output"),
                        help="print a parameter skeleton (or, with output, validate and print a sample answer)")
    parser.add_argument("--dry-run", action="store_true", help="check and show the request without sending it")
    parser.add_argument("--output", choices=("json", "yaml", "text"), default="json")
    parser.add_argument("--region")
    parser.add_argument("--endpoint-url")
    parser.add_argument("--profile")


def read_input(value: str, fmt: str, keys: tuple[str, ...] = INPUT_KEYS) -> dict[str, Any]:
    """`--cli-input-json`/`--cli-input-yaml` as the AWS CLI reads them (inline or file://), only `keys` allowed."""
    text = value
    if value.startswith("file://"):
        try:
            with open(value[len("file://"):], encoding="utf-8") as handle:
                text = handle.read()
        except OSError as error:
            raise CancelInputError(f"cannot read {value}: {error.strerror}") from error
    try:
        data = load_json(text) if fmt == "json" else load_yaml(text)
    except DuplicateKeys as error:
        raise CancelInputError(f"--cli-input-{fmt}: {error.problems[0]}") from error
    except DocumentError as error:
        raise CancelInputError(f"--cli-input-{fmt} is not valid {fmt.upper()}: {error.problems[0]}") from error
    if not isinstance(data, dict):
        raise CancelInputError(f"--cli-input-{fmt} must hold an object")
    unknown = sorted(set(data) - set(keys), key=str)
    if unknown:
        raise CancelInputError(f"Unknown parameter in input: {show(unknown[0])}, must be one of: {', '.join(keys)}")
    return data


def build_request(args: argparse.Namespace) -> dict[str, Any]:
    """The CancelJob parameters from the input file and the options (options win), checked against the API."""
    request: dict[str, Any] = {}
    if args.cli_input_json is not None:
        request.update(read_input(args.cli_input_json, "json"))
    if args.cli_input_yaml is not None:
        request.update(read_input(args.cli_input_yaml, "yaml"))
    for key, value in (("jobId", args.job_id), ("reasonCode", args.reason_code), ("comment", args.comment),
                       ("force", args.force)):
        if value is not None:
            request[key] = value
    job_id = request.get("jobId")
    if job_id is None:
        raise CancelInputError("the following arguments are required: --job-id")
    if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
        raise CancelInputError(f"invalid --job-id {show(job_id)}: 1 to 64 of a-z, A-Z, 0-9, _ and -")
    code = request.get("reasonCode")
    if code is not None and (not isinstance(code, str) or not REASON_CODE.fullmatch(code)):
        raise CancelInputError(f"invalid --reason-code {show(code)}: 1 to 128 of A-Z, 0-9 and _")
    comment = request.get("comment")
    if comment is not None:
        if not isinstance(comment, str) or not comment:
            raise CancelInputError("invalid --comment: must be a non-empty string")
        if any(is_control(char) for char in comment):
            raise CancelInputError("invalid --comment: control characters (newline, tab...) are not allowed")
        if comment_length(comment) > COMMENT_LIMIT:
            raise CancelInputError(f"invalid --comment: longer than {COMMENT_LIMIT} characters")
    if "force" in request and not isinstance(request["force"], bool):
        raise CancelInputError("invalid force: must be true or false")
    return request


def emit(data: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(data, indent=4, ensure_ascii=False))
    elif fmt == "yaml":
        import yaml

        print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), end="")
    else:
        print("\t".join(str(data[key]) for key in sorted(data)))


def yaml_input_skeleton(service: str = "iot", operation: str = "CancelJob") -> str:
    """The AWS CLI's yaml-input skeleton: each parameter with its empty value and, as a comment, [REQUIRED] where it
    is and the first sentence of its documentation in the service model botocore ships."""
    import botocore.session

    shape = botocore.session.get_session().get_service_model(service).operation_model(operation).input_shape
    lines = []
    for name, member in shape.members.items():
        text = re.sub(r"<[^>]+>", "", member.documentation)
        sentence = re.split(r"[.:]+", text, maxsplit=1)[0].replace("\n", " ").replace("\u2028", " ")
        comment = " ".join(["[REQUIRED]"] * (name in shape.required_members) + ([sentence + "."] if sentence else []))
        value = "true" if member.type_name == "boolean" else "''"
        lines.append(f"{name}: {value}" + (f" # {comment}" if comment else ""))
    return "\n".join(lines)


@dataclass(frozen=True)
class DropIn:
    """One AWS CLI command the CLI stands in for: its skeletons, how its request is read and checked, and the call.
    `send` returns the answer to print (None: the AWS CLI prints nothing); `note` goes to stderr after a dry run or
    a call, so stdout stays the AWS CLI's."""

    prog: str
    service: str
    operation: str
    input_skeleton: dict[str, Any]
    output_skeleton: dict[str, Any]
    build_request: Callable[[argparse.Namespace], dict[str, Any]]
    send: Callable[[argparse.Namespace, dict[str, Any]], dict[str, Any] | None]
    note: str | None = None


def run_drop_in(command: DropIn, args: argparse.Namespace) -> int:
    """The AWS CLI's behaviour around the call: skeletons, checked input (252), dry run, and the exits of a call
    the service refused (254) or that never got an answer (255), each one line on stderr."""
    if args.generate_cli_skeleton == "yaml-input":
        print(yaml_input_skeleton(command.service, command.operation))
        return 0
    if args.generate_cli_skeleton == "input":
        emit(command.input_skeleton, "json")
        return 0
    try:
        request = command.build_request(args)
    except CancelInputError as error:
        print(f"{command.prog}: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    if args.generate_cli_skeleton == "output":
        emit(command.output_skeleton, args.output)
        return 0
    if args.dry_run:
        emit({"dryRun": True, "request": request}, args.output)
    else:
        code = _sent(command, args, request)
        if code:
            return code
    if command.note:
        print(f"{command.prog}: note: {command.note}", file=sys.stderr)
    return 0


def _sent(command: DropIn, args: argparse.Namespace, request: dict[str, Any]) -> int:
    from rollout_guard.halts.jobs import JobsError

    try:
        answer = command.send(args, request)
    except JobsError as error:
        if not error.answered:  # no connection, a timeout: the AWS CLI's 255 and its one line
            print(error.message.splitlines()[0], file=sys.stderr)
            return OTHER_ERROR
        print(f"An error occurred ({error.code}) when calling the {command.operation} operation: {error.message}",
              file=sys.stderr)
        return SERVICE_ERROR
    except Exception as error:  # no credentials, no region, bad profile: one line, like the AWS CLI
        print(f"{command.prog}: {error}".splitlines()[0], file=sys.stderr)
        return OTHER_ERROR
    if answer is not None:
        emit(answer, args.output)
    return 0


def _send(args: argparse.Namespace, request: dict[str, Any]) -> dict[str, Any]:
    from rollout_guard.adapters.clients import make_client
    from rollout_guard.adapters.iot import IotJobs

    client = make_client(region=args.region, endpoint_url=args.endpoint_url, profile=args.profile)
    return IotJobs(client).cancel(request["jobId"], request.get("reasonCode"), request.get("comment"),
                                  request.get("force", False))


CANCEL = DropIn("rollout-guard cancel", "iot", "CancelJob", INPUT_SKELETON, OUTPUT_SKELETON, build_request, _send)


def run(args: argparse.Namespace) -> int:
    return run_drop_in(CANCEL, args)
