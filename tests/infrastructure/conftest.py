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
def assembly(tmp_path_factory) -> Path:
    outdir = tmp_path_factory.mktemp("cdk.out")
    synthesize(outdir)
    return outdir


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
