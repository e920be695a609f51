"""`rollout-guard drill` (make demo) as an operator runs it: its own process, its own emulator, stopped after."""

from __future__ import annotations

import urllib.request

import pytest

from tests.cli import run_process


def test_drill_runs_the_whole_flow_and_leaves_nothing_running():
    done = run_process("drill")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "Drill passed" in done.stdout
    for line in ("fw-2-4-eu      group:fleet-eu      CANCELED  FIRMWARE_CRASH_RATE",
                 "ops-reboot-eu  group:fleet-eu      QUEUED",
                 "fw-3-0-eu      things:dev-r-1..5   CANCELED  FLEET_CASUALTIES",
                 "fw-3-1-eu      group:fleet-eu      CANCELED  FIRMWARE_CRASH_RATE",
                 # the rollout: a reconnect and a duplicate count nothing; the third casualty halts, not the second
                 "1  dev-r-1 succeeds, reboots, is back in 20 s   3       1            0           QUEUED",
                 "4  dev-r-2's FAILED delivered again             1       0            2           QUEUED",
                 "5  dev-r-4 reports REJECTED                     1       0            3           CANCELED",
                 "Pre-start gate: fw-3-1-eu created while fw-crash-rate-eu-3-1 is in ALARM -> canceled",
                 "fw-3-3-eu      group:fleet-eu      CANCELED  FIRMWARE_WARNING"):
        assert line in done.stdout
    graduated = [line.split("  ")[0:1] + [w for w in line.split() if w in ("throttled", "restored", "canceled")]
                 for line in done.stdout.split("Graduated response")[1].split("Greengrass v2:")[0].splitlines()
                 if line[:1].isdigit()]
    assert [row[1:] for row in graduated] == [["throttled"], ["restored"], ["throttled"], ["canceled"]]
    greengrass = [line.split()[-2:] for line in done.stdout.split("Greengrass v2:")[1].split("After the rollout:")[0]
                  .splitlines() if line[:1].isdigit()]  # the bad deployment halts at its third casualty only
    assert greengrass == [["ACTIVE", "ACTIVE"], ["ACTIVE", "ACTIVE"], ["ACTIVE", "ACTIVE"], ["CANCELED", "ACTIVE"]]
    after = done.stdout.split("After the rollout:")[1].split("Jobs at the end")[0]
    assert "3  dev-a-3 goes dark too" in after and "regressed, revert_ready  COMPLETED" in after
    assert "Revert jobs: fw-2-9-eu-revert; targets: 5 of the 5 devices that SUCCEEDED" in after
    assert "`rollout-guard replay --report --plot`): exit 0; 1 chart(s) in the HTML report" in done.stdout
    assert "0 problem(s), 0 warning(s)" in done.stdout  # doctor on the emulated account
    url = done.stdout.split("moto server at ")[1].split(",")[0]
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{url}/moto-api/", timeout=2)  # noqa: S310 (the drill's loopback URL)
