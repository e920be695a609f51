"""Untrusted documents (policies, cancel's --cli-input-*): duplicate keys, alias bombs, deep nesting, short
messages. Given a hostile document, when it is loaded, then it is refused with one line and nothing is built."""

import json
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollout_guard import documents, policy
from rollout_guard.halts.alerts import parse
from rollout_guard.policy import PolicyError

BOMB = textwrap.dedent("""\
    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
    b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
    c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
    d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
    e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
    f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
    g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
    h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
    i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
    rules: [{name: x, reason_code: *i}]
    """)


def policy_file(tmp_path, text, suffix=".yaml"):
    path = tmp_path / f"policy{suffix}"
    path.write_text(textwrap.dedent(text))
    return path


def test_a_pasted_second_jobs_key_is_an_error_naming_the_key_and_the_rule(tmp_path):
    path = policy_file(tmp_path, """\
        rules:
          - name: fw-1
            match: {alarm_name: "fw-*"}
            jobs: ["fw-1-*"]
            jobs: ["*"]
            force: true
        """)

    with pytest.raises(PolicyError) as caught:
        policy.load_file(path)

    assert caught.value.problems == ["rule 'fw-1': duplicate key 'jobs'"]


def test_duplicates_are_found_at_any_depth_and_in_json_too(tmp_path):
    yaml_path = policy_file(tmp_path, """\
        defaults: {force: false, force: true}
        rules:
          - name: a
            match: {alarm_name: "x-*", alarm_name: "*"}
          - {match: {source: s}, match: {source: "*"}}
        """)
    json_path = policy_file(tmp_path, '{"defaults": {}, "rules": [{"name": "a", "jobs": ["fw-1"], "jobs": ["*"]}], '
                                      '"defaults": {"force": true}}', ".json")

    with pytest.raises(PolicyError) as from_yaml:
        policy.load_file(yaml_path)
    with pytest.raises(PolicyError) as from_json:
        policy.load_file(json_path)

    assert sorted(from_yaml.value.problems) == ["defaults: duplicate key 'force'", "rule #2: duplicate key 'match'",
                                                "rule 'a': match: duplicate key 'alarm_name'"]
    assert sorted(from_json.value.problems) == ["rule 'a': duplicate key 'jobs'",
                                                "the top level: duplicate key 'defaults'"]


def test_an_alias_bomb_is_refused_before_it_is_expanded(tmp_path):
    path = policy_file(tmp_path, BOMB)

    with pytest.raises(PolicyError) as caught:
        policy.load_file(path)

    (problem,) = caught.value.problems
    assert "more than 100000 values once its aliases are expanded" in problem and len(problem) < 200


def test_the_bomb_costs_little_time_and_memory_in_a_fresh_process(tmp_path):
    path = policy_file(tmp_path, BOMB)
    # VmHWM: this process's own peak (ru_maxrss would carry the forking test runner's).
    script = ("import re, time; t = time.perf_counter()\n"
              "from rollout_guard import policy\n"
              f"try: policy.load_file({str(path)!r})\n"
              "except policy.PolicyError: pass\n"
              "peak = int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))\n"
              "print(time.perf_counter() - t, peak // 1024)")

    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)

    seconds, megabytes = done.stdout.split()
    assert int(megabytes) < 100, done.stdout  # not the gigabytes of an expansion; the time is recorded in the note


def test_shared_anchors_within_the_bound_still_load(tmp_path):
    path = policy_file(tmp_path, """\
        rules:
          - {name: a, match: {alarm_name: "a-*"}, jobs: &fw ["fw-*"]}
          - {name: b, match: {alarm_name: "b-*"}, jobs: *fw}
        """)

    assert [rule.jobs for rule in policy.load_file(path).rules] == [("fw-*",), ("fw-*",)]


def test_no_message_quotes_more_than_a_few_characters_of_a_value(tmp_path):
    path = policy_file(tmp_path, json.dumps({"rules": [{"name": "a", "reason_code": "x" * 1_000_000}]}), ".json")

    with pytest.raises(PolicyError) as caught:
        policy.load_file(path)

    assert len(caught.value.problems[0]) < 200


@pytest.mark.slow
@pytest.mark.parametrize("text", ["[" * 100_000, "{\"a\": " * 100_000])
def test_nesting_too_deep_is_one_clean_error(text):
    with pytest.raises(documents.DocumentError, match="nested too deeply"):
        documents.load_json(text)
    with pytest.raises(documents.DocumentError, match="nested too deeply|not valid YAML"):
        documents.load_yaml(text)


@settings(max_examples=200, deadline=None)
@given(key=st.sampled_from(["jobs", "force", "reason_code", "match", "max_jobs", "dry_run"]),
       first=st.text(min_size=1, max_size=8), second=st.text(min_size=1, max_size=8))
def test_any_repeated_rule_key_is_refused_whatever_its_values(key, first, second):
    text = "rules:\n  - name: r\n    " + f"{key}: {json.dumps(first)}\n    {key}: {json.dumps(second)}\n"

    with pytest.raises(documents.DuplicateKeys) as caught:
        documents.load_yaml(text)

    assert caught.value.found == [(("rules", 0), key)]


@settings(max_examples=100, deadline=None)
@given(depth=st.integers(min_value=1, max_value=20_000))
def test_a_deeply_nested_event_is_parsed_or_rejected_cleanly(depth):
    deep: object = "fw-1"
    for _ in range(depth):
        deep = [deep]
    event = {"source": "com.acme.monitoring", "detail-type": "x", "detail": {"jobIds": ["fw-1", deep]}}

    alert = parse(event)

    assert alert.job_ids[0] == "fw-1" and len(json.dumps(alert.summary())) < 2000


def test_deduplicating_job_ids_is_linear():
    ids = [f"fw-{i % 100_000}" for i in range(200_000)] + [["unhashable"], ["unhashable"], {"a": 1}]
    event = {"source": "com.acme.monitoring", "detail-type": "x", "detail": {"jobIds": ids}}

    alert = parse(event)  # quadratic de-duplication took minutes here

    assert len(alert.job_ids) == 100_002 and alert.job_ids[:2] == ("fw-0", "fw-1")


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(width=st.integers(min_value=1, max_value=12), depth=st.integers(min_value=1, max_value=12))
def test_any_alias_tree_loads_within_the_bound_or_is_refused(width, depth):
    lines = ["l0: &l0 [" + ", ".join(["x"] * width) + "]"]
    lines += [f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]" for level in range(1, depth)]
    text = "\n".join(lines) + "\n"
    subtree = [1 + width]  # level 0: a list of `width` scalars; level n: a list of `width` level n-1 lists
    for _ in range(1, depth):
        subtree.append(1 + width * subtree[-1])
    expanded = 1 + sum(subtree)  # every value once its aliases are expanded, the top mapping included

    try:
        document = documents.load_yaml(text)
    except documents.DocumentError as error:
        assert expanded > documents.MAX_VALUES and "aliases are expanded" in str(error)
    else:
        assert expanded <= documents.MAX_VALUES and len(document) == depth


def test_a_long_yaml_without_aliases_is_read_and_only_alias_expansions_are_bounded(monkeypatch):
    monkeypatch.setattr(documents, "MAX_VALUES", 1_000)  # the rule, at a size PyYAML reads at once
    plain = "fw-1:\n" + "".join(f"  - dev-{n}\n" for n in range(5_000))
    # each use of *a expands a list and its one value: exactly MAX_VALUES values added by aliases
    shared = "a: &a [x]\nb: [" + ", ".join(["*a"] * 500) + "]\n"

    assert len(documents.load_yaml(plain)["fw-1"]) == 5_000
    assert len(documents.load_yaml(shared)["b"]) == 500
    with pytest.raises(documents.DocumentError, match="more than 1000 values once its aliases are expanded"):
        documents.load_yaml(shared.replace("[x]", "[x, x]"))
