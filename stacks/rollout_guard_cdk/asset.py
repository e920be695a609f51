"""The function asset: what `cdk synth` bundles and what `make bench` measures, built the same way for both.

pip installs the runtime dependencies for the Lambda platform (arm64, the runtime's Python, binary wheels only) next
to the `rollout_guard` package and the validated policy as JSON. Nothing of the CLI, the demo or the tests goes in.
The package and its pinned requirements are found where Python imports them from, so the construct works the same
from this checkout and from an installed wheel.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import rollout_guard

PACKAGE = Path(rollout_guard.__file__).resolve().parent
REQUIREMENTS = PACKAGE / "requirements.txt"
POLICY_NAME = "policy.json"
PYTHON_VERSION = "3.14"
PLATFORM = "manylinux2014_aarch64"


def build_asset(output_dir: Path, policy_document: Any, python_version: str = PYTHON_VERSION,
                platform: str = PLATFORM) -> None:
    """Fill `output_dir` with what the function runs: dependencies, the package and the policy."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", "--no-compile",
         "--only-binary=:all:", "--platform", platform, "--implementation", "cp", "--python-version", python_version,
         "--target", str(output_dir), "-r", str(REQUIREMENTS)],
        check=True,
    )
    for stubs in output_dir.glob("*-stubs"):  # type stubs serve editors, not the runtime
        shutil.rmtree(stubs)
    shutil.copytree(PACKAGE, output_dir / PACKAGE.name,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", REQUIREMENTS.name))
    (output_dir / POLICY_NAME).write_text(json.dumps(policy_document, indent=1, sort_keys=True))
