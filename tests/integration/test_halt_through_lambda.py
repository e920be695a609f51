"""`rollout-guard halt` through Lambda, the default transport, with the Lambda API's exact answers (botocore's
Stubber: moto cannot run the function without Docker): a guard's decisions, a function error, a region that does
not answer within the deadline."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from rollout_guard_cli import everywhere, operator_requests

TARGET = everywhere.Target("eu", "eu-west-1", "RolloutGuard-eu", Path("policy.yaml"))


def payload(document: dict) -> StreamingBody:
    raw = json.dumps(document).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


@pytest.fixture
def stubbed(monkeypatch):
    clients = {service: boto3.client(service, region_name="eu-west-1") for service in ("lambda", "cloudformation")}
    stubbers = {service: Stubber(made) for service, made in clients.items()}
    monkeypatch.setattr(everywhere, "client", lambda service, region: clients[service])
    stubbers["cloudformation"].add_response("describe_stacks", {"Stacks": [{
        "StackName": "RolloutGuard-eu", "CreationTime": "2026-11-30T10:00:00Z", "StackStatus": "CREATE_COMPLETE",
        "Outputs": [{"OutputKey": "DashboardUrl", "OutputValue": "https://example.com"},
                    {"OutputKey": "FunctionName", "OutputValue": "RolloutGuard-eu-Function-XYZ"}]}]},
        {"StackName": "RolloutGuard-eu"})
    for stubber in stubbers.values():
        stubber.activate()
    yield stubbers["lambda"]
    for stubber in stubbers.values():
        stubber.assert_no_pending_responses()


def test_the_guards_function_is_invoked_with_the_request_and_its_decisions_come_back(stubbed):
    request = operator_requests.halt_request(jobs="fw-2-4-*")
    decisions = [{"jobId": "fw-2-4-eu", "action": "canceled", "reasonCode": "OPERATOR_HALT", "force": False,
                  "detail": "rule operator-halt cancels; CancelJob accepted (without force)"}]
    stubbed.add_response("invoke", {"StatusCode": 200, "Payload": payload({"status": "handled", "detail": "ok",
                                                                           "decisions": decisions})},
                         {"FunctionName": "RolloutGuard-eu-Function-XYZ", "Payload": json.dumps(request).encode()})

    (answer,) = everywhere.ask_everyone([TARGET], lambda target: everywhere.via_lambda(target, request), 10)

    assert answer["status"] == "answered" and answer["decisions"] == decisions
    assert not everywhere.halt_failed([answer])


def test_a_function_error_is_the_regions_failure(stubbed):
    stubbed.add_response("invoke", {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": payload(
        {"errorType": "HaltIncomplete", "errorMessage": "could not halt jobs ['fw-2-4-eu']"})},
                         {"FunctionName": ANY, "Payload": ANY})

    (answer,) = everywhere.ask_everyone([TARGET], lambda target: everywhere.via_lambda(target, {}), 10)

    assert answer["status"] == "failed"
    assert answer["detail"] == "RuntimeError: HaltIncomplete: could not halt jobs ['fw-2-4-eu']"
    assert everywhere.halt_failed([answer])


def test_a_region_that_does_not_answer_in_time_is_reported_and_the_others_are_not_held_back():
    release = threading.Event()
    slow = everywhere.Target("us", "us-east-1", "RolloutGuard-us", Path("policy.yaml"))

    def ask(target):
        if target is slow:
            release.wait(5)
        return {"detail": "", "decisions": [{"jobId": "fw-1", "action": "canceled", "detail": ""}]}

    answers = everywhere.ask_everyone([TARGET, slow], ask, 0.5, acts=True)
    release.set()

    assert [(a["region"], a["status"]) for a in answers] == [("eu-west-1", "answered"), ("us-east-1", "no answer")]
    # the request was sent: it may have acted, and the operator is told where to look, never "no answer" alone
    assert answers[1]["detail"] == ("sent, no answer within 0.5 s yet: it may have acted; run `rollout-guard status`")
    assert everywhere.halt_failed(answers)
