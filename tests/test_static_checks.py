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
