"""The real `cdk bootstrap` and `cdk deploy` against a moto server, then the shipped artifact run on its own.

The handler runs from the asset zip taken out of the bootstrap bucket, in a Python started with -S (no
site-packages): only the asset and what the Lambda runtime itself provides (boto3 and its dependencies) are on the
path. So a dependency missing from the asset fails this test.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from rollout_guard_local import rehearsal, samples
from rollout_guard_local.emulator import EMULATOR_ENV, client, client_env
from tests.conftest import IN_THE_CDK_WORKER, create_jobs

pytestmark = [IN_THE_CDK_WORKER, pytest.mark.slow]

REGION = EMULATOR_ENV["AWS_REGION"]


@pytest.fixture(scope="module")
def deployed(guard_account):
    return guard_account


aws = client


def stack_resources(url: str) -> dict[str, str]:
    summaries = aws("cloudformation", url).list_stack_resources(StackName="RolloutGuard")["StackResourceSummaries"]
    return {s["LogicalResourceId"]: s["PhysicalResourceId"] for s in summaries}


def test_stack_is_deployed_with_its_resources(deployed, template):
    stack = aws("cloudformation", deployed).describe_stacks(StackName="RolloutGuard")["Stacks"][0]
    physical = stack_resources(deployed)
    function_id = next(k for k, v in template["Resources"].items() if v["Type"] == "AWS::Lambda::Function")
    queue_id = next(k for k, v in template["Resources"].items() if v["Type"] == "AWS::SQS::Queue")

    assert stack["StackStatus"] == "CREATE_COMPLETE"
    modelled = {"AWS::KMS::Key", "AWS::SQS::Queue", "AWS::SNS::Topic", "AWS::Logs::LogGroup", "AWS::IAM::Role",
                "AWS::IAM::Policy", "AWS::Lambda::Function", "AWS::Lambda::Permission", "AWS::Events::Rule",
                "AWS::CloudWatch::Dashboard", "AWS::DynamoDB::Table"}
    expected = {k for k, v in template["Resources"].items() if v["Type"] in modelled}
    assert expected <= set(physical)
    function = aws("lambda", deployed).get_function_configuration(FunctionName=physical[function_id])
    assert function["Handler"] == "rollout_guard.handler.lambda_handler"
    assert function["Environment"]["Variables"]["ROLLOUT_GUARD_POLICY_FILE"] == "/var/task/policy.json"
    queues = aws("sqs", deployed).list_queues()["QueueUrls"]
    assert any(physical[queue_id] in url or url.endswith(physical[queue_id].rsplit("/", 1)[-1]) for url in queues)
    rules = aws("events", deployed).list_rules()["Rules"]
    patterns = [json.loads(rule["EventPattern"]) for rule in rules]
    assert any(p.get("detail", {}).get("state") == {"value": ["ALARM"], "actionsSuppressedBy": [{"exists": False}]}
               for p in patterns)
    assert aws("sns", deployed).list_topics()["Topics"]
    table_id = next(k for k, v in template["Resources"].items() if v["Type"] == "AWS::DynamoDB::Table")
    table = aws("dynamodb", deployed).describe_table(TableName=physical[table_id])["Table"]
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert function["Environment"]["Variables"]["ROLLOUT_GUARD_STATE_TABLE"] == physical[table_id]


def unpack_asset(url: str, template: dict, folder: Path) -> Path:
    function = next(v for v in template["Resources"].values() if v["Type"] == "AWS::Lambda::Function")
    key = function["Properties"]["Code"]["S3Key"]
    bucket = f"cdk-hnb659fds-assets-{rehearsal.ACCOUNT}-{REGION}"
    body = aws("s3", url).get_object(Bucket=bucket, Key=key)["Body"].read()
    asset = folder / "task"
    zipfile.ZipFile(io.BytesIO(body)).extractall(asset)
    print(f"\nasset from the bootstrap bucket: {len(body) / 1e6:.2f} MB zipped")
    return asset


def run_shipped(url: str, template: dict, folder: Path, event: dict) -> dict:
    """The zip from the bootstrap bucket, alone, with the deployed function's environment (/var/task where the zip
    was unpacked), in a Python without site-packages; returns the handler's answer to `event`."""
    physical = stack_resources(url)
    function_id = next(k for k, v in template["Resources"].items() if v["Type"] == "AWS::Lambda::Function")
    variables = aws("lambda", url).get_function_configuration(
        FunctionName=physical[function_id])["Environment"]["Variables"]
    asset = unpack_asset(url, template, folder)
    runtime = rehearsal.lambda_runtime(folder)
    event_file = folder / "event.json"
    event_file.write_text(json.dumps(event))
    env = {key: value.replace("/var/task", str(asset)) for key, value in variables.items()}
    env.update(client_env(url), PATH=os.environ["PATH"], PYTHONPATH=f"{asset}{os.pathsep}{runtime}")
    script = (
        "import json, sys\n"
        "assert not [p for p in sys.path if 'site-packages' in p], sys.path\n"
        "from rollout_guard.handler import lambda_handler\n"
        "class Context:\n"
        "    function_name = 'rollout-guard'; memory_limit_in_mb = 256; aws_request_id = 'rehearsal'\n"
        "    invoked_function_arn = 'arn:aws:lambda:eu-west-1:123456789012:function:rollout-guard'\n"
        "    def get_remaining_time_in_millis(self): return 60000\n"
        "print('RESULT ' + json.dumps(lambda_handler(json.load(open(sys.argv[1])), Context())))\n"
    )

    done = subprocess.run([sys.executable, "-S", "-c", script, str(event_file)], env=env, capture_output=True,
                          text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert '"level":"ERROR"' not in done.stdout, done.stdout  # the halt announced too, nothing failed on the way
    return json.loads(next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))[7:])


def test_the_shipped_artifact_alone_cancels_the_job(deployed, template, tmp_path):
    iot = aws("iot", deployed)
    create_jobs(iot, "fw-2-4-eu", "fw-2-4-us")

    result = run_shipped(deployed, template, tmp_path, samples.alarm_eventbridge(job_id="fw-2-4-eu"))

    assert [(d["jobId"], d["action"]) for d in result["decisions"]] == [("fw-2-4-eu", "canceled")]
    assert iot.describe_job(jobId="fw-2-4-eu")["job"]["status"] == "CANCELED"
    assert iot.describe_job(jobId="fw-2-4-us")["job"]["status"] != "CANCELED"


def test_the_fleet_signal_is_deployed_and_the_shipped_artifact_halts_on_it(deployed, template, tmp_path):
    """The fleet queue and its event source mapping are created; the zip from the bootstrap bucket, alone, counts
    three failed executions in the deployed state table and cancels the job on the third."""
    physical = stack_resources(deployed)
    kinds = {logical_id: resource["Type"] for logical_id, resource in template["Resources"].items()}
    assert {"AWS::IoT::TopicRule", "AWS::Lambda::EventSourceMapping"} <= set(kinds.values())
    # moto's CloudFormation passes over AWS::IoT::TopicRule without making it: the rules are held to their
    # properties by the template tests (test_fleet_stack.py).
    function_id = next(k for k, v in kinds.items() if v == "AWS::Lambda::Function")
    (mapping,) = aws("lambda", deployed).list_event_source_mappings(FunctionName=physical[function_id])[
        "EventSourceMappings"]
    fleet_queue = next(k for k in physical if "FleetQueue" in k and kinds[k] == "AWS::SQS::Queue")
    assert mapping["EventSourceArn"].endswith(physical[fleet_queue].rsplit("/", 1)[-1])
    assert mapping["BatchSize"] == 10

    iot = aws("iot", deployed)
    create_jobs(iot, "fw-3-0-eu", thing="dev-fleet-1")
    events = [samples.job_execution("fw-3-0-eu", f"dev-fleet-{n}", "FAILED", samples.EPOCH_MS + n) for n in (1, 2, 3)]

    result = run_shipped(deployed, template, tmp_path, samples.sqs_batch(*events))

    assert result == {"batchItemFailures": []}
    job = iot.describe_job(jobId="fw-3-0-eu")["job"]
    assert job["status"] == "CANCELED" and job["reasonCode"] == "FLEET_CASUALTIES"
