"""`rollout-guard replay` as a release engineer runs it: a day of the fleet's events (JSON lines, gzip too) and a
policy in, per job whether the fleet signal would have halted it, when and on which casualty; bad input is one
line and exit 2, with nothing printed on stdout."""

from __future__ import annotations

import gzip
import json
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from rollout_guard_local.fleet_sim import JOB, Outage, Scenario, generate
from tests import cli

BRICKING = Scenario("bricking", devices=80, fleet=800, threshold=4, bricked=0.1, dark_after_s=30)


def run(*args: str) -> subprocess.CompletedProcess:
    return cli.run("replay", *args)


def archive(folder: Path, scenario: Scenario, parts: int = 2) -> tuple[Path, Path]:
    """The scenario's events as the fleet archive keeps them: gzip JSON lines in several objects."""
    truth = generate(scenario)
    events = folder / "events"
    events.mkdir()
    lines = [json.dumps(body) for _, body in truth.events]
    size = len(lines) // parts + 1
    for part in range(parts):
        with gzip.open(events / f"rollout-guard-fleet-{part}", "wt", encoding="utf-8") as out:  # as Firehose names
            out.write("\n".join(lines[part * size:(part + 1) * size]) + "\n")
    policy = folder / "policy.yaml"
    policy.write_text(scenario.policy())
    return events, policy


def test_replay_says_when_a_bricking_rollout_would_have_halted_and_on_which_casualty(tmp_path):
    events, policy = archive(tmp_path, BRICKING)
    truth = generate(BRICKING)
    nth_at, nth_thing = truth.casualties[BRICKING.threshold - 1]

    done = run(str(events), "--policy", str(policy))

    assert done.returncode == 0, done.stderr
    header, rule, row, *rest = done.stdout.splitlines()
    assert header.split() == ["job", "would", "halt", "at", "(event", "time)", "on", "casualty", "casualties",
                              "discounted", "rule"]
    when = datetime.fromtimestamp(nth_at / 1000, tz=timezone.utc).isoformat()  # a disconnect, in milliseconds
    assert row.split()[:4] == [JOB, "yes", when, nth_thing]
    assert rest[-1].startswith("Jobs from: things are taken as executing a job from their own execution events")


def test_replay_with_the_jobs_targets_in_json(tmp_path):
    events, policy = archive(tmp_path, BRICKING)
    truth = generate(BRICKING)
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(f"{JOB}: [{', '.join(device.name for device in truth.devices)}]\n")

    done = run(str(events), "--policy", str(policy), "--jobs", str(jobs), "--output", "json")

    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    (job,) = answer["jobs"]
    assert job["jobId"] == JOB and job["halted"] and job["casualty"] == truth.casualties[BRICKING.threshold - 1][1]
    assert job["casualties"] >= BRICKING.threshold and job["rule"] == "fleet"
    assert set(job) == {"jobId", "halted", "at", "casualty", "casualties", "discounted", "whyDiscounted", "rule",
                        "detail", "casualtyTable"}  # camelCase, as the AWS APIs spell theirs
    assert {row["thing"] for row in job["casualtyTable"] if row["counted"]} >= {job["casualty"]}
    assert answer["jobsFrom"] == f"each job's targets from {jobs}; a target executes its job from the job's first " \
                                 "event until it reports"


def test_replay_of_an_outage_says_nothing_would_halt_and_why_dark_things_were_discounted(tmp_path):
    outage = Scenario("outage", devices=40, fleet=300, threshold=3, dark_after_s=30, outage=Outage(45, 120, 0.3))
    events, policy = archive(tmp_path, outage)

    done = run(str(events), "--policy", str(policy))

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[2].split()[:2] == [JOB, "no"]
    assert any(line.startswith(f"{JOB}: dark things discounted: ") and "a network outage, not the firmware" in line
               for line in lines)


@pytest.mark.parametrize(("write", "problem"), [
    (lambda folder: (folder / "e.jsonl").write_text('{"eventType": "connected", "clientId": "a", "timestamp": 1800000000}\n'
                                                    "not json\n"),
     "e.jsonl line 2: not a fleet event: not JSON"),
    (lambda folder: (folder / "e.jsonl").write_text('{"eventType": "hello"}\n'),
     "e.jsonl line 1: not a fleet event: eventType 'hello' is not a job execution or lifecycle event"),
    (lambda folder: (folder / "e.jsonl").write_text(""), "no events in"),
])
def test_a_bad_stream_is_one_line_and_exit_2(tmp_path, write, problem):
    _, policy = archive(tmp_path, BRICKING)
    write(tmp_path)

    done = run(str(tmp_path / "e.jsonl"), "--policy", str(policy))

    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("rollout-guard: ") and problem in line


def test_bad_options_are_one_line_and_exit_2(tmp_path):
    events, policy = archive(tmp_path, BRICKING)
    plain = tmp_path / "plain.yaml"
    plain.write_text("rules: [{name: any, match: {source: 'com.acme.*'}}]")
    jobs = tmp_path / "jobs.json"
    jobs.write_text('{"fw-1": "dev-1"}')

    answers = [run(str(tmp_path / "missing"), "--policy", str(policy)), run(str(events), "--policy", str(plain)),
               run(str(events), "--policy", str(policy), "--jobs", str(jobs))]

    assert [(done.returncode, done.stdout) for done in answers] == [(2, "")] * 3
    assert [done.stderr for done in answers] == [
        f"rollout-guard: no such file or folder: {tmp_path / 'missing'}\n",
        f"rollout-guard: policy {plain} has no fleet-signal rule (match.signal: casualties) to replay\n",
        f"rollout-guard: jobs file {jobs} must map each job id to a list of thing names\n"]


CORPUS = Path(__file__).parent.parent / "corpus" / "replay"
HOSTILE = json.loads((CORPUS / "cases.json").read_text())


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_input_is_refused_in_one_line_naming_the_file_and_line(tmp_path, name):
    policy = tmp_path / "policy.yaml"
    policy.write_text(BRICKING.policy())

    done = run(str(CORPUS / name), "--policy", str(policy))

    expected = HOSTILE[name]
    assert done.returncode == expected["exit"], done.stderr
    assert done.stdout == "" and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert expected["stderr"] in done.stderr and name in done.stderr and "Traceback" not in done.stderr


def test_a_fifo_or_a_device_is_refused_without_reading_it(tmp_path):
    import os

    policy = tmp_path / "policy.yaml"
    policy.write_text(BRICKING.policy())
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)  # no writer: a read would wait for ever

    for path in (fifo, Path("/dev/zero")):
        done = run(str(path), "--policy", str(policy))
        assert done.returncode == 2 and "not a regular file or a folder" in done.stderr


def test_a_discount_note_is_the_latest_evaluations_never_an_earlier_ones():
    from rollout_guard_cli.replay import JobVerdict, _note, as_text

    verdict = JobVerdict("fw-1")
    _note(verdict, {"rule": "fleet", "casualties": 2, "discounted": 5, "crossed": False,
                    "detail": "2 casualties; 5 dark thing(s) not counted: the fleet went dark too"})
    _note(verdict, {"rule": "fleet", "casualties": 3, "discounted": 0, "crossed": False, "detail": "3 casualties"})

    assert (verdict.discounted, verdict.why_discounted) == (0, None)
    assert "not counted" not in as_text({"fw-1": verdict}, "basis")


def test_a_replay_that_ran_writes_nothing_to_stderr_when_it_is_no_terminal(tmp_path):
    """As its own process, stderr a pipe: the detector's logs and metrics stay out of it and of stdout's JSON."""
    from tests.cli import run_process

    events, policy = archive(tmp_path, BRICKING)

    done = run_process("replay", str(events), "--policy", str(policy), "--output", "json")

    assert done.returncode == 0 and done.stderr == ""
    assert json.loads(done.stdout)["jobs"][0]["halted"]


def test_compare_puts_a_second_policys_verdict_beside_the_first(tmp_path):
    from dataclasses import replace

    events, policy = archive(tmp_path, BRICKING)
    truth = generate(BRICKING)
    looser = tmp_path / "looser.yaml"
    looser.write_text(replace(BRICKING, threshold=BRICKING.threshold + 2).policy())
    never = tmp_path / "never.yaml"
    never.write_text(replace(BRICKING, threshold=len(truth.casualties) + 1).policy())

    text = run(str(events), "--policy", str(policy), "--compare", str(looser))
    as_json = run(str(events), "--policy", str(policy), "--compare", str(never), "--output", "json")

    assert text.returncode == 0 and text.stderr == ""
    fourth, sixth = truth.casualties[BRICKING.threshold - 1][1], truth.casualties[BRICKING.threshold + 1][1]
    (line,) = [line for line in text.stdout.splitlines() if line.startswith(f"{JOB}: {policy}")]
    assert f"{policy} halts at " in line and f" on {fourth}; {looser} halts at " in line and line.endswith(sixth)
    assert f"Under {looser}:" in text.stdout
    answer = json.loads(as_json.stdout)
    assert answer["jobs"][0]["halted"] and answer["compare"]["policy"] == str(never)
    assert [verdict["halted"] for verdict in answer["compare"]["jobs"]] == [False]


def test_compare_with_a_bad_second_policy_says_so_in_one_line_and_replays_nothing(tmp_path):
    events, policy = archive(tmp_path, BRICKING)
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - name: f\n    match: {signal: casualties}\n    casualties: {things: 0}\n")

    done = run(str(events), "--policy", str(policy), "--compare", str(bad))

    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"rollout-guard: invalid policy {bad}: rule 'f': ")
