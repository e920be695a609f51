"""The fleet's events parsed strictly, without AWS: each kind to its type in milliseconds, each field checked with
its own one-line message, and what the runtime takes for fleet input."""

from __future__ import annotations

import json

import pytest

from rollout_guard.fleet.events import DarkCheck, Execution, NotAFleetEvent, Presence, parse, parse_body
from rollout_guard_local import samples

# --- events -------------------------------------------------------------------------------------------------


def test_fleet_events_parse_to_their_types_in_milliseconds():
    assert parse(samples.job_execution("fw-1", "dev-1", "FAILED", 1_700_000_000_000)) == Execution(
        "fw-1", "dev-1", "FAILED", 1_700_000_000_000)
    assert parse(samples.presence("dev-1", True, 1_700_000_000_123)) == Presence("dev-1", True, 1_700_000_000_123)
    check = DarkCheck(120, (("dev-1", 1_700_000_000_000),))
    assert parse_body(json.dumps(check.message())) == check


@pytest.mark.parametrize(("body", "problem"), [
    ("{", "the message body is not JSON"),
    ("[]", "expected a JSON object, got list"),
    (json.dumps({"eventType": "JOB"}), "eventType 'JOB' is not a job execution or lifecycle event"),
    (json.dumps({**samples.job_execution(), "thingArn": "arn:aws:iot:eu-west-1:1:thing/bad name"}),
     "thing name 'bad name' is not a thing name"),
    (json.dumps({**samples.presence(), "timestamp": "now"}), "timestamp must be an epoch time from 2015 to 2100 (seconds or milliseconds)"),
    (json.dumps({**samples.presence(), "clientId": 7}), "clientId must be a non-empty string"),
    (json.dumps({"rolloutGuard": "dark-check", "darkAfter": 60, "disconnects": []}),
     "disconnects must be a non-empty list"),
])
def test_a_message_that_is_not_a_fleet_event_is_refused_in_one_line(body, problem):
    with pytest.raises(NotAFleetEvent) as caught:
        parse_body(body)
    assert str(caught.value) == problem



# --- each field, each edge ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("message", "problem"), [
    ({**samples.job_execution(), "thingArn": None}, "thingArn must be a non-empty string"),
    ({**samples.job_execution(), "jobId": ""}, "jobId must be a non-empty string"),
    ({**samples.job_execution(), "status": 3}, "status must be a non-empty string"),
    ({**samples.presence(), "timestamp": True}, "timestamp must be an epoch time from 2015 to 2100 (seconds or milliseconds)"),
    ({**samples.presence(), "timestamp": 0}, "timestamp must be an epoch time from 2015 to 2100 (seconds or milliseconds)"),
    ({**samples.presence(), "timestamp": 1.1754943508222875e-38}, "timestamp must be an epoch time from 2015 to 2100 (seconds or milliseconds)"),
    ({**samples.presence(), "timestamp": 10**20}, "timestamp must be an epoch time from 2015 to 2100 (seconds or milliseconds)"),
    ({"rolloutGuard": "dark-check", "darkAfter": -1, "disconnects": [["dev-1", 1]]},
     "darkAfter must be a whole number of seconds"),
    ({"rolloutGuard": "dark-check", "darkAfter": True, "disconnects": [["dev-1", 1]]},
     "darkAfter must be a whole number of seconds"),
    ({"rolloutGuard": "dark-check", "darkAfter": 60, "disconnects": "dev-1"}, "disconnects must be a non-empty list"),
    ({"rolloutGuard": "dark-check", "darkAfter": 60, "disconnects": [["dev-1"]]},
     "each disconnect must be [client id, epoch milliseconds]"),
    ({"rolloutGuard": "dark-check", "darkAfter": 60, "disconnects": [("dev-1", 1, 2)]},
     "each disconnect must be [client id, epoch milliseconds]"),
    ({"rolloutGuard": "dark-check", "darkAfter": 60, "disconnects": [[7, 1]]}, "client id must be a non-empty string"),
])
def test_each_field_of_a_fleet_event_is_checked_with_its_own_message(message, problem):
    with pytest.raises(NotAFleetEvent) as caught:
        parse_body(json.dumps(message))
    assert str(caught.value) == problem


@pytest.mark.parametrize("text", ["Infinity", "NaN", "-Infinity"])
def test_a_timestamp_that_is_no_number_json_allows_is_refused(text):
    with pytest.raises(NotAFleetEvent) as caught:
        parse_body(json.dumps(samples.presence())[:-1] + f', "timestamp": {text}}}')
    assert str(caught.value) == "timestamp must be an epoch time from 2015 to 2100 (seconds or milliseconds)"


def test_a_body_that_is_not_text_is_refused():
    with pytest.raises(NotAFleetEvent) as caught:
        parse_body({"eventType": "connected"})
    assert str(caught.value) == "the message body must be JSON text"


def test_a_timestamp_in_seconds_and_one_in_milliseconds_mean_the_same_moment():
    seconds = parse({**samples.presence(), "timestamp": 1_700_000_000})
    millis = parse({**samples.presence(), "timestamp": 1_700_000_000_000})

    assert seconds.at_ms == millis.at_ms == 1_700_000_000_000


def test_what_the_runtime_takes_for_fleet_input():
    from rollout_guard.fleet.events import is_fleet_event, is_sqs_batch

    assert is_sqs_batch(samples.sqs_batch(samples.presence()))
    assert not is_sqs_batch(samples.alarm_sns()) and not is_sqs_batch({"Records": []})
    assert not is_sqs_batch({"Records": [{"eventSource": "aws:sqs"}, {"eventSource": "aws:sns"}]})
    assert is_fleet_event(samples.presence()) and is_fleet_event(samples.job_execution())
    assert is_fleet_event(DarkCheck(60, (("dev-1", 1),)).message())
    assert not is_fleet_event(samples.alarm_eventbridge()) and not is_fleet_event([samples.presence()])


DUE_CHECK = {"rolloutGuard": "dark-check", "darkAfter": 60, "disconnects": [["dev-1", 1796032800000]]}


@pytest.mark.parametrize(("changes", "read"), [
    ({"darkAfter": 0}, DarkCheck(0, (("dev-1", 1796032800000),))),
    ({"round": 1, "jobId": "fw-1", "dueAt": 1796032900000},
     DarkCheck(60, (("dev-1", 1796032800000),), 1, "fw-1", 1796032900000, 0)),
    ({"round": 2, "jobId": "fw-1", "dueAt": 1796032900000, "fleetBackAt": 1796032850000},
     DarkCheck(60, (("dev-1", 1796032800000),), 2, "fw-1", 1796032900000, 1796032850000)),
])
def test_a_dark_check_and_a_recheck_are_read_field_by_field(changes, read):
    assert parse_body(json.dumps({**DUE_CHECK, **changes})) == read


@pytest.mark.parametrize(("changes", "problem"), [
    ({"darkAfter": -1}, "darkAfter must be a whole number of seconds"),
    ({"round": -1}, "round must be a whole number"),
    ({"round": True}, "round must be a whole number"),
    ({"round": 1, "dueAt": 1796032900000}, "jobId must be a non-empty string"),
    ({"round": 1, "jobId": "fw-1", "dueAt": 1796032900000, "fleetBackAt": "x"},
     "timestamp must be an epoch time from 2015 to 2100 (seconds or milliseconds)"),
])
def test_each_field_of_a_dark_check_is_checked_with_its_own_message(changes, problem):
    with pytest.raises(NotAFleetEvent) as caught:
        parse_body(json.dumps({**DUE_CHECK, **changes}))
    assert str(caught.value) == problem


# --- bounds: each at its edge -------------------------------------------------------------------------------


def test_a_body_of_sqs_largest_size_is_read_and_one_character_more_is_refused():
    from rollout_guard.fleet.events import MAX_BODY

    event = samples.presence("dev-1", True, samples.EPOCH_MS)
    padded = json.dumps({**event, "pad": ""})
    exact = json.dumps({**event, "pad": "x" * (MAX_BODY - len(padded))})

    assert len(exact) == MAX_BODY and parse_body(exact) == Presence("dev-1", True, samples.EPOCH_MS)
    with pytest.raises(NotAFleetEvent) as refused:
        parse_body(exact[:-2] + 'x"}')
    assert str(refused.value) == f"the message body is over {MAX_BODY} characters"


def nested(depth: int, leaf: object = 1) -> object:
    """A value `depth` containers deep, alternating objects and lists."""
    for level in range(depth):
        leaf = {"k": leaf} if level % 2 == 0 else [leaf]
    return leaf


@pytest.mark.parametrize("depth", [31, 32])
def test_a_message_nested_as_deep_as_allowed_is_read(depth):
    # the message itself is the first level: `depth - 1` containers inside it
    message = {**samples.presence("dev-1", True, samples.EPOCH_MS), "extra": nested(depth - 1)}
    assert parse(message) == Presence("dev-1", True, samples.EPOCH_MS)


@pytest.mark.parametrize("where", ["first", "last"])
def test_a_message_nested_one_level_deeper_is_refused_wherever_the_deep_branch_is(where):
    from rollout_guard.fleet.events import MAX_DEPTH

    deep, shallow = nested(MAX_DEPTH), {"flat": [1, 2]}
    branches = [deep, shallow] if where == "first" else [shallow, deep]
    message = {**samples.presence(), "a": branches[0], "b": branches[1]}

    with pytest.raises(NotAFleetEvent) as refused:
        parse(message)
    assert str(refused.value) == f"the message is nested deeper than {MAX_DEPTH}"


def test_objects_nested_in_objects_count_as_deep_as_lists():
    from rollout_guard.fleet.events import MAX_DEPTH

    deep: object = 1
    for _ in range(MAX_DEPTH):
        deep = {"k": deep}
    with pytest.raises(NotAFleetEvent, match="nested deeper"):
        parse({**samples.presence(), "deep": deep})


@pytest.mark.parametrize(("timestamp", "at_ms"), [
    (1_420_070_400_000, 1_420_070_400_000),  # 2015's first millisecond: milliseconds
    (1_420_070_400, 1_420_070_400_000),  # the same moment in seconds
    (4_102_444_800, 4_102_444_800_000),  # 2100, in seconds
    (4_102_444_800_000, 4_102_444_800_000),  # 2100, in milliseconds
    (1_795_946_400.5, 1_795_946_400_500),  # a finite float of seconds
])
def test_a_timestamp_is_read_up_to_its_bounds(timestamp, at_ms):
    assert parse({**samples.presence(), "timestamp": timestamp}).at_ms == at_ms


@pytest.mark.parametrize("timestamp", [1_420_070_399_999, 1_420_070_399, 4_102_444_800_001, 4_102_444_801,
                                       float("inf"), float("-inf"), float("nan"), -1e308, 10**400, -(10**400), True])
def test_a_timestamp_past_its_bounds_is_refused(timestamp):
    with pytest.raises(NotAFleetEvent) as refused:
        parse({**samples.presence(), "timestamp": timestamp})
    assert str(refused.value) == "timestamp must be an epoch time from 2015 to 2100 (seconds or milliseconds)"


def test_a_thing_is_the_last_part_of_its_arn():
    event = {**samples.job_execution("fw-1", "dev-1"), "thingArn": "arn:aws:iot:eu-west-1:1:thing/extra/dev-1"}
    assert parse(event).thing == "dev-1"


@pytest.mark.parametrize("event", [[{"eventSource": "aws:sqs"}], "Records", None, {"Records": []},
                                   {"Records": [{"eventSource": "aws:sns"}]}])
def test_what_is_not_an_sqs_batch(event):
    from rollout_guard.fleet.events import is_sqs_batch

    assert is_sqs_batch(event) is False
