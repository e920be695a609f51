"""The guard stack's outputs, by key: the stack declares each (`guard_stack`, `delivery`), and the operator's CLI
finds the guard's resources by them, never by a logical id. Plain Python: the CLI reads it without aws-cdk-lib."""

from __future__ import annotations

ALERT_TOPIC = "AlertTopicArn"
FUNCTION = "FunctionName"
STATE_TABLE = "StateTableName"
DEAD_LETTER_QUEUE = "DeadLetterQueueUrl"
OPERATIONS_TOPIC = "OperationsTopicArn"
DASHBOARD = "DashboardUrl"
DEFENDER_ALERT_ROLE = "DefenderAlertRoleArn"  # when the guard hears Device Defender
ALARM_RULE = "AlarmRuleName"  # when alarmNamePrefixes routes alarms through EventBridge
FLEET_QUEUE = "FleetQueueUrl"  # with the fleet signal
FLEET_ERROR_QUEUE = "FleetErrorQueueUrl"  # with the fleet signal
TIMER_DEAD_LETTER_QUEUE = "TimerDeadLetterQueueUrl"  # when a throttle rule has the guard watch its jobs
ESCALATION_SCHEDULER_ROLE = "EscalationSchedulerRoleName"  # the same
