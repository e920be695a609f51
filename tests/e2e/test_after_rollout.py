"""After the rollout, as an operator sees it on the emulator: devices report their executions (the emulator's IoT
Jobs data plane), the job COMPLETES; hours later some of the devices that SUCCEEDED go dark. Within the rule's
watch_after the guard says `regressed` (never a cancel) and prepares a revert; `rollout-guard revert` shows it and,
with --approve, creates exactly one job `<job>-revert` for exactly the things that SUCCEEDED, once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from rollout_guard_local import samples
from rollout_guard_local.emulator import client, client_env
from tests import cli

TABLE = "after-rollout"
HOUR_MS = 3_600_000
POLICY = """
rules:
  - name: fleet
    match: {signal: casualties}
    jobs: ["fw-*"]
    reason_code: FLEET_CASUALTIES
    dark_after: 60
    watch_after: 24h
    casualties: {things: 2, fleet_things: 1000}
    revert: {document: revert.json, rollout: {max_per_minute: 20}}
  - name: operator-halt
    match: {source: "rollout-guard.operator"}
    jobs: ["fw-*"]
    reason_code: OPERATOR_HALT
"""
REVERT = {"operation": "revert", "firmware": "2.4.0"}


@pytest.fixture
def project(emulator, tmp_path):
    (tmp_path / "policy.yaml").write_text(POLICY)
    (tmp_path / "revert.json").write_text(json.dumps(REVERT))
    assert run(emulator, tmp_path, "state", "init", TABLE).returncode == 0
    return tmp_path


def run(url: str, folder: Path, *args: str):
    return cli.run(*args, env=client_env(url), cwd=folder)


def completed_rollout(url: str, job_id: str, outcomes: dict[str, str]) -> list[str]:
    """The job to these things, each reporting its outcome through the data plane: the job COMPLETES."""
    iot, data = client("iot", url), client("iot-jobs-data", url)
    arns = [iot.create_thing(thingName=thing)["thingArn"] for thing in outcomes]
    iot.create_job(jobId=job_id, targets=arns, document="{}", targetSelection="SNAPSHOT")
    for thing, status in outcomes.items():
        data.update_job_execution(thingName=thing, jobId=job_id, status=status)
    assert iot.describe_job(jobId=job_id)["job"]["status"] == "COMPLETED"
    return arns


def fleet(url: str, folder: Path, job_id: str, succeeded: list[str], dark: list[str], after_ms: int) -> dict:
    """The fleet's events of the rollout (the SUCCEEDED reports) and, `after_ms` later, the dark things' disconnects."""
    at = int(time.time() * 1000) - after_ms - HOUR_MS
    events = [samples.job_execution(job_id, thing, "SUCCEEDED", at + n) for n, thing in enumerate(succeeded)]
    events += [samples.presence(thing, False, at + after_ms + n * 1000) for n, thing in enumerate(dark)]
    (folder / "batch.json").write_text(json.dumps(samples.sqs_batch(*events)))
    done = run(url, folder, "invoke", "batch.json", "--policy", "policy.yaml", "--state-table", TABLE)
    assert done.returncode == 0, done.stderr + done.stdout
    return json.loads(done.stdout)


def test_a_regression_is_reported_and_its_revert_created_only_on_approval_once(emulator, project):
    iot = client("iot", emulator)
    outcomes = {"dev-0": "SUCCEEDED", "dev-1": "SUCCEEDED", "dev-2": "SUCCEEDED", "dev-3": "FAILED"}
    arns = completed_rollout(emulator, "fw-9", outcomes)

    answer = fleet(emulator, project, "fw-9", ["dev-0", "dev-1", "dev-2"], ["dev-0", "dev-1"], 2 * HOUR_MS)

    (evaluation,) = answer["evaluations"]
    decisions = [(d["jobId"], d["action"]) for d in evaluation["outcome"]["decisions"]]
    assert evaluation["crossed"] and decisions == [("fw-9", "regressed"), ("fw-9", "revert_ready")], evaluation["outcome"]["decisions"][1]["detail"]
    assert iot.describe_job(jobId="fw-9")["job"]["status"] == "COMPLETED"  # nothing cancelled
    assert [j["jobId"] for j in iot.list_jobs()["jobs"]] == ["fw-9"]  # nothing created

    shown = run(emulator, project, "revert", "--job", "fw-9", "--state-table", TABLE, "--policy", "policy.yaml")
    assert shown.returncode == 0, shown.stderr
    assert "revert fw-9-revert of job fw-9 (rule fleet): ready" in shown.stdout
    assert "things:   3" in shown.stdout and "document revert.json" in shown.stdout and "20 things a minute" in shown.stdout
    assert [j["jobId"] for j in iot.list_jobs()["jobs"]] == ["fw-9"]

    approved = run(emulator, project, "revert", "--job", "fw-9", "--approve", "--state-table", TABLE,
                   "--policy", "policy.yaml")
    again = run(emulator, project, "revert", "--job", "fw-9", "--approve", "--state-table", TABLE,
                "--policy", "policy.yaml")

    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.startswith("fw-9-revert: revert fw-9-revert created for 3 thing(s)")
    job = iot.describe_job(jobId="fw-9-revert")["job"]
    assert sorted(job["targets"]) == sorted(arns[:3])
    assert json.loads(iot.get_job_document(jobId="fw-9-revert")["document"]) == REVERT
    assert job["jobExecutionsRolloutConfig"] == {"maximumPerMinute": 20}
    assert again.returncode == 0 and "created already" in again.stdout and "nothing created" in again.stdout
    assert sorted(j["jobId"] for j in iot.list_jobs()["jobs"]) == ["fw-9", "fw-9-revert"]


def test_past_watch_after_a_dark_thing_counts_for_nothing(emulator, project):
    completed_rollout(emulator, "fw-8", {"dev-5": "SUCCEEDED", "dev-6": "SUCCEEDED"})

    answer = fleet(emulator, project, "fw-8", ["dev-5", "dev-6"], ["dev-5", "dev-6"], 25 * HOUR_MS)

    assert answer["evaluations"] == []
    shown = run(emulator, project, "revert", "--job", "fw-8", "--state-table", TABLE, "--policy", "policy.yaml")
    assert (shown.returncode, shown.stderr.strip()) == (2, "rollout-guard: no revert prepared for job fw-8")


def test_revert_refuses_bad_input_in_one_line_and_does_nothing(emulator, project):
    bad = run(emulator, project, "revert", "--job", "fw 9", "--state-table", TABLE)

    assert (bad.returncode, bad.stdout) == (2, "")
    assert bad.stderr.strip() == "rollout-guard: --job 'fw 9' must be a job id: 1 to 64 of letters, digits, _ and -"


def test_devices_reporting_another_package_version_than_their_job_installed_make_it_regressed(emulator, project):
    """The job installs fw 2.4.0 (its destinationPackageVersions); two of its devices' `$package` shadows report
    2.3.0 an hour after they SUCCEEDED: rolled back, within watch_after."""
    iot, data = client("iot", emulator), client("iot-jobs-data", emulator)
    version = "arn:aws:iot:eu-west-1:123456789012:package/fw/version/2.4.0"
    arns = [iot.create_thing(thingName=thing)["thingArn"] for thing in ("dev-p-0", "dev-p-1", "dev-p-2")]
    iot.create_job(jobId="fw-7", targets=arns, document="{}", targetSelection="SNAPSHOT",
                   destinationPackageVersions=[version])
    for n in range(3):
        data.update_job_execution(thingName=f"dev-p-{n}", jobId="fw-7", status="SUCCEEDED")
    at = int(time.time() * 1000) - HOUR_MS
    events = [samples.job_execution("fw-7", f"dev-p-{n}", "SUCCEEDED", at + n) for n in range(3)]
    events += [samples.package_report(f"dev-p-{n}", {"fw": "2.3.0"}, at + HOUR_MS // 2 + n) for n in range(2)]
    (project / "batch.json").write_text(json.dumps(samples.sqs_batch(*events)))

    done = run(emulator, project, "invoke", "batch.json", "--policy", "policy.yaml", "--state-table", TABLE)

    assert done.returncode == 0, done.stderr + done.stdout
    (evaluation,) = json.loads(done.stdout)["evaluations"]
    assert evaluation["crossed"] and "2 other_version" in evaluation["detail"]
    assert [d["action"] for d in evaluation["outcome"]["decisions"]] == ["regressed", "revert_ready"]
    assert iot.describe_job(jobId="fw-7")["job"]["destinationPackageVersions"] == [version]
