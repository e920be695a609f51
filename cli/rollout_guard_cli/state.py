"""`rollout-guard state init`: the exactly-once state table with the schema the stack deploys
(`rollout_guard.halts.claims`), where boto3 points. The drill, the bench and the tests make their tables with it too."""

from __future__ import annotations

from typing import Any

from rollout_guard.schema import TABLE_KEY, TABLE_TTL


def create_state_table(dynamodb: Any, name: str) -> bool:
    """Create the table and turn its TTL on; False when it already exists (left as it is)."""
    try:
        dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                              AttributeDefinitions=[{"AttributeName": TABLE_KEY, "AttributeType": "S"}],
                              KeySchema=[{"AttributeName": TABLE_KEY, "KeyType": "HASH"}])
    except dynamodb.exceptions.ResourceInUseException:
        return False
    dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TABLE_TTL})
    return True
