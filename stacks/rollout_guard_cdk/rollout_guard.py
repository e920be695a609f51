"""`RolloutGuard`: everything the guard needs in an account, as one construct a user can drop into any CDK app.

It is made of five parts, each in a module of its name: `delivery` (key, topic, dead letters, routes),
`state` (the exactly-once claims and fleet counts), `function` (the bundled handler and its IAM), `fleet` (the
fleet signal's topic rules and queue, when on) and `monitoring` (operations channel, alarms, dashboard).
"""

from __future__ import annotations

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from .config import GuardConfig
from .delivery import Delivery
from .escalation import EscalationTimer
from .fleet import FleetSignal
from .function import TIMEOUT, GuardFunction
from .monitoring import Monitoring
from .state import StateTable
from .trail import GateTrail


class RolloutGuard(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: GuardConfig) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.delivery = Delivery(self, config)
        self.state = StateTable(self, self.delivery.key)
        self.guard_function = GuardFunction(self, config, self.delivery.dead_letter_queue, self.state)
        self.escalation = (EscalationTimer(self, self.guard_function.function, self.guard_function.role,
                                           self.delivery.key) if config.watches_throttles() else None)
        self.delivery.route_to(self.guard_function.function)
        self.fleet = (FleetSignal(self, config, self.delivery.key,
                                  self.guard_function.function, TIMEOUT) if config.fleet_signal else None)
        if self.fleet is not None:
            self.state.grant_fleet_counts(self.guard_function.role)
        self.monitoring = Monitoring(self, config, self.guard_function.function, self.delivery, self.fleet,
                                     self.escalation)
        self.gate_trail = GateTrail(self, config, self.delivery.key) if config.gate_trail else None

    @property
    def function(self) -> lambda_.Function:
        return self.guard_function.function

    @property
    def topic(self) -> sns.Topic:
        return self.delivery.topic

    @property
    def dead_letter_queue(self) -> sqs.Queue:
        return self.delivery.dead_letter_queue

    @property
    def dashboard(self) -> cloudwatch.Dashboard:
        return self.monitoring.dashboard

    @property
    def operations_topic(self) -> sns.ITopic:
        return self.monitoring.operations_topic
