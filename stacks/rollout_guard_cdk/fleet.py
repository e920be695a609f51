"""The fleet signal: IoT topic rules on the Jobs execution and lifecycle events (and, when a fleet rule names
Greengrass deployments, an EventBridge rule on their status changes), the fleet queue they fill (which the function
reads in batches, and where it schedules its own dark checks), and, when asked, the custom resource that turns IoT's
Jobs events on.

Topic rules reach SQS through a role that IoT assumes (scoped to this account's rules); a message the rule cannot
deliver goes to the fleet's error queue by the rule's error action; a message the function fails three times goes
there by the queue's redrive policy. The alerts' dead-letter queue holds alerts only.
"""

from __future__ import annotations

import typing

from aws_cdk import Aws, CfnElement, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk import custom_resources as cr
from constructs import Construct

from rollout_guard import settings
from rollout_guard.fleet.casualties import FAILURES
from rollout_guard.fleet.events import COMPONENT_STATUS, DEPLOYMENT_STATUS, GREENGRASS
from rollout_guard.halts.jobs import JobStatus

from .config import GuardConfig
from .delivery import MAX_EVENT_AGE, RETRY_ATTEMPTS, own_name
from .findings import acknowledge, skip_checkov

BATCH_SIZE = 10  # SQS's largest batch without a batching window, which would delay every halt
MAX_RECEIVES = 3
SQL_VERSION = "2016-03-23"
EXECUTION_STATUSES = (*FAILURES, JobStatus.SUCCEEDED)
JOB_EVENTS = {"JOB": {"Enabled": True}, "JOB_EXECUTION": {"Enabled": True}}
PROVIDER_ID = "AWS679f53fac002430cb0da5b7982bd2287"  # AwsCustomResource's singleton provider function
# The archive's objects: one folder a day (UTC), as `rollout-guard replay` takes a folder.
ARCHIVE_PREFIX = "fleet/!{timestamp:yyyy/MM/dd}/"
ARCHIVE_ERRORS = "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/"
ARCHIVE_BUFFER_S = 300
FLEET_ERRORS = "-fleet-errors"


def execution_sql() -> str:
    """IoT SQL over the guard's own constants (no outside input reaches it)."""
    wanted = " OR ".join(f"status = '{status}'" for status in EXECUTION_STATUSES)
    return f"SELECT *, topic() AS topic FROM '$aws/events/jobExecution/+/+' WHERE {wanted}"  # noqa: S608


PRESENCE_SQL = "SELECT *, topic() AS topic FROM '$aws/events/presence/+/+'"
# The `$package` reserved shadow's accepted updates: a watched device reporting another version than its job's.
PACKAGE_SQL = "SELECT *, topic() AS topic FROM '$aws/things/+/shadow/name/$package/update/accepted'"


class FleetSignal:
    """Not a construct of its own: its resources live in the guard's scope, so their logical ids stay stable."""

    def __init__(self, scope: Construct, config: GuardConfig, key: kms.IKey, function: lambda_.Function, function_timeout: Duration) -> None:
        self.scope = scope
        # What IoT could not put on the fleet queue (the topic rules' error action: IoT's error message with the
        # event in base64OriginalPayload), and the events the function failed MAX_RECEIVES times: fleet messages,
        # kept apart from the alerts' dead letters, which `rollout-guard invoke` replays.
        self.errors = sqs.Queue(
            scope, "FleetErrorQueue", queue_name=own_name(scope, FLEET_ERRORS),
            encryption=sqs.QueueEncryption.KMS, encryption_master_key=key, enforce_ssl=True,
            retention_period=Duration.days(14))
        acknowledge(self.errors, "SQS3", "This queue is itself the dead-letter queue of the fleet queue and of the "
                                         "topic rules' error action")
        self.queue = sqs.Queue(
            scope, "FleetQueue", queue_name=own_name(scope, "-fleet"),
            encryption=sqs.QueueEncryption.KMS, encryption_master_key=key, enforce_ssl=True,
            # AWS asks for six times the function's timeout, so a batch being handled is not delivered again.
            visibility_timeout=Duration.seconds(6 * function_timeout.to_seconds()),
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.errors, max_receive_count=MAX_RECEIVES),
        )
        # The trust is the IoT developer guide's for a rule's role ("Granting an AWS IoT rule the access it requires":
        # StringEquals aws:SourceAccount and ArnLike aws:SourceArn arn:aws:iot:<region>:<account>:rule/<rule>), over
        # this account's rules: CloudFormation names the topic rules, so no name is known before they exist.
        self.role = iam.Role(
            scope, "FleetRuleRole",
            description="rollout-guard: IoT topic rules put the fleet's events on the fleet queue",
            assumed_by=iam.ServicePrincipal("iot.amazonaws.com", conditions={
                "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                "ArnLike": {"aws:SourceArn": f"arn:{Aws.PARTITION}:iot:{Aws.REGION}:{Aws.ACCOUNT_ID}:rule/*"},
            }),
        )
        self.role.add_to_policy(iam.PolicyStatement(sid="SendFleetEvents", actions=["sqs:SendMessage"],
                                                    resources=[self.queue.queue_arn, self.errors.queue_arn]))
        self.role.add_to_policy(iam.PolicyStatement(sid="EncryptForTheQueues",
                                                    actions=["kms:GenerateDataKey*", "kms:Decrypt"],
                                                    resources=[key.key_arn]))
        acknowledge(self.role, "IAM5[Action::kms:GenerateDataKey*]",
                    "SQS needs a data key of the queues' own key to store an encrypted message; only that key")
        self.archive: firehose.CfnDeliveryStream | None = None
        self.bucket: s3.Bucket | None = None
        if config.fleet_archive:
            self.archive = self._archive(config, key)
        self.rules = [self._rule("JobExecutionRule", "Jobs execution events of every job", execution_sql(),
                                 self.errors)]
        if config.policy.dark_checks():  # lifecycle events only when some rule counts dark things
            self.rules.append(self._rule("PresenceRule", "Connects and disconnects of every device", PRESENCE_SQL,
                                         self.errors))
        if config.policy.watches():  # a rule that watches after success compares the devices' package versions
            self.rules.append(self._rule("PackageShadowRule", "the $package shadow's accepted updates of every "
                                         "device", PACKAGE_SQL, self.errors))
        self.event_rules = self._greengrass_rules(config)
        function.add_event_source(sources.SqsEventSource(self.queue, batch_size=BATCH_SIZE,
                                                         report_batch_item_failures=True,
                                                         max_concurrency=config.fleet_consumers))
        function.add_environment(settings.FLEET_IOT_RATE, f"{config.fleet_iot_rate_per_consumer():g}")
        self.queue.grant_send_messages(function)  # the dark checks it schedules
        function.add_environment(settings.FLEET_QUEUE, self.queue.queue_url)
        self.job_events = self._enable_job_events() if config.enable_job_events else None

    def _rule(self, construct_id: str, description: str, sql: str, errors: sqs.IQueue) -> iot.CfnTopicRule:
        def to(queue: sqs.IQueue) -> iot.CfnTopicRule.ActionProperty:
            return iot.CfnTopicRule.ActionProperty(sqs=iot.CfnTopicRule.SqsActionProperty(
                queue_url=queue.queue_url, role_arn=self.role.role_arn, use_base64=False))

        actions = [to(self.queue)]
        if self.archive is not None:  # one JSON object a line, as `rollout-guard replay` reads them
            actions.append(iot.CfnTopicRule.ActionProperty(firehose=iot.CfnTopicRule.FirehoseActionProperty(
                delivery_stream_name=self.archive.ref, role_arn=self.role.role_arn,
                separator="\n", batch_mode=False)))
        rule = iot.CfnTopicRule(self.scope, construct_id, topic_rule_payload=iot.CfnTopicRule.TopicRulePayloadProperty(
            description=f"rollout-guard fleet signal: {description}", sql=sql, aws_iot_sql_version=SQL_VERSION,
            rule_disabled=False, actions=actions, error_action=to(errors)))
        # The rule refers to the role only: without this it could be created before the role's grants, and refuse
        # the events of the first seconds after a deploy.
        rule.node.add_dependency(self.role.node.find_child("DefaultPolicy"))
        return rule

    def _greengrass_rules(self, config: GuardConfig) -> list[events.Rule]:
        """Greengrass v2's deployment and component status changes on the fleet queue, when a fleet rule names
        deployments: with the alerts' delivery guarantees (their retry policy, then the fleet's error queue) and,
        in `monitoring`, the same alarms as every other EventBridge rule of the guard."""
        if not any(rule.deployments is not None for rule in config.policy.fleet_rules()):
            return []
        # The queue as the target knows it, without its key: CDK would otherwise grant EventBridge the key with no
        # condition. The stack's key policy already lets EventBridge use it for this stack's queues only (by the
        # encryption context), and the queue policy below admits this rule alone.
        queue = sqs.Queue.from_queue_attributes(self.scope, "FleetQueueAsTarget", queue_arn=self.queue.queue_arn,
                                                queue_url=self.queue.queue_url)
        target = targets.SqsQueue(queue, dead_letter_queue=self.errors, retry_attempts=RETRY_ATTEMPTS,
                                  max_event_age=MAX_EVENT_AGE)
        rule = events.Rule(self.scope, "GreengrassStatusRule", targets=[target],
                           description="rollout-guard fleet signal: Greengrass v2 deployment and component status",
                           event_pattern=events.EventPattern(source=[GREENGRASS],
                                                             detail_type=[DEPLOYMENT_STATUS, COMPONENT_STATUS]))
        self.queue.add_to_resource_policy(iam.PolicyStatement(
            sid="GreengrassStatusEvents", principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["sqs:SendMessage"], resources=[self.queue.queue_arn],
            conditions={"ArnEquals": {"aws:SourceArn": rule.rule_arn}}))
        return [rule]

    def _archive(self, config: GuardConfig, key: kms.IKey) -> firehose.CfnDeliveryStream:
        """The fleet's events kept as gzip JSON lines in an encrypted bucket, expiring after the configured days."""
        bucket = s3.Bucket(
            self.scope, "FleetArchiveBucket", encryption=s3.BucketEncryption.KMS, encryption_key=key,
            bucket_key_enabled=True, block_public_access=s3.BlockPublicAccess.BLOCK_ALL, enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED, versioned=False,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(config.fleet_archive_days),
                                              abort_incomplete_multipart_upload_after=Duration.days(1))])
        no_access_log = ("the archive is written by Firehose alone and read by `rollout-guard replay`; CloudTrail data "
                         "events are where reads of it are audited when needed")
        acknowledge(bucket, "S1", no_access_log)
        skip_checkov(bucket, {"CKV_AWS_18": no_access_log,
                              "CKV_AWS_21": "objects are written once and expire: there is no version to keep"})
        role = iam.Role(
            self.scope, "FleetArchiveRole", description="rollout-guard: Firehose writes the fleet archive",
            assumed_by=iam.ServicePrincipal("firehose.amazonaws.com", conditions={
                "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}))
        # Firehose's documented permissions for an S3 destination, on this bucket and its objects only.
        role.add_to_policy(iam.PolicyStatement(sid="WriteArchive", actions=[
            "s3:AbortMultipartUpload", "s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket",
            "s3:ListBucketMultipartUploads", "s3:PutObject"], resources=[bucket.bucket_arn, f"{bucket.bucket_arn}/*"]))
        role.add_to_policy(iam.PolicyStatement(
            sid="EncryptArchive", actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[key.key_arn],
            # With an S3 Bucket Key the encryption context is the bucket's ARN; without, the object's.
            conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"},
                        "StringLike": {"kms:EncryptionContext:aws:s3:arn": [bucket.bucket_arn,
                                                                            f"{bucket.bucket_arn}/*"]}}))
        bucket_id = Stack.of(self.scope).get_logical_id(typing.cast(CfnElement, bucket.node.default_child))
        acknowledge(role, f"IAM5[Resource::<{bucket_id}.Arn>/*]",
                    "Firehose names each object it writes (a folder a day): the archive bucket's objects, no other")
        stream = firehose.CfnDeliveryStream(
            self.scope, "FleetArchiveStream", delivery_stream_type="DirectPut",
            delivery_stream_encryption_configuration_input=firehose.CfnDeliveryStream
            .DeliveryStreamEncryptionConfigurationInputProperty(key_type="AWS_OWNED_CMK"),
            extended_s3_destination_configuration=firehose.CfnDeliveryStream.ExtendedS3DestinationConfigurationProperty(
                bucket_arn=bucket.bucket_arn, role_arn=role.role_arn, compression_format="GZIP",
                prefix=ARCHIVE_PREFIX, error_output_prefix=ARCHIVE_ERRORS,
                buffering_hints=firehose.CfnDeliveryStream.BufferingHintsProperty(
                    interval_in_seconds=ARCHIVE_BUFFER_S, size_in_m_bs=64),
                encryption_configuration=firehose.CfnDeliveryStream.EncryptionConfigurationProperty(
                    kms_encryption_config=firehose.CfnDeliveryStream.KMSEncryptionConfigProperty(
                        awskms_key_arn=key.key_arn))))
        stream.node.add_dependency(role.node.find_child("DefaultPolicy"))  # its grants exist before Firehose writes
        self.bucket = bucket
        self.role.add_to_policy(iam.PolicyStatement(sid="ArchiveFleetEvents", actions=["firehose:PutRecord"],
                                                    resources=[stream.attr_arn]))
        return stream

    def _enable_job_events(self) -> cr.AwsCustomResource:
        """IoT's Jobs events are off until UpdateEventConfigurations turns them on (for the whole account and
        region, so they are left on when the stack goes)."""
        call = cr.AwsSdkCall(service="Iot", action="updateEventConfigurations",
                             parameters={"eventConfigurations": JOB_EVENTS},
                             physical_resource_id=cr.PhysicalResourceId.of("rollout-guard-job-events"))
        resource = cr.AwsCustomResource(
            self.scope, "EnableJobEvents", on_create=call, on_update=call, install_latest_aws_sdk=False,
            policy=cr.AwsCustomResourcePolicy.from_statements([iam.PolicyStatement(
                actions=["iot:UpdateEventConfigurations"], resources=["*"])]),
        )
        acknowledge(resource, "IAM5[Resource::*]", "iot:UpdateEventConfigurations has no resource type")
        # CDK's one provider function for every AwsCustomResource of the stack, made by CDK as it is.
        provider = Stack.of(self.scope).node.find_child(PROVIDER_ID)
        acknowledge(provider, "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                              "AWSLambdaBasicExecutionRole]",
                    "CDK's provider for AwsCustomResource writes its own logs through the basic execution role; it "
                    "runs only when the stack is deployed or updated")
        acknowledge(provider, "L1", "CDK's provider for AwsCustomResource runs the Node.js version this CDK release "
                                    "ships it with; it runs only when the stack is deployed or updated")
        return resource
