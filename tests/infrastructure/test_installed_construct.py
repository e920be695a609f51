"""The construct as a user's own CDK app uses it: from the built wheel, not from this checkout's stacks/ folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile

import pytest

from tests.conftest import ROOT

APP = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    from aws_cdk import App, Stack

    import rollout_guard_cdk
    from rollout_guard_cdk import GuardConfig, RolloutGuard

    here = Path(__file__).parent
    app = App(outdir=str(here / "cdk.out"))
    stack = Stack(app, "MyFleet")
    config = GuardConfig.from_context({"policyFile": "halts.yaml", "alarmNamePrefixes": ["boot-loop-"]}, here)
    RolloutGuard(stack, "Guard", config=config)
    app.synth()
    print(rollout_guard_cdk.__file__)
    """
)
POLICY = "rules:\n  - name: boot-loops\n    match: {alarm_name: 'boot-loop-*'}\n    jobs: ['ota-*']\n"


@pytest.mark.slow
def test_a_separate_app_synthesizes_the_guard_from_the_installed_wheel(tmp_path):
    wheels, site, app = tmp_path / "wheels", tmp_path / "site", tmp_path / "app"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "-w", str(wheels), str(ROOT)], check=True, timeout=300,
                   capture_output=True)
    (wheel,) = wheels.glob("rollout_guard-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
        assert "rollout_guard/requirements.txt" in archive.namelist()  # the function's pins travel with it
    app.mkdir()
    (app / "app.py").write_text(APP)
    (app / "halts.yaml").write_text(POLICY)
    # The wheel first on the path: the checkout's editable install is never what the app imports.
    env = {**os.environ, "PYTHONPATH": str(site)}

    done = subprocess.run([sys.executable, "app.py"], cwd=app, env=env, capture_output=True, text=True, timeout=600)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith(str(site))
    template = json.loads((app / "cdk.out" / "MyFleet.template.json").read_text())
    (function,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert function["Handler"] == "rollout_guard.handler.lambda_handler"
    asset = app / "cdk.out" / f"asset.{function['Code']['S3Key'].removesuffix('.zip')}"
    assert (asset / "rollout_guard" / "handler.py").is_file()
    assert json.loads((asset / "policy.json").read_text())["rules"][0]["jobs"] == ["ota-*"]
    cancel = [s for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"
              for s in r["Properties"]["PolicyDocument"]["Statement"] if s["Action"] == "iot:CancelJob"]
    assert cancel and "job/ota-*" in json.dumps(cancel[0]["Resource"])
