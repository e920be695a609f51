"""Local bundling of the function asset, without Docker.

pip installs the runtime dependencies for the Lambda platform (arm64, the runtime's Python, binary wheels only) next
to the `rollout_guard` package and the validated policy as JSON. Nothing of the CLI, the demo or the tests goes in.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import ILocalBundling

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "lambdas" / "rollout_guard"
REQUIREMENTS = ROOT / "lambdas" / "requirements.txt"
POLICY_NAME = "policy.json"


def build_asset(output_dir: Path, policy_document: Any, python_version: str, platform: str) -> None:
    """Fill `output_dir` with what the function runs: dependencies, the package and the policy."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", "--no-compile",
         "--only-binary=:all:", "--platform", platform, "--implementation", "cp", "--python-version", python_version,
         "--target", str(output_dir), "-r", str(REQUIREMENTS)],
        check=True,
    )
    for stubs in output_dir.glob("*-stubs"):  # type stubs serve editors, not the runtime
        shutil.rmtree(stubs)
    shutil.copytree(PACKAGE, output_dir / PACKAGE.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (output_dir / POLICY_NAME).write_text(json.dumps(policy_document, indent=1, sort_keys=True))


@jsii.implements(ILocalBundling)
class LocalPipBundling:
    def __init__(self, policy_document: Any, python_version: str, platform: str):
        self._policy_document = policy_document
        self._python_version = python_version
        self._platform = platform

    def try_bundle(self, output_dir: str, *args: Any, **kwargs: Any) -> bool:
        build_asset(Path(output_dir), self._policy_document, self._python_version, self._platform)
        return True
