"""Observability: the dashboard and the alarms, charting the function's metrics by the names the function emits
(`rollout_guard.observability`, the one contract both sides import)."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from rollout_guard.observability import DIMENSIONS, NAMESPACE, Metric

PERIOD = Duration.minutes(1)
# The dashboard's graphs: each metric of the contract is charted here, alarmed below, or listed in UNCHARTED.
GRAPHS: dict[str, list[tuple[Metric, str]]] = {
    "Alerts received": [(Metric.ALERTS_RECEIVED, "Sum"), (Metric.ALERTS_UNRECOGNISED, "Sum")],
    "Jobs": [(Metric.JOBS_CANCELLED, "Sum"), (Metric.JOBS_BLOCKED, "Sum"), (Metric.JOBS_FAILED, "Sum"),
             (Metric.JOBS_WOULD_CANCEL, "Sum"), (Metric.JOBS_ESCALATED, "Sum")],
    "Time to halt (ms, alarm state change to accepted CancelJob)": [(Metric.TIME_TO_HALT, "p50"),
                                                                     (Metric.TIME_TO_HALT, "Maximum")],
    "Guard health: announcements lost, kill switch on or unreadable": [
        (Metric.HALT_EVENTS_FAILED, "Sum"), (Metric.KILL_SWITCH_ENGAGED, "Sum"), (Metric.KILL_SWITCH_UNREADABLE, "Sum")],
}


def metric(name: Metric, statistic: str = "Sum") -> cloudwatch.Metric:
    return cloudwatch.Metric(namespace=NAMESPACE, metric_name=name.value, dimensions_map=DIMENSIONS,
                             statistic=statistic, period=PERIOD)


class Monitoring:
    """Not a construct of its own: its resources live in the guard's scope, so their logical ids stay stable."""

    def __init__(self, scope: Construct, function: lambda_.Function, dead_letter_queue: sqs.Queue) -> None:
        self.dead_letter_depth = dead_letter_queue.metric_approximate_number_of_messages_visible(
            period=PERIOD, statistic="Maximum")
        self.alarms = [
            _at_least_one(scope, "FunctionErrorsAlarm", "rollout-guard failed to handle an alert",
                          function.metric_errors(period=PERIOD, statistic="Sum")),
            _at_least_one(scope, "DeadLetterAlarm", "alerts the guard could not handle wait in its dead-letter queue",
                          self.dead_letter_depth),
        ]
        self.dashboard = cloudwatch.Dashboard(scope, "Dashboard",
                                              dashboard_name=f"rollout-guard-{Stack.of(scope).stack_name}")
        graphs = [cloudwatch.GraphWidget(title=title, left=[metric(name, statistic) for name, statistic in shown])
                  for title, shown in GRAPHS.items()]
        graphs.insert(3, cloudwatch.GraphWidget(title="Dead-letter queue depth", left=[self.dead_letter_depth]))
        for row in range(0, len(graphs), 2):
            self.dashboard.add_widgets(*graphs[row:row + 2])


def _at_least_one(scope: Construct, construct_id: str, description: str,
                  watched: cloudwatch.IMetric) -> cloudwatch.Alarm:
    return cloudwatch.Alarm(
        scope, construct_id, alarm_description=description, metric=watched,
        threshold=1, evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
