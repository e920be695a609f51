"""cfn-lint and cdk-nag on the synthesized templates."""

from __future__ import annotations

import json

from tests.conftest import IN_THE_CDK_WORKER

# cfn-lint runs once over every template, beside checkov (the `checked` fixture).
pytestmark = IN_THE_CDK_WORKER

# SQS3 (a queue without a dead-letter queue) is acknowledged on each dead-letter queue: the alerts', the fleet's
# errors (not raised while the fleet queue names it as its own) and the throttle timers'.
EXPECTED_ACKNOWLEDGED = {
    "AwsSolutions-DDB3",
    "AwsSolutions-IAM5[Resource::*]",
    "AwsSolutions-IAM5[Action::kms:ReEncrypt*]",
    "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:job/fw-*]",
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:job/fw-*-revert*]",
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:thinggroup/fw-*-revert*]",
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:thing/*]",
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:*]",
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/default/"
    "rollout-guard-escalate-*]",
    "AwsSolutions-SQS3",
    # Greengrass v2 (a rule names deployments): deployment ARNs carry ids, not names; CancelDeployment's dependent
    # DescribeThingGroup on any group a deployment may target
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:greengrass:<AWS::Region>:<AWS::AccountId>:deployments:*]",
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:thinggroup/*]",
}


def test_cfn_lint_is_clean_on_every_template(checked):
    assert len(checked) == 8
    assert {name: report["lint"] for name, report in checked.items() if report["lint"]} == {}


def test_cdk_nag_aws_solutions_has_no_unacknowledged_finding(assembly):
    report = json.loads((assembly / "validation-report.json").read_text())
    (plugin,) = report["pluginReports"]

    assert plugin["pluginName"] == "AwsSolutions"
    assert plugin["conclusion"] == "success" and plugin["violations"] == []
    acknowledged = {v["ruleName"]: v["reason"] for v in plugin["suppressedViolations"]}
    assert set(acknowledged) == EXPECTED_ACKNOWLEDGED
    assert all(len(reason) > 30 for reason in acknowledged.values())
