"""A throttle's timer: the function creates an EventBridge Scheduler one-time schedule for each check of a throttled
job (names `rollout-guard-escalate-*` only), which puts "Rollout Escalation Due" on the default bus through a role of
its own; `Delivery`'s EscalationDueRule hands that event to the function (`halts.throttle.watchdog`: restore, cancel, forget
or look again). Scheduler deletes each schedule once it ran, also after its last failed retry, so every schedule
names a dead-letter queue of its own (encrypted with the stack's key), where a timer Scheduler could not deliver is
kept; `Monitoring` alarms on its depth and on Scheduler's own failure metrics."""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from rollout_guard import settings
from rollout_guard.halts.throttle.timers import ESCALATION_SCHEDULE_PREFIX

from .delivery import own_name
from .findings import acknowledge

SCHEDULER = "scheduler.amazonaws.com"
# Scheduler publishes its metrics by schedule group; the guard's timers are in the default one.
SCHEDULE_GROUP = "default"
TIMER_DEAD_LETTERS = "-timer-dlq"


def default_bus_arn() -> str:
    return f"arn:{Aws.PARTITION}:events:{Aws.REGION}:{Aws.ACCOUNT_ID}:event-bus/default"


class EscalationTimer:
    """Not a construct of its own: its resources live in the guard's scope, so their logical ids stay stable."""

    def __init__(self, scope: Construct, function: lambda_.Function, function_role: iam.Role, key: kms.IKey) -> None:
        # The trust is Scheduler's documented one, narrowed to this account (aws:SourceAccount).
        self.role = iam.Role(scope, "EscalationSchedulerRole",
                             description="rollout-guard: EventBridge Scheduler puts throttle timers on the bus",
                             assumed_by=iam.ServicePrincipal(SCHEDULER, conditions={
                                 "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}))
        self.role.add_to_policy(iam.PolicyStatement(sid="PutEscalationDue", actions=["events:PutEvents"],
                                                    resources=[default_bus_arn()]))
        self.dead_letters = sqs.Queue(
            scope, "TimerDeadLetterQueue", queue_name=own_name(scope, TIMER_DEAD_LETTERS),
            encryption=sqs.QueueEncryption.KMS, encryption_master_key=key, enforce_ssl=True,
            retention_period=Duration.days(14))
        acknowledge(self.dead_letters, "SQS3", "This queue is itself the dead-letter queue of the throttles' timers")
        # Scheduler sends dead letters as the execution role (its DLQ guide: sqs:SendMessage on the queue); an
        # SSE-KMS queue asks its sender for a data key of the queue's key, through SQS, for this queue only.
        self.role.add_to_policy(iam.PolicyStatement(sid="KeepUndeliveredTimers", actions=["sqs:SendMessage"],
                                                    resources=[self.dead_letters.queue_arn]))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="EncryptUndeliveredTimers", actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"sqs.{Aws.REGION}.amazonaws.com",
                                         "kms:EncryptionContext:aws:sqs:arn": self.dead_letters.queue_arn}}))
        schedules = (f"arn:{Aws.PARTITION}:scheduler:{Aws.REGION}:{Aws.ACCOUNT_ID}:schedule/{SCHEDULE_GROUP}/"
                     f"{ESCALATION_SCHEDULE_PREFIX}*")
        function_role.add_to_policy(iam.PolicyStatement(
            sid="ScheduleEscalations", actions=["scheduler:CreateSchedule", "scheduler:UpdateSchedule"],
            resources=[schedules]))
        function_role.add_to_policy(iam.PolicyStatement(
            sid="PassEscalationRole", actions=["iam:PassRole"], resources=[self.role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": SCHEDULER}}))
        function.add_environment(settings.ESCALATION_BUS, default_bus_arn())
        function.add_environment(settings.ESCALATION_ROLE, self.role.role_arn)
        function.add_environment(settings.ESCALATION_DEAD_LETTERS, self.dead_letters.queue_arn)
        self.schedules = schedules
