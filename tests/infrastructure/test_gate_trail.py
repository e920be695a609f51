"""The pre-start gate's trail (`gateTrail: true`): write management events of this region into a private,
encrypted, expiring bucket, CloudTrail reaching the bucket and the key only for this trail; cdk-nag (in the synth),
cfn-lint and checkov over it."""

from __future__ import annotations

import pytest

from tests.conftest import IN_THE_CDK_WORKER
from tests.infrastructure.cfn import one, resources
from tests.infrastructure.test_checkov import failed, skips

pytestmark = IN_THE_CDK_WORKER

TRAIL_ARN = "arn:${AWS::Partition}:cloudtrail:${AWS::Region}:${AWS::AccountId}:trail/RolloutGuard-gate"


def test_the_trail_logs_this_regions_write_management_events_validated_and_encrypted(trailed):
    template = trailed
    trail_id, trail = one(template, "AWS::CloudTrail::Trail")
    bucket_id, bucket = one(template, "AWS::S3::Bucket")
    key = "${" + one(template, "AWS::KMS::Key")[0] + ".Arn}"

    assert trail["TrailName"] == "RolloutGuard-gate" and trail["IsLogging"] is True
    assert trail["EventSelectors"] == [{"IncludeManagementEvents": True, "ReadWriteType": "WriteOnly"}]
    assert trail["IsMultiRegionTrail"] is False and trail["IncludeGlobalServiceEvents"] is False
    assert trail["EnableLogFileValidation"] is True and trail["KMSKeyId"] == key
    assert trail["S3BucketName"] == "${" + bucket_id + "}"
    assert any("GateTrailBucketPolicy" in d for d in template["Resources"][trail_id]["DependsOn"])
    assert bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 30
    (encryption,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}
    # No S3 Bucket Key: CloudTrail's documented key policy (encrypt, describe) is then the whole of what it needs.
    assert encryption.get("BucketKeyEnabled", False) is False


def test_cloudtrail_reaches_the_bucket_and_the_key_for_this_trail_only(trailed):
    template = trailed
    (policy,) = [p["PolicyDocument"] for p in resources(template, "AWS::S3::BucketPolicy").values()]
    by_sid = {s.get("Sid"): s for s in policy["Statement"]}
    _, key = one(template, "AWS::KMS::Key")
    on_key = {s.get("Sid"): s for s in key["KeyPolicy"]["Statement"]}
    trail_on_key = on_key["CloudTrailOfTheGate"]

    for sid, action in (("CloudTrailReadsTheAcl", "s3:GetBucketAcl"), ("CloudTrailWritesTheLogs", "s3:PutObject")):
        assert by_sid[sid]["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
        assert by_sid[sid]["Action"] == action
        assert by_sid[sid]["Condition"]["StringEquals"]["aws:SourceArn"] == TRAIL_ARN
    assert by_sid["CloudTrailWritesTheLogs"]["Resource"].endswith("/AWSLogs/${AWS::AccountId}/*")
    assert trail_on_key["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert trail_on_key["Action"] == "kms:GenerateDataKey*"
    assert on_key["CloudTrailOfTheGateDescribesTheKey"]["Action"] == "kms:DescribeKey"
    assert on_key["CloudTrailOfTheGateDescribesTheKey"]["Condition"] == {"StringEquals": {"aws:SourceArn": TRAIL_ARN}}
    assert {sid for sid, s in on_key.items() if "cloudtrail" in str(s.get("Principal"))} == {
        "CloudTrailOfTheGate", "CloudTrailOfTheGateDescribesTheKey"}
    assert trail_on_key["Condition"] == {
        "StringEquals": {"aws:SourceArn": TRAIL_ARN},
        "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn":
                       "arn:${AWS::Partition}:cloudtrail:*:${AWS::AccountId}:trail/*"}}


def test_the_trail_passes_cfn_lint_and_checkov_and_says_why_it_skips(checked):
    assert failed(checked["trail"]) == []
    skipped = skips(checked["trail"])

    assert {"CKV_AWS_18", "CKV_AWS_21", "CKV_AWS_67"} <= set(skipped)
    assert "multi-region" in skipped["CKV_AWS_67"]


def test_the_trail_is_off_unless_asked_and_needs_the_gate(template, variant):
    from rollout_guard_cdk.config import ConfigError

    assert not resources(template, "AWS::CloudTrail::Trail")
    with pytest.raises(ConfigError, match="gateTrail serves the pre-start gate: turn preStartGate on too"):
        variant(preStartGate=False, gateTrail=True)
