"""Static checks that belong in make test: ruff's lint and bandit (S) rules over the whole project."""

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT


def test_ruff_with_the_bandit_security_rules_is_clean():
    ruff = Path(sys.executable).parent / "ruff"

    done = subprocess.run([str(ruff), "check", "--output-format", "concise", "."], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def typed() -> subprocess.CompletedProcess:
    """One mypy run over every package (pyproject.toml: the runtime strictly, the rest normally); the tests below
    read its errors by folder."""
    done = subprocess.run([sys.executable, "-m", "mypy", "lambdas/rollout_guard", "cli/rollout_guard_cli",
                           "local/rollout_guard_local", "stacks/rollout_guard_cdk", "app.py", "tests/unit/fakes.py"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode in (0, 1), done.stdout + done.stderr  # 2: mypy could not check at all
    return done


def type_errors(done: subprocess.CompletedProcess, runtime: bool) -> list[str]:
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    return [line for line in errors if line.startswith("lambdas/") == runtime]


def test_the_runtime_package_is_strictly_typed(typed):
    from mypy.main import define_options

    mypy_config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    (runtime,) = [o for o in mypy_config["overrides"] if "rollout_guard.*" in o["module"]]
    per_module = {name: value for name, value in define_options()[2] if name != "warn_redundant_casts"}

    assert {name: runtime.get(name) for name in per_module} == per_module  # what --strict turns on, all of it
    assert mypy_config["warn_redundant_casts"] is True  # the one strict flag that is set for every module alone
    assert type_errors(typed, runtime=True) == [], typed.stdout


def test_the_cli_tooling_and_stacks_type_check_and_the_fake_and_adapter_keep_to_the_jobs_port(typed):
    # tests/unit/fakes.py declares itself a JobsPort; the runtime package declares IotJobs one (bootstrap.iot_jobs).
    assert type_errors(typed, runtime=False) == [], typed.stdout
    assert typed.returncode == 0 or type_errors(typed, runtime=True), typed.stdout + typed.stderr  # nothing unread


def test_every_cdk_module_the_project_imports_is_type_checked_in_full():
    """pyproject.toml has mypy skip the CDK modules the project never imports (a cold check would read 864); each
    one the project imports must be in its list of those followed, or its types would silently be Any."""
    import ast

    imported = set()
    sources = [ROOT / "app.py", *(path for folder in ("stacks", "cli", "local") for path in (ROOT / folder).rglob("*.py"))]
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "aws_cdk":
                imported |= {f"{node.module}.{a.name}" if node.module == "aws_cdk" and a.name.islower() else node.module
                             for a in node.names}
            elif isinstance(node, ast.Import):
                imported |= {a.name for a in node.names if a.name.split(".")[0] == "aws_cdk"}
    overrides = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["overrides"]
    followed = {module for o in overrides if o.get("follow_imports") == "normal" for module in o["module"]}

    assert "aws_cdk.aws_iam" in imported and imported <= followed, sorted(imported - followed)


def test_the_import_contracts_hold():
    """import-linter over pyproject.toml's contracts: no cycle anywhere, runtime < local tooling < CLI, the CLI's
    production commands free of the local tooling, the layers of the runtime, and what the stack may read."""
    done = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "8 kept, 0 broken" in done.stdout
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert set(contracts["root_packages"]) == {"rollout_guard", "rollout_guard_cdk", "rollout_guard_local",
                                               "rollout_guard_cli"}
    kinds = {(c["type"], tuple(c.get("layers", c.get("ancestors", [])))) for c in contracts["contracts"]}
    assert ("layers", ("rollout_guard_cli", "rollout_guard_local", "rollout_guard")) in kinds
    assert ("acyclic_siblings", tuple(contracts["root_packages"])) in kinds


@pytest.mark.slow
def test_synth_loads_no_powertools_and_no_adapter(tmp_path):
    """The stack takes the runtime's constants from where the parser owns them: a synth of the whole app (every
    feature the project turns on) never imports Powertools, an adapter or a use case."""
    script = (
        "import sys, json\n"
        "from rollout_guard_local.rehearsal import synthesize\n"
        "from pathlib import Path\n"
        f"synthesize(Path({str(ROOT)!r}), Path({str(tmp_path)!r}), bundle=False)\n"
        "loaded = [m for m in sys.modules if m.startswith(('aws_lambda_powertools', 'rollout_guard.adapters',\n"
        "          'rollout_guard.bootstrap', 'rollout_guard.runtime', 'rollout_guard.fleet.detector',\n"
        "          'rollout_guard.fleet.batch_plan', 'rollout_guard.fleet.dark_checks', 'rollout_guard.fleet.evaluation',\n"
        "          'rollout_guard.halts.guard'))]\n"
        "print(json.dumps(loaded))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_no_function_of_the_runtime_is_over_40_lines():
    import ast

    long = []
    for path in (ROOT / "lambdas" / "rollout_guard").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno >= 40:
                long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")

    assert long == []


def test_no_module_of_the_runtime_is_over_300_lines():
    """A module fits in one reading (../shared/style.md): one that grows past it holds more than one idea."""
    sizes = {str(path.relative_to(ROOT)): len(path.read_text().splitlines())
             for path in (ROOT / "lambdas" / "rollout_guard").rglob("*.py")}

    assert len(sizes) > 40 and {path: size for path, size in sizes.items() if size > 300} == {}
