"""Shared fixtures: events loaded by name, policies from text, a small Lambda context."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from moto.core import config as moto_config

from rollout_guard import policy as policy_module

EVENTS = Path(__file__).parent / "events"
ROOT = Path(__file__).parent.parent

# jsii (CDK) and the CDK CLI run on the Node that requirements.txt installs next to this interpreter.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

# moto's mock_aws replaces boto3's default session for each test by default, so every client a test made read its
# service's model again (IoT's is 1.3 MB of JSON): about 12 s of the suite's CPU. One session for the run, as one
# Lambda execution environment keeps one; moto still mocks the credentials and intercepts every request.
moto_config.default_user_config["core"]["reset_boto3_session"] = False


# Every test that synthesizes in its process runs on one worker (`pytestmark = IN_THE_CDK_WORKER`): jsii, the bundled
# asset and the variants are made once a run, not once a worker.
CDK_GROUP = "cdk"
IN_THE_CDK_WORKER = pytest.mark.xdist_group(CDK_GROUP)

# Collection imports every test module in every worker: the stack modules (which start jsii, the CDK's Node
# process) are imported inside the tests that use them, so a worker that synthesizes nothing never starts it.

# The longest work units first. xdist hands a worker a whole unit (a module, or an xdist_group of modules sharing a
# deployment, a synth or a simulator run) in collection order (`--no-loadscope-reorder`, pyproject.toml); a long unit
# handed out last would leave the other worker idle while it runs. Seconds of one run here (--durations), longest
# first; every other unit follows in collection order.
LONGEST_FIRST = (
    CDK_GROUP,  # 68: every test that synthesizes in its process (jsii, the bundled asset, the variants once), checkov
    #         and cfn-lint, and two deployments: the guard's (the rehearsal and doctor read it) and everywhere's
    "simulator",  # 30: the fleet simulator's scenarios through moto and the handler
    "tests/unit/test_properties.py",  # 26: Hypothesis's examples
    "tests/test_static_checks.py",  # 7, 20 on a clean clone (mypy's cache cold)
    "tests/e2e/test_drill.py",  # 17: make demo, its own emulator and cdk deploy
    "tests/integration/test_fleet_signal.py",  # 17
    "tests/e2e/test_cli.py",  # 9
    "tests/infrastructure/test_installed_construct.py",  # 8: a wheel built, a separate app synthesized
)


def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        group = item.get_closest_marker("xdist_group")
        unit = group.args[0] if group else item.nodeid.split("::")[0]
        return LONGEST_FIRST.index(unit) if unit in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: each unit keeps its own order


def load_event(name: str) -> dict:
    return json.loads((EVENTS / f"{name}.json").read_text())


def make_policy(text: str) -> policy_module.Policy:
    return policy_module.load(yaml.safe_load(textwrap.dedent(text)))


@pytest.fixture
def lambda_context():
    from rollout_guard_local.context import LocalContext

    return LocalContext()


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


@pytest.fixture
def backoffs(monkeypatch):
    """botocore's retry delays in this process, recorded instead of slept: the real retry path (botocore decides
    whether and how long to wait), without the wait. Each entry is one retry's delay in seconds."""
    import botocore.endpoint

    slept: list[float] = []
    monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=slept.append))
    return slept


def assert_backed_off(slept: list[float], retries: int) -> None:
    """`retries` retries, each after a delay within the standard mode's bounds (jittered, capped at 20 s)."""
    assert len(slept) == retries and all(0 <= delay <= 20 for delay in slept), slept


@pytest.fixture(scope="session")
def moto_server_url():
    """One moto server over HTTP on loopback for the session; stopped at the end."""
    from rollout_guard_local.emulator import moto_server

    with moto_server() as url:
        yield url


@pytest.fixture(scope="session")
def assembly(tmp_path_factory) -> Path:
    """The project's app synthesized once for the session, the function's asset bundled (what `cdk deploy` ships)."""
    from rollout_guard_local.rehearsal import synthesize

    outdir = tmp_path_factory.mktemp("cdk.out")
    synthesize(ROOT, outdir)
    return outdir


@pytest.fixture(scope="session")
def guard_account(assembly):
    """An emulated account of its own (a moto server for the session, never reset) where the project's stack was
    bootstrapped and deployed from `assembly` with the project's CDK CLI: the rehearsal runs the shipped artifact
    against it, doctor's tests read it."""
    from rollout_guard_local import rehearsal
    from rollout_guard_local.emulator import moto_server

    with moto_server() as url:
        rehearsal.deploy(url, assembly, ROOT)
        yield url


@pytest.fixture
def emulator(moto_server_url):
    """The shared moto server, emptied before each test."""
    from rollout_guard_local.emulator import reset

    reset(moto_server_url)
    return moto_server_url


def http_iot_client(url: str, max_attempts: int = 5):
    """The guard's own client (its retry settings) pointed at the emulator."""
    from rollout_guard.adapters.clients import make_client

    return make_client(max_attempts=max_attempts, region="eu-west-1", endpoint_url=url)


def create_jobs(iot, *job_ids: str, thing: str = "dev-1") -> str:
    """A thing and one job per id targeting it; returns the thing ARN."""
    try:
        arn = iot.create_thing(thingName=thing)["thingArn"]
    except iot.exceptions.ResourceAlreadyExistsException:
        arn = iot.describe_thing(thingName=thing)["thingArn"]
    for job_id in job_ids:
        iot.create_job(jobId=job_id, targets=[arn], document='{"op": "fw"}', targetSelection="SNAPSHOT")
    return arn
