"""Given a policy document, when loaded, then it is accepted as written or every problem is named."""

import json

import pytest

from rollout_guard import policy
from rollout_guard.policy import PolicyError
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
