"""`rollout-guard doctor` as an operator runs it (in this process, `tests.cli.run`) against the emulator, over HTTP, where the project's
stack was deployed with the real CDK CLI (the session's `guard_account`) and the account prepared as the README asks
(the drill's `prepare_account`).
Each test breaks one thing a real account can lack, and the row that names it, its verdict and the exit code are
what is checked."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from rollout_guard_cli import drill
from rollout_guard_local.emulator import client, client_env
from rollout_guard_local.fault_proxy import FaultProxy
from tests import cli
from tests.conftest import IN_THE_CDK_WORKER, ROOT

pytestmark = [IN_THE_CDK_WORKER, pytest.mark.slow]

REGION = drill.REGION
CHECKS = {"stack", "stack resources", "function", "jobs events", "trail", "alarms of rule crash-rate",
          "metrics insights alarms", "device defender", "kill switch", "dead letters", "fleet errors",
          "timer dead letters", "function health", "fleet queue", "iot rate", "throttled jobs", "timer role",
          "deployments of rule fleet-casualties", "deployments of rule operator-halt", "revert of rule fleet-casualties"}


@pytest.fixture(scope="module")
def account(guard_account):
    """The emulated account with the guard deployed (the session's deployment, which the rehearsal shares) and
    every prerequisite in place, one alarm of the crash-rate rule (reached through the stack's EventBridge rule
    by its name's prefix), and a Greengrass deployment the rules that name deployments reach."""
    drill.prepare_account(guard_account)
    alarm(guard_account, "fw-crash-rate-eu")
    iot = client("iot", guard_account)
    iot.create_thing_group(thingGroupName="gg-doctor")
    group = iot.describe_thing_group(thingGroupName="gg-doctor")["thingGroupArn"]
    client("greengrassv2", guard_account).create_deployment(targetArn=group, deploymentName="gg-fw-doctor")
    return guard_account


@pytest.fixture
def healthy(account):
    """Whatever a test broke is mended afterwards: the next test starts from the prepared account."""
    yield account
    iot, cloudwatch, sqs = (client(service, account) for service in ("iot", "cloudwatch", "sqs"))
    iot.update_event_configurations(eventConfigurations={"JOB": {"Enabled": True}, "JOB_EXECUTION": {"Enabled": True}})
    client("cloudtrail", account).start_logging(Name="management-events")
    extra = [a["AlarmName"] for a in cloudwatch.describe_alarms()["MetricAlarms"] if a["AlarmName"] != "fw-crash-rate-eu"]
    if extra:
        cloudwatch.delete_alarms(AlarmNames=extra)
    for url in sqs.list_queues().get("QueueUrls", []):
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    client("ssm", account).delete_parameters(Names=["/rollout-guard/kill-switch"])


def alarm(url: str, name: str, dimensions: list[dict] | None = None, actions: list[str] | None = None) -> None:
    client("cloudwatch", url).put_metric_alarm(
        AlarmName=name, MetricName="CrashRate", Namespace="Fleet/Firmware", Statistic="Average", Period=60,
        EvaluationPeriods=1, Threshold=5, ComparisonOperator="GreaterThanThreshold", Dimensions=dimensions or [],
        AlarmActions=actions or [])


def doctor(url: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return cli.run("doctor", *args, env=client_env(url), cwd=cwd)


def checks(done: subprocess.CompletedProcess[str]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for check in json.loads(done.stdout)["regions"][0]["checks"]:
        found.setdefault(check["check"], []).append(check)
    return found


def verdicts(done: subprocess.CompletedProcess[str]) -> dict[str, set[str]]:
    return {name: {c["verdict"] for c in rows} for name, rows in checks(done).items()}


def test_a_prepared_account_passes_every_check_through_calls_the_printed_policy_allows(healthy, monkeypatch):
    from rollout_guard_cli import doctor_account

    made: set[str] = set()
    original = doctor_account.Account.client

    def recording(self, service):
        made_client = original(self, service)
        made_client.meta.events.register_first("before-call", lambda model, **_: made.add(
            f"{model.service_model.signing_name}:{model.name}"), unique_id="record")
        return made_client

    monkeypatch.setattr(doctor_account.Account, "client", recording)
    done = doctor(healthy, "--region", REGION, "--output", "json")
    printed = cli.run("doctor", "--print-policy")

    assert done.returncode == 0, done.stdout + done.stderr
    assert verdicts(done) == {name: {"ok"} for name in CHECKS}
    # `--print-policy`: reads only, and every call doctor made on the way is among them
    assert printed.returncode == 0
    (statement,) = json.loads(printed.stdout)["Statement"]
    actions = set(statement["Action"])
    assert all(action.split(":")[1].startswith(("Describe", "Get", "List")) for action in actions)
    normalised = {call.replace("monitoring:", "cloudwatch:") for call in made}
    assert len(normalised) > 15 and normalised <= actions, normalised - actions
    assert json.loads(done.stdout)["problems"] == 0


def test_the_text_table_has_one_row_per_check_and_a_summary(healthy):
    done = doctor(healthy, "--region", REGION)

    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["region", "check", "verdict", "found", "fix"]
    assert sum(1 for line in lines if line.startswith(REGION)) == len(CHECKS)
    assert lines[-1] == f"0 problem(s), 0 warning(s), {len(CHECKS)} ok"


def test_jobs_events_off_is_a_problem_that_names_the_command(healthy):
    client("iot", healthy).update_event_configurations(eventConfigurations={"JOB_EXECUTION": {"Enabled": False}})

    done = doctor(healthy, "--region", REGION, "--output", "json")

    assert done.returncode == 1
    [row] = checks(done)["jobs events"]
    assert row["verdict"] == "problem" and "JOB_EXECUTION events are off" in row["found"]
    assert row["fix"].startswith("aws iot update-event-configurations") and f"--region {REGION}" in row["fix"]


def unreachable_project(folder: Path) -> Path:
    """The project with one more rule: alarms `ota-crash-*` (no jobs globs), which the deployed stack's EventBridge
    rule (prefix fw-crash-rate-) does not deliver."""
    cdk = json.loads((ROOT / "cdk.json").read_text())
    cdk["context"]["rollout-guard"]["policyFile"] = "policy.yaml"
    (folder / "cdk.json").write_text(json.dumps(cdk))
    (folder / "policy.yaml").write_text((ROOT / "policy.yaml").read_text() + (
        "  - name: ota-crash\n    match:\n      alarm_name: \"ota-crash-*\"\n    reason_code: OTA_CRASH\n"))
    return folder


def test_an_alarm_the_guard_never_hears_and_that_names_no_job_is_a_problem(healthy, tmp_path):
    alarm(healthy, "ota-crash-eu")
    alarm(healthy, "ota-crash-us", dimensions=[{"Name": "JobId", "Value": "fw-2-4-us"}],
          actions=[f"arn:aws:sns:{REGION}:123456789012:someone-else"])

    done = doctor(healthy, "--region", REGION, "--output", "json", cwd=unreachable_project(tmp_path))

    assert done.returncode == 1
    rows = checks(done)["alarms of rule ota-crash"]
    never = {row["found"].split()[0] for row in rows if "never reaches the guard" in row["found"]}
    assert never == {"ota-crash-eu", "ota-crash-us"}
    assert [row["found"].split()[0] for row in rows if "names no job" in row["found"]] == ["ota-crash-eu"]
    assert all(":sns:" in row["fix"] and row["fix"].split("--alarm-actions ")[1].split()[0].endswith(
        ":RolloutGuard-alerts") for row in rows if "never reaches" in row["found"])
    assert all(row["verdict"] == "problem" for row in rows)
    assert verdicts(done)["alarms of rule crash-rate"] == {"ok"}


def test_an_alarm_with_the_guards_topic_among_its_actions_is_heard(healthy, tmp_path):
    topic = next(arn for arn in client("sns", healthy).list_topics()["Topics"] for arn in [arn["TopicArn"]]
                 if arn.endswith(":RolloutGuard-alerts"))
    alarm(healthy, "ota-crash-eu", dimensions=[{"Name": "JobId", "Value": "fw-2-4-eu"}], actions=[topic])

    done = doctor(healthy, "--region", REGION, "--output", "json", cwd=unreachable_project(tmp_path))

    assert done.returncode == 0, done.stdout
    assert verdicts(done)["alarms of rule ota-crash"] == {"ok"}


def test_a_throttle_rules_alarm_whose_ok_never_reaches_the_guard_is_a_problem(healthy, tmp_path):
    """A throttled job is restored on its alarm's OK: through SNS that needs the topic among the OK actions too."""
    cdk = json.loads((ROOT / "cdk.json").read_text())
    cdk["context"]["rollout-guard"]["policyFile"] = "policy.yaml"
    (tmp_path / "cdk.json").write_text(json.dumps(cdk))
    (tmp_path / "policy.yaml").write_text((ROOT / "policy.yaml").read_text() + (
        "  - name: ota-warning\n    match:\n      alarm_name: \"ota-warn-*\"\n    jobs: [\"fw-*\"]\n"
        "    action: throttle\n    throttle: {max_per_minute: 5}\n"))
    topic = next(arn for arn in client("sns", healthy).list_topics()["Topics"] for arn in [arn["TopicArn"]]
                 if arn.endswith(":RolloutGuard-alerts"))
    alarm(healthy, "ota-warn-eu", actions=[topic])

    done = doctor(healthy, "--region", REGION, "--output", "json", cwd=tmp_path)

    assert done.returncode == 1
    [row] = checks(done)["alarms of rule ota-warning"]
    assert row["verdict"] == "problem" and "its return to OK never reaches the guard" in row["found"]
    assert f"--ok-actions {topic}" in row["fix"]


def test_an_alarm_the_guard_hears_but_no_rule_matches_is_a_warning(healthy, tmp_path):
    cdk = json.loads((ROOT / "cdk.json").read_text())
    cdk["context"]["rollout-guard"]["policyFile"] = "policy.yaml"
    (tmp_path / "cdk.json").write_text(json.dumps(cdk))
    (tmp_path / "policy.yaml").write_text((ROOT / "policy.yaml").read_text().replace(
        'alarm_name: "fw-crash-rate-*"', 'alarm_name: "fw-crash-rate-eu*"'))
    alarm(healthy, "fw-crash-rate-us")

    done = doctor(healthy, "--region", REGION, "--output", "json", cwd=tmp_path)

    assert done.returncode == 0
    [row] = checks(done)["alarms no rule matches"]
    assert row["verdict"] == "warning" and "fw-crash-rate-us" in row["found"]


def test_no_trail_logging_is_a_problem_when_the_gate_is_on(healthy):
    client("cloudtrail", healthy).stop_logging(Name="management-events")

    done = doctor(healthy, "--region", REGION, "--output", "json")

    assert done.returncode == 1
    [row] = checks(done)["trail"]
    assert row["verdict"] == "problem" and "1 trail(s) cover it, 0 logging" in row["found"]
    assert "gateTrail: true" in row["fix"]


def test_dead_letters_are_a_problem_each_queue_in_its_own_row(healthy):
    sqs = client("sqs", healthy)
    urls = sqs.list_queues()["QueueUrls"]
    for suffix in ("/RolloutGuard-dead-letters", "/RolloutGuard-timer-dlq"):
        sqs.send_message(QueueUrl=next(url for url in urls if url.endswith(suffix)), MessageBody="{}")

    done = doctor(healthy, "--region", REGION, "--output", "json")

    assert done.returncode == 1
    [alerts] = checks(done)["dead letters"]
    assert alerts["verdict"] == "problem" and alerts["found"].startswith("1 alert(s) the guard never handled")
    [timers] = checks(done)["timer dead letters"]
    assert timers["verdict"] == "problem" and "their jobs are not watched" in timers["found"]
    assert {c["verdict"] for c in checks(done)["fleet errors"]} == {"ok"}


def test_a_job_throttled_over_an_hour_is_a_warning_naming_the_resume(healthy):
    from rollout_guard.adapters.escalation_schedules import ScheduledEscalations
    from rollout_guard.halts.throttle.records import Throttled

    iot = client("iot", healthy)
    thing = iot.create_thing(thingName="dev-slow")["thingArn"]
    iot.create_job(jobId="fw-slow-eu", targets=[thing], document="{}")
    record = Throttled("fw-slow-eu", "operator-halt", "source rollout-guard.operator", None, None,
                       {"maximumPerMinute": 5}, None, "2026-12-01T08:00:00+00:00")
    timers = ScheduledEscalations("arn:aws:events:eu-west-1:123456789012:event-bus/default",
                                  "arn:aws:iam::123456789012:role/timer", lambda: client("scheduler", healthy))
    timers.schedule(record, 4102444800)
    try:
        done = doctor(healthy, "--region", REGION, "--output", "json")
    finally:
        scheduler = client("scheduler", healthy)
        for schedule in scheduler.list_schedules()["Schedules"]:
            scheduler.delete_schedule(Name=schedule["Name"])
        iot.cancel_job(jobId="fw-slow-eu")

    assert done.returncode == 0  # a warning, not a problem
    [row] = checks(done)["throttled jobs"]
    assert row["verdict"] == "warning" and row["found"].startswith("fw-slow-eu throttled by")
    assert row["fix"] == "rollout-guard resume --jobs fw-slow-eu (or rollout-guard halt --jobs fw-slow-eu)"


def test_the_kill_switch_on_is_a_warning_not_a_problem(healthy):
    client("ssm", healthy).put_parameter(Name="/rollout-guard/kill-switch", Value="on", Type="String")

    done = doctor(healthy, "--region", REGION, "--output", "json")

    assert done.returncode == 0
    [row] = checks(done)["kill switch"]
    assert row["verdict"] == "warning" and "dry run" in row["found"]


def test_a_region_without_the_stack_is_a_problem(healthy):
    done = doctor(healthy, "--region", "us-west-2", "--output", "json")

    assert done.returncode == 1
    [row] = checks(done)["stack"]
    assert row == {"check": "stack", "verdict": "problem", "found": "stack RolloutGuard is not deployed in us-west-2",
                   "fix": "cdk deploy RolloutGuard"}


def test_doctor_reads_only(healthy, tmp_path):
    """Every request that reaches the account, seen on the wire: REST calls are GETs, the others name a Describe,
    Get or List operation (CloudWatch's CBOR protocol names it in the path)."""
    alarm(healthy, "ota-crash-eu")
    with FaultProxy(healthy) as proxy:
        done = doctor(proxy.url, "--region", REGION, cwd=unreachable_project(tmp_path))
    assert done.returncode == 1 and proxy.received

    def operation(method: str, path: str, named: str | None) -> str:
        if named:
            return named
        if "/operation/" in path:
            return path.rsplit("/", 1)[-1]
        return "Get" if method in ("GET", "HEAD") else f"{method} {path}"

    operations = {operation(*request) for request in proxy.received}
    assert {"DescribeStacks", "DescribeAlarms", "GetQueueAttributes"} <= operations
    assert all(op.startswith(("Describe", "Get", "List")) for op in operations), operations


def test_outside_a_project_nothing_is_asked(tmp_path):
    done = cli.run("doctor", cwd=tmp_path)

    assert done.returncode == 2
    assert done.stderr.strip().startswith("rollout-guard: no project here")
    assert len(done.stderr.strip().splitlines()) == 1
