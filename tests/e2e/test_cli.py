"""The `rollout-guard` command as an operator runs it: a subprocess against a moto server over HTTP.

Each test checks what the operator sees (stdout, stderr, exit code) and the emulated jobs afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rollout_guard_cli import samples
from rollout_guard_local.emulator import client, client_env
from tests.conftest import ROOT, create_jobs

COMMAND = str(Path(sys.executable).parent / "rollout-guard")


def run(*args: str, url: str | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, **(client_env(url) if url else {})}
    return subprocess.run([COMMAND, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


@pytest.fixture
def iot(emulator):
    return client("iot", emulator)


def write(tmp_path: Path, event: dict, name: str = "event.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(event))
    return str(path)


def status(iot, job_id: str) -> str:
    return iot.describe_job(jobId=job_id)["job"]["status"]


# --- invoke -------------------------------------------------------------------------------------------------


def test_invoke_cancels_with_the_project_policy(iot, emulator, tmp_path):
    create_jobs(iot, "fw-2-4-eu", "fw-2-4-us")

    done = run("invoke", write(tmp_path, samples.alarm_eventbridge(job_id="fw-2-4-eu")), url=emulator)

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["decisions"] == [{"jobId": "fw-2-4-eu", "action": "canceled", "reasonCode": "FIRMWARE_CRASH_RATE",
                                    "force": False, "detail": "rule crash-rate cancels; CancelJob accepted "
                                                              "(without force)"}]
    job = iot.describe_job(jobId="fw-2-4-eu")["job"]
    assert (job["status"], job["reasonCode"]) == ("CANCELED", "FIRMWARE_CRASH_RATE")
    assert status(iot, "fw-2-4-us") != "CANCELED"


@pytest.mark.parametrize("kind", sorted(samples.KINDS))
def test_invoke_dry_run_on_every_sample_kind_changes_nothing(iot, emulator, tmp_path, kind):
    create_jobs(iot, "fw-2-4-eu", "fw-2-4-us", thing="dev-canary-1")

    done = run("invoke", write(tmp_path, samples.KINDS[kind]()), "--dry-run", url=emulator)

    assert done.returncode == 0, done.stderr
    actions = {d["jobId"]: d["action"] for d in json.loads(done.stdout)["decisions"]}
    assert "fw-2-4-eu" in actions and set(actions.values()) == {"would_cancel"}
    assert status(iot, "fw-2-4-eu") != "CANCELED" and status(iot, "fw-2-4-us") != "CANCELED"


def test_invoke_with_an_explicit_policy_and_force(iot, emulator, tmp_path):
    create_jobs(iot, "ops-1")
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  - name: halt-all\n    reason_code: MANUAL_DRILL\n    force: true\n")

    done = run("invoke", write(tmp_path, samples.custom_sns(job_id="ops-1")), "--policy", str(policy), url=emulator)

    assert done.returncode == 0, done.stderr
    job = iot.describe_job(jobId="ops-1")["job"]
    assert (job["status"], job["reasonCode"], job["forceCanceled"]) == ("CANCELED", "MANUAL_DRILL", True)


def test_invoke_of_an_ignored_alert_says_why_and_exits_0(iot, emulator, tmp_path):
    create_jobs(iot, "fw-2-4-eu")
    event = samples.alarm_eventbridge(job_id="fw-2-4-eu", state="OK", previous_state="ALARM")

    done = run("invoke", write(tmp_path, event), url=emulator)

    assert done.returncode == 0
    result = json.loads(done.stdout)
    assert result["decisions"] == [] and result["status"] == "ignored" and "not into ALARM" in result["detail"]
    assert status(iot, "fw-2-4-eu") != "CANCELED"


def test_invoke_exits_1_when_a_cancellation_failed(iot, emulator, tmp_path):
    create_jobs(iot, "fw-2-4-us")
    event = samples.custom_eventbridge(job_ids=["fw-missing", "fw-2-4-us"])

    done = run("invoke", write(tmp_path, event), url=emulator)

    assert done.returncode == 1
    actions = {d["jobId"]: d["action"] for d in json.loads(done.stdout)["decisions"]}
    assert actions == {"fw-missing": "failed", "fw-2-4-us": "canceled"}
    assert status(iot, "fw-2-4-us") == "CANCELED"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"hello": "world"}', "not a recognisable alert"),
        ("not json", "is not JSON"),
        (json.dumps(samples.alarm_eventbridge() | {"detail": {"state": {"value": "ALARM"}}}), "alarm name is missing"),
    ],
)
def test_invoke_exits_2_on_unrecognisable_input_with_one_line(iot, emulator, tmp_path, content, message):
    create_jobs(iot, "fw-2-4-eu")
    path = tmp_path / "event.json"
    path.write_text(content)

    done = run("invoke", str(path), url=emulator)

    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr
    assert "Traceback" not in done.stderr


def test_invoke_exits_2_on_an_invalid_policy_naming_the_rule(iot, emulator, tmp_path):
    create_jobs(iot, "fw-2-4-eu")
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  - name: bad-rule\n    reason_code: lower-case\n")

    done = run("invoke", write(tmp_path, samples.alarm_sns()), "--policy", str(policy), url=emulator)

    assert done.returncode == 2
    assert "rule 'bad-rule'" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert status(iot, "fw-2-4-eu") != "CANCELED"


def test_invoke_exits_2_on_a_missing_event_file(tmp_path):
    done = run("invoke", str(tmp_path / "nope.json"))

    assert done.returncode == 2 and "cannot read event file" in done.stderr


# --- cancel (aws iot cancel-job) ----------------------------------------------------------------------------


def test_cancel_prints_what_the_aws_cli_prints(iot, emulator):
    create_jobs(iot, "fw-9")

    done = run("cancel", "--job-id", "fw-9", "--reason-code", "MANUAL_HALT", "--comment", "bad build", "--force",
               url=emulator)

    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["jobId"] == "fw-9" and answer["jobArn"].endswith(":job/fw-9")
    assert set(answer) <= {"jobArn", "jobId", "description"}
    job = iot.describe_job(jobId="fw-9")["job"]
    assert (job["status"], job["reasonCode"], job["comment"], job["forceCanceled"]) == (
        "CANCELED", "MANUAL_HALT", "bad build", True)


@pytest.mark.parametrize("flag", ["--cli-input-json", "--cli-input-yaml"])
def test_cancel_reads_cli_input_files_and_options_override_them(iot, emulator, tmp_path, flag):
    create_jobs(iot, "fw-9")
    path = tmp_path / "input"
    path.write_text(json.dumps({"jobId": "fw-9", "reasonCode": "FROM_FILE", "comment": "from file", "force": False}))

    done = run("cancel", flag, f"file://{path}", "--reason-code", "FROM_OPTION", url=emulator)

    assert done.returncode == 0, done.stderr
    job = iot.describe_job(jobId="fw-9")["job"]
    assert (job["reasonCode"], job["comment"]) == ("FROM_OPTION", "from file")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--job-id", "fw 9"], "invalid --job-id"),
        (["--job-id", "fw-9", "--reason-code", "manual"], "invalid --reason-code"),
        (["--job-id", "fw-9", "--comment", "two\nlines"], "control characters"),
        (["--job-id", "fw-9", "--comment", "x" * 2029], "longer than 2028"),
        (["--reason-code", "MANUAL"], "required: --job-id"),
        (["--cli-input-json", '{"jobId": "fw-9", "colour": "red"}'], "Unknown parameter in input: 'colour'"),
        (["--cli-input-json", '{"jobId": "fw-9", "force": "yes"}'], "invalid force"),
        (["--job-id", "fw-9", "--force", "--no-force"], "not allowed with argument"),
    ],
)
def test_cancel_refuses_bad_values_before_any_call(iot, emulator, args, message):
    create_jobs(iot, "fw-9")

    done = run("cancel", *args, url=emulator)

    assert done.returncode == 252
    assert message in done.stderr and "Traceback" not in done.stderr
    assert status(iot, "fw-9") != "CANCELED"


def test_cancel_dry_run_shows_the_request_and_sends_nothing(iot, emulator):
    create_jobs(iot, "fw-9")

    done = run("cancel", "--job-id", "fw-9", "--reason-code", "MANUAL", "--dry-run", url=emulator)

    assert done.returncode == 0
    assert json.loads(done.stdout) == {"dryRun": True, "request": {"jobId": "fw-9", "reasonCode": "MANUAL"}}
    assert status(iot, "fw-9") != "CANCELED"


def test_cancel_reports_a_service_error_like_the_aws_cli(iot, emulator):
    done = run("cancel", "--job-id", "fw-unknown", "--endpoint-url", emulator, url=emulator)

    assert done.returncode == 254
    assert done.stderr.startswith("An error occurred (") and "when calling the CancelJob operation" in done.stderr


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("input", {"jobId": "", "reasonCode": "", "comment": "", "force": True}),
     ("output", {"jobArn": "jobArn", "jobId": "jobId", "description": "description"})],
)
def test_generate_cli_skeleton(kind, expected):
    done = run("cancel", "--generate-cli-skeleton", kind)

    assert done.returncode == 0 and json.loads(done.stdout) == expected


def test_generate_yaml_skeleton_feeds_cli_input_yaml(iot, emulator, tmp_path):
    create_jobs(iot, "fw-9")
    skeleton = run("cancel", "--generate-cli-skeleton", "yaml-input").stdout
    path = tmp_path / "input.yaml"
    path.write_text(skeleton.replace("jobId: ''", "jobId: fw-9").replace("reasonCode: ''", "reasonCode: FROM_YAML")
                    .replace("comment: ''", "comment: yaml"))

    done = run("cancel", "--cli-input-yaml", f"file://{path}", url=emulator)

    assert done.returncode == 0, done.stderr
    job = iot.describe_job(jobId="fw-9")["job"]
    assert (job["status"], job["reasonCode"], job["forceCanceled"]) == ("CANCELED", "FROM_YAML", True)


# --- events, policy check, drill ----------------------------------------------------------------------------


def test_events_prints_every_kind_and_each_one_alone():
    every = json.loads(run("events").stdout)

    assert sorted(every) == sorted(samples.KINDS)
    one = run("events", "defender-sns")
    assert one.returncode == 0 and "violationEventType" in json.loads(one.stdout)["Records"][0]["Sns"]["Message"]


def test_policy_check_lists_every_problem(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  - name: a\n    jobs: ['']\n  - name: b\n    forse: true\n")

    done = run("policy", "check", str(policy))

    assert done.returncode == 2
    assert "rule 'a': jobs: empty glob" in done.stderr and "rule 'b': unknown key 'forse'" in done.stderr


def test_policy_check_accepts_the_project_policy():
    done = run("policy", "check", str(ROOT / "policy.yaml"))

    assert done.returncode == 0 and "is valid" in done.stdout


def test_drill_runs_the_whole_flow_and_leaves_nothing_running():
    done = run("drill")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "Drill passed" in done.stdout
    for line in ("fw-2-4-eu      group:fleet-eu      CANCELED  FIRMWARE_CRASH_RATE",
                 "ops-reboot-eu  group:fleet-eu      QUEUED"):
        assert line in done.stdout
    url = done.stdout.split("moto server at ")[1].split(",")[0]
    with pytest.raises(OSError):
        import urllib.request

        urllib.request.urlopen(f"{url}/moto-api/", timeout=2)  # noqa: S310 (the drill's loopback URL)
