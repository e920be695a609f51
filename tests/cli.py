"""`rollout-guard` as an operator runs it: arguments in; stdout, stderr and the exit code out.

`run` calls the command's `main` in this process, with the call's own environment, working folder and streams, so
a test sees exactly what the terminal would and pays no interpreter start-up (about 0.4 s of CPU a call). The
process boundary itself (the installed console script, several processes at once, an environment without
credentials, the drill) is tested through `run_process`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.conftest import ROOT

COMMAND = str(Path(sys.executable).parent / "rollout-guard")


def run(*args: str, env: Mapping[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """One command in this process; `env` is added to the test's environment for the call."""
    from rollout_guard_cli.in_process import run_captured
    from rollout_guard_cli.main import main

    with pytest.MonkeyPatch.context() as patch, _logging_kept(), warnings.catch_warnings():
        patch.chdir(cwd)
        code, out, err = run_captured(main, list(args), {**os.environ, **(env or {})})
    return subprocess.CompletedProcess([COMMAND, *args], code, out, err)


def run_process(*args: str, env: Mapping[str, str] | None = None, cwd: Path = ROOT,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """One command as its own process, through the installed console script."""
    return subprocess.run([COMMAND, *args], capture_output=True, text=True, env={**os.environ, **(env or {})},
                          cwd=cwd, timeout=timeout)


@contextlib.contextmanager
def _logging_kept() -> Iterator[None]:
    """The levels a command sets on its loggers (invoke silences the handler's) are put back afterwards."""
    loggers = [logging.getLogger(), *(found for found in logging.Logger.manager.loggerDict.values()
                                      if isinstance(found, logging.Logger))]
    levels = [(found, found.level) for found in loggers]
    try:
        yield
    finally:
        for found, level in levels:
            found.setLevel(level)
