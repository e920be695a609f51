"""The `rollout-guard` command as an operator runs it, against a moto server over HTTP.

Each test checks what the operator sees (stdout, stderr, exit code) and the emulated jobs afterwards. Commands run
in this process through `tests.cli.run`; the tests about the process itself (the console script, several processes
racing, an environment without credentials) start it, as `test_drill.py` does.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from rollout_guard_local import samples
from rollout_guard_local.emulator import client, client_env
from tests import cli
from tests.cli import COMMAND, run_process
from tests.conftest import ROOT, assert_backed_off, create_jobs


def run(*args: str, url: str | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return cli.run(*args, env=client_env(url) if url else None, cwd=cwd)


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

    done = run_process("invoke", write(tmp_path, samples.alarm_eventbridge(job_id="fw-2-4-eu")),
                       env=client_env(emulator))

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["decisions"] == [{"jobId": "fw-2-4-eu", "action": "canceled", "reasonCode": "FIRMWARE_CRASH_RATE",
                                    "force": False, "detail": "rule crash-rate cancels; CancelJob accepted "
                                                              "(without force)"}]
    job = iot.describe_job(jobId="fw-2-4-eu")["job"]
    assert (job["status"], job["reasonCode"]) == ("CANCELED", "FIRMWARE_CRASH_RATE")
    assert status(iot, "fw-2-4-us") != "CANCELED"


@pytest.mark.parametrize("kind", sorted(set(samples.KINDS) - samples.FLEET_KINDS))
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


def test_invoke_exits_1_when_a_cancellation_failed(iot, emulator, tmp_path, backoffs):
    from rollout_guard_local.fault_proxy import FaultProxy

    create_jobs(iot, "fw-2-4-eu", "fw-2-4-us")
    event = samples.custom_eventbridge(job_ids=["fw-2-4-eu", "fw-2-4-us", "fw-missing"])

    def plan(operation, path):  # IoT stays unavailable for one job's cancel, past every retry
        return "unavailable" if operation == "CancelJob" and "fw-2-4-eu" in path else None

    with FaultProxy(emulator, plan=plan) as proxy:
        done = run("invoke", write(tmp_path, event), url=proxy.url)

    assert done.returncode == 1
    actions = {d["jobId"]: d["action"] for d in json.loads(done.stdout)["decisions"]}
    assert actions == {"fw-2-4-eu": "failed", "fw-2-4-us": "canceled", "fw-missing": "skipped"}
    assert status(iot, "fw-2-4-us") == "CANCELED" and status(iot, "fw-2-4-eu") != "CANCELED"
    assert_backed_off(backoffs, retries=4)  # the guard's five attempts at the unavailable cancel


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


def test_invoke_exits_2_on_an_event_nested_too_deeply(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)

    done = run("invoke", str(path), "--policy", str(ROOT / "policy.yaml"))

    assert done.returncode == 2 and done.stderr.strip() == (
        f"rollout-guard: event file {path} is nested too deeply to be an alert")


def test_invoke_without_a_region_or_credentials_says_so_in_one_line(tmp_path):
    event = write(tmp_path, samples.alarm_sns())
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    no_region = {**base, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_CONFIG_FILE": "/nonexistent"}
    no_credentials = {**base, "AWS_DEFAULT_REGION": "eu-west-1", "AWS_CONFIG_FILE": "/nonexistent",
                      "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true"}

    for env, message in ((no_region, "You must specify a region"), (no_credentials, "credentials not found")):
        done = subprocess.run([COMMAND, "invoke", event, "--policy", str(ROOT / "policy.yaml")], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 1 and done.stdout == "" and message in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


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
    assert done.stderr.startswith("An error occurred (ResourceNotFoundException) when calling the CancelJob operation")


@pytest.mark.parametrize(
    ("args", "expected"),
    [(["--generate-cli-skeleton"], {"jobId": "", "reasonCode": "", "comment": "", "force": True}),
     (["--generate-cli-skeleton", "input", "--job-id", "not valid!"], {"jobId": "", "reasonCode": "", "comment": "",
                                                                      "force": True}),
     (["--job-id", "fw-1", "--generate-cli-skeleton", "output"],
      {"jobArn": "jobArn", "jobId": "jobId", "description": "description"})],
)
def test_generate_cli_skeleton(args, expected):
    done = run("cancel", *args)

    assert done.returncode == 0 and json.loads(done.stdout) == expected


def test_the_output_skeleton_validates_the_command_first_and_follows_output(tmp_path):
    missing = run("cancel", "--generate-cli-skeleton", "output")
    invalid = run("cancel", "--generate-cli-skeleton", "output", "--job-id", "fw-1", "--reason-code", "lower")
    as_yaml = run("cancel", "--generate-cli-skeleton", "output", "--job-id", "fw-1", "--output", "yaml")
    as_text = run("cancel", "--generate-cli-skeleton", "output", "--job-id", "fw-1", "--output", "text")
    source = tmp_path / "input.json"
    source.write_text('{"jobId": "fw-1", "comment": "from a file"}')
    from_file = run("cancel", "--cli-input-json", f"file://{source}", "--generate-cli-skeleton", "output")

    assert (missing.returncode, missing.stdout) == (252, "") and "--job-id" in missing.stderr
    assert (invalid.returncode, invalid.stdout) == (252, "") and "--reason-code" in invalid.stderr
    assert as_yaml.stdout == "jobArn: jobArn\njobId: jobId\ndescription: description\n"
    assert as_text.stdout == "description\tjobArn\tjobId\n"
    assert from_file.returncode == 0 and json.loads(from_file.stdout)["jobId"] == "jobId"


def test_the_yaml_input_skeleton_carries_the_aws_cli_comments():
    lines = run("cancel", "--generate-cli-skeleton", "yaml-input").stdout.splitlines()

    assert lines[0] == ("jobId: '' # [REQUIRED] The unique identifier you assigned to this job when it was "
                        "created.")
    assert [line.split(":")[0] for line in lines] == ["jobId", "reasonCode", "comment", "force"]
    assert lines[3].startswith("force: true # (Optional) If true job executions")
    assert all(" # " in line for line in lines)


def test_cancel_exits_255_with_one_line_when_it_cannot_connect(emulator, backoffs):
    from rollout_guard_local.emulator import free_port

    done = run("cancel", "--job-id", "fw-1", "--endpoint-url", f"http://127.0.0.1:{free_port()}", url=emulator)

    assert done.returncode == 255
    assert len(done.stderr.strip().splitlines()) == 1 and "Could not connect" in done.stderr
    assert_backed_off(backoffs, retries=4)  # retried as the AWS CLI would, then reported


@pytest.mark.parametrize(("flag", "content", "message"), [
    ("--cli-input-json", '{"jobId": "fw-1", "jobId": "fw-2"}', "duplicate key 'jobId'"),
    ("--cli-input-yaml", "jobId: fw-1\njobId: fw-2\n", "duplicate key 'jobId'"),
    ("--cli-input-yaml", "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(8)),
     "more than 100000 values"),
])
def test_cancel_input_files_are_loaded_as_safely_as_policies(tmp_path, flag, content, message):
    source = tmp_path / "input"
    source.write_text(content)

    done = run("cancel", flag, f"file://{source}")

    assert done.returncode == 252 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1


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

    assert list(every) == [*samples.KINDS, "halt-request"]  # the operator's request, as `halt` sends it, last
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


# --- exactly once -------------------------------------------------------------------------------------------


def test_state_init_creates_the_table_and_exits_0_when_it_exists(emulator):
    first = run("state", "init", "claims-e2e", url=emulator)
    again = run("state", "init", "claims-e2e", url=emulator)

    assert (first.returncode, again.returncode) == (0, 0) and "already exists" in again.stdout
    table = client("dynamodb", emulator).describe_table(TableName="claims-e2e")["Table"]
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    ttl = client("dynamodb", emulator).describe_time_to_live(TableName="claims-e2e")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiration"}


def test_several_processes_with_one_alert_cancel_each_job_exactly_once(iot, emulator, tmp_path):
    from rollout_guard_local.fault_proxy import FaultProxy

    assert run("state", "init", "claims-race", url=emulator).returncode == 0
    create_jobs(iot, "fw-r1", "fw-r2", "fw-r3")
    event = write(tmp_path, samples.custom_eventbridge(job_ids=["fw-r1", "fw-r2", "fw-r3"]))

    with FaultProxy(emulator) as proxy:
        env = {**os.environ, **client_env(proxy.url)}
        processes = [subprocess.Popen([COMMAND, "invoke", event, "--state-table", "claims-race"], env=env, cwd=ROOT,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
        results = [process.communicate(timeout=120) for process in processes]

    cancels = sorted(path.split("/")[2] for operation, path in proxy.forwarded if operation == "CancelJob")
    assert cancels == ["fw-r1", "fw-r2", "fw-r3"]
    assert all(process.returncode == 0 for process in processes), results
    actions = [d["action"] for stdout, _ in results for d in json.loads(stdout)["decisions"]]
    assert actions.count("canceled") == 3 and actions.count("skipped") == 9
    assert all(status(iot, job) == "CANCELED" for job in ("fw-r1", "fw-r2", "fw-r3"))


# --- the fleet signal and the pre-start gate ----------------------------------------------------------------

HOUR_AGO_MS = samples.EPOCH_MS  # long past: every dark check is due at once


def test_invoke_counts_a_fleet_batch_and_halts_on_the_third_casualty(iot, emulator, tmp_path):
    assert run("state", "init", "fleet-e2e", url=emulator).returncode == 0
    create_jobs(iot, "fw-3-0-eu", "fw-3-0-us")
    first = [samples.job_execution("fw-3-0-eu", f"dev-{n}", "FAILED", HOUR_AGO_MS + n) for n in (1, 2)]
    third = samples.job_execution("fw-3-0-eu", "dev-3", "TIMED_OUT", HOUR_AGO_MS + 3)

    before = run("invoke", write(tmp_path, samples.sqs_batch(*first)), "--state-table", "fleet-e2e", url=emulator)
    active = status(iot, "fw-3-0-eu")
    after = run("invoke", write(tmp_path, samples.sqs_batch(third), "third.json"), "--state-table", "fleet-e2e",
                url=emulator)

    assert (before.returncode, after.returncode) == (0, 0), before.stderr + after.stderr
    assert active != "CANCELED"
    (evaluation,) = json.loads(after.stdout)["evaluations"]
    assert evaluation["crossed"] and evaluation["casualties"] == 3
    assert evaluation["outcome"]["decisions"][0]["action"] == "canceled"
    job = iot.describe_job(jobId="fw-3-0-eu")["job"]
    assert (job["status"], job["reasonCode"]) == ("CANCELED", "FLEET_CASUALTIES")
    assert "dev-1 failed, dev-2 failed, dev-3 timed_out" in job["comment"]
    assert status(iot, "fw-3-0-us") != "CANCELED"


def test_a_disconnect_schedules_its_dark_check_on_the_fleet_queue(iot, emulator, tmp_path):
    assert run("state", "init", "fleet-dark", url=emulator).returncode == 0
    sqs = client("sqs", emulator)
    queue = sqs.create_queue(QueueName="fleet-dark")["QueueUrl"]
    create_jobs(iot, "fw-3-1-eu", thing="dev-9")
    events = [samples.job_execution("fw-3-1-eu", "dev-9", "SUCCEEDED", HOUR_AGO_MS),
              samples.presence("dev-9", False, HOUR_AGO_MS + 1000)]

    done = run("invoke", write(tmp_path, samples.sqs_batch(*events)), "--state-table", "fleet-dark",
               "--fleet-queue", queue, url=emulator)
    (message,) = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    checked = run("invoke", write(tmp_path, json.loads(message["Body"]), "check.json"), "--state-table", "fleet-dark",
                  url=emulator)

    assert done.returncode == 0, done.stderr
    assert json.loads(message["Body"]) == {"rolloutGuard": "dark-check", "darkAfter": 120,
                                           "disconnects": [["dev-9", HOUR_AGO_MS + 1000]]}
    assert checked.returncode == 0, checked.stderr
    (evaluation,) = json.loads(checked.stdout)["evaluations"]
    assert evaluation["casualties"] == 1 and "dev-9 dark" in evaluation["detail"] and not evaluation["crossed"]


def test_invoke_without_a_queue_judges_a_batch_as_the_function_does_whatever_its_order(iot, emulator, tmp_path):
    assert run("state", "init", "fleet-order", url=emulator).returncode == 0
    create_jobs(iot, "fw-3-3-eu", thing="dev-7")
    at = (HOUR_AGO_MS // 86_400_000 + 1) * 86_400_000 - 20_000  # the reconnect falls on the next day's item
    reports = [samples.job_execution("fw-3-3-eu", thing, "SUCCEEDED", at) for thing in ("dev-7", "dev-8")]
    # dev-7 reboots and is back 40 s later; dev-8 never comes back. The reconnect comes last in the batch.
    events = [*reports, samples.presence("dev-7", False, at + 1_000), samples.presence("dev-8", False, at + 1_000),
              samples.presence("dev-7", True, at + 41_000)]

    done = run("invoke", write(tmp_path, samples.sqs_batch(*events)), "--state-table", "fleet-order", url=emulator)

    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["batchItemFailures"] == []
    (evaluation,) = answer["evaluations"]
    assert evaluation["casualties"] == 1 and "dev-8 dark" in evaluation["detail"] and "dev-7" not in evaluation["detail"]


def test_without_a_state_table_invoke_counts_the_fleet_events_it_is_given_and_says_so(iot, emulator, tmp_path):
    create_jobs(iot, "fw-3-2-eu")
    batch = samples.sqs_batch(*(samples.job_execution("fw-3-2-eu", f"dev-{n}", "FAILED", HOUR_AGO_MS + n)
                                for n in (1, 2, 3)))

    one = run("invoke", write(tmp_path, samples.job_execution("fw-3-2-eu")), "--dry-run", url=emulator)
    three = run("invoke", write(tmp_path, batch, "batch.json"), url=emulator)

    assert (one.returncode, three.returncode) == (0, 0), one.stderr + three.stderr
    assert json.loads(one.stdout)["countedIn"] == "memory: only this invocation's events count"
    assert json.loads(one.stdout)["evaluations"][0]["casualties"] == 1
    assert status(iot, "fw-3-2-eu") == "CANCELED"


def test_invoke_refuses_a_malformed_fleet_event_in_one_line(iot, emulator, tmp_path):
    done = run("invoke", write(tmp_path, {**samples.presence(), "clientId": ""}), url=emulator)

    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == ["rollout-guard: not a fleet event: clientId must be a non-empty string"]


def test_invoke_of_a_job_created_while_its_alarm_fires_cancels_it_at_once(iot, emulator, tmp_path):
    cloudwatch = client("cloudwatch", emulator)
    cloudwatch.put_metric_alarm(AlarmName="fw-crash-rate-eu", MetricName="CrashRate", Namespace="Fleet",
                                Statistic="Average", Period=60, EvaluationPeriods=1, Threshold=5,
                                ComparisonOperator="GreaterThanThreshold")
    cloudwatch.set_alarm_state(AlarmName="fw-crash-rate-eu", StateValue="ALARM", StateReason="crashes")
    create_jobs(iot, "fw-2-6-eu")

    done = run("invoke", write(tmp_path, samples.job_created("fw-2-6-eu")), url=emulator)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["decisions"][0]["action"] == "canceled"
    job = iot.describe_job(jobId="fw-2-6-eu")["job"]
    assert (job["status"], job["reasonCode"]) == ("CANCELED", "FIRMWARE_CRASH_RATE")
    assert job["comment"] == ("fw-crash-rate-eu: alarm fw-crash-rate-eu was already in ALARM when job fw-2-6-eu was "
                              "created")


POISONS = {  # one line each of tests/corpus/replay: what a careless or hostile publisher could put on the queue
    "timestamp of 401 digits": json.dumps(samples.job_execution("fw-3-2-eu", "dev-9", "FAILED", HOUR_AGO_MS))
    .replace(f'"timestamp": {HOUR_AGO_MS // 1000}', '"timestamp": ' + "9" * 401),
    "presence in the year 9999": json.dumps(samples.presence("dev-9", False, 253402300799999)),
    "a field nested 990 deep": json.dumps(samples.presence("dev-9", False, HOUR_AGO_MS))[:-1]
    + ', "extra": ' + "[" * 990 + "]" * 990 + "}",
}


@pytest.mark.parametrize(("poison", "position"), [(poison, n) for n, poison in enumerate(sorted(POISONS))])
def test_a_poison_message_is_its_own_and_the_valid_ones_of_its_batch_are_counted(iot, emulator, tmp_path, poison,
                                                                                 position):
    """Each poison in another position (every position of any one broken message: the property test in
    tests/unit/test_fleet_properties.py)."""
    create_jobs(iot, "fw-3-2-eu")
    valid = [json.dumps(samples.job_execution("fw-3-2-eu", f"dev-{n}", "FAILED", HOUR_AGO_MS + n)) for n in (1, 2)]
    bodies = valid[:position] + [POISONS[poison]] + valid[position:]
    batch = {"Records": [{"messageId": f"m-{n}", "body": body, "eventSource": "aws:sqs", "attributes": {}}
                         for n, body in enumerate(bodies)]}

    done = run("invoke", write(tmp_path, batch), url=emulator)

    # exit 1: a message failed (SQS delivers it again, then keeps it in the fleet's error queue), alone
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    answer = json.loads(done.stdout)
    poisoned = f"m-{position}"
    assert {f["itemIdentifier"] for f in answer["batchItemFailures"]} == {poisoned}
    assert set(answer["rejected"]) == {poisoned}
    (evaluation,) = answer["evaluations"]
    assert evaluation["casualties"] == 2  # both valid failures counted


@pytest.mark.parametrize("region", ["xx-nowhere-1", ""])
def test_a_region_botocore_does_not_know_is_refused_where_the_project_names_no_environment(region):
    from tests.conftest import ROOT

    for command in (["throttle", "--jobs", "fw-*", "--max-per-minute", "5", "--local"], ["doctor"]):
        done = cli.run(*command, "--region", region, cwd=ROOT)

        assert done.returncode == 2, done.stdout + done.stderr
        assert done.stderr.strip() == (f"rollout-guard: region {region!r} is not a region where AWS offers IoT "
                                       "(botocore's list): nothing asked")
