"""Delivery: how alerts reach the function, and where the ones it cannot take are kept.

The key, the dead-letter queue and the alert topic, then the routes to the function: EventBridge rules, topic
subscriptions and the alarm Lambda-action permission, each with retries and the dead-letter queue.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Aws, Duration, Validations
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from rollout_guard.alerts import ALARM_STATE_CHANGE

from .config import GuardConfig

# An alert that fails is retried by the platform, then kept in the dead-letter queue.
RETRY_ATTEMPTS = 2
MAX_EVENT_AGE = Duration.hours(1)


class Delivery:
    """Not a construct of its own: its resources live in the guard's scope, so their logical ids stay stable."""

    def __init__(self, scope: Construct, config: GuardConfig) -> None:
        self.scope = scope
        self.config = config
        self.key = kms.Key(scope, "Key", enable_key_rotation=True,
                           description="rollout-guard: alert topic and dead-letter queue")
        self.key.add_to_resource_policy(iam.PolicyStatement(
            sid="AlertSendersOfThisAccount",
            principals=[iam.ServicePrincipal(name) for name in
                        ("cloudwatch.amazonaws.com", "events.amazonaws.com", "sns.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],
            conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
        ))
        self.dead_letter_queue = sqs.Queue(
            scope, "DeadLetterQueue",
            encryption=sqs.QueueEncryption.KMS, encryption_master_key=self.key, enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        Validations.of(self.dead_letter_queue).acknowledge(Acknowledgment(
            id="AwsSolutions::AwsSolutions-SQS3", reason="This queue is itself the dead-letter queue of the guard"))
        self.topic = self._alert_topic()

    def _alert_topic(self) -> sns.Topic:
        topic = sns.Topic(self.scope, "AlertTopic", master_key=self.key, enforce_ssl=True,
                          display_name="rollout-guard alerts")
        topic.add_to_resource_policy(iam.PolicyStatement(
            sid="CloudWatchAlarmsOfThisAccount",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["sns:Publish"], resources=[topic.topic_arn],
            conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
        ))
        topic.add_to_resource_policy(iam.PolicyStatement(
            sid="PrincipalsOfThisAccount",
            principals=[iam.AccountRootPrincipal()],
            actions=["sns:Publish"], resources=[topic.topic_arn],
        ))
        topic.add_to_resource_policy(iam.PolicyStatement(
            sid="DenyPublishFromOutsideTheAccount",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=["sns:Publish"], resources=[topic.topic_arn],
            conditions={"StringNotEqualsIfExists": {"aws:SourceAccount": Aws.ACCOUNT_ID,
                                                    "aws:PrincipalAccount": Aws.ACCOUNT_ID}},
        ))
        return topic

    def route_to(self, function: lambda_.IFunction) -> None:
        """Every configured path from an alert to the function."""
        config, scope = self.config, self.scope
        target = targets.LambdaFunction(function, dead_letter_queue=self.dead_letter_queue,
                                        retry_attempts=RETRY_ATTEMPTS, max_event_age=MAX_EVENT_AGE)
        if config.alarm_name_prefixes:
            events.Rule(
                scope, "AlarmRule",
                description="CloudWatch alarms of the rollout moving into ALARM",
                event_pattern=events.EventPattern(
                    source=["aws.cloudwatch"],
                    detail_type=[ALARM_STATE_CHANGE],
                    detail={
                        "alarmName": [{"prefix": prefix} for prefix in config.alarm_name_prefixes],
                        "state": {"value": ["ALARM"]},
                        "previousState": {"value": [{"anything-but": ["ALARM"]}]},
                    },
                ),
                targets=[target],
            )
        if config.custom_event_sources:
            events.Rule(
                scope, "CustomAlertRule",
                description="Alerts of the configured monitoring tools",
                event_pattern=events.EventPattern(source=list(config.custom_event_sources)),
                targets=[target],
            )
        self.topic.add_subscription(
            subscriptions.LambdaSubscription(function, dead_letter_queue=self.dead_letter_queue))
        for index, arn in enumerate(config.alert_topic_arns):
            sns.Topic.from_topic_arn(scope, f"ExistingTopic{index}", arn).add_subscription(
                subscriptions.LambdaSubscription(function, dead_letter_queue=self.dead_letter_queue))
        if config.alarm_lambda_action:
            for index, prefix in enumerate(config.alarm_name_prefixes):
                function.add_permission(
                    f"AlarmAction{index}",
                    principal=iam.ServicePrincipal("lambda.alarms.cloudwatch.amazonaws.com"),
                    source_account=Aws.ACCOUNT_ID,
                    source_arn=f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}:alarm:{prefix}*",
                )
