"""The edges a reader of the parsers would not think of at first (each one was a surviving mutant): given the
input, then exactly this result."""

import json

import pytest

from rollout_guard import policy
from rollout_guard.halts import alert_kinds, alerts, decisions
from rollout_guard.halts.alerts import UnrecognisedAlert
from rollout_guard.policy import PolicyError
from rollout_guard_local import samples
from tests.conftest import make_policy


def sns(message) -> dict:
    return samples.sns_envelope(message)


@pytest.mark.parametrize(("record", "problem"), [
    ({"Sns": {"Message": ""}}, "Sns.Message must be a non-empty string"),
    ({"Sns": {}}, "Sns.Message is missing"),
    ({"Sns": {"Message": 7}}, "Sns.Message must be a non-empty string"),
    ({"Sns": "x"}, "Records[0].Sns must be an object"),
])
def test_an_sns_record_without_a_usable_message_is_refused(record, problem):
    with pytest.raises(UnrecognisedAlert) as caught:
        alerts.parse({"Records": [record]})

    assert str(caught.value) == problem


@pytest.mark.parametrize(("drop", "problem"), [("violationEventType", "violationEventType is missing"),
                                               ("securityProfileName", "securityProfileName is missing"),
                                               ("thingName", "thingName is missing")])
def test_a_defender_message_needs_its_profile_its_event_type_and_its_thing(drop, problem):
    message = json.loads(samples.defender_sns()["Records"][0]["Sns"]["Message"])
    del message[drop]

    with pytest.raises(UnrecognisedAlert) as caught:
        alerts.parse(sns(message))

    assert str(caught.value) == problem


def test_a_defender_message_reads_every_field():
    alert = alerts.parse(samples.defender_sns(thing_name="dev-9", security_profile="fw-x",
                                              violation_event_type="alarm-cleared"))

    assert (alert.kind, alert.via, alert.thing_name, alert.security_profile, alert.violation_event_type) == (
        alert_kinds.DEFENDER, "sns", "dev-9", "fw-x", "alarm-cleared")
    assert alert.reason == "Device Defender behavior CrashReports violated on dev-9"
    assert alert.timestamp == "2026-11-30T10:00:00+00:00"  # violationEventTime 1796032800000 ms
    assert alert.correlation_id == json.loads(samples.defender_sns(
        thing_name="dev-9", security_profile="fw-x", violation_event_type="alarm-cleared")["Records"][0]["Sns"][
        "Message"])["violationId"]


def test_an_sns_custom_alert_with_only_job_ids():
    alert = alerts.parse(sns({"jobIds": ["fw-1", "fw-2", "fw-1"], "source": "com.acme.x"}))

    assert (alert.kind, alert.job_ids, alert.source, alert.severity, alert.reason) == (
        alert_kinds.CUSTOM, ("fw-1", "fw-2"), "com.acme.x", None, "")


def test_an_sns_custom_alert_with_an_empty_job_list_is_refused():
    with pytest.raises(UnrecognisedAlert, match="must name at least one job"):
        alerts.parse(sns({"jobIds": []}))


@pytest.mark.parametrize("field", ["severity", "reason", "source"])
def test_optional_fields_sent_as_empty_strings_are_absent(field):
    body = {"jobId": "fw-1", "source": "com.acme.x", "severity": "high", "reason": "why", field: ""}

    alert = alerts.parse(sns(body))

    assert getattr(alert, field) in (None, "")
    assert alert.summary().get(field) is None


def test_the_summary_carries_every_field_every_halt_event_carries():
    alert = alerts.parse(samples.alarm_composite(previous_state="ALARM", previous_suppressed_by="WaitPeriod"))

    assert alert.summary() == {
        "kind": "cloudwatch_alarm", "via": "eventbridge", "correlationId": alert.correlation_id,
        "alarmName": "fw-crash-rate-composite", "state": "ALARM", "previousState": "ALARM",
        "previousActionsSuppressedBy": "WaitPeriod", "jobIds": ["fw-2-4-eu"],
        "reason": "Threshold Crossed: CrashRate moved to ALARM", "timestamp": "2026-11-29T10:00:00.000+0000"}
    defender = alerts.parse(samples.defender_sns()).summary()
    assert {"securityProfile", "thingName", "violationEventType"} <= set(defender)
    custom = alerts.parse(samples.custom_sns()).summary()
    assert (custom["source"], custom["severity"]) == ("com.acme.monitoring", "critical")


def test_a_comment_that_cleans_down_to_nothing_falls_back_to_the_rule_name():
    rule = make_policy('rules: [{name: quiet, comment: "{reason}"}]').rules[0]
    alert = alert_kinds.CustomAlert(via="sns", reason="\n\t\u200b", job_ids=("fw-1",))

    assert decisions.render_comment(rule, alert) == "rollout-guard rule quiet"


def test_max_jobs_of_one_is_allowed_and_caps_at_one():
    rule = make_policy("rules: [{name: one, max_jobs: 1}]").rules[0]
    from rollout_guard.halts import guard
    from rollout_guard.halts.jobs import JobView
    from rollout_guard.policy import Policy
    from tests.unit.fakes import FakeJobs

    def acted(*job_ids):
        fake = FakeJobs({job_id: JobView(job_id, "IN_PROGRESS") for job_id in job_ids})
        alert = alert_kinds.CustomAlert(via="sns", source="ops", job_ids=job_ids)
        return [d.action for d in guard.respond(alert, Policy(rules=(rule,)), fake).decisions]

    assert rule.max_jobs == 1
    assert acted("a") == ["canceled"]
    assert acted("a", "b") == ["blocked", "blocked"]
    with pytest.raises(PolicyError, match="max_jobs 0"):
        make_policy("rules: [{name: none, max_jobs: 0}]")


@pytest.mark.parametrize(("document", "problem"), [
    ({"defaults": ["force"], "rules": [{"name": "a"}]}, "'defaults' must be a mapping"),
    ({"rules": [{"name": "a", "match": ["alarm_name"]}]}, "rule 'a': match must be a mapping"),
    ({"rules": [{"name": "a", "match": {"severity": []}}]}, "rule 'a': match.severity must be a non-empty list"),
])
def test_mappings_that_are_not_mappings_are_named(document, problem):
    with pytest.raises(PolicyError) as caught:
        policy.load(document)

    assert any(found.startswith(problem) for found in caught.value.problems), caught.value.problems


def test_the_json_suffix_chooses_the_json_parser(tmp_path):
    as_json, as_yaml = tmp_path / "policy.json", tmp_path / "policy.yaml"
    text = '{"rules": [{"name": "a", "reason_code": "X"}]}\n# a YAML comment is not JSON'
    as_json.write_text(text)
    as_yaml.write_text(text)

    with pytest.raises(PolicyError, match="not valid JSON"):
        policy.load_file(as_json)
    assert policy.load_file(as_yaml).rules[0].reason_code == "X"


@pytest.mark.parametrize(("document", "problems"), [
    ([], ["the policy must be a mapping with 'rules' (and optionally 'defaults')"]),
    ({"rules": []}, ["'rules' must be a non-empty list"]),
    ({1: "x", "b": 2, "rules": [{"name": "a"}]}, ["unknown top-level key 1", "unknown top-level key 'b'"]),
    ({"defaults": {1: 0, "z": 0}, "rules": [{"name": "a"}]}, ["defaults: unknown key 1", "defaults: unknown key 'z'"]),
    ({"rules": [{"name": "a", 2: 0, "y": 0}]}, ["rule 'a': unknown key 2", "rule 'a': unknown key 'y'"]),
    ({"rules": [{"name": "a", "match": {3: 0, "x": 0}}]},
     ["rule 'a': match: unknown key 3", "rule 'a': match: unknown key 'x'"]),
    ({"rules": [{"name": "a", "dry_run": "yes"}]}, ["rule 'a': dry_run must be true or false"]),
    ({"rules": [{"name": "a", "comment": "  "}]}, ["rule 'a': comment must be a non-empty template"]),
    ({"rules": [{"name": "a", "comment": "{nope}"}]}, ["rule 'a': comment may use only the plain placeholders "
                                                        "{alarm_name} {job_id} {reason} {rule} {source} {state} {thing_name}"]),
    ({"rules": [{"name": "a", "thing_group": "bad group!"}]},
     ["rule 'a': thing_group 'bad group!' is not a thing group name"]),
])
def test_every_policy_problem_reads_exactly(document, problems):
    with pytest.raises(PolicyError) as caught:
        policy.load(document)

    assert caught.value.problems == problems
    assert str(caught.value) == "; ".join(problems)


def test_a_duplicate_key_is_named_by_rule_number_when_the_rule_has_no_name(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("rules:\n  - {reason_code: A, reason_code: B}\n  - name: b\n")

    with pytest.raises(PolicyError) as caught:
        policy.load_file(path)

    assert caught.value.problems == ["rule #1: duplicate key 'reason_code'"]


def test_a_policy_file_is_read_as_utf8(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_bytes('rules:\n  - name: "crash-\u00e9t\u00e9"\n'.encode("utf-8"))

    assert policy.load_file(path).rules[0].name == "crash-\u00e9t\u00e9"
