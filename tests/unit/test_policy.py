"""Given a policy document, when loaded, then it is accepted as written or every problem is named."""

import json

import pytest

from rollout_guard import policy
from rollout_guard.halts import decisions
from rollout_guard.halts.alert_kinds import FLEET, FleetAlert
from rollout_guard.policy import Abort, Casualties, PolicyError, Throttle, load_file
from tests.conftest import ROOT, make_policy


def problems_of(document) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        policy.load(document)
    return caught.value.problems


def test_full_example_loads_with_defaults_applied():
    loaded = make_policy(
        """
        defaults:
          reason_code: ROLLOUT_HALTED
          force: false
          max_jobs: 3
          dry_run: false
        rules:
          - name: crash-rate
            match:
              alarm_name: "fw-crash-rate-*"
              severity: critical
            jobs: ["fw-*"]
            thing_group: fleet-eu
            reason_code: FIRMWARE_CRASH_RATE
            force: true
            comment: "{alarm_name}: {reason}"
          - name: fallback
        """
    )

    crash, fallback = loaded.rules
    assert crash.reason_code == "FIRMWARE_CRASH_RATE"
    assert crash.force is True
    assert crash.max_jobs == 3
    assert crash.jobs == ("fw-*",)
    assert crash.thing_group == "fleet-eu"
    assert crash.match.severity == ("critical",)
    assert (fallback.reason_code, fallback.force, fallback.max_jobs, fallback.dry_run) == (
        "ROLLOUT_HALTED", False, 3, False)


def test_builtin_defaults_when_none_given():
    rule = make_policy("rules: [{name: r}]").rules[0]

    assert (rule.reason_code, rule.force, rule.max_jobs, rule.dry_run) == ("ROLLOUT_HALTED", False, 10, False)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"name": "r1", "forse": True}, "rule 'r1': unknown key 'forse'"),
        ({"name": "r1", "reason_code": "crash_rate"}, "rule 'r1': reason_code 'crash_rate'"),
        ({"name": "r1", "reason_code": "X" * 129}, "rule 'r1': reason_code"),
        ({"name": "r1", "jobs": [""]}, "rule 'r1': jobs: empty glob"),
        ({"name": "r1", "jobs": []}, "rule 'r1': jobs must be a non-empty list"),
        ({"name": "r1", "jobs": ["fw/*"]}, "rule 'r1': jobs: glob 'fw/*'"),
        ({"name": "r1", "match": {"alarm_name": ""}}, "rule 'r1': match.alarm_name must be a non-empty glob"),
        ({"name": "r1", "match": {"alarm": "x"}}, "rule 'r1': match: unknown key 'alarm'"),
        ({"name": "r1", "match": {"severity": []}}, "rule 'r1': match.severity"),
        ({"name": "r1", "force": "yes"}, "rule 'r1': force must be true or false"),
        ({"name": "r1", "max_jobs": 0}, "rule 'r1': max_jobs 0"),
        ({"name": "r1", "max_jobs": True}, "rule 'r1': max_jobs True"),
        ({"name": "r1", "comment": "{job}"}, "rule 'r1': comment may use only"),
        ({"name": "r1", "comment": "{reason!r}"}, "rule 'r1': comment may use only"),
        ({"name": "r1", "comment": "{reason"}, "rule 'r1': comment template is malformed"),
        ({"name": "r1", "thing_group": "a b"}, "rule 'r1': thing_group"),
        ({"jobs": ["fw-*"]}, "rule #1: name must be a non-empty string"),
    ],
)
def test_each_problem_names_its_rule(rule, expected):
    problems = problems_of({"rules": [rule]})

    assert any(problem.startswith(expected) for problem in problems), problems


def test_every_problem_is_listed_at_once():
    problems = problems_of(
        {
            "extra": 1,
            "defaults": {"max_jobs": -1, "colour": "red"},
            "rules": [{"name": "a", "reason_code": "lower"}, {"name": "a"}, "not a rule"],
        }
    )

    assert problems == [
        "unknown top-level key 'extra'",
        "defaults: unknown key 'colour'",
        "defaults: max_jobs -1 must be a whole number of at least 1",
        "rule 'a': reason_code 'lower' must be 1 to 128 of A-Z, 0-9 and _",
        "rule 'a': duplicate rule name 'a'",
        "rule #3: must be a mapping",
    ]


def test_duplicate_rule_names_are_an_error():
    assert "rule 'a': duplicate rule name 'a'" in problems_of({"rules": [{"name": "a"}, {"name": "a"}]})


@pytest.mark.parametrize("document", [None, [], "rules", {"rules": []}, {"rules": {"name": "a"}}])
def test_policy_must_have_rules(document):
    assert problems_of(document)


def test_json_file_loads_without_yaml(tmp_path):
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"rules": [{"name": "j", "jobs": ["fw-*"]}]}))

    assert policy.load_file(path).rules[0].name == "j"


def test_unreadable_and_unparsable_files_are_policy_errors(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: [unclosed")

    with pytest.raises(PolicyError, match="not valid YAML"):
        policy.load_file(broken)
    with pytest.raises(PolicyError, match="cannot read policy file"):
        policy.load_file(tmp_path / "missing.yaml")


def test_the_project_policy_is_valid():
    assert [rule.name for rule in policy.load_file(ROOT / "policy.yaml").rules]


def test_a_count_past_the_apis_32_bit_integer_is_refused_as_updatejob_would():
    from rollout_guard.policy import INTEGER_MAX, PolicyError, load

    rule = {"name": "slow", "match": {"alarm_name": "fw-*"}, "action": "throttle",
            "throttle": {"max_per_minute": 5, "abort": {"failure_type": "FAILED", "percent": 10,
                                                         "min_executed": 99999999999999999999}}}
    with pytest.raises(PolicyError, match=f"min_executed 99999999999999999999 must be a whole number from 1 to "
                                          f"{INTEGER_MAX}"):
        load({"rules": [rule]})
    rule["throttle"]["abort"]["min_executed"] = INTEGER_MAX
    assert load({"rules": [rule]}).rules[0].throttle.abort.min_executed == INTEGER_MAX


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


# --- fleet-signal rules ---------------------------------------------------------------------------------------


def fleet_rule(**casualties) -> dict:
    return {"name": "fleet", "match": {"signal": "casualties"}, "jobs": ["fw-*"], "casualties": casualties}


def rule_problems(*rules) -> list[str]:
    return problems_of({"rules": list(rules)})


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
    assert rule_problems(both) == ["rule 'fleet': dark_after is given twice (in the rule and in casualties): keep one"]


@pytest.mark.parametrize(("casualties", "problem"), [
    ({}, "casualties needs a threshold: things (and within), or percent and min_things"),
    ({"things": 0}, "casualties.things 0 must be a whole number from 1 to 2147483647"),
    ({"things": True}, "casualties.things True must be a whole number from 1 to 2147483647"),
    ({"things": 3, "within": "5 minutes"}, "casualties.within '5 minutes' must be a duration from 1 to 604800 "
                                           "seconds (a number of seconds, or like 90s, 5m, 1h, 2d)"),
    ({"within": 60, "percent": 5, "min_things": 10}, "casualties.within needs casualties.things"),
    ({"percent": 5}, "casualties.percent needs casualties.min_things, the executed things it waits for"),
    ({"percent": 0, "min_things": 5}, "casualties.percent 0 must be a number above 0 and at most 100"),
    ({"percent": 101, "min_things": 5}, "casualties.percent 101 must be a number above 0 and at most 100"),
    ({"things": 3, "min_things": 5}, "casualties.min_things needs casualties.percent"),
    ({"things": 3, "dark_after": 5, "fleet_things": 9}, "dark_after 5 must be a duration from 10 to 900 seconds (a number of seconds, "
                                     "or like 90s, 5m, 1h, 2d)"),
    ({"things": 3, "dark_after": "16m", "fleet_things": 9}, "dark_after '16m' must be a duration from 10 to 900 "
                                                             "seconds (a number of seconds, or like 90s, 5m, 1h, 2d)"),
    ({"things": 3, "dark_after": 60}, "dark_after needs casualties.fleet_things (the fleet's size) to tell a "
                                      "network outage from a firmware casualty"),
    ({"things": 3, "limit": 1}, "casualties: unknown key 'limit'"),
])
def test_every_casualties_problem_reads_exactly(casualties, problem):
    assert rule_problems(fleet_rule(**casualties)) == [f"rule 'fleet': {problem}"]


def test_the_signal_and_its_threshold_go_together_and_alone():
    assert rule_problems({"name": "a", "match": {"signal": "casualties"}}) == [
        "rule 'a': match.signal: casualties needs a casualties threshold"]
    assert rule_problems({"name": "a", "casualties": {"things": 3}}) == [
        "rule 'a': casualties needs match.signal: casualties"]
    assert rule_problems({"name": "a", "match": {"signal": "crashes"}}) == [
        "rule 'a': match.signal 'crashes' must be casualties"]
    assert rule_problems({"name": "a", "match": {"alarm_name": "x"}, "dark_after": 60}) == [
        "rule 'a': dark_after applies only to a rule with match.signal: casualties"]
    mixed = {**fleet_rule(things=3), "match": {"signal": "casualties", "alarm_name": "fw-*"}}
    assert rule_problems(mixed) == ["rule 'fleet': match.signal cannot be combined with other match keys"]


def test_a_rule_without_match_keys_never_matches_the_fleet_signal():
    catch_all = make_policy("rules: [{name: any}]").rules[0]

    assert not decisions.rule_matches(catch_all, FleetAlert(job_ids=("fw-1",)))


# --- a throttle's settings (a policy's and an operator's alike) ---------------------------------------------------

ARMED = {"failure_type": "FAILED", "percent": 10, "min_executed": 20}
DURATION_HINT = "(a number of seconds, or like 90s, 5m, 1h, 2d)"


@pytest.mark.parametrize(("raw", "problems"), [
    ({1: 0, "a": 0, "max_per_minute": 5}, ["throttle: unknown key 1", "throttle: unknown key 'a'"]),
    ({"max_per_minute": True}, ["throttle.max_per_minute True must be a whole number from 1 to 1000"]),
    ({"max_per_minute": 0}, ["throttle.max_per_minute 0 must be a whole number from 1 to 1000"]),
    ({"max_per_minute": 1001}, ["throttle.max_per_minute 1001 must be a whole number from 1 to 1000"]),
    ({"max_per_minute": "5"}, ["throttle.max_per_minute '5' must be a whole number from 1 to 1000"]),
    ({"max_per_minute": 5, "escalate_after": "0s"},
     [f"throttle.escalate_after '0s' must be a duration from 1 to 604800 seconds {DURATION_HINT}"]),
    ({"max_per_minute": 5, "recheck": "30s"},
     [f"throttle.recheck '30s' must be a duration from 60 to 86400 seconds {DURATION_HINT}"]),
    ({"max_per_minute": 5, "max_throttled": "30m"},
     [f"throttle.max_throttled '30m' must be a duration from 3600 to 1209600 seconds {DURATION_HINT}"]),
    ({"max_per_minute": 5, "abort": "FAILED"},
     ["throttle.abort must be a mapping of failure_type, percent and min_executed"]),
    ({"max_per_minute": 5, "abort": {2: 0, "b": 0, **ARMED}},
     ["throttle.abort: unknown key 2", "throttle.abort: unknown key 'b'"]),
    ({"max_per_minute": 5, "abort": {**ARMED, "failure_type": "LOST"}},
     ["throttle.abort.failure_type 'LOST' must be one of FAILED, REJECTED, TIMED_OUT, ALL"]),
    *(({"max_per_minute": 5, "abort": {**ARMED, "percent": percent}},
       [f"throttle.abort.percent {percent!r} must be above 0 and at most 100, with at most two decimals"])
      for percent in (0, 100.5, 12.345, True)),
    ({"max_per_minute": 5, "abort": {**ARMED, "min_executed": 0}},
     ["throttle.abort.min_executed 0 must be a whole number from 1 to 2147483647"]),
    ([], ["throttle must be a mapping with max_per_minute"]),
])
def test_every_throttle_problem_reads_exactly(raw, problems):
    assert policy.throttle_settings(raw)[1] == problems


def test_a_refused_setting_makes_no_throttle_and_unknown_keys_alone_still_read_the_rest():
    for refused in ({"escalate_after": "0s"}, {"recheck": "30s"}, {"max_throttled": "30m"},
                    {"abort": {**ARMED, "percent": 0}}, {"abort": {**ARMED, "min_executed": 0}}):
        assert policy.throttle_settings({"max_per_minute": 5, **refused})[0] is None
    assert policy.throttle_settings({"max_per_minute": 5, "zz": 1})[0] == Throttle(5)


@pytest.mark.parametrize(("raw", "throttle"), [
    ({"max_per_minute": 1}, Throttle(1, None, None, 900, 86400)),
    ({"max_per_minute": 1000, "escalate_after": "30m", "recheck": "2m", "max_throttled": "2h"},
     Throttle(1000, None, 1800, 120, 7200)),
    ({"max_per_minute": 5, "abort": {"failure_type": "FAILED", "percent": 0.5, "min_executed": 1}},
     Throttle(5, Abort("FAILED", 0.5, 1))),
    ({"max_per_minute": 5, "abort": {"failure_type": "ALL", "percent": 100, "min_executed": 2147483647}},
     Throttle(5, Abort("ALL", 100.0, 2147483647))),
    ({"max_per_minute": 5, "abort": {"failure_type": "REJECTED", "percent": 12.34, "min_executed": 20},
      "escalate_after": "1h", "recheck": 600, "max_throttled": "3h"},
     Throttle(5, Abort("REJECTED", 12.34, 20), 3600, 600, 10800)),
])
def test_a_throttle_reads_each_setting_at_its_bounds(raw, throttle):
    read, problems = policy.throttle_settings(raw)

    assert (read, problems) == (throttle, [])
    assert read.abort is None or type(read.abort.percent) is float


@pytest.mark.parametrize(("text", "problem"), [
    ("rules: []\nrules: []\n", "the top level: duplicate key 'rules'"),
    ("defaults: {force: true, force: false}\nrules: [{name: a}]\n", "defaults: duplicate key 'force'"),
    ("rules: {a: 1, a: 2}\n", "rules: duplicate key 'a'"),
    ("rules:\n  - name: a\n    force: true\n    force: false\n", "rule 'a': duplicate key 'force'"),
    ("rules:\n  - name: a\n  - name: b\n    force: true\n    force: false\n", "rule 'b': duplicate key 'force'"),
    ("rules:\n  - name: a\n    match: {alarm_name: x, alarm_name: y}\n", "rule 'a': match: duplicate key 'alarm_name'"),
    ("rules:\n  - name: '  '\n    jobs: [a]\n    jobs: [b]\n", "rule #1: duplicate key 'jobs'"),
    ("rules:\n  - [x, y]\n  - name: c\n    match: {source: s}\n    match: {source: t}\n",
     "rule 'c': duplicate key 'match'"),
])
def test_a_duplicated_key_is_named_where_it_is(tmp_path, text, problem):
    path = tmp_path / "policy.yaml"
    path.write_text(text)

    with pytest.raises(PolicyError) as caught:
        policy.load_file(path)
    assert caught.value.problems == [problem]


def fleet_casualties(casualties) -> object:
    return policy.load({"rules": [{"name": "f", "match": {"signal": "casualties"}, "casualties": casualties}]})


@pytest.mark.parametrize(("casualties", "problems"), [
    ("x", ["rule 'f': casualties must be a mapping (things and within, and/or percent and min_things)"]),
    ({1: 0, "z": 0, "things": 3}, ["rule 'f': casualties: unknown key 1", "rule 'f': casualties: unknown key 'z'"]),
    ({"things": 3, "success_grace": 3601},
     [f"rule 'f': casualties.success_grace 3601 must be a duration from 0 to 3600 seconds {DURATION_HINT}"]),
    ({"percent": True, "min_things": 1}, ["rule 'f': casualties.percent True must be a number above 0 and at most 100"]),
    ({"percent": 0, "min_things": 1}, ["rule 'f': casualties.percent 0 must be a number above 0 and at most 100"]),
    ({"things": 0}, ["rule 'f': casualties.things 0 must be a whole number from 1 to 2147483647"]),
])
def test_every_casualties_threshold_problem_reads_exactly(casualties, problems):
    with pytest.raises(PolicyError) as caught:
        fleet_casualties(casualties)
    assert caught.value.problems == problems


@pytest.mark.parametrize(("casualties", "read"), [
    ({"things": 1}, Casualties(things=1, success_grace_s=600)),
    ({"things": 3, "success_grace": "0s"}, Casualties(things=3, success_grace_s=0)),
    ({"things": 3, "success_grace": 3600}, Casualties(things=3, success_grace_s=3600)),
    ({"percent": 0.5, "min_things": 1}, Casualties(percent=0.5, min_things=1)),
    ({"percent": 100, "min_things": 1}, Casualties(percent=100, min_things=1)),
])
def test_a_threshold_reads_each_setting_at_its_bounds(casualties, read):
    assert fleet_casualties(casualties).rules[0].casualties == read


@pytest.mark.parametrize(("rule", "problem"), [
    ({"action": "pause"}, "action 'pause' must be cancel or throttle"),
    ({"throttle": {"max_per_minute": 5}}, "throttle needs action: throttle"),
    ({"action": "cancel", "throttle": {"max_per_minute": 5}}, "throttle needs action: throttle"),
    ({"action": "throttle"}, "action: throttle needs a throttle mapping with max_per_minute"),
    ({"action": "throttle", "throttle": "slow"}, "action: throttle needs a throttle mapping with max_per_minute"),
])
def test_an_action_and_its_throttle_go_together(rule, problem):
    assert rule_problems({"name": "a", "match": {"alarm_name": "x"}, **rule}) == [f"rule 'a': {problem}"]


def test_the_fleet_signal_cannot_throttle():
    throttling = {**fleet_rule(things=3), "action": "throttle", "throttle": {"max_per_minute": 5}}
    assert rule_problems(throttling) == [
        "rule 'fleet': action: throttle needs an alert to restore on; the fleet signal cancels"]


@pytest.mark.parametrize("severity", [[1], ["  "], ["critical", ""], [None]])
def test_each_severity_must_be_a_word(severity):
    assert rule_problems({"name": "a", "match": {"severity": severity}}) == [
        "rule 'a': match.severity must be a non-empty list of severities"]


def test_a_policy_file_is_read_as_utf_8(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_bytes("rules:\n  - name: crash\n    match: {alarm_name: x}\n    comment: 'Absturzrate \u00fcber {reason}'\n"
                     .encode())

    assert policy.load_file(path).rules[0].comment == "Absturzrate \u00fcber {reason}"


def test_a_duplicate_key_in_a_rule_named_by_no_string_is_named_by_its_number(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("rules:\n  - name: a\n  - name: 7\n    force: true\n    force: false\n")

    with pytest.raises(PolicyError) as caught:
        policy.load_file(path)
    assert caught.value.problems[0] == "rule #2: duplicate key 'force'"


# --- after the rollout: watch_after and revert ---------------------------------------------------------------

FLEET_RULE = {"name": "fleet", "match": {"signal": "casualties"}, "jobs": ["fw-*"], "casualties": {"things": 3}}


def test_watch_after_and_a_revert_document_file_are_read_with_the_policy(tmp_path):
    (tmp_path / "revert.json").write_text('{"operation": "revert"}')
    (tmp_path / "policy.yaml").write_text(
        "rules:\n  - name: fleet\n    match: {signal: casualties}\n    jobs: ['fw-*']\n    watch_after: 24h\n"
        "    casualties: {things: 3}\n    revert: {document: revert.json}\n")

    (rule,) = load_file(tmp_path / "policy.yaml").rules

    assert rule.casualties.watch_after_s == 86400 and rule.casualties.after_success_s == 86400
    assert (rule.revert.document, rule.revert.document_file, rule.revert.approval) == (
        {"operation": "revert"}, "revert.json", "required")


@pytest.mark.parametrize(("extra", "problem"), [
    ({"watch_after": "8d"}, "rule 'fleet': watch_after '8d' must be a duration from 0 to 604800 seconds "
                            "(a number of seconds, or like 90s, 5m, 1h, 2d)"),
    ({"watch_after": -1}, "rule 'fleet': watch_after -1 must be a duration from 0 to 604800 seconds "
                          "(a number of seconds, or like 90s, 5m, 1h, 2d)"),
    ({"revert": {}}, "rule 'fleet': revert needs exactly one of document (a job document file) or template "
                     "(a job template ARN)"),
    ({"revert": {"template": "arn:aws:iot:eu-west-1:1:job/x"}},
     "rule 'fleet': revert.template 'arn:aws:iot:eu-west-1:1:job/x' must be a job template ARN "
     "(arn:aws:iot:REGION:ACCOUNT:jobtemplate/NAME)"),
    ({"revert": {"document": {}, "approval": "later"}}, "rule 'fleet': revert.approval 'later' must be required or auto"),
    ({"revert": {"document": {}, "rollout": {"max_per_minute": 0}}},
     "rule 'fleet': revert.rollout.max_per_minute 0 must be a whole number from 1 to 1000"),
    ({"revert": {"document": {}, "abort": {"failure_type": "ALL", "percent": 200, "min_executed": 1}}},
     "rule 'fleet': revert.abort.percent 200 must be above 0 and at most 100, with at most two decimals"),
    ({"revert": {"document": {}, "when": "now"}}, "rule 'fleet': revert: unknown key 'when'"),
])
def test_every_after_rollout_problem_reads_exactly(extra, problem):
    assert problems_of({"rules": [{**FLEET_RULE, **extra}]}) == [problem]


def test_watch_after_needs_a_fleet_rule_and_revert_a_cancel_rule():
    assert problems_of({"rules": [{"name": "a", "match": {"alarm_name": "x"}, "watch_after": "1h"}]}) == [
        "rule 'a': watch_after applies only to a rule with match.signal: casualties"]
    throttle = {"name": "t", "match": {"alarm_name": "x"}, "action": "throttle", "throttle": {"max_per_minute": 5},
                "revert": {"document": {}}}
    assert problems_of({"rules": [throttle]}) == ["rule 't': revert needs action: cancel (a throttled job is not halted)"]


@pytest.mark.parametrize(("content", "problem"), [
    (None, "cannot be read: No such file or directory"),
    ("not json", "is not JSON"),
    ("[1]", "must hold a JSON object (a job document)"),
    ('{"a": "' + "x" * 32768 + '"}', "is 32777 characters; a job document holds at most 32768"),
])
def test_a_revert_document_that_cannot_serve_is_refused_naming_the_rule(tmp_path, content, problem):
    if content is not None:
        (tmp_path / "revert.json").write_text(content)
    (tmp_path / "policy.yaml").write_text("rules:\n  - name: fleet\n    casualties: {things: 3}\n"
                                          "    match: {signal: casualties}\n    revert: {document: revert.json}\n")

    with pytest.raises(PolicyError) as caught:
        load_file(tmp_path / "policy.yaml")

    (line,) = caught.value.problems
    assert line.startswith("rule 'fleet': revert.document 'revert.json' ") and problem in line
    if problem != "is not JSON":  # the others end the line (JSON's own reason follows "is not JSON: ")
        assert line.endswith(problem)


TEMPLATE = "arn:aws:iot:eu-west-1:123456789012:jobtemplate/fw-previous"


@pytest.mark.parametrize(("revert", "problem"), [
    ("later", "revert must be a mapping with a document or a template"),
    ({"document": "revert.json"}, "revert.document 'revert.json' must name a JSON job document file"),
    ({"template": 7}, "revert.template 7 must be a job template ARN (arn:aws:iot:REGION:ACCOUNT:jobtemplate/NAME)"),
    ({"document": {}, "template": TEMPLATE},
     "revert needs exactly one of document (a job document file) or template (a job template ARN)"),
    ({"document": {}, "rollout": 5}, "revert.rollout must be a mapping with max_per_minute"),
    ({"document": {}, "rollout": {"max_per_minute": 1001}},
     "revert.rollout.max_per_minute 1001 must be a whole number from 1 to 1000"),
    ({"document": {}, "rollout": {"max_per_minute": True}},
     "revert.rollout.max_per_minute True must be a whole number from 1 to 1000"),
    ({"document": {}, "rollout": {"max_per_minute": "5"}},
     "revert.rollout.max_per_minute '5' must be a whole number from 1 to 1000"),
    ({"document": {}, "rollout": {"max_per_minute": 5, "burst": 2}}, "revert.rollout: unknown key 'burst'"),
])
def test_every_revert_problem_reads_exactly(revert, problem):
    assert problems_of({"rules": [{**FLEET_RULE, "revert": revert}]}) == [f"rule 'fleet': {problem}"]


def test_unknown_revert_keys_are_named_in_order_whatever_their_type():
    assert problems_of({"rules": [{**FLEET_RULE, "revert": {"document": {}, 2: "x", "b": 1, "a": 1}}]}) == [
        "rule 'fleet': revert: unknown key 2", "rule 'fleet': revert: unknown key 'a'",
        "rule 'fleet': revert: unknown key 'b'"]


@pytest.mark.parametrize("rate", [1, 1000])
def test_a_revert_with_a_template_keeps_it_and_its_rate_at_the_bounds(rate):
    (_, rule) = policy.load({"rules": [{"name": "first", "match": {"alarm_name": "x"}},
                                       {**FLEET_RULE, "revert": {"template": TEMPLATE, "approval": "auto",
                                                                 "rollout": {"max_per_minute": rate}}}]}).rules
    assert (rule.revert.template_arn, rule.revert.document, rule.revert.approval, rule.revert.max_per_minute) == (
        TEMPLATE, None, "auto", rate)


def test_revert_documents_of_every_rule_are_read_and_an_unnamed_rule_is_named_by_number(tmp_path):
    (tmp_path / "a.json").write_text('{"n": 1}')
    (tmp_path / "policy.yaml").write_text(
        "rules:\n  - name: plain\n    match: {alarm_name: x}\n"
        "  - name: first\n    match: {signal: casualties}\n    casualties: {things: 3}\n    revert: {document: a.json}\n"
        "  - match: {signal: casualties}\n    casualties: {things: 3}\n    revert: {document: gone.json}\n")

    with pytest.raises(PolicyError) as caught:
        load_file(tmp_path / "policy.yaml")

    assert caught.value.problems == ["rule '#3': revert.document 'gone.json' cannot be read: No such file or "
                                     "directory"]


def test_a_policy_document_that_is_not_a_mapping_of_rules_is_left_to_the_reader(tmp_path):
    from rollout_guard.policy.revert_settings import inline_documents

    assert inline_documents(["rules"], tmp_path) == ["rules"]
    assert inline_documents({"rules": "none"}, tmp_path) == {"rules": "none"}
    assert inline_documents({"rules": ["x", {"revert": "y"}]}, tmp_path) == {"rules": ["x", {"revert": "y"}]}


def test_a_revert_document_that_is_not_utf8_is_refused(tmp_path):
    (tmp_path / "revert.json").write_bytes(b'{"a": "\xff"}')
    (tmp_path / "policy.yaml").write_text("rules:\n  - name: fleet\n    casualties: {things: 3}\n"
                                          "    match: {signal: casualties}\n    revert: {document: revert.json}\n")

    with pytest.raises(PolicyError) as caught:
        load_file(tmp_path / "policy.yaml")

    (line,) = caught.value.problems
    assert line.startswith("rule 'fleet': revert.document 'revert.json' cannot be read: 'utf-8' codec")


def test_a_revert_document_of_exactly_createjobs_limit_is_accepted(tmp_path):
    text = '{"a": "' + "x" * (32768 - 9) + '"}'
    assert len(text) == 32768
    (tmp_path / "revert.json").write_text(text)
    (tmp_path / "policy.yaml").write_text("rules:\n  - name: fleet\n    casualties: {things: 3}\n"
                                          "    match: {signal: casualties}\n    revert: {document: revert.json}\n")

    (rule,) = load_file(tmp_path / "policy.yaml").rules

    assert len(rule.revert.document["a"]) == 32768 - 9


def test_unknown_revert_rollout_keys_are_named_in_order_whatever_their_type():
    assert problems_of({"rules": [{**FLEET_RULE, "revert": {"document": {}, "rollout": {
        "max_per_minute": 5, 3: 1, "b": 1}}}]}) == ["rule 'fleet': revert.rollout: unknown key 3",
                                                    "rule 'fleet': revert.rollout: unknown key 'b'"]
