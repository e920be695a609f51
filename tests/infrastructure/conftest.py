"""One synth of the real app for every infrastructure test, plus cheap variants without bundling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ROOT

CONTEXT = json.loads((ROOT / "cdk.json").read_text())["context"]


def synthesize(outdir: Path, guard_context: dict | None = None, bundle: bool = True) -> dict:
    """Synthesize app.py's stack into `outdir` and return the template. Without bundling, CDK stages a dummy asset."""
    from rollout_guard_local.rehearsal import synthesize as synth

    stack_name = synth(ROOT, outdir, guard_context, bundle)
    return json.loads((outdir / f"{stack_name}.template.json").read_text())


@pytest.fixture(scope="session")
def template(assembly) -> dict:
    return json.loads((assembly / "RolloutGuard.template.json").read_text())


@pytest.fixture
def variant(tmp_path):
    """Synthesize with another `rollout-guard` context (no bundling: these tests look at the template only)."""

    def build(**changes) -> dict:
        if "policyFile" in changes:  # another policy: the features that need the project policy's rules are off
            changes = {"fleetSignal": False, "preStartGate": False, **changes}
        return synthesize(tmp_path / "cdk.out", {**CONTEXT["rollout-guard"], **changes}, bundle=False)

    return build


@pytest.fixture(scope="session")
def archived(tmp_path_factory) -> dict:
    """The template with the fleet archive on (cdk-nag fails the synth on any unacknowledged finding)."""
    folder = tmp_path_factory.mktemp("archive")
    return synthesize(folder, {**CONTEXT["rollout-guard"], "fleetArchive": True, "fleetArchiveDays": 14}, bundle=False)


@pytest.fixture(scope="session")
def trailed(tmp_path_factory) -> dict:
    """The template with the pre-start gate's trail on."""
    return synthesize(tmp_path_factory.mktemp("trail"), {**CONTEXT["rollout-guard"], "gateTrail": True}, bundle=False)


@pytest.fixture(scope="session")
def throttled(tmp_path_factory) -> dict:
    """The template of a policy with a throttle rule that escalates (UpdateJob, the Scheduler role and rules)."""
    folder = tmp_path_factory.mktemp("throttled")
    (folder / "policy.yaml").write_text(
        (ROOT / "policy.yaml").read_text() + "  - name: crash-warning\n    match: {alarm_name: 'fw-warn-*'}\n"
        "    jobs: ['fw-*']\n    action: throttle\n"
        "    throttle: {max_per_minute: 5, abort: {failure_type: FAILED, percent: 10, min_executed: 20},"
        " escalate_after: 30m}\n")
    return synthesize(folder, {**CONTEXT["rollout-guard"], "policyFile": str(folder / "policy.yaml")}, bundle=False)


@pytest.fixture(scope="session")
def reserved(tmp_path_factory) -> dict:
    """The template with reserved concurrency."""
    return synthesize(tmp_path_factory.mktemp("reserved"), {**CONTEXT["rollout-guard"], "reservedConcurrency": 7},
                      bundle=False)


@pytest.fixture(scope="session")
def deployed_environments(tmp_path_factory) -> tuple[dict[str, dict], Path]:
    """Two environments in two accounts and the control stack, synthesized once: (templates by stack, folder)."""
    from tests.infrastructure.test_environments import CONTROL, ENVIRONMENTS, synth_all

    folder = tmp_path_factory.mktemp("environments")
    return synth_all(folder, environments=ENVIRONMENTS, control=CONTROL), folder


@pytest.fixture(scope="session")
def checked(tmp_path_factory, template, reserved, archived, trailed, throttled, deployed_environments) -> dict[str, dict]:
    """checkov and cfn-lint once each over every template the tests look at (the project's, with reserved
    concurrency, the archive's, the trail's, the throttle rule's, and each stack of a two-environment deployment);
    the report of each template by name."""
    from tests.infrastructure.test_checkov import checkov_reports

    folder = tmp_path_factory.mktemp("checked")
    environments = deployed_environments[0]
    templates = {"guard": template, "reserved": reserved, "archive": archived, "trail": trailed, "throttle": throttled,
                 "control": environments["RolloutGuardControl"], "eu": environments["RolloutGuard-eu"],
                 "us": environments["RolloutGuard-us"]}
    for name, body in templates.items():
        (folder / f"{name}.template.json").write_text(json.dumps(body))
    return checkov_reports(folder, list(templates))
