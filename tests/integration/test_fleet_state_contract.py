"""One contract, two adapters: the DynamoDB fleet state (on moto) and the in-memory one (the CLI, the replay, the
simulator at a million devices) answer the same for the same writes, so the figures taken on the in-memory state
hold for the table."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from rollout_guard.adapters.dynamo_fleet import DynamoFleetState
from rollout_guard.adapters.memory_fleet import InMemoryFleetState
from rollout_guard.fleet.casualties import DARK, STILL_DARK, Casualty
from rollout_guard.fleet.state import MINUTE_SHARDS, MinuteCounts, thing_key
from rollout_guard.schema import create_state_table

AT = 1_800_000_000_000


@pytest.fixture(params=["dynamodb", "memory"])
def state(request):
    if request.param == "memory":
        yield InMemoryFleetState(complete=False)
        return
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        create_state_table(client, "contract")
        yield DynamoFleetState("contract", lambda: client)


def test_a_thing_keeps_its_first_record_and_counts_once_in_its_minute(state):
    state.add_casualties("fw-1", [Casualty(AT + 5_000, "a", "failed"), Casualty(AT + 1_000, "a", "timed_out")])
    state.add_casualties("fw-1", [Casualty(AT, "a", "rejected"), Casualty(AT + 2_000, "b", "failed")])

    assert state.tally("fw-1").minutes == {AT // 60_000: {"timed_out": 1, "failed": 1}}
    assert sorted(state.casualties("fw-1", [AT // 60_000])) == [Casualty(AT + 1_000, "a", "timed_out"),
                                                                  Casualty(AT + 2_000, "b", "failed")]


def test_a_dark_thing_that_fails_since_is_confirmed_whatever_an_outage_says(state):
    state.add_casualties("fw-1", [Casualty(AT, "a", DARK)])
    state.add_casualties("fw-1", [Casualty(AT + 600_000, "a", "timed_out")])

    tally = state.tally("fw-1")
    assert tally.minutes == {AT // 60_000: {DARK: 1, STILL_DARK: 1}}
    assert tally.counted("outage") == (1, 0) and tally.counted(None) == (1, 0)


def test_minute_counts_add_up_over_shards_and_thing_days_are_unions(state):
    minute = AT // 60_000
    for shard in range(MINUTE_SHARDS):
        state.count_minute(minute, shard, MinuteCounts(2, 1, 3))
    state.note_thing(thing_key("a", AT), [AT, AT + 1], [(AT, "fw-1")])
    state.note_thing(thing_key("a", AT), [AT + 1], [(AT + 5, "fw-1")])

    assert state.minutes([minute, minute + 1]) == {minute: MinuteCounts(2 * MINUTE_SHARDS, MINUTE_SHARDS,
                                                                        3 * MINUTE_SHARDS)}
    (days,) = state.things([thing_key("a", AT), thing_key("b", AT)]).values()
    assert days.connected == {AT, AT + 1} and days.succeeded == {(AT, "fw-1"), (AT + 5, "fw-1")}


def test_the_low_water_mark_only_rises(state):
    assert state.stream_position() == 0
    state.advance_stream(AT)
    state.advance_stream(AT - 1_000)

    assert state.stream_position() == AT


def test_a_minute_of_many_casualties_spreads_over_shards_and_adds_up_exactly(state):
    things = [f"dev-{n:04d}" for n in range(120)]
    for start in range(0, 120, 7):
        state.add_casualties("fw-1", [Casualty(AT + n, thing, "failed") for n, thing in enumerate(things[start:start + 7],
                                                                                                  start)])
    state.add_casualties("fw-1", [Casualty(AT + 5, things[5], "failed")])  # redelivered

    assert state.tally("fw-1").minutes == {AT // 60_000: {"failed": 120}}
    assert sorted(c.thing for c in state.casualties("fw-1", [AT // 60_000])) == things
