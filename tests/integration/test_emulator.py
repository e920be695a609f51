"""The local emulator answers as AWS does where moto alone would not, over HTTP (the server the drill and the CLI
tests use)."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from rollout_guard_local.emulator import client
from tests.conftest import http_iot_client


def test_cancel_of_an_unknown_job_is_resource_not_found_at_once(emulator, backoffs):
    with pytest.raises(ClientError) as caught:
        http_iot_client(emulator).cancel_job(jobId="fw-unknown")

    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert backoffs == []  # not retried: moto's own answer (500) would have been


def rule_to(events, name: str, target: dict) -> None:
    events.put_rule(Name=name, EventPattern=json.dumps({"source": ["rollout-guard"], "detail-type": ["Rollout Halted"]}))
    events.put_targets(Rule=name, Targets=[{"Id": "1", **target}])


def halted(events, job_id: str) -> dict:
    return events.put_events(Entries=[{"Source": "rollout-guard", "DetailType": "Rollout Halted",
                                       "Detail": json.dumps({"jobId": job_id, "reasonCode": "CRASH"})}])


def test_a_rule_delivers_its_line_to_an_sns_topic_and_the_topics_subscribers(emulator):
    events, sns, sqs = (client(service, emulator) for service in ("events", "sns", "sqs"))
    topic = sns.create_topic(Name="operations")["TopicArn"]
    queue = sqs.create_queue(QueueName="operator-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    rule_to(events, "halt-line", {"Arn": topic, "InputTransformer": {
        "InputPathsMap": {"job": "$.detail.jobId", "code": "$.detail.reasonCode"},
        "InputTemplate": '"Rollout halted: <job> (<code>)"'}})

    answer = halted(events, "fw-2-4-eu")

    assert answer["FailedEntryCount"] == 0
    (message,) = sqs.receive_message(QueueUrl=queue)["Messages"]
    assert message["Body"] == "Rollout halted: fw-2-4-eu (CRASH)"


def test_an_event_for_a_target_the_emulator_cannot_run_is_still_accepted(emulator, backoffs):
    events, sqs = client("events", emulator), client("sqs", emulator)
    queue = sqs.create_queue(QueueName="archive")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule_to(events, "to-function", {"Arn": "arn:aws:lambda:eu-west-1:123456789012:function:guard"})
    rule_to(events, "to-queue", {"Arn": queue_arn})

    answer = halted(events, "fw-2-4-eu")

    assert answer["FailedEntryCount"] == 0 and backoffs == []
    (message,) = sqs.receive_message(QueueUrl=queue)["Messages"]  # moto's own delivery still happens
    assert json.loads(message["Body"])["detail"]["jobId"] == "fw-2-4-eu"


def test_what_the_emulator_computes_once_is_what_moto_computes_each_time(monkeypatch):
    from moto import backends
    from moto.core import responses
    from moto.iot.responses import IoTResponse

    from rollout_guard_local import emulator_speed

    for module, name in ((backends, "list_of_moto_modules"), (responses, "method_names_from_class")):
        monkeypatch.setattr(module, name, getattr(module, name))  # put back after the test
    moto_answers = (list(backends.list_of_moto_modules()), responses.method_names_from_class(IoTResponse))
    moto_own = responses.method_names_from_class

    emulator_speed.install()
    emulator_speed.install()  # idempotent: one cache, not a cache of a cache

    assert responses.method_names_from_class.__wrapped__ is moto_own

    assert "iot" in moto_answers[0] and "cancel_job" in moto_answers[1]
    assert (list(backends.list_of_moto_modules()), responses.method_names_from_class(IoTResponse)) == moto_answers
    responses.method_names_from_class(IoTResponse)
    assert responses.method_names_from_class.cache_info().hits == 1  # the second dispatch reads the first's answer


def test_no_other_program_can_take_the_emulators_port_while_it_starts(monkeypatch):
    """The port is bound before the server process starts: a program binding it in between is refused, and the URL
    reaches the emulator, not that program."""
    import errno
    import os
    import socket
    import subprocess
    import urllib.request

    from rollout_guard_local import emulator

    started = subprocess.Popen
    competitors: list[tuple[int, int]] = []  # (port, errno of the competitor's bind)

    def popen(args, **kwargs):
        process = started(args, **kwargs)
        with socket.socket(fileno=os.dup(int(args[args.index("--fd") + 1]))) as handed:
            port = handed.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as competitor:
            try:
                competitor.bind(("127.0.0.1", port))
                competitors.append((port, 0))
            except OSError as error:
                competitors.append((port, error.errno))
        return process

    monkeypatch.setattr(subprocess, "Popen", popen)
    with emulator.moto_server() as url:
        with urllib.request.urlopen(f"{url}/moto-api/", timeout=5) as answer:  # noqa: S310 (loopback)
            assert answer.status == 200

    assert competitors == [(int(url.rsplit(":", 1)[1]), errno.EADDRINUSE)]


def test_the_emulators_dynamodb_writes_are_one_at_a_time_as_conditional_writes_are_atomic():
    from moto.dynamodb.responses import DynamoHandler

    from rollout_guard_local import emulator_dynamodb

    emulator_dynamodb.install()
    installed = {name: getattr(DynamoHandler, name) for name in emulator_dynamodb.WRITES}
    emulator_dynamodb.install()  # idempotent: not wrapped twice

    assert {name: getattr(DynamoHandler, name) for name in emulator_dynamodb.WRITES} == installed
    assert all(method in emulator_dynamodb._WRAPPED for method in installed.values())
    assert DynamoHandler.put_item.__name__ == "put_item"  # moto's dispatch finds it by name
