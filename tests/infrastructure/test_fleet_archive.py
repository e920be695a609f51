"""The fleet archive (`fleetArchive: true`): the fleet signal's topic rules also deliver every event to Firehose,
into an encrypted, expiring bucket as gzip JSON lines that `rollout-guard replay` reads. Its template, and the same
linters as every other path (cdk-nag in the synth, cfn-lint, checkov)."""

from __future__ import annotations

import pytest

from tests.conftest import IN_THE_CDK_WORKER
from tests.infrastructure.cfn import one, resources, statements
from tests.infrastructure.test_checkov import failed, skips

pytestmark = IN_THE_CDK_WORKER

ACCOUNT = "${AWS::AccountId}"


def test_every_topic_rule_also_delivers_each_event_as_one_line_to_the_archive(archived):
    template = archived
    stream_id, _ = one(template, "AWS::KinesisFirehose::DeliveryStream")
    role = "${" + one(template, "AWS::IAM::Role", "FleetRuleRole")[0] + ".Arn}"

    rules = resources(template, "AWS::IoT::TopicRule")
    assert len(rules) == 3  # executions, presence, and the $package shadow (the policy watches after success)
    for rule in rules.values():
        actions = rule["TopicRulePayload"]["Actions"]
        assert {"Firehose": {"DeliveryStreamName": "${" + stream_id + "}", "RoleArn": role, "Separator": "\n",
                             "BatchMode": False}} in actions
    allowed = {s["Sid"]: s for s in statements(template, "FleetRuleRole")}
    assert allowed["ArchiveFleetEvents"]["Action"] == ["firehose:PutRecord"]
    assert allowed["ArchiveFleetEvents"]["Resource"] == "${" + stream_id + ".Arn}"


def test_firehose_writes_gzip_json_lines_a_folder_a_day_into_the_encrypted_bucket(archived):
    from rollout_guard_cdk.fleet import ARCHIVE_PREFIX  # where used: the stack modules load jsii

    template = archived
    _, stream = one(template, "AWS::KinesisFirehose::DeliveryStream")
    bucket_id, bucket = one(template, "AWS::S3::Bucket")
    key = "${" + one(template, "AWS::KMS::Key")[0] + ".Arn}"
    s3 = stream["ExtendedS3DestinationConfiguration"]

    assert stream["DeliveryStreamType"] == "DirectPut"
    assert s3["BucketARN"] == "${" + bucket_id + ".Arn}" and s3["CompressionFormat"] == "GZIP"
    assert s3["Prefix"] == ARCHIVE_PREFIX == "fleet/!{timestamp:yyyy/MM/dd}/"
    assert s3["EncryptionConfiguration"] == {"KMSEncryptionConfig": {"AWSKMSKeyARN": key}}
    encryption = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert encryption["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}
    assert bucket["PublicAccessBlockConfiguration"] == {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                                        "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == 14 and rule["Status"] == "Enabled"
    (policy,) = [p["PolicyDocument"] for p in resources(template, "AWS::S3::BucketPolicy").values()]
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
               for s in policy["Statement"])


def test_firehose_may_write_this_bucket_only_through_its_own_role(archived):
    template = archived
    role_id, role = one(template, "AWS::IAM::Role", "FleetArchiveRole")
    bucket = "${" + one(template, "AWS::S3::Bucket")[0] + ".Arn}"
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]

    assert trust["Principal"] == {"Service": "firehose.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    allowed = {s["Sid"]: s for s in statements(template, "FleetArchiveRole")}
    assert set(allowed) == {"WriteArchive", "EncryptArchive"}
    assert sorted(allowed["WriteArchive"]["Resource"], key=str) == sorted([bucket, bucket + "/*"], key=str)
    assert allowed["EncryptArchive"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.${AWS::Region}.amazonaws.com"},
        "StringLike": {"kms:EncryptionContext:aws:s3:arn": [bucket, bucket + "/*"]}}  # bucket key, or object
    _, stream = one(template, "AWS::KinesisFirehose::DeliveryStream")
    assert stream["ExtendedS3DestinationConfiguration"]["RoleARN"] == "${" + role_id + ".Arn}"
    stream_id, _ = one(template, "AWS::KinesisFirehose::DeliveryStream")
    assert any("FleetArchiveRoleDefaultPolicy" in d for d in template["Resources"][stream_id]["DependsOn"])


def test_the_archive_passes_cfn_lint_and_checkov_and_says_why_it_skips(checked):
    assert failed(checked["archive"]) == []
    skipped = {check: reason for check, reason in skips(checked["archive"]).items()
               if check in {"CKV_AWS_18", "CKV_AWS_21"}}

    assert set(skipped) == {"CKV_AWS_18", "CKV_AWS_21"} and all(len(reason) > 30 for reason in skipped.values())


def test_the_archive_is_off_unless_asked_and_needs_the_fleet_signal(template, variant):
    from rollout_guard_cdk.config import ConfigError

    assert not resources(template, "AWS::KinesisFirehose::DeliveryStream")
    assert not resources(template, "AWS::S3::Bucket")
    with pytest.raises(ConfigError, match="fleetArchive keeps the fleet signal's events: turn fleetSignal on too"):
        variant(fleetSignal=False, fleetArchive=True)
