"""Property-based tests: whatever arrives, parsing and deciding end as decisions or a clean rejection.

Inputs are arbitrary JSON and mutations of every supported alert shape (fields missing, wrong types, huge strings,
unicode, control characters, nested junk), including mutations of the JSON carried inside an SNS message.
"""

from __future__ import annotations

import copy
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollout_guard import policy
from rollout_guard.halts import alert_kinds, alerts, guard
from rollout_guard.halts.alerts import UnrecognisedAlert
from rollout_guard.halts.jobs import comment_length, is_control
from rollout_guard.iot_limits import COMMENT_LIMIT, JOB_ID, REASON_CODE
from rollout_guard.policy import PolicyError
from tests.conftest import EVENTS, make_policy
from tests.unit.fakes import FakeJobs, active

EVERY_FIXTURE = {path.stem: json.loads(path.read_text()) for path in sorted(EVENTS.glob("*.json"))}
# The fleet signal's events (the detector's input, one SQS message body each) are not alerts.
FLEET_FIXTURES = {name: event for name, event in EVERY_FIXTURE.items() if name.startswith("iot_")}
FIXTURES = {name: event for name, event in EVERY_FIXTURE.items()
            if name not in FLEET_FIXTURES and not name.startswith("sqs_")}
EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "300"))  # make mutation runs them with fewer
POLICY = make_policy(
    """
    rules:
      - {name: crash, match: {alarm_name: "fw-*"}, jobs: ["fw-*"], max_jobs: 3}
      - {name: defender, match: {security_profile: "*"}}
      - {name: anything}
    """
)

text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
    st.sampled_from(["", "ALARM", "OK", "in-alarm", "fw-2-4-eu", "fw 2/4", "\n\t\x00", "\u202e\u200b", "x" * 5000]),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), text)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(text, children, max_size=5)),
    max_leaves=20,
)


def paths(value, prefix=()):
    """Every path to a value inside a JSON document."""
    yield prefix
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from paths(inner, (*prefix, index))


@st.composite
def mutated_alerts(draw):
    event = copy.deepcopy(FIXTURES[draw(st.sampled_from(sorted(FIXTURES)))])
    if "Records" in event and draw(st.booleans()):  # mutate the JSON inside the SNS message instead
        record = event["Records"][0]["Sns"]
        try:
            message = json.loads(record["Message"])
        except ValueError:
            message = record["Message"]
        record["Message"] = json.dumps(draw(mutate(message)))
        return event
    return draw(mutate(event))


@st.composite
def mutate(draw, document):
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        candidates = [path for path in paths(document) if path]
        if not candidates:
            return draw(json_values)
        path = draw(st.sampled_from(candidates))
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["delete", "replace", "nest"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "replace":
            parent[path[-1]] = draw(json_values)
        else:
            parent[path[-1]] = {"junk": [parent[path[-1]], draw(json_values)]}
    return document


def decide_or_reject(event) -> None:
    try:
        alert = alerts.parse(event)
    except UnrecognisedAlert as error:
        assert str(error) and "\n" not in str(error)
        return
    jobs = FakeJobs({job: active(job) for job in ("fw-2-4-eu", "fw-2-4-us")}, {"dev-canary-1": ["fw-2-4-eu"]})
    outcome = guard.respond(alert, POLICY, jobs)
    json.dumps(outcome.to_dict())  # the CLI prints it
    for decision in outcome.decisions:
        assert decision.action in {"canceled", "would_cancel", "skipped", "blocked", "failed", "escalated"}
    for call in jobs.cancels():
        assert JOB_ID.fullmatch(call[1])  # only valid ids ever reach the API
        assert comment_length(call[3]) <= COMMENT_LIMIT
        assert not any(is_control(char) for char in call[3])


@pytest.mark.slow
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_arbitrary_json_is_decided_or_rejected(event):
    decide_or_reject(event)


@pytest.mark.slow
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_alerts())
def test_mutated_alerts_are_decided_or_rejected(event):
    decide_or_reject(event)


@pytest.mark.slow
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(FLEET_FIXTURES)).flatmap(lambda name: mutate(copy.deepcopy(FLEET_FIXTURES[name]))))
def test_mutated_fleet_events_are_read_or_refused_in_one_line(message):
    from rollout_guard.fleet.events import DarkCheck, Execution, NotAFleetEvent, PackagesReported, Presence, parse_body

    try:
        event = parse_body(json.dumps(message))
    except NotAFleetEvent as error:
        assert str(error) and "\n" not in str(error)
        return
    assert isinstance(event, Execution | Presence | DarkCheck | PackagesReported) and event.at_ms > 0 if not isinstance(
        event, DarkCheck) else event.disconnects


@pytest.mark.slow
@settings(max_examples=EXAMPLES, deadline=None)
@given(st.dictionaries(st.sampled_from(["jobId", "jobIds", "severity", "reason", "source"]), json_values))
def test_custom_alert_bodies_are_decided_or_rejected(body):
    decide_or_reject({"source": "com.acme.monitoring", "detail-type": "Alert", "detail": body})


@pytest.mark.slow
@settings(max_examples=EXAMPLES, deadline=None)
@given(json_values)
def test_arbitrary_policies_load_or_list_their_problems(document):
    try:
        loaded = policy.load(document)
    except PolicyError as error:
        assert error.problems and all(isinstance(problem, str) for problem in error.problems)
        return
    assert loaded.rules


valid_rule = st.fixed_dictionaries(
    {"name": st.text(min_size=1, max_size=10)},
    optional={
        "reason_code": st.one_of(st.from_regex(r"[A-Z0-9_]{1,20}", fullmatch=True), text),
        "force": st.one_of(st.booleans(), scalars),
        "max_jobs": st.one_of(st.integers(min_value=-2, max_value=300), scalars),
        "jobs": st.one_of(st.lists(st.from_regex(r"[a-z*?-]{1,8}", fullmatch=True), max_size=3), json_values),
        "match": st.one_of(st.dictionaries(st.sampled_from(["alarm_name", "source", "severity", "security_profile",
                                                            "other"]), json_values, max_size=3), json_values),
        "comment": st.one_of(st.sampled_from(["{rule}: {reason}", "{job}", "{", "{reason!r}"]), text),
        "thing_group": json_values,
    },
)


@pytest.mark.slow
@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(valid_rule, min_size=1, max_size=4))
def test_near_valid_policies_load_or_name_the_rule(rules):
    try:
        loaded = policy.load({"rules": rules})
    except PolicyError as error:
        assert all(problem.startswith("rule ") for problem in error.problems)
        return
    for rule in loaded.rules:
        assert REASON_CODE.fullmatch(rule.reason_code) and rule.max_jobs >= 1


JOB_STATES = st.sampled_from(["IN_PROGRESS", "SCHEDULED", "COMPLETED", "CANCELED", "DELETION_IN_PROGRESS", "missing"])


@settings(max_examples=150, deadline=None)
@given(states=st.lists(JOB_STATES, min_size=1, max_size=12), cap=st.integers(min_value=1, max_value=8),
       dry_run=st.booleans())
def test_the_guard_cancels_every_active_job_within_the_cap_and_blocks_them_all_beyond_it(states, cap, dry_run):
    from rollout_guard.halts.decisions import BLOCKED, CANCELED, SKIPPED, WOULD_CANCEL
    from rollout_guard.halts.jobs import JobView

    known = {f"fw-{i}": JobView(f"fw-{i}", state) for i, state in enumerate(states) if state != "missing"}
    candidates = [f"fw-{i}" for i in range(len(states))]
    rule = make_policy(f"rules: [{{name: any, max_jobs: {cap}}}]").rules[0]
    jobs = FakeJobs(known)
    alert = alert_kinds.CustomAlert(via="sns", source="ops", job_ids=tuple(candidates))

    outcome = guard.respond(alert, policy.Policy(rules=(rule,)), jobs, dry_run=dry_run)

    acted = {d.job_id: d.action for d in outcome.decisions}
    live = {job_id for job_id, view in known.items() if view.status in ("IN_PROGRESS", "SCHEDULED")}
    if len(live) > cap:  # nothing is cancelled, every live job is blocked
        assert jobs.cancels() == [] and {job for job, action in acted.items() if action == BLOCKED} >= live
    else:
        assert acted == {job: (WOULD_CANCEL if dry_run else CANCELED) if job in live else SKIPPED
                         for job in candidates}
        assert len(jobs.cancels()) == (0 if dry_run else len(live))
