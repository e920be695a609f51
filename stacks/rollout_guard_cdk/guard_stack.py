"""The stack `app.py` deploys: the RolloutGuard construct and its outputs."""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, CfnOutput, Stack
from constructs import Construct

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
        CfnOutput(self, "AlertTopicArn", value=self.guard.topic.topic_arn,
                  description="Use as a CloudWatch alarm action to route the alarm to the guard")
        CfnOutput(self, "FunctionName", value=self.guard.function.function_name,
                  description="What `rollout-guard halt` and `status` invoke and read in this environment")
        CfnOutput(self, "StateTableName", value=self.guard.state.table.table_name)
        CfnOutput(self, "DeadLetterQueueUrl", value=self.guard.dead_letter_queue.queue_url)
        CfnOutput(self, "OperationsTopicArn", value=self.guard.operations_topic.topic_arn,
                  description="Every alarm of the guard and a line per halt: subscribe e-mail or chat here")
        CfnOutput(self, "DashboardUrl", value=(
            f"https://{Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region={Aws.REGION}"
            f"#dashboards:name={self.guard.dashboard.dashboard_name}"))
