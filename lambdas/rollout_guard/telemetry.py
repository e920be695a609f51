"""The function's Powertools Logger and Metrics, configured from the observability contract.

Logs go to stderr (Lambda ships both streams to CloudWatch Logs) so that stdout, where EMF metrics and the CLI's
result are printed, stays machine-readable. The log level comes from POWERTOOLS_LOG_LEVEL, which the stack sets from
the contract, so an operator can raise it without a deploy.
"""

from __future__ import annotations

import sys

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from .observability import NAMESPACE, SERVICE, Metric

logger = Logger(service=SERVICE, stream=sys.stderr)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def count(metric: Metric, value: float = 1) -> None:
    metrics.add_metric(name=metric.value, unit=MetricUnit.Count, value=value)


def milliseconds(metric: Metric, value: float) -> None:
    metrics.add_metric(name=metric.value, unit=MetricUnit.Milliseconds, value=value)
