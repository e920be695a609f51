"""The state table, once: its key, its TTL attribute, and every kind of item it holds (key prefix, how long it is
kept). The claims and fleet adapters and the stack read it here, `rollout-guard state init` and the local tools create
the table from it; what each item holds is told where it is written (`halts.claims`, `fleet.state`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TABLE_KEY = "id"  # the partition key, a string
TABLE_TTL = "expiration"  # epoch seconds; DynamoDB deletes an item some time after


@dataclass(frozen=True)
class ItemKind:
    prefix: str  # every key of the kind begins so (the stream's low-water mark is the one key "stream")
    ttl_s: int


# Exactly-once claims (Powertools Idempotency's records): a claim outlives any duplicate delivery; short, because a
# deleted job's id can come back.
CLAIM = ItemKind("rollout-guard-claim", 600)
# The fleet signal's items (`fleet.state` says what each holds).
THING = ItemKind("thing#", 3 * 86400)  # one thing's day
MINUTE = ItemKind("minute#", 2 * 86400)  # the fleet's connects and disconnects of a minute, in shards
CASUALTY = ItemKind("casualty#", 30 * 86400)  # one thing's first casualty for a job
CASUALTIES = ItemKind("casualties#", 30 * 86400)  # a job's casualties: buckets, shard tallies, the job's tally
STREAM = ItemKind("stream", 2 * 86400)  # the fleet queue's low-water mark
# A job the guard throttled: its configuration before, and what the guard set (`halts.throttle.records`).
THROTTLE = ItemKind("throttle#", 30 * 86400)
# A thing's SUCCEEDED reports on jobs, kept past its days for a rule's `watch_after` (a week at most, and a day more).
WATCH = ItemKind("watch#", 8 * 86400)
# After a rollout (`halts.reverts`): a job found regressed (announced once), and the revert prepared for it.
AFTER = ItemKind("after#", 30 * 86400)
KINDS = (CLAIM, THING, MINUTE, CASUALTY, CASUALTIES, STREAM, THROTTLE, WATCH, AFTER)


def kind_of(key: str) -> ItemKind:
    """The kind of the item under `key` (a key of no known kind is refused: nothing writes one)."""
    for kind in KINDS:  # no prefix begins another
        if key.startswith(kind.prefix):
            return kind
    raise ValueError(f"no item kind for key {key!r}")


def create_state_table(dynamodb: Any, name: str) -> bool:
    """The table with this schema where `dynamodb` (a boto3 client) points, its TTL on (`rollout-guard state init`,
    the drill, the simulator, the bench); False when it already exists (left as it is)."""
    try:
        dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                              AttributeDefinitions=[{"AttributeName": TABLE_KEY, "AttributeType": "S"}],
                              KeySchema=[{"AttributeName": TABLE_KEY, "KeyType": "HASH"}])
    except dynamodb.exceptions.ResourceInUseException:
        return False
    dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TABLE_TTL})
    return True
