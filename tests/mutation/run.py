"""`make mutation`: mutmut 3 over the pure modules, with the unit tests; not part of `make test`.

mutmut 3 finds modules under `src/`, so this lays the runtime package out that way in a scratch folder
(.mutation/, ignored by git), runs `mutmut run` there and prints the score of each module: killed (or timed out)
over the mutants tested. Property tests run with fewer examples here (PROPERTY_EXAMPLES) to keep a run within
minutes; the unit tests are otherwise the same.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / ".mutation"
# The pure modules; MUTATION_MODULES (comma-separated) narrows a run to some of them.
MODULES = tuple(os.environ.get("MUTATION_MODULES", "halts/alerts,policy,halts/decisions,halts/claims,fleet/casualties,"
                                                   "fleet/events").split(","))
KILLED = {1, 3, 36}  # mutmut 3: a failing test run, pytest's internal error, a timeout
SURVIVED = {0}

CONFIG = """
[tool.mutmut]
source_paths = ["src/rollout_guard"]
only_mutate = [{only}]
pytest_add_cli_args_test_selection = ["tests/unit"]
pytest_add_cli_args = ["-p", "no:cacheprovider", "-q"]
also_copy = ["policy.yaml"]
"""


def prepare() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    shutil.copytree(ROOT / "lambdas" / "rollout_guard", WORK / "src" / "rollout_guard",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tests", WORK / "tests", ignore=shutil.ignore_patterns("__pycache__", "mutation"))
    shutil.copy(ROOT / "policy.yaml", WORK / "policy.yaml")  # the unit tests check the project's own policy
    only = ", ".join(f'"src/rollout_guard/{module}.py"' for module in MODULES)
    (WORK / "pyproject.toml").write_text(CONFIG.format(only=only))


def scores() -> dict[str, tuple[int, int]]:
    """Module -> (killed, tested) from mutmut's result files."""
    found: dict[str, Counter[str]] = {module: Counter() for module in MODULES}
    mutants = WORK / "mutants" / "src" / "rollout_guard"
    for meta in mutants.rglob("*.py.meta"):
        module = str(meta.relative_to(mutants)).removesuffix(".py.meta")
        if module not in found:
            continue
        for exit_code in json.loads(meta.read_text())["exit_code_by_key"].values():
            if exit_code in KILLED:
                found[module]["killed"] += 1
            elif exit_code in SURVIVED:
                found[module]["survived"] += 1
    return {module: (c["killed"], c["killed"] + c["survived"]) for module, c in found.items()}


def main() -> int:
    prepare()
    env = {**os.environ, "PROPERTY_EXAMPLES": "40", "PYTHONPATH": ""}
    mutmut = Path(sys.executable).parent / "mutmut"
    done = subprocess.run([str(mutmut), "run", "--max-children", "2"], cwd=WORK, env=env)
    if done.returncode not in (0, 1):
        return done.returncode
    print("\nmodule      killed / tested   score")
    for module, (killed, tested) in scores().items():
        score = 100 * killed / tested if tested else 0.0
        print(f"{module:10}  {killed:6} / {tested:<6}   {score:5.1f}%")
    print("\nSurvivors: `cd .mutation && mutmut results`, then `mutmut show NAME`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
