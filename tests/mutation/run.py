"""`make mutation`: mutmut 3 over the pure modules, with the unit tests; not part of `make test`. Exits 0 only when
every module scores at least FLOOR, 1 when one scores under it, 2 when the tests did not run (no mutant tested).

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
MODULES = tuple(os.environ.get("MUTATION_MODULES", "halts/alerts,policy/model,policy/reading,"
                                                   "policy/thresholds,halts/decisions,halts/claims,fleet/casualties,"
                                                   "fleet/events,fleet/dark_things,fleet/batch_plan,fleet/evaluation,"
                                                   "halts/alert_kinds,halts/alert_requests,halts/json_fields,"
                                                   "halts/throttle/rollout,halts/throttle/timers,halts/throttle/watchdog,"
                                                   "fleet/packages,policy/revert_settings"
                               ).split(","))
KILLED = {1, 3, 36}  # mutmut 3: a failing test run, pytest's internal error, a timeout
SURVIVED = {0}

CONFIG = """
[tool.mutmut]
source_paths = ["src/rollout_guard"]
only_mutate = [{only}]
pytest_add_cli_args_test_selection = ["tests/unit"]
pytest_add_cli_args = ["-p", "no:cacheprovider", "-q"]
also_copy = ["policy.yaml", "cdk.json"]

# pytest's own section here, so that it does not take the project's (two xdist workers: mutmut records which test
# reaches which mutant in its own process, and found none when the tests ran in workers).
[tool.pytest.ini_options]
addopts = "--strict-markers"
markers = ["slow: left in here: the unit tests' property tests"]
"""
# The share of each module's mutants the unit tests must kill (issue 27); a module under it fails the run.
FLOOR = 95.0


def prepare() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    shutil.copytree(ROOT / "lambdas" / "rollout_guard", WORK / "src" / "rollout_guard",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tests", WORK / "tests", ignore=shutil.ignore_patterns("__pycache__", "mutation"))
    for name in ("policy.yaml", "cdk.json"):  # the unit tests read the project's own policy and context
        shutil.copy(ROOT / name, WORK / name)
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
        return done.returncode or 2
    found = scores()
    print("\nmodule             killed / tested   score")
    for module, (killed, tested) in found.items():
        score = 100 * killed / tested if tested else 0.0
        print(f"{module:17}  {killed:6} / {tested:<6}   {score:5.1f}%{'' if score >= FLOOR else '  under ' + str(FLOOR)}")
    print("\nSurvivors: `cd .mutation && mutmut results`, then `mutmut show NAME`.")
    untested = [module for module, (_, tested) in found.items() if not tested]
    if untested:  # no mutant of a module was tested: the suite did not run there, which is no score at all
        print(f"make mutation: no mutant of {', '.join(untested)} was tested: the unit tests did not run",
              file=sys.stderr)
        return 2
    under = [module for module, (killed, tested) in found.items() if 100 * killed / tested < FLOOR]
    if under:
        print(f"make mutation: under {FLOOR:g}% killed: {', '.join(under)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
