"""checkov over the synthesized templates, next to cdk-nag and cfn-lint: no failed check, and each skipped check
carries its reason in the template (Metadata.checkov.skip, written by the construct next to the resource).

checkov runs from its own virtual environment (.tools/checkov, installed by make) with downloads off and every
connection sent to a closed loopback proxy, so the test never needs, nor reaches, the network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

CHECKOV = ROOT / ".tools" / "checkov" / "bin"
SKIPPED = {"CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_158", "CKV_AWS_173", "CKV_AWS_28"}
OFFLINE = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": "",
           "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}


def checkov(template_file) -> dict:
    done = subprocess.run(
        [str(CHECKOV / "python"), str(CHECKOV / "checkov"), "-f", str(template_file), "--framework", "cloudformation",
         "--skip-download", "--compact", "-o", "json"],
        capture_output=True, text=True, timeout=300, env={**os.environ, **OFFLINE})
    assert done.stdout.strip(), done.stderr
    return json.loads(done.stdout)


def linted(template: dict, path) -> dict[str, str]:
    """An extra template (a feature the project's cdk.json leaves off) through cfn-lint and checkov as the main one
    goes: no finding, no failed check; the checks it skips, with their reasons."""
    path.write_text(json.dumps(template))
    lint = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), str(path)], capture_output=True, text=True,
                          timeout=300)
    found = checkov(path)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert found["summary"]["failed"] == 0, [c["check_id"] for c in found["results"]["failed_checks"]]
    return {c["check_id"]: c["check_result"]["suppress_comment"] for c in found["results"]["skipped_checks"]}


@pytest.fixture(scope="module")
def report(assembly) -> dict:
    return checkov(assembly / "RolloutGuard.template.json")


def test_no_check_fails(report):
    failed = [(c["check_id"], c["resource"], c["check_name"]) for c in report["results"]["failed_checks"]]

    assert failed == [] and report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] >= 40


def test_each_skip_is_a_known_check_with_its_reason(report):
    skipped = report["results"]["skipped_checks"]

    assert {check["check_id"] for check in skipped} == SKIPPED
    assert all(len(check["check_result"]["suppress_comment"]) > 40 for check in skipped)


def test_with_reserved_concurrency_the_concurrency_check_passes_on_its_own(variant, tmp_path):
    template_file = tmp_path / "template.json"
    template_file.write_text(json.dumps(variant(reservedConcurrency=2)))

    passed = {check["check_id"] for check in checkov(template_file)["results"]["passed_checks"]}

    assert "CKV_AWS_115" in passed


def test_the_control_stack_fails_no_check(tmp_path):
    from tests.infrastructure.test_environments import CONTROL, ENVIRONMENTS, synth_all

    templates = synth_all(tmp_path, environments=ENVIRONMENTS, control=CONTROL)
    template_file = tmp_path / "control.json"
    template_file.write_text(json.dumps(templates["RolloutGuardControl"]))

    report = checkov(template_file)

    failed = [(c["check_id"], c["resource"], c["check_name"]) for c in report["results"]["failed_checks"]]
    assert failed == [] and report["summary"]["parsing_errors"] == 0 and report["summary"]["passed"] >= 5
