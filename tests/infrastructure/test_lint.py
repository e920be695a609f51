"""cfn-lint and cdk-nag on the one synthesized template."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# SQS3 (a queue without a dead-letter queue) is acknowledged on the dead-letter queue, and not raised while the
# fleet queue names it as its own dead-letter queue, as the project's cdk.json does.
EXPECTED_ACKNOWLEDGED = {
    "AwsSolutions-DDB3",
    "AwsSolutions-IAM5[Resource::*]",
    "AwsSolutions-IAM5[Action::kms:ReEncrypt*]",
    "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:job/fw-*]",
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:thing/*]",
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:*]",
}


def test_cfn_lint_is_clean(assembly):
    cfn_lint = Path(sys.executable).parent / "cfn-lint"

    done = subprocess.run([str(cfn_lint), str(assembly / "RolloutGuard.template.json")],
                          capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stdout + done.stderr


def test_cdk_nag_aws_solutions_has_no_unacknowledged_finding(assembly):
    report = json.loads((assembly / "validation-report.json").read_text())
    (plugin,) = report["pluginReports"]

    assert plugin["pluginName"] == "AwsSolutions"
    assert plugin["conclusion"] == "success" and plugin["violations"] == []
    acknowledged = {v["ruleName"]: v["reason"] for v in plugin["suppressedViolations"]}
    assert set(acknowledged) == EXPECTED_ACKNOWLEDGED
    assert all(len(reason) > 30 for reason in acknowledged.values())
