"""What doctor may call: the least-privilege IAM policy `rollout-guard doctor --print-policy` prints, for accounts
where whoever runs it holds only what it needs. Every action is a read (Describe, Get or List); a test holds the list
to every call doctor makes on the emulator, and to the clients' own refusal of anything else."""

from __future__ import annotations

from typing import Any

# service -> the operations doctor calls; the IAM action is `service:Operation` for each of these.
CALLS: dict[str, tuple[str, ...]] = {
    "cloudformation": ("DescribeStacks", "ListStackResources"),
    "cloudtrail": ("DescribeTrails", "GetTrailStatus", "GetEventSelectors"),
    "cloudwatch": ("DescribeAlarms", "GetMetricStatistics", "ListTagsForResource"),
    "dynamodb": ("DescribeTable",),
    "events": ("DescribeRule",),
    "greengrassv2": ("ListDeployments",),
    "iam": ("ListRolePolicies", "GetRolePolicy"),
    "iot": ("DescribeEventConfigurations", "ListSecurityProfiles", "DescribeSecurityProfile", "DescribeJob",
            "DescribeJobTemplate"),
    "lambda": ("GetFunctionConfiguration", "ListEventSourceMappings"),
    "scheduler": ("ListSchedules", "GetSchedule"),
    "sns": ("GetTopicAttributes",),
    "sqs": ("GetQueueAttributes",),
    "ssm": ("GetParameter",),
}
# botocore's service name where it differs from the IAM prefix
IAM_PREFIX = {"lambda": "lambda", "greengrassv2": "greengrass"}


def actions() -> list[str]:
    return sorted(f"{IAM_PREFIX.get(service, service)}:{operation}"
                  for service, operations in CALLS.items() for operation in operations)


def permission(operation: str) -> str:
    """The IAM action of one of doctor's calls, by its operation name (as botocore's error names it)."""
    found = [action for action in actions() if action.split(":", 1)[1] == operation]
    return found[0] if found else operation


def policy() -> dict[str, Any]:
    """The identity policy doctor needs: reads only, on every resource (doctor looks the resources up by the stack,
    so it cannot name them in advance; none of these reads changes anything)."""
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "RolloutGuardDoctorReadsOnly", "Effect": "Allow", "Action": actions(), "Resource": "*"}]}
