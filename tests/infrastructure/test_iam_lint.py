"""Every policy in the synthesized templates linted by parliament against AWS's IAM definitions: valid actions,
resource types and condition keys. Moto enforces none of this; a real account refuses what parliament finds."""

from __future__ import annotations

import json
import warnings

import pytest
import yaml

from tests.conftest import IN_THE_CDK_WORKER
from tests.infrastructure.iam import concrete_policies

pytestmark = [IN_THE_CDK_WORKER, pytest.mark.slow]

with warnings.catch_warnings():  # parliament imports pkg_resources, which warns that it is deprecated
    warnings.simplefilter("ignore")
    from parliament import analyze_policy_string

# Findings that are right for the kind of policy they are in, and why.
EXPLAINED = {
    ("AWS::KMS::Key", "RESOURCE_STAR"): "in a key policy, Resource \"*\" means the key itself: the only form allowed",
    ("AWS::IAM::Role", "MALFORMED"): "a trust policy names no Resource by design (parliament reads identity policies)",
}


def findings(template: dict) -> list[tuple[str, str, str]]:
    found = []
    for logical_id, document in concrete_policies(template):
        kind = template["Resources"][logical_id]["Type"]
        for finding in analyze_policy_string(json.dumps(document)).findings:
            found.append((kind, finding.issue, f"{logical_id}: {finding.detail}"))
    return found


@pytest.fixture(scope="module")
def forcing_template(tmp_path_factory):
    """Every optional statement on: a forcing rule (escalation), a tag condition, tracing, a Defender rule, the
    fleet signal with dark things, its archive and the custom resource that turns Jobs events on, the pre-start
    gate."""
    from tests.infrastructure.conftest import CONTEXT, synthesize

    folder = tmp_path_factory.mktemp("iam")
    policy = folder / "policy.yaml"
    policy.write_text(yaml.safe_dump({"rules": [
        {"name": "hard", "match": {"alarm_name": "fw-*"}, "jobs": ["fw-*"], "force": True},
        {"name": "defender", "match": {"security_profile": "fw-*"}, "jobs": ["fw-*"]},
        {"name": "slow", "match": {"alarm_name": "warn-*"}, "jobs": ["fw-*"], "action": "throttle",
         "throttle": {"max_per_minute": 5, "escalate_after": "30m"}},
        {"name": "fleet", "match": {"signal": "casualties"}, "jobs": ["fw-*"], "dark_after": 60,
         "casualties": {"things": 3, "fleet_things": 100}}]}))
    context = {**CONTEXT["rollout-guard"], "policyFile": str(policy), "jobTagKey": "rollout-guard", "tracing": True,
               "fleetSignal": True, "enableJobEvents": True, "preStartGate": True, "fleetArchive": True,
               "gateTrail": True,
               "alertTopicArns": ["arn:aws:sns:eu-west-1:123456789012:ops-alerts"]}
    return synthesize(folder / "cdk.out", context, bundle=False)


def test_every_policy_of_the_deployed_template_is_valid_iam(template):
    unexplained = [f for f in findings(template) if f[:2] not in EXPLAINED]

    assert unexplained == []


def test_every_optional_statement_is_valid_iam_too(forcing_template):
    actions = {a for _, doc in concrete_policies(forcing_template) for s in doc["Statement"]
               for a in (s.get("Action") if isinstance(s.get("Action"), list) else [s.get("Action")])}
    unexplained = [f for f in findings(forcing_template) if f[:2] not in EXPLAINED]

    assert {"iot:CancelJobExecution", "iot:ListJobExecutionsForJob", "xray:PutTraceSegments", "firehose:PutRecord",
            "s3:PutObject"} <= actions
    assert unexplained == []


def test_identity_policies_have_no_finding_at_all(template, forcing_template):
    identity = [f for t in (template, forcing_template) for f in findings(t) if f[0] == "AWS::IAM::Policy"]

    assert identity == []


def test_the_linter_would_catch_a_wrong_resource_type_or_condition_key():
    # CancelJob takes job ARNs only; CancelJobExecution takes job and thing ARNs (the IAM service reference).
    wrong = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iot:CancelJob", "Resource": "arn:aws:iot:eu-west-1:123456789012:thing/*"},
        {"Effect": "Allow", "Action": "iot:CancelJob", "Resource": "arn:aws:iot:eu-west-1:123456789012:job/fw-*",
         "Condition": {"StringEquals": {"iot:NoSuchKey": "x"}}}]}
    right = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iot:CancelJobExecution",
         "Resource": ["arn:aws:iot:eu-west-1:123456789012:job/fw-*", "arn:aws:iot:eu-west-1:123456789012:thing/*"]}]}

    issues = {finding.issue for finding in analyze_policy_string(json.dumps(wrong)).findings}

    assert {"RESOURCE_MISMATCH", "UNKNOWN_CONDITION_FOR_ACTION"} <= issues
    assert analyze_policy_string(json.dumps(right)).findings == []
