"""Delivery: how alerts reach the function, and where the ones it cannot take are kept.

The key, the dead-letter queue and the alert topic, then the routes to the function: EventBridge rules, topic
subscriptions, the optional alarm Lambda-action permission and Device Defender's publishing role, each with retries
and the dead-letter queue. Which principal writes where, and the statements that let it, are in the README's table
of delivery paths; tests/infrastructure/test_delivery_paths.py holds the template to it.
"""

from __future__ import annotations

from aws_cdk import Aws, CfnOutput, CfnRule, CfnRuleAssertion, Duration, Fn, Stack, Token
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from rollout_guard.halts.alert_kinds import (
    ALARM_STATE_CHANGE,
    CLOUDTRAIL_CALL,
    ESCALATION_DUE_TYPE,
    HALT_REQUESTED,
    OPERATOR_SOURCE,
    TIMER_SOURCE,
)

from . import outputs
from .config import ConfigError, GuardConfig
from .findings import acknowledge

# An alert that fails is retried by the platform, then kept in the dead-letter queue.
RETRY_ATTEMPTS = 2
MAX_EVENT_AGE = Duration.hours(1)


# SQS caps a queue's name at 80 characters, the shortest limit of the resources named after the stack; the longest
# suffix is "-dead-letters". A longer stack name fails the synth (a name CloudFormation shortened would fall outside
# the key policy's `<stack name>-*`, and EventBridge could no longer encrypt for that queue or topic).
QUEUE_NAME_MAX, LONGEST_SUFFIX = 80, "-dead-letters"
MAX_STACK_NAME = QUEUE_NAME_MAX - len(LONGEST_SUFFIX)


def own_name(scope: Construct, suffix: str) -> str:
    """The name of a queue or topic the key policy admits EventBridge to: the stack's name, then `suffix`."""
    stack_name = Stack.of(scope).stack_name
    if len(stack_name) > MAX_STACK_NAME:
        raise ValueError(f"stack name {stack_name!r} is {len(stack_name)} characters: the guard names its queues and "
                         f"topics after its stack, and SQS allows {QUEUE_NAME_MAX}, so at most {MAX_STACK_NAME}")
    return f"{stack_name}{suffix}"


def alarm_topic(scope: Construct, construct_id: str, key: kms.IKey, display_name: str, suffix: str) -> sns.Topic:
    """A topic encrypted with the stack's key, over TLS only, that CloudWatch alarms of this account may publish to
    (the key's CloudWatch statement lets them encrypt for it)."""
    topic = sns.Topic(scope, construct_id, master_key=key, enforce_ssl=True, display_name=display_name,
                      topic_name=own_name(scope, suffix))
    topic.add_to_resource_policy(iam.PolicyStatement(
        sid="CloudWatchAlarmsOfThisAccount",
        principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
        actions=["sns:Publish"], resources=[topic.topic_arn],
        conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
    ))
    return topic


def key_policy(key: kms.Key) -> None:
    """Per service, as each documents it. CloudWatch (alarm actions) and SNS (subscription dead letters) can be
    scoped to this account. EventBridge cannot: SNS's documentation says aws:SourceAccount, aws:SourceArn and
    aws:SourceOrgID are not supported in a key policy for EventBridge delivering to an encrypted topic, and
    whether its dead-letter sends carry them is undocumented. So EventBridge is scoped by the encryption context
    instead, to this stack's queues and topics (named after the stack: `own_name`)."""
    key.add_to_resource_policy(iam.PolicyStatement(
        sid="CloudWatchAndSnsOfThisAccount",
        principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com"), iam.ServicePrincipal("sns.amazonaws.com")],
        actions=["kms:Decrypt", "kms:GenerateDataKey*"],
        resources=["*"],
        conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
    ))
    own = f"{Aws.REGION}:{Aws.ACCOUNT_ID}:{Aws.STACK_NAME}-*"
    for sid, context_key, service in (("EventBridgeToThisStacksQueues", "aws:sqs:arn", "sqs"),
                                      ("EventBridgeToThisStacksTopics", "aws:sns:topicArn", "sns")):
        key.add_to_resource_policy(iam.PolicyStatement(
            sid=sid,
            principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],
            conditions={"StringLike": {f"kms:EncryptionContext:{context_key}":
                                       f"arn:{Aws.PARTITION}:{service}:{own}"}},
        ))


class Delivery:
    """Not a construct of its own: its resources live in the guard's scope, so their logical ids stay stable."""

    def __init__(self, scope: Construct, config: GuardConfig) -> None:
        self.scope = scope
        self.config = config
        self.rules: list[events.Rule] = []  # every EventBridge rule that targets the function
        self.subscribed_topics: list[sns.ITopic] = []  # every topic the function is subscribed to
        self.key = kms.Key(scope, "Key", enable_key_rotation=True,
                           description="rollout-guard: alert topic, operations topic and dead-letter queue")
        key_policy(self.key)
        self.dead_letter_queue = sqs.Queue(
            scope, "DeadLetterQueue", queue_name=own_name(scope, LONGEST_SUFFIX),
            encryption=sqs.QueueEncryption.KMS, encryption_master_key=self.key, enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(self.dead_letter_queue, "SQS3", "This queue is itself the dead-letter queue of the guard")
        self.topic = self._alert_topic()
        self.defender_role = self._defender_role() if config.handles_defender() else None

    def _alert_topic(self) -> sns.Topic:
        topic = alarm_topic(self.scope, "AlertTopic", self.key, "rollout-guard alerts", "-alerts")
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

    def _defender_role(self) -> iam.Role:
        """The role Device Defender assumes to publish violations to the alert topic (a role, not a service
        principal, per the Device Defender guide), scoped against the confused deputy to this account and to the
        security profiles the policy matches (aws:SourceArn `...:securityprofile/NAME`, per the same guide)."""
        profiles = [f"arn:{Aws.PARTITION}:iot:{Aws.REGION}:{Aws.ACCOUNT_ID}:securityprofile/{glob}"
                    for glob in self.config.security_profiles()]
        role = iam.Role(
            self.scope, "DefenderAlertRole",
            description="rollout-guard: Device Defender publishes violations to the alert topic",
            assumed_by=iam.ServicePrincipal("iot.amazonaws.com", conditions={
                "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                "ArnLike": {"aws:SourceArn": profiles},
            }),
        )
        role.add_to_policy(iam.PolicyStatement(sid="PublishViolations", actions=["sns:Publish"],
                                               resources=[self.topic.topic_arn]))
        role.add_to_policy(iam.PolicyStatement(sid="EncryptForTheTopic",
                                               actions=["kms:GenerateDataKey*", "kms:Decrypt"],
                                               resources=[self.key.key_arn]))
        acknowledge(role, "IAM5[Action::kms:GenerateDataKey*]",
                    "SNS needs a data key of the topic's own key to store an encrypted message; only that key")
        CfnOutput(Stack.of(self.scope), outputs.DEFENDER_ALERT_ROLE, value=role.role_arn,
                  description="roleArn of a security profile's SNS alert target (with AlertTopicArn)")
        return role

    def route_to(self, function: lambda_.IFunction) -> None:
        """Every configured path from an alert to the function."""
        config, scope = self.config, self.scope
        target = targets.LambdaFunction(function, dead_letter_queue=self.dead_letter_queue,
                                        retry_attempts=RETRY_ATTEMPTS, max_event_age=MAX_EVENT_AGE)
        for construct_id, description, pattern in _alert_rules(config):
            self.rules.append(events.Rule(scope, construct_id, description=description, event_pattern=pattern,
                                          targets=[target]))
        self._subscribe(self.topic, function)
        for index, arn in enumerate(config.alert_topic_arns):
            self._refuse_foreign(arn, index)
            self._subscribe(sns.Topic.from_topic_arn(scope, f"ExistingTopic{index}", arn), function)
        if config.alarm_lambda_action:
            for index, prefix in enumerate(config.alarm_name_prefixes):
                function.add_permission(
                    f"AlarmAction{index}",
                    principal=iam.ServicePrincipal("lambda.alarms.cloudwatch.amazonaws.com"),
                    source_account=Aws.ACCOUNT_ID,
                    source_arn=f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}:alarm:{prefix}*",
                )

    def _subscribe(self, topic: sns.ITopic, function: lambda_.IFunction) -> None:
        topic.add_subscription(subscriptions.LambdaSubscription(function, dead_letter_queue=self.dead_letter_queue))
        self.subscribed_topics.append(topic)

    def _refuse_foreign(self, arn: str, index: int) -> None:
        """An SNS subscription's dead-letter queue must be in the subscription's account and region, and the key
        refuses other accounts: a topic elsewhere could never deliver here. Refused at synth when the stack's
        environment is known, else by a template rule before CloudFormation creates anything."""
        region, account = arn.split(":")[3:5]
        stack = Stack.of(self.scope)
        if not Token.is_unresolved(stack.account) and not Token.is_unresolved(stack.region):
            if (account, region) != (stack.account, stack.region):
                raise ConfigError(f"alertTopicArns: {arn} is outside this stack's account {stack.account} and region "
                                  f"{stack.region}; an SNS subscription's dead-letter queue must be in its own")
            return
        CfnRule(stack, f"AlertTopic{index}InThisAccountAndRegion", assertions=[CfnRuleAssertion(
            assert_=Fn.condition_and(Fn.condition_equals(Aws.ACCOUNT_ID, account),
                                     Fn.condition_equals(Aws.REGION, region)),
            assert_description=f"alertTopicArns: {arn} must be in this stack's account and region (an SNS "
                               "subscription's dead-letter queue must be in its own)",
        )])


def _alert_rules(config: GuardConfig) -> list[tuple[str, str, events.EventPattern]]:
    """The EventBridge rules the configuration asks for, each routing to the function: (id, description, pattern)."""
    prefixes = [{"prefix": prefix} for prefix in config.alarm_name_prefixes]
    rules = []
    if prefixes:
        rules.append(("AlarmRule", "CloudWatch alarms of the rollout moving into ALARM with their actions running",
                      events.EventPattern(
                          source=["aws.cloudwatch"], detail_type=[ALARM_STATE_CHANGE],
                          # Exactly when CloudWatch runs the ALARM actions (decisions.inaction_reason says the
                          # same): into ALARM, not suppressed, from another state or from the end of a suppression.
                          detail={"alarmName": prefixes,
                                  "state": {"value": ["ALARM"], "actionsSuppressedBy": [{"exists": False}]},
                                  "$or": [{"previousState": {"value": [{"anything-but": ["ALARM"]}]}},
                                          {"previousState": {"actionsSuppressedBy": [{"exists": True}]}}]})))
    if prefixes and config.throttle_rules():
        # OK from any state: an alarm may go ALARM -> INSUFFICIENT_DATA -> OK (a throttled rollout makes fewer
        # data points), and that OK must restore too. An OK finding no throttle of its alarm changes nothing.
        rules.append(("AlarmRecoveredRule",
                      "CloudWatch alarms of the rollout back to OK from any state: a throttled job is restored",
                      events.EventPattern(source=["aws.cloudwatch"], detail_type=[ALARM_STATE_CHANGE],
                                          detail={"alarmName": prefixes, "state": {"value": ["OK"]}})))
    if config.watches_throttles():
        rules.append(("EscalationDueRule", "A throttle's timer fired: restore, cancel, forget or look again",
                      events.EventPattern(source=[TIMER_SOURCE], detail_type=[ESCALATION_DUE_TYPE])))
    if config.custom_event_sources:
        rules.append(("CustomAlertRule", "Alerts of the configured monitoring tools",
                      events.EventPattern(source=list(config.custom_event_sources))))
    if config.pre_start_gate:
        rules.append(("JobCreatedRule", "IoT CreateJob as CloudTrail records it: the pre-start gate (needs a trail)",
                      events.EventPattern(source=["aws.iot"], detail_type=[CLOUDTRAIL_CALL],
                                          detail={"eventSource": ["iot.amazonaws.com"], "eventName": ["CreateJob"],
                                                  "errorCode": [{"exists": False}]})))
    if config.handles_operator_halts():
        rules.append(("HaltRequestRule", "An operator's halt put on this bus, or forwarded from the control bus",
                      events.EventPattern(source=[OPERATOR_SOURCE], detail_type=[HALT_REQUESTED])))
    return rules
