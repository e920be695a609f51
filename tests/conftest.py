"""Shared fixtures: events loaded by name, policies from text, a small Lambda context."""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from rollout_guard import policy as policy_module

EVENTS = Path(__file__).parent / "events"
ROOT = Path(__file__).parent.parent


def load_event(name: str) -> dict:
    return json.loads((EVENTS / f"{name}.json").read_text())


def make_policy(text: str) -> policy_module.Policy:
    return policy_module.load(yaml.safe_load(textwrap.dedent(text)))


@dataclass
class FakeContext:
    function_name: str = "rollout-guard-test"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:rollout-guard-test"
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def lambda_context() -> FakeContext:
    return FakeContext()


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch):
    """No test reaches AWS: fake credentials and a fixed region everywhere."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
