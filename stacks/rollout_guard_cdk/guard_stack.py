"""The stack `app.py` deploys: the RolloutGuard construct and its outputs."""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, CfnOutput, Stack
from constructs import Construct

from . import outputs
from .config import GuardConfig
from .control import ControlLink
from .environments import Control
from .rollout_guard import RolloutGuard


class RolloutGuardStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: GuardConfig, control: Control | None = None,
                 **kwargs: Any) -> None:
        super().__init__(scope, construct_id, description="rollout-guard: halts IoT firmware rollouts on alerts",
                         **kwargs)
        self.guard = RolloutGuard(self, "Guard", config=config)
        # The guard's halts also reach the control bus of the home region, when there is one.
        self.control_link = ControlLink(self.guard, control, self.guard.dead_letter_queue) if control else None
        guard = self.guard
        CfnOutput(self, outputs.ALERT_TOPIC, value=guard.topic.topic_arn,
                  description="Use as a CloudWatch alarm action to route the alarm to the guard")
        CfnOutput(self, outputs.FUNCTION, value=guard.function.function_name,
                  description="What `rollout-guard halt` and `status` invoke and read in this environment")
        CfnOutput(self, outputs.STATE_TABLE, value=guard.state.table.table_name)
        CfnOutput(self, outputs.DEAD_LETTER_QUEUE, value=guard.dead_letter_queue.queue_url)
        CfnOutput(self, outputs.OPERATIONS_TOPIC, value=guard.operations_topic.topic_arn,
                  description="Every alarm of the guard and a line per halt: subscribe e-mail or chat here")
        CfnOutput(self, outputs.DASHBOARD, value=(
            f"https://{Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region={Aws.REGION}"
            f"#dashboards:name={guard.dashboard.dashboard_name}"))
        self._found_by_the_cli(guard)

    def _found_by_the_cli(self, guard: RolloutGuard) -> None:
        """What `rollout-guard doctor` reads besides the outputs above, each present when the guard has it."""
        alarm_rule = next((rule for rule in guard.delivery.rules if rule.node.id == "AlarmRule"), None)
        if alarm_rule is not None:
            CfnOutput(self, outputs.ALARM_RULE, value=alarm_rule.rule_name)
        if guard.fleet is not None:
            CfnOutput(self, outputs.FLEET_QUEUE, value=guard.fleet.queue.queue_url)
            CfnOutput(self, outputs.FLEET_ERROR_QUEUE, value=guard.fleet.errors.queue_url)
        if guard.escalation is not None:
            CfnOutput(self, outputs.TIMER_DEAD_LETTER_QUEUE, value=guard.escalation.dead_letters.queue_url)
            CfnOutput(self, outputs.ESCALATION_SCHEDULER_ROLE, value=guard.escalation.role.role_name)
