"""checkov over the synthesized templates, next to cdk-nag and cfn-lint: no failed check, and each skipped check
carries its reason in the template (Metadata.checkov.skip, written by the construct next to the resource). cfn-lint
runs beside it over the same files (the `checked` fixture); test_lint.py and test_environments.py read its findings.

checkov runs from its own virtual environment (.tools/checkov, installed by make) with downloads off and every
connection sent to a closed loopback proxy, so the test never needs, nor reaches, the network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IN_THE_CDK_WORKER, ROOT

pytestmark = IN_THE_CDK_WORKER

CHECKOV = ROOT / ".tools" / "checkov" / "bin"
SKIPPED = {"CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_158", "CKV_AWS_173", "CKV_AWS_28"}
OFFLINE = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": "",
           "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}


def checkov_reports(folder: Path, names: list[str]) -> dict[str, dict]:
    """checkov once over the `<name>.template.json` files of a folder and, at the same time, cfn-lint once over
    them too; the report of each by name: its failed, passed and skipped checks, and cfn-lint's findings."""
    files = [str(folder / f"{name}.template.json") for name in names]
    with subprocess.Popen(
        [str(CHECKOV / "python"), str(CHECKOV / "checkov"), "-d", str(folder), "--framework", "cloudformation",
         "--skip-download", "--compact", "-o", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **OFFLINE}) as checkov:
        lint = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), "--format", "json", *files],
                              capture_output=True, text=True, timeout=300)
        stdout, stderr = checkov.communicate(timeout=300)
    assert stdout.strip(), stderr
    found, findings = json.loads(stdout), json.loads(lint.stdout or "[]")
    assert found["summary"]["parsing_errors"] == 0
    assert (lint.returncode == 0) == (findings == []), lint.stderr
    return {name: {**{kind: [c for c in found["results"][kind] if c["file_path"].endswith(f"/{name}.template.json")]
                      for kind in ("failed_checks", "passed_checks", "skipped_checks")},
                   "lint": [f for f in findings if Path(f["Filename"]).name == f"{name}.template.json"]}
            for name in names}


def skips(report: dict) -> dict[str, str]:
    """The checks a template skips, with their reasons."""
    return {c["check_id"]: c["check_result"]["suppress_comment"] for c in report["skipped_checks"]}


def failed(report: dict) -> list[tuple[str, str, str]]:
    return [(c["check_id"], c["resource"], c["check_name"]) for c in report["failed_checks"]]


@pytest.fixture(scope="module")
def report(checked) -> dict:
    return checked["guard"]


def test_no_check_fails(report):
    assert failed(report) == []
    assert len(report["passed_checks"]) >= 40


def test_each_skip_is_a_known_check_with_its_reason(report):
    skipped = report["skipped_checks"]

    assert {check["check_id"] for check in skipped} == SKIPPED
    assert all(len(check["check_result"]["suppress_comment"]) > 40 for check in skipped)


def test_with_reserved_concurrency_the_concurrency_check_passes_on_its_own(checked):
    passed = {check["check_id"] for check in checked["reserved"]["passed_checks"]}

    assert "CKV_AWS_115" in passed and failed(checked["reserved"]) == []


def test_the_control_stack_fails_no_check(checked):
    assert failed(checked["control"]) == [] and len(checked["control"]["passed_checks"]) >= 5


def test_the_throttle_and_escalation_resources_fail_no_check(checked):
    assert failed(checked["throttle"]) == []
    assert set(skips(checked["throttle"])) == SKIPPED
