"""Observability: the operations channel, the alarms and the dashboard.

Every alarm the stack makes acts on the operations topic, and every halt is announced there as one readable line
(an EventBridge rule with an input transformer over the guard's "Rollout Halted" events), so e-mail, or Slack and
Teams through AWS's chat integration, need no code. The function's own metrics are charted by the names it emits
(`rollout_guard.observability`, the one contract both sides import).
"""

from __future__ import annotations

import jsii
from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk.interfaces.aws_events import IRuleRef
from constructs import Construct

from rollout_guard.observability import (
    DIMENSIONS,
    HALTED_DETAIL_TYPE,
    HALTED_SOURCE,
    NAMESPACE,
    NOTICES,
    REGRESSED_DETAIL_TYPE,
    RESTORED_DETAIL_TYPE,
    REVERT_READY_DETAIL_TYPE,
    REVERTED_DETAIL_TYPE,
    THROTTLED_DETAIL_TYPE,
    Metric,
)

from .config import GuardConfig
from .delivery import MAX_EVENT_AGE, RETRY_ATTEMPTS, Delivery, alarm_topic
from .escalation import SCHEDULE_GROUP, EscalationTimer
from .fleet import FleetSignal

PERIOD = Duration.minutes(1)
# The dashboard's graphs: each metric of the contract is charted here, alarmed below, or listed in UNCHARTED.
GRAPHS: dict[str, list[tuple[Metric, str]]] = {
    "Alerts received": [(Metric.ALERTS_RECEIVED, "Sum"), (Metric.ALERTS_UNRECOGNISED, "Sum")],
    "Jobs": [(Metric.JOBS_CANCELLED, "Sum"), (Metric.JOBS_BLOCKED, "Sum"), (Metric.JOBS_FAILED, "Sum"),
             (Metric.JOBS_WOULD_CANCEL, "Sum"), (Metric.JOBS_ESCALATED, "Sum"), (Metric.JOBS_NOT_FOUND, "Sum")],
    "Throttled rollouts: throttled, restored, escalated, restores skipped, stale, timers not set": [
        (Metric.JOBS_THROTTLED, "Sum"), (Metric.JOBS_RESTORED, "Sum"), (Metric.THROTTLES_ESCALATED, "Sum"),
        (Metric.RESTORES_SKIPPED, "Sum"), (Metric.THROTTLES_STALE, "Sum"), (Metric.THROTTLE_TIMERS_FAILED, "Sum")],
    "Time to halt (ms, alarm state change to accepted CancelJob)": [(Metric.TIME_TO_HALT, "p50"),
                                                                     (Metric.TIME_TO_HALT, "Maximum")],
    "Guard health: announcements lost, kill switch on or unreadable, claims unavailable": [
        (Metric.HALT_EVENTS_FAILED, "Sum"), (Metric.KILL_SWITCH_ENGAGED, "Sum"), (Metric.KILL_SWITCH_UNREADABLE, "Sum"),
        (Metric.CLAIM_STORE_UNAVAILABLE, "Sum")],
    "Fleet signal: events, casualties counted, dark things discounted (outage), unmapped clients, gated jobs": [
        (Metric.FLEET_EVENTS_RECEIVED, "Sum"), (Metric.FLEET_EVENTS_UNRECOGNISED, "Sum"),
        (Metric.CASUALTIES_COUNTED, "Maximum"), (Metric.DARK_DISCOUNTED, "Sum"), (Metric.UNMAPPED_CLIENTS, "Sum"),
        (Metric.STILL_DARK_COUNTED, "Sum"), (Metric.CHECKS_WITHOUT_WATERMARK, "Sum"),
        (Metric.JOBS_GATED, "Sum")],
    "After the rollout: jobs regressed, reverts ready, created, failed": [
        (Metric.JOBS_REGRESSED, "Sum"), (Metric.REVERTS_READY, "Sum"), (Metric.REVERTS_CREATED, "Sum"),
        (Metric.REVERTS_FAILED, "Sum")],
}
# The fleet's events wait in the queue at most this long before an alarm says the fleet signal is late.
FLEET_QUEUE_AGE_S = 120
HALT_LINE = ("rollout-guard <action> job <jobId>: rule <rule>, reason <reasonCode>, <subject>")
# EventBridge Scheduler's own failures, by schedule group (its CloudWatch metrics page): the target refused, the
# invocation dropped after its retries, its dead letter not sent.
SCHEDULER_FAILURES = {"TargetErrorCount": "a throttle timer's target refused it (the bus)",
                      "InvocationDroppedCount": "a throttle timer was dropped after its retries",
                      "InvocationsFailedToBeSentToDeadLetterCount": "a throttle timer was lost: its dead letter "
                                                                    "could not be sent"}


def metric(name: Metric, statistic: str = "Sum") -> cloudwatch.Metric:
    return cloudwatch.Metric(namespace=NAMESPACE, metric_name=name.value, dimensions_map=DIMENSIONS,
                             statistic=statistic, period=PERIOD)


def rule_metric_query(metric: str, rule_name: str) -> str:
    """A Metrics Insights query adding up an AWS/IoT rule metric over every action type of one rule."""
    schema = 'SCHEMA("AWS/IoT", ActionType, RuleName)'
    return f"SELECT SUM({metric}) FROM {schema} WHERE RuleName = '{rule_name}'"  # noqa: S608 - constants, a Ref


def _aws_metric(namespace: str, name: str, dimensions: dict[str, str]) -> cloudwatch.Metric:
    return cloudwatch.Metric(namespace=namespace, metric_name=name, dimensions_map=dimensions, statistic="Sum",
                             period=PERIOD)


class Monitoring:
    """Not a construct of its own: its resources live in the guard's scope, so their logical ids stay stable."""

    def __init__(self, scope: Construct, config: GuardConfig, function: lambda_.Function, delivery: Delivery,
                 fleet: FleetSignal | None = None, timer: EscalationTimer | None = None) -> None:
        self.scope = scope
        self.fleet = fleet
        self.timer = timer
        self.operations_topic = self._operations_topic(config, delivery)
        self.dead_letter_queue = delivery.dead_letter_queue
        self.halt_rule = self._halt_rule()
        self.dead_letter_depth = delivery.dead_letter_queue.metric_approximate_number_of_messages_visible(
            period=PERIOD, statistic="Maximum")
        self.alarms = self._alarms(function, delivery)
        for alarm in self.alarms:
            alarm.add_alarm_action(actions.SnsAction(self.operations_topic))
        self.dashboard = self._dashboard()

    def _halt_rule(self) -> events.Rule:
        line = HALT_LINE
        for field in ("action", "jobId", "rule", "reasonCode", "subject"):
            line = line.replace(f"<{field}>", events.EventField.from_path(f"$.detail.{field}"))
        rule = events.Rule(
            self.scope, "HaltNotificationRule",
            description="One readable line on the operations topic per job the guard halted, throttled or restored, "
                        "or left throttled",
            event_pattern=events.EventPattern(source=[HALTED_SOURCE], detail_type=[
                HALTED_DETAIL_TYPE, THROTTLED_DETAIL_TYPE, RESTORED_DETAIL_TYPE, *NOTICES, REGRESSED_DETAIL_TYPE,
                REVERT_READY_DETAIL_TYPE, REVERTED_DETAIL_TYPE]),
            targets=[_TopicTarget(self.operations_topic, events.RuleTargetInput.from_text(line),
                                  self.dead_letter_queue)],
        )
        if isinstance(self.operations_topic, sns.Topic):  # a topic of this stack: its policy admits this rule only
            self.operations_topic.add_to_resource_policy(iam.PolicyStatement(
                sid="HaltLinesOfThisStack",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["sns:Publish"], resources=[self.operations_topic.topic_arn],
                conditions={"ArnEquals": {"aws:SourceArn": rule.rule_arn}},
            ))
        return rule

    def _operations_topic(self, config: GuardConfig, delivery: Delivery) -> sns.ITopic:
        topic: sns.ITopic
        if config.operations_topic_arn:
            topic = sns.Topic.from_topic_arn(self.scope, "ExistingOperationsTopic", config.operations_topic_arn)
        else:
            topic = alarm_topic(self.scope, "OperationsTopic", delivery.key, "rollout-guard operations",
                                "-operations")
        if config.operations_email:
            topic.add_subscription(subscriptions.EmailSubscription(config.operations_email))
        return topic

    def _alarms(self, function: lambda_.Function, delivery: Delivery) -> list[cloudwatch.Alarm]:
        scope = self.scope
        function_name = {"FunctionName": function.function_name}
        alarms = [
            _at_least_one(scope, "FunctionErrorsAlarm", "rollout-guard failed to handle an alert",
                          function.metric_errors(period=PERIOD, statistic="Sum")),
            _at_least_one(scope, "DeadLetterAlarm", "alerts the guard could not handle wait in its dead-letter queue",
                          self.dead_letter_depth),
            _at_least_one(scope, "FunctionThrottlesAlarm", "Lambda throttled the guard: alerts are delayed",
                          function.metric_throttles(period=PERIOD, statistic="Sum")),
            _at_least_one(scope, "DestinationDeliveryFailuresAlarm",
                          "a failed alert could not be sent to the dead-letter queue",
                          _aws_metric("AWS/Lambda", "DestinationDeliveryFailures", function_name)),
        ]
        for rule in [*delivery.rules, self.halt_rule, *(self.fleet.event_rules if self.fleet is not None else [])]:
            name = {"RuleName": rule.rule_name}
            alarms.append(_at_least_one(scope, f"{rule.node.id}FailedInvocationsAlarm",
                                        f"EventBridge rule {rule.node.id} failed to deliver to its target",
                                        _aws_metric("AWS/Events", "FailedInvocations", name)))
            alarms.append(_at_least_one(scope, f"{rule.node.id}DeadLetterFailuresAlarm",
                                        f"EventBridge rule {rule.node.id} lost an event: its dead-letter send failed",
                                        _aws_metric("AWS/Events", "InvocationsFailedToBeSentToDLQ", name)))
        alarms += [_at_least_one(scope, "RolloutRegressedAlarm", "a completed rollout regressed: its things failed "
                                 "within watch_after of their success; see the Rollout Regressed line, and approve "
                                 "or refuse its revert", metric(Metric.JOBS_REGRESSED)),
                   _at_least_one(scope, "RevertsFailedAlarm", "a revert could not be prepared or created",
                                 metric(Metric.REVERTS_FAILED))]
        if self.fleet is not None:
            alarms.append(cloudwatch.Alarm(
                scope, "FleetQueueAgeAlarm",
                alarm_description=f"the fleet's events waited over {FLEET_QUEUE_AGE_S} s: the fleet signal is late",
                metric=self.fleet.queue.metric_approximate_age_of_oldest_message(period=PERIOD,
                                                                                 statistic="Maximum"),
                threshold=FLEET_QUEUE_AGE_S, evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ))
            alarms += self._topic_rule_alarms(self.fleet)
            alarms.append(_at_least_one(scope, "FleetErrorsAlarm", "fleet messages IoT could not deliver, or the "
                                        "function could not handle, wait in the fleet's error queue",
                                        self.fleet.errors.metric_approximate_number_of_messages_visible(
                                            period=PERIOD, statistic="Maximum")))
        if self.timer is not None:
            alarms += self._timer_alarms(self.timer)
        for index, topic in enumerate(delivery.subscribed_topics):
            alarms.append(_at_least_one(scope, f"Subscription{index}RedriveFailuresAlarm",
                                        "an alert the topic could not deliver was lost: its dead-letter send failed",
                                        _aws_metric("AWS/SNS", "NumberOfNotificationsFailedToRedriveToDlq",
                                                    {"TopicName": topic.topic_name})))
        return alarms

    def _timer_alarms(self, timer: EscalationTimer) -> list[cloudwatch.Alarm]:
        """A throttle whose timer is lost is watched by nobody: the timers' dead letters, Scheduler's own failure
        metrics (the whole default group: another schedule's failure can fire them, never hide the guard's), and
        a throttle held past its rule's max_throttled."""
        scope = self.scope
        alarms = [
            _at_least_one(scope, "TimerDeadLetterAlarm", "a throttle timer Scheduler could not deliver waits in the "
                          "timers' dead-letter queue: its job is not watched",
                          timer.dead_letters.metric_approximate_number_of_messages_visible(period=PERIOD,
                                                                                           statistic="Maximum")),
            _at_least_one(scope, "ThrottleStaleAlarm", "a job has been throttled longer than its rule's max_throttled: "
                          "an operator should resume or halt it", metric(Metric.THROTTLES_STALE)),
        ]
        for name, what in SCHEDULER_FAILURES.items():
            alarms.append(_at_least_one(scope, f"Scheduler{name}Alarm", f"EventBridge Scheduler: {what}",
                                        _aws_metric("AWS/Scheduler", name, {"ScheduleGroup": SCHEDULE_GROUP})))
        return alarms

    def _topic_rule_alarms(self, fleet: FleetSignal) -> list[cloudwatch.Alarm]:
        """IoT publishes a rule's action failures (`Failure`) and its error action's (`ErrorActionFailure`) in
        AWS/IoT by RuleName and ActionType: a Metrics Insights query adds up every action type of the rule, so the
        alarm needs no guess of the action type's spelling."""
        alarms = []
        for rule in fleet.rules:
            for metric, what in (("Failure", "an action failed: events may be missing from the fleet queue"),
                                 ("ErrorActionFailure", "its error action failed too: events were lost")):
                query = cloudwatch.MathExpression(expression=rule_metric_query(metric, rule.ref), period=PERIOD,
                                                  using_metrics={}, label=f"{metric} of topic rule {rule.node.id}")
                alarms.append(_at_least_one(self.scope, f"{rule.node.id}{metric}Alarm",
                                            f"IoT topic rule {rule.node.id}: {what}", query))
        return alarms

    def _dashboard(self) -> cloudwatch.Dashboard:
        dashboard = cloudwatch.Dashboard(self.scope, "Dashboard",
                                         dashboard_name=f"rollout-guard-{Stack.of(self.scope).stack_name}")
        graphs = [cloudwatch.GraphWidget(title=title, left=[metric(name, statistic) for name, statistic in shown])
                  for title, shown in GRAPHS.items()]
        graphs.insert(3, cloudwatch.GraphWidget(title="Dead-letter queue depth", left=[self.dead_letter_depth]))
        for row in range(0, len(graphs), 2):
            dashboard.add_widgets(*graphs[row:row + 2])
        return dashboard


@jsii.implements(events.IRuleTarget)
class _TopicTarget:
    """An SNS topic as a rule target, without the grants CDK's `targets.SnsTopic` adds: for an encrypted topic
    those include an unconditioned key-policy statement for events.amazonaws.com, where this stack scopes
    EventBridge by encryption context (see delivery) and the topic policy by the rule's ARN."""

    def __init__(self, topic: sns.ITopic, message: events.RuleTargetInput, dead_letter_queue: sqs.IQueue):
        self.topic = topic
        self.message = message
        self.dead_letter_queue = dead_letter_queue

    def bind(self, rule: IRuleRef, id: str | None = None) -> events.RuleTargetConfig:  # noqa: A002 (jsii's name)
        self.dead_letter_queue.add_to_resource_policy(iam.PolicyStatement(
            sid="HaltLinesNotDelivered",
            principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["sqs:SendMessage"], resources=[self.dead_letter_queue.queue_arn],
            conditions={"ArnEquals": {"aws:SourceArn": rule.rule_ref.rule_arn}},
        ))
        return events.RuleTargetConfig(
            arn=self.topic.topic_arn, input=self.message,
            dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=self.dead_letter_queue.queue_arn),
            retry_policy=events.CfnRule.RetryPolicyProperty(
                maximum_retry_attempts=RETRY_ATTEMPTS, maximum_event_age_in_seconds=MAX_EVENT_AGE.to_seconds()),
        )


def _at_least_one(scope: Construct, construct_id: str, description: str,
                  watched: cloudwatch.IMetric) -> cloudwatch.Alarm:
    return cloudwatch.Alarm(
        scope, construct_id, alarm_description=description, metric=watched,
        threshold=1, evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
