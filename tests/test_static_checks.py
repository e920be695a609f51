"""Static checks that belong in make test: ruff's lint and bandit (S) rules over the whole project."""

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_ruff_with_the_bandit_security_rules_is_clean():
    ruff = Path(sys.executable).parent / "ruff"

    done = subprocess.run([str(ruff), "check", "--output-format", "concise", "."], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stdout + done.stderr


def mypy(cache: str, *args: str) -> subprocess.CompletedProcess:
    """mypy with a cache of its own per run: the runs go in parallel."""
    return subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(ROOT / ".mypy_cache" / cache), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_the_runtime_package_is_strictly_typed():
    done = mypy("runtime", "--strict", "lambdas/rollout_guard")

    assert done.returncode == 0, done.stdout + done.stderr


def test_the_cli_tooling_and_stacks_type_check_and_the_fake_and_adapter_keep_to_the_jobs_port():
    # tests/unit/fakes.py declares itself a JobsPort; the runtime package declares IotJobs one (runtime._iot_jobs).
    done = mypy("tooling", "cli/rollout_guard_cli", "local/rollout_guard_local", "stacks/rollout_guard_cdk", "app.py",
                "tests/unit/fakes.py")

    assert done.returncode == 0, done.stdout + done.stderr
