"""Doctor's view of one region of the live account: the findings it reports, the account's lookups (made once and
shared by every check), and what a check that cannot be made says. Its clients refuse, before sending, any operation
that is not a Describe, Get or List."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import Any

from rollout_guard_cdk import outputs

from .doctor_policy import permission
from .everywhere import Target, client, outputs_of

OK, WARNING, PROBLEM = "ok", "warning", "problem"
NOT_CHECKED = "not checked: "  # how a check that could not be made begins
READS = ("Describe", "Get", "List")
DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedException",
          "AuthorizationError", "NotAuthorized"}
MISSING_API = {"UnknownOperationException", "InvalidAction", "UnsupportedOperationException", "NotImplemented"}
GONE = {"ResourceNotFoundException", "ResourceNotFoundFault", "NotFound", "NotFoundException",
        "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}
STACK_OK = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE"}
JOB_EVENTS = ("JOB", "JOB_EXECUTION")
# The IoT developer guide (2019) listed 10 requests a second for each Jobs API the guard calls; AWS does not publish
# today's figure, so it is the planning figure here (see README).
IOT_DOCUMENTED_RATE = 10.0
FLEET_QUEUE_LAG_S = 60
DETECT_CLOSED = "(Detect takes no new customers since 31 August 2026)"
FUNCTION, TOPIC, QUEUE, TABLE = ("AWS::Lambda::Function", "AWS::SNS::Topic", "AWS::SQS::Queue",
                                 "AWS::DynamoDB::Table")


@dataclass(frozen=True)
class Finding:
    check: str
    verdict: str
    found: str
    fix: str = "-"


class WriteRefused(RuntimeError):
    """A doctor's client was asked to call an operation that is not a read."""


def _reads_only(model: Any, **_: Any) -> None:
    if not model.name.startswith(READS):
        raise WriteRefused(f"doctor reads only: {model.service_model.service_name} {model.name} refused")


@dataclass
class Account:
    """One region of the live account as the guard of `target` sees it; lookups made once and shared by checks."""

    target: Target
    config: Any
    clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self.clients:
            made = client(service, self.target.region)
            made.meta.events.register("before-call", _reads_only)
            self.clients[service] = made
        return self.clients[service]

    @cached_property
    def stack(self) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            return self.client("cloudformation").describe_stacks(StackName=self.target.stack)["Stacks"][0]
        except ClientError as error:
            if "does not exist" in str(error):
                return None
            raise

    @cached_property
    def resources(self) -> list[dict[str, Any]]:
        pages = self.client("cloudformation").get_paginator("list_stack_resources").paginate(
            StackName=self.target.stack)
        return [summary for page in pages for summary in page["StackResourceSummaries"]]

    def output(self, key: str) -> str | None:
        """One of the stack's outputs (`rollout_guard_cdk.outputs`): None without the stack, or when the guard as
        deployed has no such resource."""
        return None if self.stack is None else outputs_of(self.stack).get(key)

    @cached_property
    def function(self) -> dict[str, Any] | None:
        name = self.output(outputs.FUNCTION)
        return None if name is None else self.client("lambda").get_function_configuration(FunctionName=name)

    @cached_property
    def alarms(self) -> list[dict[str, Any]]:
        pages = self.client("cloudwatch").get_paginator("describe_alarms").paginate(
            AlarmTypes=["MetricAlarm", "CompositeAlarm"])
        return [alarm for page in pages for kind in ("MetricAlarms", "CompositeAlarms") for alarm in page.get(kind, [])]

    def metric_sum(self, namespace: str, metric: str, dimension: dict[str, str], hours: float = 1,
                   statistic: str = "Sum") -> float:
        end = datetime.now(timezone.utc)
        points = self.client("cloudwatch").get_metric_statistics(
            Namespace=namespace, MetricName=metric, Dimensions=[{"Name": k, "Value": v} for k, v in dimension.items()],
            StartTime=end - timedelta(hours=hours), EndTime=end, Period=300, Statistics=[statistic])["Datapoints"]
        values = [point[statistic] for point in points]
        return (max(values) if statistic == "Maximum" else sum(values)) if values else 0.0


def role_allows(account: Account, role: str, action: str, resource_ok: Any) -> list[str]:
    """The role's inline policies that allow `action` on a resource `resource_ok` accepts (IAM's globs in actions
    are honoured; resources are the stack's own, compared as written)."""
    from fnmatch import fnmatchcase

    iam, allowed = account.client("iam"), []
    for name in iam.list_role_policies(RoleName=role).get("PolicyNames", []):
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        document = json.loads(document) if isinstance(document, str) else document
        statements = document.get("Statement", [])
        for statement in statements if isinstance(statements, list) else [statements]:
            actions, resources = statement.get("Action", []), statement.get("Resource", [])
            actions = actions if isinstance(actions, list) else [actions]
            resources = resources if isinstance(resources, list) else [resources]
            if statement.get("Effect") == "Allow" and any(fnmatchcase(action, a) for a in actions) \
                    and any(resource_ok(str(r)) for r in resources):
                allowed.append(name)
    return allowed


def role_lacks(account: Account, check: str, needed: tuple[str, ...], resource_ok: Any, rules: list[Any],
               cannot_do: str) -> Iterator[Finding]:
    """A problem when the deployed function's role lacks some of `needed` on a resource `resource_ok` accepts (a
    stack deployed before the rules that need them); nothing when no function is deployed or nothing lacks."""
    function = account.function
    if function is None:
        return
    role = function["Role"].rsplit("/", 1)[-1]
    missing = [action for action in needed if not role_allows(account, role, action, resource_ok)]
    if missing:
        yield Finding(check, PROBLEM, f"the guard's role {role} lacks {', '.join(missing)}: rules "
                      f"{', '.join(rule.name for rule in rules)} {cannot_do}", f"cdk deploy {account.target.stack}")


def cannot(check: str, error: Exception) -> Finding:
    """A check that could not be made: a warning that says why, never a pass."""
    from botocore.exceptions import ClientError

    code = error.response.get("Error", {}).get("Code", "") if isinstance(error, ClientError) else ""
    operation = getattr(error, "operation_name", "the check")
    if code in DENIED:
        action = permission(operation)
        return Finding(check, WARNING, f"{NOT_CHECKED}{operation} was denied ({code})",
                       f"allow {action} to whoever runs doctor (rollout-guard doctor --print-policy)")
    if code in MISSING_API:
        return Finding(check, WARNING, f"{NOT_CHECKED}this region does not offer {operation} ({code})")
    return Finding(check, WARNING, f"{NOT_CHECKED}{type(error).__name__}: {error}".splitlines()[0])


