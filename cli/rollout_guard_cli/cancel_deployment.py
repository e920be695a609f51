"""`rollout-guard cancel-deployment`: a drop-in for `aws greengrassv2 cancel-deployment`.

Same options and input files, the same output (the service's `message`) and the AWS CLI v2 exit codes (252 bad
command line or parameter, 254 an error answered by the service, 255 anything else), plus `--dry-run`, as `cancel`
is for CancelJob. The deployment id is checked before any call. What a cancel does not undo is said on stderr after
it (devices that already received the deployment keep it), so the JSON on stdout stays the AWS CLI's.
"""

from __future__ import annotations

import argparse
from typing import Any

from rollout_guard.documents import show
from rollout_guard.halts.deployments import NOT_UNDONE
from rollout_guard.iot_limits import DEPLOYMENT_ID

from .cancel import CancelInputError, DropIn, add_common_arguments, read_input, run_drop_in

INPUT_KEYS = ("deploymentId",)
INPUT_SKELETON = {"deploymentId": ""}
OUTPUT_SKELETON = {"message": "message"}
PROG = "rollout-guard cancel-deployment"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--deployment-id", help="the Greengrass v2 deployment to cancel")
    add_common_arguments(parser)


def build_request(args: argparse.Namespace) -> dict[str, Any]:
    """The CancelDeployment parameters from the input file and the option (the option wins), checked."""
    request: dict[str, Any] = {}
    for value, fmt in ((args.cli_input_json, "json"), (args.cli_input_yaml, "yaml")):
        if value is not None:
            request.update(read_input(value, fmt, INPUT_KEYS))
    if args.deployment_id is not None:
        request["deploymentId"] = args.deployment_id
    deployment_id = request.get("deploymentId")
    if deployment_id is None:
        raise CancelInputError("the following arguments are required: --deployment-id")
    if not isinstance(deployment_id, str) or not DEPLOYMENT_ID.fullmatch(deployment_id):
        raise CancelInputError(f"invalid --deployment-id {show(deployment_id)}: a deployment id (1 to 64 of a-z, "
                               "A-Z, 0-9 and -)")
    return request


def _send(args: argparse.Namespace, request: dict[str, Any]) -> dict[str, Any] | None:
    from rollout_guard.adapters.clients import make_client
    from rollout_guard.adapters.greengrass import GreengrassDeployments

    client = make_client("greengrassv2", region=args.region, endpoint_url=args.endpoint_url, profile=args.profile)
    message = GreengrassDeployments(client).cancel(request["deploymentId"])
    return {"message": message} if message else None  # the AWS CLI prints nothing for an empty answer


CANCEL_DEPLOYMENT = DropIn(PROG, "greengrassv2", "CancelDeployment", INPUT_SKELETON, OUTPUT_SKELETON, build_request,
                           _send, note=NOT_UNDONE)


def run(args: argparse.Namespace) -> int:
    return run_drop_in(CANCEL_DEPLOYMENT, args)
