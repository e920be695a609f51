"""`RolloutGuard`: everything the guard needs in an account, as one construct a user can drop into any CDK app."""

from __future__ import annotations

from aws_cdk import (
    Acknowledgment,
    AssetHashType,
    Aws,
    BundlingOptions,
    DockerImage,
    Duration,
    RemovalPolicy,
    Stack,
    Validations,
)
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from rollout_guard import settings

from .asset import PLATFORM, POLICY_NAME, PYTHON_VERSION, ROOT
from .bundling import LocalPipBundling
from .config import GuardConfig

RUNTIME = lambda_.Runtime.PYTHON_3_14  # the asset is built for PYTHON_VERSION: keep the two in step
METRICS_NAMESPACE = "RolloutGuard"
SERVICE = "rollout-guard"
ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"
# Delivery: an alert that fails is retried by the platform, then kept in the dead-letter queue.
RETRY_ATTEMPTS = 2
MAX_EVENT_AGE = Duration.hours(1)


class RolloutGuard(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: GuardConfig) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.key = kms.Key(self, "Key", enable_key_rotation=True,
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
            self, "DeadLetterQueue",
            encryption=sqs.QueueEncryption.KMS, encryption_master_key=self.key, enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.dead_letter_depth = self.dead_letter_queue.metric_approximate_number_of_messages_visible(
            period=Duration.minutes(1), statistic="Maximum")
        self.topic = self._alert_topic()
        self.log_group = logs.LogGroup(self, "Logs", retention=logs.RetentionDays.ONE_MONTH,
                                       removal_policy=RemovalPolicy.RETAIN)
        self.log_group.node.default_child.retention_in_days = config.log_retention_days
        self.function = self._function()
        self._routing()
        self.alarms = self._alarms()
        self.dashboard = self._dashboard()
        self._nag_suppressions()

    # --- delivery -------------------------------------------------------------------------------------------

    def _alert_topic(self) -> sns.Topic:
        topic = sns.Topic(self, "AlertTopic", master_key=self.key, enforce_ssl=True,
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

    def _function(self) -> lambda_.Function:
        config = self.config
        code = lambda_.Code.from_asset(
            str(ROOT / "lambdas"),
            asset_hash_type=AssetHashType.OUTPUT,
            bundling=BundlingOptions(
                # Never pulled: local bundling always succeeds or fails the synth.
                image=DockerImage.from_registry("local-bundling-only"),
                local=LocalPipBundling(config.policy_document, PYTHON_VERSION, PLATFORM),
            ),
        )
        role = iam.Role(self, "FunctionRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                        description="rollout-guard: cancel the IoT jobs its policy names, nothing else")
        function = lambda_.Function(
            self, "Function",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler="rollout_guard.handler.lambda_handler",
            code=code,
            role=role,
            memory_size=256,
            timeout=Duration.seconds(60),
            tracing=lambda_.Tracing.ACTIVE if config.tracing else lambda_.Tracing.DISABLED,
            log_group=self.log_group,
            # IoT allows about 10 CancelJob and DescribeJob requests a second; a few concurrent instances stay
            # under that, and botocore's retries absorb the rest.
            reserved_concurrent_executions=config.reserved_concurrency,
            retry_attempts=RETRY_ATTEMPTS,
            max_event_age=MAX_EVENT_AGE,
            on_failure=destinations.SqsDestination(self.dead_letter_queue),
            environment={
                settings.POLICY_FILE: f"/var/task/{POLICY_NAME}",
                settings.DRY_RUN: "true" if config.dry_run else "false",
                settings.EVENT_BUS: "default",
                settings.TRACING: "true" if config.tracing else "false",
                settings.DEAD_LETTER_QUEUE: self.dead_letter_queue.queue_url,
                **({settings.KILL_SWITCH: config.kill_switch_parameter} if config.kill_switch_parameter else {}),
                "POWERTOOLS_SERVICE_NAME": SERVICE,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": "INFO",
            },
        )
        self._grant_least_privilege(role)
        # The function reaches its role through GetAtt already; CDK's extra DependsOn on the role is redundant
        # (cfn-lint W3005). Keep only the wait for the role's policy, which nothing else orders.
        default_policy = role.node.find_child("DefaultPolicy").node.default_child
        function.node.default_child.add_override("DependsOn", [Stack.of(self).get_logical_id(default_policy)])
        return function

    def job_arns(self) -> list[str]:
        globs = self.config.job_globs()
        prefix = f"arn:{Aws.PARTITION}:iot:{Aws.REGION}:{Aws.ACCOUNT_ID}:job/"
        return [prefix + "*"] if globs is None else [prefix + glob for glob in globs]

    def _grant_least_privilege(self, role: iam.Role) -> None:
        config = self.config
        role.add_to_policy(iam.PolicyStatement(
            sid="WriteOwnLogs", actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[self.log_group.log_group_arn],
        ))
        role.add_to_policy(iam.PolicyStatement(sid="ConfirmJobs", actions=["iot:DescribeJob"],
                                               resources=self.job_arns()))
        conditions = None
        if config.job_tag_key:
            conditions = {"StringEquals": {f"aws:ResourceTag/{config.job_tag_key}": config.job_tag_value}}
        role.add_to_policy(iam.PolicyStatement(sid="CancelPolicyJobs", actions=["iot:CancelJob"],
                                               resources=self.job_arns(), conditions=conditions))
        if config.needs_listing():
            role.add_to_policy(iam.PolicyStatement(sid="ListActiveJobs", actions=["iot:ListJobs"], resources=["*"]))
        if config.handles_defender():
            role.add_to_policy(iam.PolicyStatement(
                sid="JobsOfViolatingThing", actions=["iot:ListJobExecutionsForThing"],
                resources=[f"arn:{Aws.PARTITION}:iot:{Aws.REGION}:{Aws.ACCOUNT_ID}:thing/*"],
            ))
        if config.escalates():
            role.add_to_policy(iam.PolicyStatement(
                sid="FindExecutionsLeftRunning", actions=["iot:ListJobExecutionsForJob"], resources=self.job_arns()))
            role.add_to_policy(iam.PolicyStatement(
                sid="ForceExecutionsLeftRunning", actions=["iot:CancelJobExecution"],
                resources=[*self.job_arns(), f"arn:{Aws.PARTITION}:iot:{Aws.REGION}:{Aws.ACCOUNT_ID}:thing/*"],
            ))
        if config.kill_switch_parameter:
            role.add_to_policy(iam.PolicyStatement(
                sid="ReadKillSwitch", actions=["ssm:GetParameter"],
                resources=[f"arn:{Aws.PARTITION}:ssm:{Aws.REGION}:{Aws.ACCOUNT_ID}:parameter"
                           f"{config.kill_switch_parameter}"],
            ))
        role.add_to_policy(iam.PolicyStatement(
            sid="AnnounceHalts", actions=["events:PutEvents"],
            resources=[f"arn:{Aws.PARTITION}:events:{Aws.REGION}:{Aws.ACCOUNT_ID}:event-bus/default"],
        ))

    def _routing(self) -> None:
        config = self.config
        target = targets.LambdaFunction(self.function, dead_letter_queue=self.dead_letter_queue,
                                        retry_attempts=RETRY_ATTEMPTS, max_event_age=MAX_EVENT_AGE)
        if config.alarm_name_prefixes:
            self.alarm_rule = events.Rule(
                self, "AlarmRule",
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
            self.custom_rule = events.Rule(
                self, "CustomAlertRule",
                description="Alerts of the configured monitoring tools",
                event_pattern=events.EventPattern(source=list(config.custom_event_sources)),
                targets=[target],
            )
        subscription = subscriptions.LambdaSubscription(self.function, dead_letter_queue=self.dead_letter_queue)
        self.topic.add_subscription(subscription)
        for index, arn in enumerate(config.alert_topic_arns):
            sns.Topic.from_topic_arn(self, f"ExistingTopic{index}", arn).add_subscription(
                subscriptions.LambdaSubscription(self.function, dead_letter_queue=self.dead_letter_queue))
        if config.alarm_lambda_action:
            for index, prefix in enumerate(config.alarm_name_prefixes):
                self.function.add_permission(
                    f"AlarmAction{index}",
                    principal=iam.ServicePrincipal("lambda.alarms.cloudwatch.amazonaws.com"),
                    source_account=Aws.ACCOUNT_ID,
                    source_arn=f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}:alarm:{prefix}*",
                )

    # --- observability --------------------------------------------------------------------------------------

    def metric(self, name: str, statistic: str = "Sum") -> cloudwatch.Metric:
        return cloudwatch.Metric(namespace=METRICS_NAMESPACE, metric_name=name, dimensions_map={"service": SERVICE},
                                 statistic=statistic, period=Duration.minutes(1))

    def _alarms(self) -> list[cloudwatch.Alarm]:
        errors = cloudwatch.Alarm(
            self, "FunctionErrorsAlarm", alarm_description="rollout-guard failed to handle an alert",
            metric=self.function.metric_errors(period=Duration.minutes(1), statistic="Sum"),
            threshold=1, evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        dead_letters = cloudwatch.Alarm(
            self, "DeadLetterAlarm", alarm_description="alerts the guard could not handle wait in its dead-letter queue",
            metric=self.dead_letter_depth,
            threshold=1, evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        return [errors, dead_letters]

    def _dashboard(self) -> cloudwatch.Dashboard:
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=f"rollout-guard-{Stack.of(self).stack_name}")
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Alerts received", left=[self.metric("AlertsReceived"),
                                                                   self.metric("AlertsUnrecognised")]),
            cloudwatch.GraphWidget(title="Jobs", left=[self.metric("JobsCancelled"), self.metric("JobsBlocked"),
                                                       self.metric("JobsFailed"), self.metric("JobsWouldCancel"),
                                                       self.metric("JobsEscalated")]),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Time to halt (ms, alarm state change to accepted CancelJob)",
                                   left=[self.metric("TimeToHalt", "p50"), self.metric("TimeToHalt", "Maximum")]),
            cloudwatch.GraphWidget(title="Dead-letter queue depth",
                                   left=[self.dead_letter_depth]),
        )
        return dashboard

    def _nag_suppressions(self) -> None:
        """Each acknowledged cdk-nag finding, with why it is right here."""
        arn = "arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>"
        globs = self.config.job_globs()
        role_findings = {
            f"IAM5[Resource::{arn}:job/{glob}]": "CancelJob and DescribeJob are limited to the job ARNs that match the "
            "policy's jobs globs, the narrowest way a rule names its rollouts"
            for glob in (globs if globs is not None else ("*",))
        }
        role_findings["IAM5[Resource::*]"] = (
            "IoT ListJobs (and, with tracing on, X-Ray PutTraceSegments/PutTelemetryRecords) support no "
            "resource-level permissions")
        for action in ("kms:ReEncrypt*", "kms:GenerateDataKey*"):
            role_findings[f"IAM5[Action::{action}]"] = (
                "CDK's grant to send failed alerts to the dead-letter queue, which this stack's own key encrypts; "
                "the statement names only that key")
        if self.config.handles_defender() or self.config.escalates():
            role_findings[f"IAM5[Resource::{arn}:thing/*]"] = (
                "A Device Defender violation, or a job being escalated, can involve any thing of the account; on "
                "things only ListJobExecutionsForThing and CancelJobExecution (on the policy's jobs) are allowed")
        for finding, reason in role_findings.items():
            Validations.of(self.function.role).acknowledge(
                Acknowledgment(id=f"AwsSolutions::AwsSolutions-{finding}", reason=reason))
        Validations.of(self.dead_letter_queue).acknowledge(Acknowledgment(
            id="AwsSolutions::AwsSolutions-SQS3", reason="This queue is itself the dead-letter queue of the guard"))
