"""The control plane: one stack in the home region that sees every guard, and each guard's link to it.

- The control bus receives every guard's "Rollout Halted" events (each guard's rule targets it across accounts and
  regions, through a role, as EventBridge recommends for bus targets); its policy admits only the listed accounts,
  or the organisation.
- Each halt becomes a line on the control operations topic, with the region and account it came from.
- A "Rollout Halt Requested" event put on the control bus (an alarm of the home region, a runbook) is forwarded to
  every guard's default bus, where the guard's `HaltRequestRule` hands it to the function.
- A fleet-wide dashboard charts every guard's halts, failures and fleet signal, one graph per metric with a line per
  environment.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, CfnOutput, Duration, Fn, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from rollout_guard.halts.alert_kinds import HALT_REQUESTED, OPERATOR_SOURCE
from rollout_guard.observability import HALTED_DETAIL_TYPE, HALTED_SOURCE, NAMESPACE, SERVICE, Metric

from .delivery import LONGEST_SUFFIX, alarm_topic, key_policy, own_name
from .environments import CONTROL_BUS, Control, Environment
from .findings import acknowledge
from .monitoring import PERIOD, _at_least_one, _TopicTarget

TARGETS_PER_RULE = 5  # EventBridge's limit of targets per rule
CONTROL_LINE = "rollout-guard halted job <jobId> in <region> (<account>): rule <rule>, reason <reasonCode>, <subject>"
FLEET_GRAPHS = (Metric.JOBS_CANCELLED, Metric.JOBS_FAILED, Metric.JOBS_BLOCKED, Metric.CASUALTIES_COUNTED,
                Metric.DARK_DISCOUNTED)


def custom_bus_rule(rule: events.Rule) -> dict[str, str]:
    """The dimensions EventBridge publishes a custom-bus rule's metrics with: the bus, and the rule's own name (its
    `Ref` is "bus|rule")."""
    return {"EventBusName": CONTROL_BUS, "RuleName": Fn.select(1, Fn.split("|", rule.rule_name))}


def _bus_role(scope: Construct, construct_id: str, description: str) -> iam.Role:
    """The role EventBridge assumes to put events on another bus (each `targets.EventBus` grants it PutEvents on
    its own bus), trusted by EventBridge for this account's rules only."""
    return iam.Role(scope, construct_id, description=description,
                    assumed_by=iam.ServicePrincipal("events.amazonaws.com",
                                                    conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}))


class ControlLink:
    """A guard's side: its "Rollout Halted" events also go to the control bus; and, in another account than the
    control's, its default bus admits the control account's halt requests (a default bus admits only its own
    account until its resource policy allows another: EventBridge, "Sending and receiving events between AWS
    accounts")."""

    def __init__(self, scope: Construct, control: Control, dead_letter_queue: sqs.IQueue) -> None:
        if Stack.of(scope).account != control.account:
            events.CfnEventBusPolicy(
                scope, "AdmitControlHaltRequests", event_bus_name="default",
                statement_id="RolloutGuardControlHaltRequests",
                statement={"Sid": "RolloutGuardControlHaltRequests", "Effect": "Allow",
                           "Principal": {"AWS": f"arn:{Aws.PARTITION}:iam::{control.account}:root"},
                           "Action": "events:PutEvents",
                           "Resource": f"arn:{Aws.PARTITION}:events:{Aws.REGION}:{Aws.ACCOUNT_ID}:event-bus/default",
                           # Only the halt requests: EventBridge's condition keys for the event's source and type.
                           "Condition": {"StringEquals": {"events:source": OPERATOR_SOURCE,
                                                          "events:detail-type": HALT_REQUESTED}}})
        bus_arn = control.bus_arn(Aws.PARTITION)
        role = _bus_role(scope, "ControlLinkRole", "rollout-guard: this guard's halts go to the control bus")
        self.rule = events.Rule(
            scope, "ControlLinkRule",
            description="This guard's Rollout Halted events, to the control bus in the home region",
            event_pattern=events.EventPattern(source=[HALTED_SOURCE], detail_type=[HALTED_DETAIL_TYPE]),
            targets=[targets.EventBus(events.EventBus.from_event_bus_arn(scope, "ControlBus", bus_arn), role=role,
                                      dead_letter_queue=dead_letter_queue)],
        )


class ControlStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, control: Control,
                 environments: tuple[Environment, ...], **kwargs: Any) -> None:
        super().__init__(scope, construct_id, description="rollout-guard: the control plane of every guard", **kwargs)
        self.bus = events.EventBus(self, "ControlBus", event_bus_name=CONTROL_BUS)
        self._admit(control, environments)
        self.key = kms.Key(self, "Key", enable_key_rotation=True,
                           description="rollout-guard control: operations topic and dead-letter queue")
        key_policy(self.key)  # CloudWatch and SNS of this account, EventBridge to this stack's topics and queues
        self.dead_letters = sqs.Queue(self, "DeadLetterQueue", queue_name=own_name(self, LONGEST_SUFFIX),
                                      encryption=sqs.QueueEncryption.KMS,
                                      encryption_master_key=self.key, enforce_ssl=True,
                                      retention_period=Duration.days(14))
        acknowledge(self.dead_letters, "SQS3", "This queue is itself the dead-letter queue of the control rules")
        self.operations_topic = alarm_topic(self, "OperationsTopic", self.key, "rollout-guard control", "-operations")
        self.rules = [self._halt_lines(), *self._forward_requests(environments)]
        # Rules on a custom bus publish their metrics with EventBusName and RuleName, and `Ref` of such a rule is
        # "bus|rule": the rule's own name is the part after the bar.
        alarms = [_at_least_one(self, f"{rule.node.id}FailedInvocationsAlarm",
                                f"control rule {rule.node.id} failed to deliver",
                                cloudwatch.Metric(namespace="AWS/Events", metric_name="FailedInvocations",
                                                  dimensions_map=custom_bus_rule(rule), statistic="Sum",
                                                  period=PERIOD))
                  for rule in self.rules]
        alarms.append(_at_least_one(self, "DeadLetterAlarm", "control events wait in the dead-letter queue",
                                    self.dead_letters.metric_approximate_number_of_messages_visible(
                                        period=PERIOD, statistic="Maximum")))
        for alarm in alarms:
            alarm.add_alarm_action(actions.SnsAction(self.operations_topic))
        self.dashboard = self._dashboard(environments)
        CfnOutput(self, "ControlBusArn", value=self.bus.event_bus_arn,
                  description="Put a Rollout Halt Requested event here to halt a firmware everywhere")
        CfnOutput(self, "ControlOperationsTopicArn", value=self.operations_topic.topic_arn)

    def _admit(self, control: Control, environments: tuple[Environment, ...]) -> None:
        if control.organization_id:
            self.bus.add_to_resource_policy(iam.PolicyStatement(
                sid="GuardsOfTheOrganisation", principals=[iam.AnyPrincipal()], actions=["events:PutEvents"],
                resources=[self.bus.event_bus_arn],
                conditions={"StringEquals": {"aws:PrincipalOrgID": control.organization_id}}))
            return
        accounts = sorted({environment.account for environment in environments})
        self.bus.add_to_resource_policy(iam.PolicyStatement(
            sid="GuardsOfTheListedAccounts", principals=[iam.AccountPrincipal(account) for account in accounts],
            actions=["events:PutEvents"], resources=[self.bus.event_bus_arn]))

    def _halt_lines(self) -> events.Rule:
        line = CONTROL_LINE.replace("<region>", events.EventField.from_path("$.region")).replace(
            "<account>", events.EventField.from_path("$.account"))
        for name in ("jobId", "rule", "reasonCode", "subject"):
            line = line.replace(f"<{name}>", events.EventField.from_path(f"$.detail.{name}"))
        rule = events.Rule(
            self, "HaltLineRule", event_bus=self.bus,
            description="One line per job any guard halted, with its region and account",
            event_pattern=events.EventPattern(source=[HALTED_SOURCE], detail_type=[HALTED_DETAIL_TYPE]),
            targets=[_TopicTarget(self.operations_topic, events.RuleTargetInput.from_text(line), self.dead_letters)],
        )
        self.operations_topic.add_to_resource_policy(iam.PolicyStatement(
            sid="HaltLinesOfTheControlBus", principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["sns:Publish"], resources=[self.operations_topic.topic_arn],
            conditions={"ArnEquals": {"aws:SourceArn": rule.rule_arn}}))
        return rule

    def _forward_requests(self, environments: tuple[Environment, ...]) -> list[events.Rule]:
        """A halt request on the control bus goes to every guard's default bus (five targets per rule)."""
        buses = [f"arn:{Aws.PARTITION}:events:{environment.region}:{environment.account}:event-bus/default"
                 for environment in environments]
        role = _bus_role(self, "ForwardRole", "rollout-guard control: halt requests to every guard's default bus")
        rules = []
        for start in range(0, len(environments), TARGETS_PER_RULE):
            group = environments[start:start + TARGETS_PER_RULE]
            rules.append(events.Rule(
                self, f"ForwardHaltRequests{start // TARGETS_PER_RULE}", event_bus=self.bus,
                description="Halt requests, to the guards of " + ", ".join(e.name for e in group),
                event_pattern=events.EventPattern(source=[OPERATOR_SOURCE], detail_type=[HALT_REQUESTED]),
                targets=[targets.EventBus(events.EventBus.from_event_bus_arn(self, f"Guard{e.name}Bus",
                                                                             buses[environments.index(e)]),
                                          role=role, dead_letter_queue=self.dead_letters) for e in group],
            ))
        return rules

    def _dashboard(self, environments: tuple[Environment, ...]) -> cloudwatch.Dashboard:
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=f"rollout-guard-{self.stack_name}")
        graphs = []
        for metric in FLEET_GRAPHS:
            lines = [cloudwatch.Metric(namespace=NAMESPACE, metric_name=metric.value,
                                       dimensions_map={"service": SERVICE}, statistic="Sum", period=PERIOD,
                                       region=environment.region, account=environment.account,
                                       label=environment.name) for environment in environments]
            graphs.append(cloudwatch.GraphWidget(title=f"{metric.value}, every guard", left=lines))
        for row in range(0, len(graphs), 2):
            dashboard.add_widgets(*graphs[row:row + 2])
        return dashboard
