"""The Lambda entry point: Powertools' decorators and one call into the runtime (see `runtime` for what it does)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from functools import cache
from typing import Any

from .runtime import HaltIncomplete, Runtime, build_runtime
from .settings import Settings
from .telemetry import logger, metrics

__all__ = ["HaltIncomplete", "default_runtime", "lambda_handler"]

# Stop starting calls while a retried call could still finish before the timeout; what is left is reported failed,
# and the platform's retry of the alert finishes it.
SAFETY_MARGIN_S = 10.0


@cache
def default_runtime() -> Runtime:
    """The function's own runtime, built once per execution environment at the first invocation (not at import)."""
    return build_runtime(Settings.from_env(os.environ))


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: Any, context: Any, runtime: Runtime | None = None) -> dict[str, Any]:
    """The function's handler; the CLI and tests pass a runtime built from their own settings."""
    return (runtime or default_runtime()).handle(event, deadline(context))


def deadline(context: Any) -> Callable[[], bool]:
    """`out_of_time()` for this invocation."""
    end = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - SAFETY_MARGIN_S
    return lambda: time.monotonic() > end
