"""Greengrass v2 deployments halted as an operator sees it, against the emulator over HTTP: the project's policy
stops the ACTIVE deployments whose names match (and nothing else), the fleet signal halts a deployment whose core
devices fail, and `cancel-deployment` answers as `aws greengrassv2 cancel-deployment` does."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from rollout_guard_local import samples
from rollout_guard_local.emulator import client, client_env
from tests import cli
from tests.conftest import ROOT, create_jobs

NOW_MS = samples.EPOCH_MS


def run(*args: str, url: str | None = None) -> subprocess.CompletedProcess:
    return cli.run(*args, env=client_env(url) if url else None, cwd=ROOT)


def write(tmp_path: Path, event: dict, name: str = "event.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(event))
    return str(path)


@pytest.fixture
def fleet(emulator):
    """Deployments of three names to three groups; the camera's is ACTIVE, one firmware target's first revision
    was replaced (CANCELED), one firmware deployment is ACTIVE."""
    iot, gg = client("iot", emulator), client("greengrassv2", emulator)
    arns = {}
    for group in ("fleet-eu", "fleet-us", "cameras"):
        iot.create_thing_group(thingGroupName=group)
        arns[group] = iot.describe_thing_group(thingGroupName=group)["thingGroupArn"]
    made = {name: gg.create_deployment(targetArn=arns[group], deploymentName=name,
                                       components={"com.acme.fw": {"componentVersion": "2.4.0"}})
            for name, group in (("gg-fw-2-3", "fleet-us"), ("gg-fw-2-4", "fleet-eu"), ("gg-camera-1", "cameras"),
                                ("gg-fw-2-3-fix", "fleet-us"))}
    return gg, {name: answer["deploymentId"] for name, answer in made.items()}


def statuses(gg) -> dict[str, str]:
    return {d["deploymentName"]: d["deploymentStatus"] for d in gg.list_deployments(historyFilter="ALL")["deployments"]}


POLICY = """
rules:
  - name: crash-rate
    match: {alarm_name: "fw-crash-rate-*"}
    jobs: ["fw-*"]
    deployments: ["gg-fw-*"]
    reason_code: FIRMWARE_CRASH_RATE
"""


def test_an_alarm_cancels_exactly_the_active_deployments_whose_names_match(fleet, emulator, tmp_path):
    gg, ids = fleet
    before = statuses(gg)
    create_jobs(client("iot", emulator), "fw-2-4-eu")
    alarm = write(tmp_path, samples.alarm_eventbridge(job_id="fw-2-4-eu"))
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)

    dry = run("invoke", alarm, "--policy", str(policy), "--dry-run", url=emulator)
    unchanged = statuses(gg)
    done = run("invoke", alarm, "--policy", str(policy), url=emulator)

    assert (dry.returncode, done.returncode) == (0, 0), dry.stderr + done.stderr
    assert unchanged == before == {"gg-fw-2-3": "CANCELED", "gg-fw-2-4": "ACTIVE", "gg-camera-1": "ACTIVE",
                                   "gg-fw-2-3-fix": "ACTIVE"}
    assert {d.get("deploymentName"): d["action"] for d in json.loads(dry.stdout)["decisions"]} == {
        None: "would_cancel", "gg-fw-2-4": "would_cancel", "gg-fw-2-3-fix": "would_cancel"}
    decided = {d.get("deploymentId"): d for d in json.loads(done.stdout)["decisions"]}
    assert set(decided) == {None, ids["gg-fw-2-4"], ids["gg-fw-2-3-fix"]}
    assert decided[None]["jobId"] == "fw-2-4-eu" and decided[None]["action"] == "canceled"
    for name in ("gg-fw-2-4", "gg-fw-2-3-fix"):
        shown = decided[ids[name]]
        assert shown["action"] == "canceled" and shown["deploymentName"] == name
        assert "devices that already received it keep it" in shown["detail"]
        assert client("iot", emulator).describe_job(jobId=shown["jobId"])["job"]["status"] == "CANCELED"
    assert statuses(gg) == {"gg-fw-2-3": "CANCELED", "gg-fw-2-4": "CANCELED", "gg-camera-1": "ACTIVE",
                            "gg-fw-2-3-fix": "CANCELED"}


def test_the_fleet_signal_halts_a_deployment_whose_core_devices_fail(fleet, emulator, tmp_path):
    gg, ids = fleet
    assert run("state", "init", "fleet-gg", url=emulator).returncode == 0
    bad = ids["gg-fw-2-4"]
    stream = [samples.deployment_status(bad, "core-1", "FAILED", NOW_MS),
              samples.deployment_status(bad, "core-1", "FAILED", NOW_MS, spelling="deployment-id"),
              samples.deployment_status(ids["gg-camera-1"], "cam-1", "FAILED", NOW_MS + 500),
              samples.deployment_status(bad, "core-3", "REJECTED", NOW_MS + 2000)]
    first = run("invoke", write(tmp_path, samples.sqs_batch(*stream)), "--state-table", "fleet-gg", url=emulator)
    still = statuses(gg)["gg-fw-2-4"]
    last = run("invoke", write(tmp_path, samples.sqs_batch(samples.deployment_status(
        bad, "core-2", "FAILED", NOW_MS + 1000, spelling="deployment-id")), "last.json"),
        "--state-table", "fleet-gg", url=emulator)

    assert (first.returncode, last.returncode) == (0, 0), first.stderr + last.stderr
    assert still == "ACTIVE"
    (evaluation,) = json.loads(last.stdout)["evaluations"]
    assert evaluation["crossed"] and evaluation["casualties"] == 3 and evaluation["crossingThing"] == "core-3"
    (decision,) = evaluation["outcome"]["decisions"]
    assert (decision["deploymentId"], decision["action"]) == (bad, "canceled")
    assert statuses(gg) == {"gg-fw-2-3": "CANCELED", "gg-fw-2-4": "CANCELED", "gg-camera-1": "ACTIVE",
                            "gg-fw-2-3-fix": "ACTIVE"}


def test_cancel_deployment_answers_as_the_aws_cli(fleet, emulator):
    gg, ids = fleet
    deployment_id = ids["gg-camera-1"]

    done = run("cancel-deployment", "--deployment-id", deployment_id, url=emulator)
    again = run("cancel-deployment", "--deployment-id", deployment_id, url=emulator)
    unknown = run("cancel-deployment", "--deployment-id", "0000-none", url=emulator)
    bad = run("cancel-deployment", "--deployment-id", "../deployments", url=emulator)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"message": f"Deployment {deployment_id} is CANCELED"}
    assert "devices that already received it keep it" in done.stderr
    assert again.returncode == 254
    assert again.stderr.startswith("An error occurred (ConflictException) when calling the CancelDeployment "
                                   "operation: ")
    assert unknown.returncode == 254 and "(ResourceNotFoundException)" in unknown.stderr
    assert bad.returncode == 252 and bad.stdout == ""
    assert bad.stderr.strip().splitlines()[-1].startswith("rollout-guard cancel-deployment: error: invalid "
                                                          "--deployment-id")
    assert statuses(gg)["gg-camera-1"] == "CANCELED"


def test_cancel_deployment_dry_run_and_skeletons_send_nothing(fleet, emulator):
    gg, ids = fleet
    dry = run("cancel-deployment", "--deployment-id", ids["gg-fw-2-4"], "--dry-run", url=emulator)
    skeleton = run("cancel-deployment", "--generate-cli-skeleton")
    help_text = run("cancel-deployment", "--help")

    assert dry.returncode == 0 and json.loads(dry.stdout) == {"dryRun": True,
                                                             "request": {"deploymentId": ids["gg-fw-2-4"]}}
    assert json.loads(skeleton.stdout) == {"deploymentId": ""}
    assert help_text.returncode == 0 and "--deployment-id" in help_text.stdout
    assert statuses(gg)["gg-fw-2-4"] == "ACTIVE"


def test_policy_check_accepts_deployments_and_names_the_rule_of_a_bad_one(tmp_path):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("rules:\n  - name: gg\n    match: {alarm_name: 'gg-*'}\n    deployments: ['gg-fw-*']\n")
    bad.write_text("rules:\n  - name: gg\n    deployments: ['']\n  - name: other\n    deployment: ['gg-*']\n")

    accepted, refused = run("policy", "check", str(good)), run("policy", "check", str(bad))

    assert accepted.returncode == 0, accepted.stderr
    assert refused.returncode == 2
    assert "rule 'gg': deployments: empty glob" in refused.stderr
    assert "rule 'other': unknown key 'deployment'" in refused.stderr


def test_replay_reads_greengrass_events_and_names_deployments_from_a_file(tmp_path):
    bad, other = "4f38f1a7-3dd0-42a1-af48-0d6f4e009681", "9a1b2c3d-0000-4000-8000-000000000001"
    stream = [samples.deployment_status(bad, f"core-{n}", "FAILED", NOW_MS + n * 1000, spelling=spelling)
              for n, spelling in ((1, "deploymentId"), (2, "deployment-id"), (3, "deploymentId"))]
    stream += [samples.deployment_status(other, "core-9", "FAILED", NOW_MS), samples.component_status("core-1")]
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps(event) for event in stream) + "\n")
    names = tmp_path / "names.yaml"
    names.write_text(f"'{bad}': gg-fw-2-4\n'{other}': gg-camera-1\n")

    named = run("replay", str(events), "--policy", str(ROOT / "policy.yaml"), "--deployments", str(names),
                "--output", "json")
    unnamed = run("replay", str(events), "--policy", str(ROOT / "policy.yaml"), "--output", "json")
    bad_names = tmp_path / "bad.yaml"
    bad_names.write_text("- not a mapping\n")
    refused = run("replay", str(events), "--policy", str(ROOT / "policy.yaml"), "--deployments", str(bad_names))

    assert named.returncode == 0, named.stderr
    (verdict,) = json.loads(named.stdout)["jobs"]
    assert verdict["jobId"] == f"deployment:{bad}" and verdict["halted"] and verdict["casualty"] == "core-3"
    assert json.loads(unnamed.stdout)["jobs"] == []  # named by their ids, no rule's globs match them
    assert refused.returncode == 2 and refused.stderr.strip().endswith("must map each deployment id to its name")
