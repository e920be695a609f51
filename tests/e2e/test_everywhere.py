"""`rollout-guard halt` and `status` across regions, as an operator runs them (in this process, `tests.cli.run`): two environments of one project
deployed by the rehearsal (`cdk deploy --all`) to one moto server that serves both regions."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from rollout_guard_local import rehearsal
from rollout_guard_local.emulator import client, client_env
from rollout_guard_local.fault_proxy import FaultProxy
from tests import cli
from tests.conftest import IN_THE_CDK_WORKER, ROOT
from tests.infrastructure.conftest import CONTEXT

pytestmark = [IN_THE_CDK_WORKER, pytest.mark.slow]

REGIONS = {"eu": "eu-west-1", "us": "us-east-1"}
JOBS = {"eu-west-1": ["fw-2-4-eu", "fw-2-5-eu", "ops-2-4-eu"], "us-east-1": ["fw-2-4-us", "fw-2-5-us"]}


@pytest.fixture(scope="module")
def project(tmp_path_factory, moto_server_url):
    """A project of two environments, synthesized and deployed to the emulator; jobs in both regions."""
    from aws_cdk import App

    import app as cdk_app

    folder = tmp_path_factory.mktemp("project")
    shutil.copy(ROOT / "policy.yaml", folder / "policy.yaml")
    guard = {**CONTEXT["rollout-guard"], "environments": [
        {"name": name, "account": rehearsal.ACCOUNT, "region": region} for name, region in REGIONS.items()],
        "control": {"account": rehearsal.ACCOUNT, "region": "eu-west-1"}}
    (folder / "cdk.json").write_text(json.dumps({"app": "unused", "context": {"rollout-guard": guard}}))
    application = App(outdir=str(folder / "cdk.out"), context={**CONTEXT, "rollout-guard": guard,
                                                                "aws:cdk:bundling-stacks": []})
    cdk_app.HERE = folder  # the policy file resolves against the project's folder
    try:
        cdk_app.build(application)
    finally:
        cdk_app.HERE = ROOT
    application.synth()
    rehearsal.deploy_all(moto_server_url, folder / "cdk.out", ROOT, list(REGIONS.values()))
    for region, job_ids in JOBS.items():
        iot = regional("iot", moto_server_url, region)
        arn = iot.create_thing(thingName=f"dev-{region}")["thingArn"]
        for job_id in job_ids:
            iot.create_job(jobId=job_id, targets=[arn], document="{}", targetSelection="SNAPSHOT")
    return folder


def regional(service: str, url: str, region: str):
    return client(service, url, region)


def run(project: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    return cli.run(*args, env=client_env(url), cwd=project)


def status_of(url: str, region: str, job_id: str) -> tuple[str, str | None]:
    job = regional("iot", url, region).describe_job(jobId=job_id)["job"]
    return job["status"], job.get("reasonCode")


def test_both_environments_are_deployed_with_the_control_stack(project, moto_server_url):
    for region in REGIONS.values():
        stacks = regional("cloudformation", moto_server_url, region).describe_stacks()["Stacks"]
        names = {stack["StackName"]: stack["StackStatus"] for stack in stacks}
        assert {f"RolloutGuard-{n}" for n, r in REGIONS.items() if r == region} <= set(names)
        assert all(status == "CREATE_COMPLETE" for status in names.values()), names
    assert "RolloutGuardControl" in {s["StackName"] for s in regional(
        "cloudformation", moto_server_url, "eu-west-1").describe_stacks()["Stacks"]}


def test_a_global_halt_cancels_the_matching_jobs_in_both_regions_and_nothing_else(project, moto_server_url):
    done = run(project, moto_server_url, "halt", "--jobs", "fw-2-4-*", "--reason-code", "BAD_BUILD_2_4",
               "--everywhere", "--local")

    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["region", "environment", "job", "action", "reason", "code", "detail"]
    rows = {tuple(line.split()[:5]) for line in lines[2:]}
    assert ("eu-west-1", "eu", "fw-2-4-eu", "canceled", "BAD_BUILD_2_4") in rows
    assert ("us-east-1", "us", "fw-2-4-us", "canceled", "BAD_BUILD_2_4") in rows
    assert status_of(moto_server_url, "eu-west-1", "fw-2-4-eu") == ("CANCELED", "BAD_BUILD_2_4")
    assert status_of(moto_server_url, "us-east-1", "fw-2-4-us") == ("CANCELED", "BAD_BUILD_2_4")
    for region, job_id in (("eu-west-1", "fw-2-5-eu"), ("eu-west-1", "ops-2-4-eu"), ("us-east-1", "fw-2-5-us")):
        assert status_of(moto_server_url, region, job_id)[0] != "CANCELED"


def test_a_region_whose_api_fails_is_reported_while_the_other_finishes(project, moto_server_url):
    with FaultProxy(moto_server_url) as proxy:
        proxy.unavailable_regions.add("us-east-1")
        done = run(project, proxy.url, "halt", "--jobs", "fw-2-5-*", "--everywhere", "--local", "--output", "json")

    assert done.returncode == 1, done.stderr
    answers = {answer["region"]: answer for answer in json.loads(done.stdout)["regions"]}
    assert answers["eu-west-1"]["status"] == "answered"
    assert [(d["jobId"], d["action"]) for d in answers["eu-west-1"]["decisions"]] == [("fw-2-5-eu", "canceled")]
    assert answers["us-east-1"]["status"] == "failed"
    assert "ServiceUnavailableException" in answers["us-east-1"]["detail"], answers["us-east-1"]["detail"]
    assert answers["us-east-1"]["decisions"] == []
    assert status_of(moto_server_url, "eu-west-1", "fw-2-5-eu")[0] == "CANCELED"
    assert status_of(moto_server_url, "us-east-1", "fw-2-5-us")[0] != "CANCELED"


def test_status_lists_every_regions_active_jobs_rules_and_recent_halts(project, moto_server_url):
    text = run(project, moto_server_url, "status")
    as_json = run(project, moto_server_url, "status", "--region", "us-east-1", "--output", "json")

    assert text.returncode == 0, text.stderr
    assert "Recent halts:" in text.stdout, text.stdout and "BAD_BUILD_2_4" in text.stdout
    active_rows = [line.split() for line in text.stdout.split("Recent halts:")[0].splitlines()[2:]]
    assert ["ops-2-4-eu", "QUEUED"] in [row[2:4] for row in active_rows]
    (region,) = json.loads(as_json.stdout)["regions"]
    assert region["region"] == "us-east-1" and region["status"] == "answered"
    (job,) = [job for job in region["active"] if job["jobId"] == "fw-2-5-us"]
    assert job["rules"] == ["crash-rate", "defender-firmware", "monitoring-critical", "fleet-casualties",
                            "operator-halt"]
    assert job["progress"]["queued"] == 1
    assert set(job["progress"]) == {"queued", "inProgress", "succeeded", "failed", "rejected", "timedOut",
                                    "canceled", "removed"}
    assert [halt["jobId"] for halt in region["recentHalts"]] == ["fw-2-4-us"]
    assert [key for key in keys_of(json.loads(as_json.stdout)) if " " in key] == []  # camelCase, as AWS's


def keys_of(value) -> list[str]:
    """Every key of a JSON document, at any depth."""
    if isinstance(value, dict):
        return [*value, *(key for inner in value.values() for key in keys_of(inner))]
    if isinstance(value, list):
        return [key for inner in value for key in keys_of(inner)]
    return []


def test_halt_refuses_bad_input_in_one_line_and_asks_no_one(project, moto_server_url):
    bad_glob = run(project, moto_server_url, "halt", "--jobs", "fw 2.4", "--everywhere", "--local")
    nowhere = run(project, moto_server_url, "halt", "--jobs", "fw-*", "--local")
    unknown = run(project, moto_server_url, "halt", "--jobs", "fw-*", "--region", "ap-south-1", "--local")
    bad_reason = run(project, moto_server_url, "halt", "--jobs", "fw-*", "--reason-code", "oops", "--everywhere")

    assert [p.returncode for p in (bad_glob, nowhere, unknown, bad_reason)] == [2, 2, 2, 2]
    assert bad_reason.stderr.strip() == "rollout-guard: --reason-code 'oops' must be 1 to 128 of A-Z, 0-9 and _"
    assert bad_glob.stderr.strip() == ("rollout-guard: --jobs 'fw 2.4' must be a glob of letters, digits, _ - * ? "
                                       "(64 at most)")
    assert nowhere.stderr.strip() == "rollout-guard: say where: --everywhere, or --region R (repeatable)"
    assert unknown.stderr.strip() == ("rollout-guard: no guard of this project in region ap-south-1 "
                                      "(environments: eu-west-1, us-east-1)")


def test_throttle_and_resume_go_through_every_regions_guard(project, moto_server_url):
    rollout = {"maximumPerMinute": 200}
    for region in REGIONS.values():
        iot = regional("iot", moto_server_url, region)
        thing = iot.describe_thing(thingName=f"dev-{region}")["thingArn"]
        iot.create_job(jobId=f"fw-2-6-{region[:2]}", targets=[thing], document="{}", targetSelection="SNAPSHOT",
                       jobExecutionsRolloutConfig=rollout)

    throttled = run(project, moto_server_url, "throttle", "--jobs", "fw-2-6-*", "--max-per-minute", "5",
                    "--abort", "FAILED:10:20", "--everywhere", "--local", "--output", "json")
    configs = {region: regional("iot", moto_server_url, region).describe_job(jobId=f"fw-2-6-{region[:2]}")["job"]
               for region in REGIONS.values()}
    status = run(project, moto_server_url, "status", "--output", "json")
    text = run(project, moto_server_url, "status")
    resumed = run(project, moto_server_url, "resume", "--jobs", "fw-2-6-*", "--everywhere", "--local")

    assert throttled.returncode == 0, throttled.stdout + throttled.stderr
    for answer in json.loads(throttled.stdout)["regions"]:
        assert [(d["jobId"], d["action"]) for d in answer["decisions"]] == [
            (f"fw-2-6-{answer['region'][:2]}", "throttled")]
    for job in configs.values():
        assert job["jobExecutionsRolloutConfig"] == {"maximumPerMinute": 5}
        assert job["abortConfig"]["criteriaList"][0]["failureType"] == "FAILED"
    shown = {job["jobId"]: job["throttled"] for region in json.loads(status.stdout)["regions"]
             for job in region["active"] if "throttled" in job}
    assert {job: (held["current"], held["saved"]) for job, held in shown.items()} == {
        "fw-2-6-eu": ({"maximumPerMinute": 5}, rollout), "fw-2-6-us": ({"maximumPerMinute": 5}, rollout)}
    assert "Throttled by the guard:" in text.stdout and text.stdout.count('{"maximumPerMinute": 200}') == 2
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert sum(1 for line in resumed.stdout.splitlines() if " restored " in line) == 2
    for region in REGIONS.values():
        job = regional("iot", moto_server_url, region).describe_job(jobId=f"fw-2-6-{region[:2]}")["job"]
        assert job["jobExecutionsRolloutConfig"] == rollout and job["status"] not in ("CANCELED", "COMPLETED")


def test_throttle_refuses_bad_values_in_one_line_and_asks_no_one(project, moto_server_url):
    rate = run(project, moto_server_url, "throttle", "--jobs", "fw-*", "--max-per-minute", "0", "--everywhere")
    abort = run(project, moto_server_url, "throttle", "--jobs", "fw-*", "--max-per-minute", "5", "--abort",
                "FAILED:101:20", "--everywhere")

    assert (rate.returncode, abort.returncode) == (2, 2)
    assert rate.stderr.strip() == ("rollout-guard: --max-per-minute '0' must be a whole number from 1 to 1000 "
                                   "(UpdateJob's range)")
    assert abort.stderr.strip().startswith("rollout-guard: --abort 'FAILED:101:20' must be FAILURE_TYPE:PERCENT:")


HOSTILE_OPERATOR_INPUT = [
    *((command, "--deadline", value) for command in ("halt", "throttle", "resume", "doctor", "status")
      for value in ("0", "-1", "nan", "inf", "901", " 5", "\u0665")),
    ("throttle", "--max-per-minute", " 5"), ("throttle", "--max-per-minute", "+5"),
    ("throttle", "--max-per-minute", "\u0665"), ("throttle", "--abort", ""), ("throttle", "--abort", "FAILED:\u0661:2"),
    ("halt", "--region", "xx-nowhere-1"), ("throttle", "--region", ""), ("doctor", "--region", "xx-nowhere-1"),
    ("halt", "--deployments", ""), ("halt", "--deployments", "gg\n*"), ("halt", "--deployments", "g" * 257),
]


def test_hostile_operator_input_is_one_line_exit_2_and_nothing_is_sent(project, moto_server_url):
    """Every case through one loopback proxy (a case that sent anything would show on it)."""
    wrong = []
    with FaultProxy(moto_server_url) as proxy:
        for command, option, value in HOSTILE_OPERATOR_INPUT:
            asked = {"halt": ["--jobs", "fw-*"], "throttle": ["--jobs", "fw-*", "--max-per-minute", "5"],
                     "resume": ["--jobs", "fw-*"], "doctor": [], "status": []}[command]
            if option == "--max-per-minute":
                asked = ["--jobs", "fw-*", "--max-per-minute", value]
            elif option != "--region":
                asked = [*asked, option, value]
            where = ["--region", value] if option == "--region" else ["--everywhere"]
            local = ["--local"] if command in ("halt", "throttle", "resume") else []
            done = run(project, proxy.url, command, *asked, *where, *local)
            lines = done.stderr.strip().splitlines()
            if done.returncode != 2 or len(lines) != 1 or "Traceback" in done.stderr or proxy.received:
                wrong.append((command, option, value, done.returncode, done.stderr[-200:], len(proxy.received)))

    assert wrong == []


def test_a_halt_of_deployments_stops_the_matching_ones_in_each_region_and_status_lists_them(project,
                                                                                           moto_server_url):
    made = {}
    for region in REGIONS.values():
        iot, gg = regional("iot", moto_server_url, region), regional("greengrassv2", moto_server_url, region)
        for name in ("gg-fw-9-eu", "cam-9"):
            group = f"{name}-group"
            iot.create_thing_group(thingGroupName=group)
            target = iot.describe_thing_group(thingGroupName=group)["thingGroupArn"]
            made[region, name] = gg.create_deployment(targetArn=target, deploymentName=name)["deploymentId"]

    done = run(project, moto_server_url, "halt", "--deployments", "gg-fw-9-*", "--everywhere", "--local",
               "--output", "json")
    text = run(project, moto_server_url, "status", "--region", "eu-west-1")
    shown = run(project, moto_server_url, "status", "--region", "us-east-1", "--output", "json")
    neither = run(project, moto_server_url, "halt", "--everywhere", "--local")

    assert done.returncode == 0, done.stderr
    for answer in json.loads(done.stdout)["regions"]:
        (decision,) = answer["decisions"]
        assert (decision["deploymentId"], decision["action"]) == (made[answer["region"], "gg-fw-9-eu"], "canceled")
        assert "devices that already received it keep it" in decision["detail"]
    for region in REGIONS.values():
        states = {d["deploymentName"]: d["deploymentStatus"]
                  for d in regional("greengrassv2", moto_server_url, region).list_deployments()["deployments"]}
        assert states == {"gg-fw-9-eu": "CANCELED", "cam-9": "ACTIVE"}
    assert text.returncode == 0 and "Greengrass deployments" in text.stdout
    assert any(line.split()[1:4] == ["gg-fw-9-eu", made["eu-west-1", "gg-fw-9-eu"], "CANCELED"]
               for line in text.stdout.splitlines())
    (region,) = json.loads(shown.stdout)["regions"]
    listed = {d["deploymentName"]: (d["status"], d["rules"]) for d in region["deployments"]}
    assert listed == {"gg-fw-9-eu": ("CANCELED", ["fleet-casualties", "operator-halt"]),
                      "cam-9": ("ACTIVE", [])}
    assert neither.returncode == 2
    assert neither.stderr.strip() == "rollout-guard: say what to halt: --jobs GLOB, --deployments GLOB, or both"


def test_status_lists_watched_jobs_regressions_and_ready_reverts_and_revert_approves_through_the_region(
        project, moto_server_url):
    """The project policy's fleet rule watches a day after success and prepares a revert: a completed rollout whose
    devices go dark two hours later is a regression; `status` shows it, `revert --local` shows and approves it."""
    import time

    from rollout_guard_cdk import outputs
    from rollout_guard_cli import everywhere
    from rollout_guard_local import samples

    iot, data = regional("iot", moto_server_url, "eu-west-1"), regional("iot-jobs-data", moto_server_url, "eu-west-1")
    things = [f"dev-w{n}" for n in range(4)]
    arns = [iot.create_thing(thingName=thing)["thingArn"] for thing in things]
    iot.create_job(jobId="fw-2-7-eu", targets=arns, document="{}", targetSelection="SNAPSHOT")
    for thing in things:
        data.update_job_execution(thingName=thing, jobId="fw-2-7-eu", status="SUCCEEDED")
    at = int(time.time() * 1000) - 3 * 3_600_000
    events = [samples.job_execution("fw-2-7-eu", thing, "SUCCEEDED", at + n) for n, thing in enumerate(things)]
    events += [samples.presence(thing, False, at + 2 * 3_600_000 + n * 1000) for n, thing in enumerate(things[:3])]
    (project / "batch.json").write_text(json.dumps(samples.sqs_batch(*events)))
    (stack,) = regional("cloudformation", moto_server_url, "eu-west-1").describe_stacks(
        StackName="RolloutGuard-eu")["Stacks"]
    table = everywhere.outputs_of(stack)[outputs.STATE_TABLE]
    invoked = cli.run("invoke", "batch.json", "--policy", "policy.yaml", "--state-table", table,
                      env={**client_env(moto_server_url), "AWS_REGION": "eu-west-1"}, cwd=project)
    assert invoked.returncode == 0, invoked.stderr + invoked.stdout

    shown = run(project, moto_server_url, "status", "--region", "eu-west-1", "--output", "json")
    before = run(project, moto_server_url, "revert", "--job", "fw-2-7-eu", "--region", "eu-west-1", "--local")
    approved = run(project, moto_server_url, "revert", "--job", "fw-2-7-eu", "--region", "eu-west-1", "--local",
                   "--approve")
    text = run(project, moto_server_url, "status", "--region", "eu-west-1")

    (region,) = json.loads(shown.stdout)["regions"]
    assert [job["jobId"] for job in region["watched"]] == ["fw-2-7-eu"]
    (kept,) = region["afterRollout"]
    assert kept["jobId"] == "fw-2-7-eu" and kept["regressed"] and kept["revert"]["state"] == "ready"
    assert before.returncode == 0 and "things:   4" in before.stdout and "inline document" in before.stdout
    assert approved.returncode == 0, approved.stderr
    assert sorted(iot.describe_job(jobId="fw-2-7-eu-revert")["job"]["targets"]) == sorted(arns)
    assert "After the rollout" in text.stdout and "fw-2-7-eu-revert" in text.stdout and "created" in text.stdout


def test_status_as_csv_is_its_table_of_active_jobs_with_a_header(project, moto_server_url):
    import csv
    import io

    from rollout_guard_cli.everywhere import STATUS_HEADERS

    done = run(project, moto_server_url, "status", "--region", "us-east-1", "--output", "csv")

    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(io.StringIO(done.stdout)))
    assert rows[0] == STATUS_HEADERS
    assert ["us-east-1", "us", "fw-2-5-us"] in [row[:3] for row in rows[1:]]
