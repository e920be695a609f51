"""A throttle's escalation timer: the function creates an EventBridge Scheduler one-time schedule per throttled
job (names `rollout-guard-escalate-*` only), which puts "Rollout Escalation Due" on the default bus through a role
of its own; `Delivery`'s EscalationDueRule hands that event to the function, which cancels only if the alarm still
fires. Scheduler deletes each schedule once it ran."""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from rollout_guard import settings
from rollout_guard.halts.throttles import ESCALATION_SCHEDULE_PREFIX

SCHEDULER = "scheduler.amazonaws.com"


def default_bus_arn() -> str:
    return f"arn:{Aws.PARTITION}:events:{Aws.REGION}:{Aws.ACCOUNT_ID}:event-bus/default"


class EscalationTimer:
    """Not a construct of its own: its resources live in the guard's scope, so their logical ids stay stable."""

    def __init__(self, scope: Construct, function: lambda_.Function, function_role: iam.Role) -> None:
        # The trust is Scheduler's documented one, narrowed to this account (aws:SourceAccount).
        self.role = iam.Role(scope, "EscalationSchedulerRole",
                             description="rollout-guard: EventBridge Scheduler puts escalation events on the bus",
                             assumed_by=iam.ServicePrincipal(SCHEDULER, conditions={
                                 "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}))
        self.role.add_to_policy(iam.PolicyStatement(sid="PutEscalationDue", actions=["events:PutEvents"],
                                                    resources=[default_bus_arn()]))
        schedules = (f"arn:{Aws.PARTITION}:scheduler:{Aws.REGION}:{Aws.ACCOUNT_ID}:schedule/default/"
                     f"{ESCALATION_SCHEDULE_PREFIX}*")
        function_role.add_to_policy(iam.PolicyStatement(
            sid="ScheduleEscalations", actions=["scheduler:CreateSchedule", "scheduler:UpdateSchedule"],
            resources=[schedules]))
        function_role.add_to_policy(iam.PolicyStatement(
            sid="PassEscalationRole", actions=["iam:PassRole"], resources=[self.role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": SCHEDULER}}))
        function.add_environment(settings.ESCALATION_BUS, default_bus_arn())
        function.add_environment(settings.ESCALATION_ROLE, self.role.role_arn)
        self.schedules = schedules
