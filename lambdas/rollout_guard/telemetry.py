"""The function's Powertools Logger and Metrics, configured from the observability contract.

Logs go to stderr (Lambda ships both streams to CloudWatch Logs) so that stdout, where EMF metrics and the CLI's
result are printed, stays machine-readable. The log level comes from POWERTOOLS_LOG_LEVEL, which the stack sets from
the contract, so an operator can raise it without a deploy.
"""

from __future__ import annotations

import sys
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from rollout_guard.observability import NAMESPACE, SERVICE, Metric

logger = Logger(service=SERVICE, stream=sys.stderr)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def log(level: str, message: str, exc_info: bool = False, **fields: Any) -> None:
    """Log through Powertools, never failing the invocation: a log line can come after jobs were cancelled, and a
    field the formatter cannot serialise (nested too deeply, say) must not turn a halt into a retried failure."""
    emit = getattr(logger, level)
    try:
        emit(message, extra=fields, exc_info=exc_info, stacklevel=3)  # the location is the caller's
    except Exception as error:  # the formatter's errors are of many types; none may escape
        try:
            emit(message, extra={"unloggable_fields": sorted(fields), "log_error": type(error).__name__})
        except Exception:  # noqa: S110 (nothing is left to tell it to)
            pass


def count(metric: Metric, value: float = 1) -> None:
    metrics.add_metric(name=metric.value, unit=MetricUnit.Count, value=value)


def milliseconds(metric: Metric, value: float) -> None:
    metrics.add_metric(name=metric.value, unit=MetricUnit.Milliseconds, value=value)
