"""A command run in this process rather than its own: the drill's invokes and the CLI's tests, without a process's
start-up. The environment is swapped for the call's (boto3 and the settings read it), so one call at a time."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Callable, Mapping


def run_captured(command: Callable[[list[str]], int], argv: list[str],
                 env: Mapping[str, str]) -> tuple[int, str, str]:
    """`command` (a `main`) in this process with `env` as its whole environment for the call (the drill's invokes, the CLI's
    tests): its exit code (argparse's usage errors included), stdout and stderr, without a process's start-up."""
    out, err, saved = io.StringIO(), io.StringIO(), dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = command(argv)
            except SystemExit as stop:
                if isinstance(stop.code, str):
                    print(stop.code, file=sys.stderr)  # sys.exit("message"): Python prints it and exits 1
                code = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return code, out.getvalue(), err.getvalue()
