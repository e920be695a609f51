"""The pre-start gate's trail (`gateTrail: true`): the gate hears IoT's CreateJob only where a CloudTrail trail logs
management events in the region. A trail of write management events (CreateJob is one; reads, most of an account's
calls, are left out), in this region, its log files validated, encrypted with the stack's key, into a bucket of its
own that is TLS only, private and expiring. CloudTrail reaches the bucket and the key as its documentation asks,
scoped by `aws:SourceArn` to this trail (the confused-deputy condition), so the trail has a name."""

from __future__ import annotations

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from .config import GuardConfig
from .findings import acknowledge, skip_checkov

CLOUDTRAIL = iam.ServicePrincipal("cloudtrail.amazonaws.com")


class GateTrail:
    """Not a construct of its own: its resources live in the guard's scope, like the others'."""

    def __init__(self, scope: Construct, config: GuardConfig, key: kms.Key) -> None:
        name = f"{Stack.of(scope).stack_name}-gate"
        arn = f"arn:{Aws.PARTITION}:cloudtrail:{Aws.REGION}:{Aws.ACCOUNT_ID}:trail/{name}"
        self.bucket = self._bucket(scope, config, key, arn)
        key.add_to_resource_policy(iam.PolicyStatement(
            sid="CloudTrailOfTheGate", principals=[CLOUDTRAIL], actions=["kms:GenerateDataKey*"],
            resources=["*"], conditions={
                "StringEquals": {"aws:SourceArn": arn},
                "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn":
                               f"arn:{Aws.PARTITION}:cloudtrail:*:{Aws.ACCOUNT_ID}:trail/*"}}))
        key.add_to_resource_policy(iam.PolicyStatement(
            sid="CloudTrailOfTheGateDescribesTheKey", principals=[CLOUDTRAIL], actions=["kms:DescribeKey"],
            resources=["*"], conditions={"StringEquals": {"aws:SourceArn": arn}}))
        self.trail = cloudtrail.CfnTrail(
            scope, "GateTrail", trail_name=name, is_logging=True, s3_bucket_name=self.bucket.bucket_name,
            kms_key_id=key.key_arn, enable_log_file_validation=True, include_global_service_events=False,
            is_multi_region_trail=False, event_selectors=[cloudtrail.CfnTrail.EventSelectorProperty(
                include_management_events=True, read_write_type="WriteOnly")])
        self.trail.node.add_dependency(self.bucket.policy or self.bucket)  # CloudTrail checks the policy at create
        skip_checkov(self.trail, {"CKV_AWS_67": "the gate listens in its own region: a multi-region trail would copy "
                                                "every region's write events into this bucket for nothing"})

    @staticmethod
    def _bucket(scope: Construct, config: GuardConfig, key: kms.Key, trail_arn: str) -> s3.Bucket:
        bucket = s3.Bucket(
            # No S3 Bucket Key: CloudTrail's documented key policy assumes none (with one, it also needs
            # kms:Decrypt to create the trail), and a bucket of a few files an hour saves nothing by it.
            scope, "GateTrailBucket", encryption=s3.BucketEncryption.KMS, encryption_key=key, bucket_key_enabled=False,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL, enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(config.gate_trail_days))])
        bucket.add_to_resource_policy(iam.PolicyStatement(
            sid="CloudTrailReadsTheAcl", principals=[CLOUDTRAIL], actions=["s3:GetBucketAcl"],
            resources=[bucket.bucket_arn], conditions={"StringEquals": {"aws:SourceArn": trail_arn}}))
        bucket.add_to_resource_policy(iam.PolicyStatement(
            sid="CloudTrailWritesTheLogs", principals=[CLOUDTRAIL], actions=["s3:PutObject"],
            resources=[f"{bucket.bucket_arn}/AWSLogs/{Aws.ACCOUNT_ID}/*"],
            conditions={"StringEquals": {"aws:SourceArn": trail_arn, "s3:x-amz-acl": "bucket-owner-full-control"}}))
        no_access_log = ("the trail's bucket is written by CloudTrail alone; its log files are validated by digest, "
                         "and reads of it are CloudTrail data events where wanted")
        acknowledge(bucket, "S1", no_access_log)
        skip_checkov(bucket, {"CKV_AWS_18": no_access_log,
                              "CKV_AWS_21": "log files are written once, validated by digest, and expire"})
        return bucket
