"""The Lambda entry point: Powertools' decorators and one call into the runtime (see `runtime` for what it does)."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from .runtime import HaltIncomplete, Runtime, build_runtime
from .settings import Settings
from .telemetry import logger, metrics

__all__ = ["HaltIncomplete", "default_runtime", "lambda_handler"]


@cache
def default_runtime() -> Runtime:
    """The function's own runtime, built once per execution environment at the first invocation (not at import)."""
    return build_runtime(Settings.from_env(os.environ))


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: Any, context: Any, runtime: Runtime | None = None) -> dict[str, Any]:
    """The function's handler; the CLI and tests pass a runtime built from their own settings."""
    return (runtime or default_runtime()).handle(event, context)
