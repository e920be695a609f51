"""The Lambda entry point: Powertools' decorators and one call into the runtime (see `runtime` for what it does)."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from typing import Any

from rollout_guard.bootstrap import build_runtime
from rollout_guard.runtime import FleetBatch, HaltIncomplete, Runtime
from rollout_guard.settings import Settings
from rollout_guard.telemetry import logger, metrics

__all__ = ["FleetBatch", "HaltIncomplete", "default_runtime", "invoke", "lambda_handler"]


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
    handled = (runtime or default_runtime()).handle(event, context)
    return handled.answer if isinstance(handled, FleetBatch) else handled


@_instrumented
def invoke(event: Any, context: Any, runtime: Runtime) -> dict[str, Any] | FleetBatch:
    """The same invocation for the CLI, the simulator and the tests, whose runtime is built from their own settings:
    a batch of fleet events answers with its evaluations too."""
    return runtime.handle(event, context)
