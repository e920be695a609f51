"""Long work shows progress on a terminal, and nothing off one: `replay` as its own process with stderr on a
pseudo-terminal draws a bar there and leaves stdout as it is; with stderr a pipe, stderr stays empty."""

from __future__ import annotations

import json
import os
import pty
import subprocess

from rollout_guard_local.fleet_sim import Scenario, generate
from tests.cli import COMMAND, run_process
from tests.conftest import ROOT

SCENARIO = Scenario("bar", devices=60, fleet=60, threshold=3, failing=0.2)


def stream(tmp_path) -> tuple[str, str]:
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps(body) for _, body in generate(SCENARIO).events) + "\n")
    policy = tmp_path / "policy.yaml"
    policy.write_text(SCENARIO.policy())
    return str(events), str(policy)


def test_replay_draws_its_bar_on_a_terminal_and_keeps_stdout_clean(tmp_path):
    events, policy = stream(tmp_path)
    main, terminal = pty.openpty()
    try:
        done = subprocess.run([COMMAND, "replay", events, "--policy", policy, "--output", "json"], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=terminal, text=True, timeout=120,
                              env={**os.environ, "TERM": "xterm", "COLUMNS": "100"})
        os.close(terminal)
        drawn = b""
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the terminal's other end is closed: all read
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(main)

    assert done.returncode == 0
    assert json.loads(done.stdout)["jobs"][0]["halted"]  # stdout is the JSON, whatever stderr showed
    assert b"replaying" in drawn and b"events" in drawn


def test_replay_off_a_terminal_writes_nothing_to_stderr(tmp_path):
    events, policy = stream(tmp_path)

    done = run_process("replay", events, "--policy", policy)

    assert done.returncode == 0 and done.stderr == "" and "would halt" in done.stdout
