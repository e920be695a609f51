"""One observability contract (rollout_guard.observability): what the function emits is what the stack charts and
alarms, by the same names, namespace and dimensions."""

from __future__ import annotations

import ast
import json

from rollout_guard.observability import DIMENSIONS, NAMESPACE, SERVICE, UNCHARTED, Metric
from tests.conftest import IN_THE_CDK_WORKER, ROOT
from tests.infrastructure.cfn import one, render, resources

pytestmark = IN_THE_CDK_WORKER

RUNTIME = ROOT / "lambdas" / "rollout_guard"


def emitted_metrics() -> set[str]:
    """Every contract metric the function's code names (the contract module itself aside)."""
    found = set()
    for path in RUNTIME.rglob("*.py"):
        if path.name == "observability.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Metric":
                found.add(Metric[node.attr].value)
    return found


def dashboard_metrics(template: dict) -> list[list]:
    _, dashboard = one(template, "AWS::CloudWatch::Dashboard")
    body = json.loads(render(dashboard["DashboardBody"]))
    return [row for widget in body["widgets"] for row in widget["properties"].get("metrics", [])]


def charted(template: dict) -> set[str]:
    return {row[1] for row in dashboard_metrics(template) if row[0] == NAMESPACE}


def alarmed(template: dict) -> set[str]:
    return {alarm["MetricName"] for alarm in resources(template, "AWS::CloudWatch::Alarm").values()
            if alarm.get("Namespace") == NAMESPACE}


def test_metrics_are_emitted_only_through_the_contract():
    literal_names = [
        (path.name, node.lineno) for path in RUNTIME.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_metric"
        and any(isinstance(k.value, ast.Constant) for k in node.keywords if k.arg == "name")
    ]

    assert literal_names == []
    assert emitted_metrics() == {metric.value for metric in Metric}  # and every name of the contract is used


def test_the_dashboard_and_alarms_name_only_metrics_the_function_emits(template):
    assert (charted(template) | alarmed(template)) <= emitted_metrics()


def test_every_emitted_metric_is_charted_alarmed_or_has_a_stated_reason(template):
    unwatched = emitted_metrics() - charted(template) - alarmed(template)

    assert unwatched == {metric.value for metric in UNCHARTED}
    assert all(reason.strip() for reason in UNCHARTED.values())


def test_the_dashboard_uses_the_contract_namespace_and_dimensions(template):
    rows = [row for row in dashboard_metrics(template) if row[0] == NAMESPACE]

    assert rows and all(dict(zip(row[2:4:2], row[3:5:2], strict=True)) == DIMENSIONS for row in rows)


def test_powertools_is_configured_from_the_contract_only(template):
    from rollout_guard.telemetry import logger, metrics

    _, function = one(template, "AWS::Lambda::Function")
    variables = function["Environment"]["Variables"]
    assert "POWERTOOLS_SERVICE_NAME" not in variables and "POWERTOOLS_METRICS_NAMESPACE" not in variables
    assert logger.service == SERVICE
    assert metrics.namespace == NAMESPACE and metrics.service == SERVICE
