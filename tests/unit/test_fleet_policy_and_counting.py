"""The fleet signal without AWS: its policy keys read as strictly as the others, its events parsed strictly, and
its counting rules (thresholds, windows, the outage comparison) as pure functions."""

from __future__ import annotations

import json

import pytest

from rollout_guard import policy
from rollout_guard.fleet.casualties import DARK, Casualty, most_within, outage, verdict
from rollout_guard.fleet.events import DarkCheck, Execution, NotAFleetEvent, Presence, parse, parse_body
from rollout_guard.fleet.state import decode, encode
from rollout_guard.halts import alert_kinds, decisions
from rollout_guard.halts.alert_kinds import FLEET, FleetAlert
from rollout_guard.policy import Casualties, PolicyError
from rollout_guard_local import samples
from tests.conftest import make_policy


def fleet_rule(**casualties) -> dict:
    return {"name": "fleet", "match": {"signal": "casualties"}, "jobs": ["fw-*"], "casualties": casualties}


def problems_of(*rules) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        policy.load({"rules": list(rules)})
    return caught.value.problems


# --- policy -------------------------------------------------------------------------------------------------


def test_a_fleet_rule_loads_with_durations_in_seconds_or_units():
    loaded = make_policy("""
        rules:
          - name: fleet
            match: {signal: casualties}
            jobs: ["fw-*"]
            reason_code: FLEET
            dark_after: 2m
            casualties: {things: 5, within: 300, percent: 2.5, min_things: 50, fleet_things: 10000,
                         success_grace: 1h}
        """)

    rule = loaded.rules[0]
    assert rule.casualties == Casualties(things=5, within_s=300, percent=2.5, min_things=50, dark_after_s=120,
                                         fleet_things=10000, success_grace_s=3600)
    assert decisions.kinds_matched(rule) == {FLEET}
    assert loaded.dark_checks() == (120,)


def test_dark_after_may_sit_inside_casualties_but_not_in_both_places():
    inside = policy.load({"rules": [fleet_rule(things=3, dark_after="90s", fleet_things=100)]})
    assert inside.rules[0].casualties.dark_after_s == 90

    both = {**fleet_rule(things=3, dark_after=90, fleet_things=100), "dark_after": 90}
    assert problems_of(both) == ["rule 'fleet': dark_after is given twice (in the rule and in casualties): keep one"]


@pytest.mark.parametrize(("casualties", "problem"), [
    ({}, "casualties needs a threshold: things (and within), or percent and min_things"),
    ({"things": 0}, "casualties.things 0 must be a whole number from 1 to 2147483647"),
    ({"things": True}, "casualties.things True must be a whole number from 1 to 2147483647"),
    ({"things": 3, "within": "5 minutes"}, "casualties.within '5 minutes' must be a duration from 1 to 604800 "
                                           "seconds (a number of seconds, or like 90s, 5m, 1h)"),
    ({"within": 60, "percent": 5, "min_things": 10}, "casualties.within needs casualties.things"),
    ({"percent": 5}, "casualties.percent needs casualties.min_things, the executed things it waits for"),
    ({"percent": 0, "min_things": 5}, "casualties.percent 0 must be a number above 0 and at most 100"),
    ({"percent": 101, "min_things": 5}, "casualties.percent 101 must be a number above 0 and at most 100"),
    ({"things": 3, "min_things": 5}, "casualties.min_things needs casualties.percent"),
    ({"things": 3, "dark_after": 5, "fleet_things": 9}, "dark_after 5 must be a duration from 10 to 900 seconds (a number of seconds, "
                                     "or like 90s, 5m, 1h)"),
    ({"things": 3, "dark_after": "16m", "fleet_things": 9}, "dark_after '16m' must be a duration from 10 to 900 "
                                                             "seconds (a number of seconds, or like 90s, 5m, 1h)"),
    ({"things": 3, "dark_after": 60}, "dark_after needs casualties.fleet_things (the fleet's size) to tell a "
                                      "network outage from a firmware casualty"),
    ({"things": 3, "limit": 1}, "casualties: unknown key 'limit'"),
])
def test_every_casualties_problem_reads_exactly(casualties, problem):
    assert problems_of(fleet_rule(**casualties)) == [f"rule 'fleet': {problem}"]


def test_the_signal_and_its_threshold_go_together_and_alone():
    assert problems_of({"name": "a", "match": {"signal": "casualties"}}) == [
        "rule 'a': match.signal: casualties needs a casualties threshold"]
    assert problems_of({"name": "a", "casualties": {"things": 3}}) == [
        "rule 'a': casualties needs match.signal: casualties"]
    assert problems_of({"name": "a", "match": {"signal": "crashes"}}) == [
        "rule 'a': match.signal 'crashes' must be one of: casualties"]
    assert problems_of({"name": "a", "match": {"alarm_name": "x"}, "dark_after": 60}) == [
        "rule 'a': dark_after applies only to a rule with match.signal: casualties"]
    mixed = {**fleet_rule(things=3), "match": {"signal": "casualties", "alarm_name": "fw-*"}}
    assert problems_of(mixed) == ["rule 'fleet': match.signal cannot be combined with other match keys"]


def test_a_rule_without_match_keys_never_matches_the_fleet_signal():
    catch_all = make_policy("rules: [{name: any}]").rules[0]

    assert not decisions.rule_matches(catch_all, FleetAlert(job_ids=("fw-1",)))


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


# --- counting -----------------------------------------------------------------------------------------------


def casualties(*times: int, kind: str = "failed") -> list[Casualty]:
    return [Casualty(at, f"dev-{n}", kind) for n, at in enumerate(times)]


@pytest.mark.parametrize(("times", "window", "most"), [
    ([], 10, 0), ([0], 10, 1), ([0, 10, 20], 10, 2), ([0, 10, 20], 20, 3), ([0, 5, 100, 101, 102], 2, 3),
    ([0, 10, 11, 12], 10, 3)])
def test_the_most_casualties_in_any_window(times, window, most):
    assert most_within(times, window) == most


def test_the_threshold_is_crossed_at_exactly_n_and_not_before():
    rule = Casualties(things=3)
    assert not verdict(rule, casualties(1, 2), None, None).crossed
    assert verdict(rule, casualties(1, 2, 3), None, None).crossed


def test_duplicates_and_order_do_not_change_a_verdict():
    rule = Casualties(things=3, within_s=60)
    found = casualties(120_000, 0, 59_000, 61_000)
    shuffled = [found[2], found[0], found[3], found[1], found[2]]

    assert verdict(rule, found, None, None) == verdict(rule, shuffled, None, None)
    assert not verdict(rule, found, None, None).crossed  # no 60 s holds three of 0, 59, 61 and 120 s
    assert verdict(rule, casualties(0, 30_000, 60_000), None, None).crossed  # the window's ends count


def test_the_comment_names_the_count_the_threshold_and_the_first_things():
    found = casualties(1, 2, 3, 4, 5, 6)

    judged = verdict(Casualties(things=6), found, None, None)

    assert judged.detail == ("6 casualties, threshold 6 (6 failed): dev-0 failed, dev-1 failed, dev-2 failed, "
                             "dev-3 failed, dev-4 failed, ...")


def test_a_percentage_waits_for_its_minimum_sample_and_holds_at_its_boundary():
    rule = Casualties(percent=20, min_things=10)
    assert not verdict(rule, casualties(1, 2, 3), 9, None).crossed
    assert verdict(rule, casualties(1, 2), 10, None).crossed
    assert not verdict(rule, casualties(1, 2), 11, None).crossed


def test_an_outage_discounts_dark_things_only():
    found = [Casualty(1, "dev-1", DARK), Casualty(2, "dev-2", DARK), Casualty(3, "dev-3", "failed")]

    judged = verdict(Casualties(things=2), found, 10, "an outage")

    assert not judged.crossed and judged.discounted == 2 and [c.kind for c in judged.counted] == ["failed"]


@pytest.mark.parametrize(("dark", "executed", "others", "fleet", "is_outage"), [
    (3, 10, 20, 100, True),  # others 22% against the job's 30%: comparable
    (3, 10, 13, 100, False),  # 14.4% < 15%: just not comparable
    (3, 10, 14, 100, True),  # 15.6% >= 15%
    (3, 10, 0, 100, False),
    (0, 10, 50, 100, False),  # no dark thing: nothing to discount
])
def test_the_outage_comparison_is_half_the_jobs_share_or_more(dark, executed, others, fleet, is_outage):
    assert (outage(dark, executed, others, fleet) is not None) is is_outage


# --- IoT's CreateJob through CloudTrail (the pre-start gate's input) ----------------------------------------


def test_a_created_job_is_read_from_cloudtrails_record():
    from rollout_guard.halts import alerts
    from tests.conftest import load_event

    created = alerts.parse(load_event("cloudtrail_create_job"))

    assert (created.kind, created.via, created.job_ids) == (alert_kinds.JOB_CREATED, "cloudtrail", ("fw-2-6-eu",))
    assert created.subject == "the creation of job fw-2-6-eu"


@pytest.mark.parametrize(("change", "problem"), [
    (lambda e: e["detail"].update(errorCode="LimitExceededException"),
     "CreateJob failed ('LimitExceededException'): no job was created"),
    (lambda e: e["detail"].update(eventName="DeleteJob"), "CloudTrail event 'DeleteJob' of aws.iot is not CreateJob"),
    (lambda e: e["detail"].update(requestParameters={}, responseElements=None), "jobId is missing"),
])
def test_a_cloudtrail_record_that_creates_no_job_is_refused(change, problem):
    from rollout_guard.halts import alerts

    event = samples.job_created()
    change(event)

    with pytest.raises(alerts.UnrecognisedAlert) as caught:
        alerts.parse(event)
    assert str(caught.value) == problem


# --- the edges mutation testing found unpinned ---------------------------------------------------------------


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


def test_a_casualty_round_trips_through_the_store():
    casualty = Casualty(1_700_000_000_123, "dev-1", "timed_out")

    assert decode(encode(casualty)) == casualty


def test_the_window_holds_its_edge_to_the_millisecond():
    rule = Casualties(things=3, within_s=60)

    assert verdict(rule, casualties(0, 30_000, 60_000), None, None).crossed
    assert not verdict(rule, casualties(0, 30_000, 60_001), None, None).crossed


def test_a_percentage_before_any_execution_reads_zero_of_zero():
    judged = verdict(Casualties(percent=5, min_things=1), [], None, None)

    assert judged.crossed is False
    assert judged.detail == "0 of 0 executed things (0.0%), threshold 5% once 1 have executed"


@pytest.mark.parametrize(("dark", "executed", "others", "fleet", "is_outage"), [
    (2, 10, 10, 110, True),  # exactly half the job's share: comparable
    (1, 0, 30, 100, False),  # nothing executed yet: the job's share is dark / 1
    (3, 2, 1, 3, True),  # no other thing but one: the others' share is out of 1
])
def test_the_outage_comparison_at_its_edges(dark, executed, others, fleet, is_outage):
    assert (outage(dark, executed, others, fleet) is not None) is is_outage
