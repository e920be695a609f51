"""The Lambda entry point: Powertools' decorators and one call into the runtime (see `runtime` for what it does)."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from typing import Any

from rollout_guard.alert_path import HaltIncomplete
from rollout_guard.bootstrap import build_runtime
from rollout_guard.fleet_path import FleetBatch
from rollout_guard.runtime import Runtime
from rollout_guard.settings import Settings
from rollout_guard.telemetry import logger, metrics

__all__ = ["FleetBatch", "HaltIncomplete", "default_runtime", "invoke", "invoke_fleet", "lambda_handler"]


@cache
def default_runtime() -> Runtime:
    """The function's own runtime, built once per execution environment at the first invocation (not at import)."""
    return build_runtime(Settings.from_env(os.environ))


def _instrumented(function: Callable[..., Any]) -> Callable[..., Any]:
    """Powertools' logger context and metrics around one invocation."""
    return metrics.log_metrics(logger.inject_lambda_context(clear_state=True)(function))


@_instrumented
def lambda_handler(event: Any, context: Any, runtime: Runtime | None = None) -> dict[str, Any]:
    """The function's handler: an alert's result, or SQS's answer to a batch of fleet events."""
    runtime = runtime or default_runtime()
    if runtime.carries_fleet_events(event):
        return runtime.fleet(event, context).answer
    return runtime.alert(event, context)


@_instrumented
def invoke(event: Any, context: Any, runtime: Runtime) -> dict[str, Any]:
    """An alert for the CLI and the tests, whose runtime is built from their own settings: its result."""
    return runtime.alert(event, context)


@_instrumented
def invoke_fleet(event: Any, context: Any, runtime: Runtime) -> FleetBatch:
    """A batch of fleet events (or one bare event) for the CLI, the simulator and the tests: SQS's answer, and each
    job's evaluation."""
    return runtime.fleet(event, context)
