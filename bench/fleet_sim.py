"""`make bench`, the fleet signal against the simulator that knows the truth.

1. Scenarios at a larger size than `make test`'s, through a moto SQS queue and the function's own handler: per
   scenario halted or not, false or missed halt, delay from the true crossing to CancelJob accepted, peak IoT
   calls a second, peak state-table writes per item a second, largest item, dead-lettered messages; the same for a
   Greengrass v2 deployment (a bad component version breaking 5% of the core devices among them), and after a
   completed rollout watched for a day (3% of the devices bricking two hours after SUCCEEDED: a regression, and
   the revert created only on approval, for exactly the things that SUCCEEDED).
2. The detector's own throughput on the in-memory state (the same items as the table's), beside moto's figure from
   bench/fleet.py.
3. A 1,000,000-device rollout with 10% failing under a dry-run percentage rule that watches a day after success
   (a watch# item per device that SUCCEEDED) and an outage of 10% of the fleet at its middle: the real detector on the in-memory state, batches handed to 5 consumers by a modelled processing
   time; writes per item a second and item sizes from the write log.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

DEVICES = int(os.environ.get("BENCH_SIM_DEVICES", "400"))
SCALE = int(os.environ.get("BENCH_SCALE_DEVICES", "1000000"))
ITEM_LIMIT = 1_000  # writes a second one DynamoDB partition takes


def run_scenarios() -> list:
    from moto import mock_aws

    from rollout_guard_local.fleet_sim import greengrass_scenarios, regression_scenarios, run, scenarios

    reports = []
    sized = {"devices": DEVICES, "fleet": DEVICES * 8, "threshold": max(5, DEVICES // 40), "dark_after_s": 60,
             "share": 0.05}
    for scenario in [*scenarios(**sized), *greengrass_scenarios(**sized), *regression_scenarios(**{**sized, "share": 0.03, "threshold": 5})]:
        with mock_aws(), tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(io.StringIO()):
            began = time.perf_counter()
            report = run(scenario, Path(folder))
        report.detail["seconds"] = round(time.perf_counter() - began, 1)
        reports.append(report)
        print(f"  {scenario.name}: {report.detail['seconds']} s", file=sys.stderr)
    return reports


def _revert(revert: dict | None) -> str:
    """A watch scenario's revert: things it was prepared for, jobs before approval, and whether the one created on
    approval targets exactly the things that SUCCEEDED."""
    if not revert or not revert["prepared"]:
        return "-"
    exact = "exact" if revert["exact"] else "NOT EXACT"
    return f"{revert['things']} things, {revert['created_before_approval']} before approval, {exact}"


def throughput() -> dict:
    """Events a second through the detector on the in-memory state (the simulation around it included): 200,000
    execution outcomes, 1% failing, in batches of 10."""
    from rollout_guard_local.fleet_sim import at_scale

    with contextlib.redirect_stdout(io.StringIO()):
        began = time.perf_counter()
        figures = at_scale(devices=200_000, failing=0.01, outage_share=0.0)
        seconds = time.perf_counter() - began
    return {"events": figures["events"], "seconds": round(seconds, 1),
            "events_per_s": round(figures["events"] / seconds)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    from rollout_guard_local.emulator import EMULATOR_ENV

    os.environ.update(EMULATOR_ENV)  # moto in-process: test credentials, the emulator's region
    from rollout_guard.telemetry import logger
    from rollout_guard_cdk.config import GuardConfig
    from rollout_guard_local.fleet_sim import at_scale, summary

    # The stack's defaults: consumers reading the fleet queue, and their shared IoT rate (the rest is for halts).
    consumers = GuardConfig.options()["fleetConsumers"].default
    iot_budget = GuardConfig.options()["fleetIotRate"].default
    logger.setLevel(logging.CRITICAL)
    reports = run_scenarios()
    speed = throughput()
    with contextlib.redirect_stdout(io.StringIO()):
        began = time.perf_counter()
        scale = at_scale(devices=SCALE, consumers=consumers, iot_budget=iot_budget)
        scale["seconds"] = round(time.perf_counter() - began, 1)
    overall = summary(reports)

    columns = ["scenario", "halted", "false", "missed", "delay s", "IoT/s", "writes/item/s", "largest B", "DLQ",
               "events", "run s", "revert"]
    rows = [[r.scenario, "regressed" if r.regressed else r.halted, r.false_halt, r.missed_halt,
             r.delay_s if r.delay_s is not None else "-",
             r.peak_iot_calls_a_second, r.peak_item_writes_a_second, r.largest_item_bytes, r.dead_lettered, r.events,
             r.detail["seconds"], _revert(r.revert)] for r in reports]
    from rollout_guard_cli.tables import text_table

    print(text_table(rows, columns))
    print()
    checks = [
        ("false halts / missed halts over all scenarios", f"{overall['false_halts']} / {overall['missed_halts']}",
         "0 / 0", overall["false_halts"] == 0 and overall["missed_halts"] == 0),
        ("delay from the true crossing to CancelJob accepted, median / worst (backlog included)",
         f"{overall['delay_median_s']} s / {overall['delay_worst_s']} s", "-", None),
        ("detector throughput, in-memory state", f"{speed['events_per_s']} events/s ({speed['events']} events)",
         ">= 5000", speed["events_per_s"] >= 5000),
        (f"{SCALE:,} devices, 10% failing (dry run): failures counted / failing devices",
         f"{scale['counted']} / {scale['failing']}", "equal", scale["counted"] == scale["failing"]),
        (f"{SCALE:,} devices: peak writes per item a second ({scale['hottest_item']})",
         str(scale["peak_item_writes_a_second"]), f"<= {ITEM_LIMIT}", scale["peak_item_writes_a_second"] <= ITEM_LIMIT),
        (f"{SCALE:,} devices: largest item ({scale['largest_item']})", f"{scale['largest_item_bytes']} B",
         "<= 100000", scale["largest_item_bytes"] <= 100_000),
        (f"{SCALE:,} devices: peak IoT calls of one operation in a second ({consumers} consumers)",
         str(scale["peak_iot_calls_a_second"]), f"<= {iot_budget:g} (fleetIotRate)",
         scale["peak_iot_calls_a_second"] <= iot_budget),
        (f"{SCALE:,} devices watched a day after success: watch# items (one per device that SUCCEEDED)",
         f"{scale['watched']}", f"{SCALE - scale['failing']}", scale["watched"] == SCALE - scale["failing"]),
        (f"{SCALE:,} devices: events, state writes, run time",
         f"{scale['events']}, {scale['state_writes']}, {scale['seconds']} s", "-", None),
    ]
    width = max(len(name) for name, *_ in checks)
    print(f"{'figure'.ljust(width)}  measured  target  ok")
    for name, measured, target, ok in checks:
        print(f"{name.ljust(width)}  {measured}  {target}  {'-' if ok is None else 'yes' if ok else 'NO'}")
    if args.json:
        Path(args.json).write_text(json.dumps({"scenarios": [r.row() for r in reports], "summary": overall,
                                               "throughput": speed, "scale": scale}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
