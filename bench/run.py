"""`make bench`: rollout-guard against a bare handler, side by side in one run, as ratios.

Every measurement runs in fresh processes that see only the function's asset (built here exactly as the stack
bundles it) and what the Lambda runtime provides, through a moto server and a throttling proxy on 127.0.0.1.
Prints one table; --json FILE also writes the figures.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from rollout_guard_cdk.asset import POLICY_NAME, build_asset
from rollout_guard_local.emulator import EMULATOR_ENV, client, moto_server, reset
from rollout_guard_local.fault_proxy import FaultProxy
from rollout_guard_local.rehearsal import lambda_runtime
from rollout_guard_local.samples import alarm_eventbridge

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

COLD_RUNS = 15
WARM_ROUNDS = 30
FAN_OUT_JOBS = 200
IOT_RATE = 10
STORM_DELIVERIES = 1000
STORM_JOBS = 5
STORM_INSTANCES = 4
FIRST_RUNS = 9
STATE_TABLE = "bench-state"
NETWORK_S = 0.02  # a modelled round trip of one AWS API call in region


class Bench:
    def __init__(self, folder: Path):
        self.folder = folder
        self.asset = folder / "asset"
        build_asset(self.asset, json.loads((BENCH / "policy.json").read_text()))
        self.runtime = lambda_runtime(folder)
        self.rows: list[tuple[str, str, str, bool | None]] = []

    def env(self, url: str | None = None, claims: bool = False) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "ROLLOUT_GUARD_"))}
        env.update(EMULATOR_ENV)
        env.update({
            "PYTHONPATH": os.pathsep.join(
                [str(self.asset), str(self.runtime), str(BENCH), str(ROOT / "cli"), str(ROOT / "local")]),
            "ROLLOUT_GUARD_POLICY_FILE": str(self.asset / POLICY_NAME),
            "ROLLOUT_GUARD_EVENT_BUS": "default",
        })
        if url:
            env["AWS_ENDPOINT_URL"] = url
        if claims:
            env["ROLLOUT_GUARD_STATE_TABLE"] = STATE_TABLE
        return env

    def worker(self, mode: str, *args: str, url: str | None = None, wait: bool = True, claims: bool = False):
        result = self.folder / f"result-{mode}-{time.monotonic_ns()}.json"
        process = subprocess.Popen([sys.executable, "-S", str(BENCH / "worker.py"), mode, str(result), *args],
                                   env=self.env(url, claims), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   text=True)
        if not wait:
            return process, result
        return self.collect(process, result)

    @staticmethod
    def collect(process, result: Path) -> dict:
        _, stderr = process.communicate(timeout=600)
        if process.returncode != 0:
            raise RuntimeError(f"bench worker failed:\n{stderr[-3000:]}")
        return json.loads(result.read_text())

    def row(self, figure: str, measured: str, target: str, ok: bool | None) -> None:
        self.rows.append((figure, measured, target, ok))
        print(f"  {figure}: {measured} (target {target})", file=sys.stderr)

    # --- the figures ----------------------------------------------------------------------------------------

    def cold_start(self) -> None:
        guard, bare, guard_process, bare_process = [], [], [], []
        for _ in range(COLD_RUNS):  # alternating, so drift on a shared machine hits both alike
            for mode, inside, whole in (("cold-guard", guard, guard_process), ("cold-bare", bare, bare_process)):
                start = time.perf_counter()
                inside.append(self.worker(mode)["seconds"])
                whole.append(time.perf_counter() - start)
        ratio = statistics.median(guard) / statistics.median(bare)
        self.row(f"cold start: import + module init, guard / bare (median of {COLD_RUNS} each)",
                 f"{ratio:.2f} ({statistics.median(guard) * 1000:.0f} ms / {statistics.median(bare) * 1000:.0f} ms)",
                 "<= 1.2", ratio <= 1.2)
        whole_ratio = statistics.median(guard_process) / statistics.median(bare_process)
        self.row("cold start: whole process, interpreter start included, guard / bare",
                 f"{whole_ratio:.2f} ({statistics.median(guard_process) * 1000:.0f} ms / "
                 f"{statistics.median(bare_process) * 1000:.0f} ms)", "-", None)

    @staticmethod
    def warm_fleet(url: str) -> None:
        iot = client("iot", url)
        thing = iot.create_thing(thingName="bench-thing")["thingArn"]
        for job_id in ["fw-rss"] + [f"{prefix}-{index}" for prefix in ("fw", "bare")
                                    for index in ["warmup", *range(WARM_ROUNDS)]]:
            iot.create_job(jobId=job_id, targets=[thing], document="{}")

    def claim_over_a_network(self, url: str) -> tuple[float, float]:
        """The claim's cost where calls take a network's round trip (the loopback proxy adds NETWORK_S to each):
        moto alone answers from one CPU-bound process, so calls made side by side cannot overlap there."""
        with FaultProxy(url, latency_s=NETWORK_S) as proxy:
            reset(url)
            self.warm_fleet(url)
            create_state_table(url)
            claimed = self.worker("warm", str(WARM_ROUNDS), url=proxy.url, claims=True)
            reset(url)
            self.warm_fleet(url)
            plain = self.worker("warm", str(WARM_ROUNDS), url=proxy.url)
        return statistics.median(claimed["guard_halt"]), statistics.median(plain["guard_halt"])

    def warm(self, url: str) -> None:
        self.warm_fleet(url)
        create_state_table(url)
        claimed = self.worker("warm", str(WARM_ROUNDS), url=url, claims=True)
        reset(url)
        self.warm_fleet(url)
        result = self.worker("warm", str(WARM_ROUNDS), url=url)
        guard, bare = statistics.median(result["guard"]), statistics.median(result["bare"])
        self.row(f"warm latency per alert over HTTP, whole invocation, guard / bare (median of {WARM_ROUNDS})",
                 f"{guard / bare:.2f} ({guard * 1000:.1f} ms / {bare * 1000:.1f} ms)", "<= 1.25", guard / bare <= 1.25)
        guard, bare = statistics.median(result["guard_halt"]), statistics.median(result["bare_halt"])
        self.row("warm: alert in to CancelJob accepted, guard / bare",
                 f"{guard / bare:.2f} ({guard * 1000:.1f} ms / {bare * 1000:.1f} ms)", "-", None)
        with_claim = statistics.median(claimed["guard_halt"])
        self.row("warm: alert in to CancelJob accepted, with the exactly-once claim / without (moto alone)",
                 f"{with_claim / guard:.2f} ({with_claim * 1000:.1f} ms / {guard * 1000:.1f} ms)", "-", None)
        with_claim, guard = self.claim_over_a_network(url)
        self.row(f"warm: alert in to CancelJob accepted, with the claim / without, {NETWORK_S * 1000:.0f} ms a call",
                 f"{with_claim / guard:.2f} ({with_claim * 1000:.1f} ms / {guard * 1000:.1f} ms)", "<= 1.15",
                 with_claim / guard <= 1.15)
        self.row("API calls per cancelled job", f"{result['calls_per_cancel']:.1f}", "<= 2",
                 result["calls_per_cancel"] <= 2)
        self.row("API calls per ignored alert", f"{result['calls_per_ignored']:.1f}", "0",
                 result["calls_per_ignored"] == 0)
        rss = self.worker("rss", url=url)["max_rss_mb"]
        self.row("peak RSS of a cold invocation", f"{rss:.0f} MB", "<= 100 MB", rss <= 100)

    def first_alert(self, url: str) -> None:
        """A new execution environment's first alert, from process start to CancelJob accepted (interpreter start
        included), as in production: the guard with its claims, the bare handler with nothing."""
        iot = client("iot", url)
        thing = iot.create_thing(thingName="first-thing")["thingArn"]
        create_state_table(url)
        spans: dict[str, list[float]] = {"first-guard": [], "first-bare": [], "first-guard-unclaimed": []}
        for run in range(FIRST_RUNS):
            for mode in spans:
                job_id = f"fw-{mode}-{run}"  # fw-: the bench policy's jobs
                iot.create_job(jobId=job_id, targets=[thing], document="{}")
                started = time.time()
                accepted = self.worker(mode.removesuffix("-unclaimed"), job_id, url=url,
                                       claims=not mode.endswith("unclaimed"))["accepted"]
                spans[mode].append(accepted - started)
        guard, bare = statistics.median(spans["first-guard"]), statistics.median(spans["first-bare"])
        unclaimed = statistics.median(spans["first-guard-unclaimed"])
        self.row(f"first alert of a new environment, process start to CancelJob accepted, guard / bare (median of "
                 f"{FIRST_RUNS})", f"{guard / bare:.2f} ({guard * 1000:.0f} ms / {bare * 1000:.0f} ms)", "<= 1.1",
                 guard / bare <= 1.1)
        self.row("first alert, guard without the state table / bare",
                 f"{unclaimed / bare:.2f} ({unclaimed * 1000:.0f} ms / {bare * 1000:.0f} ms)", "-", None)

    def fan_out(self, url: str) -> None:
        iot = client("iot", url)
        thing = iot.create_thing(thingName="fan-thing")["thingArn"]
        for index in range(FAN_OUT_JOBS):
            iot.create_job(jobId=f"fan-{index:03d}", targets=[thing], document="{}")
        with FaultProxy(url, rate=IOT_RATE) as proxy:
            result = self.worker("fan-out", url=proxy.url)
        cancelled = sum(1 for index in range(FAN_OUT_JOBS)
                        if iot.describe_job(jobId=f"fan-{index:03d}")["job"]["status"] == "CANCELED")
        # Each operation may run at IOT_RATE on its own: the floor is the busiest operation's count over the rate.
        floor = FAN_OUT_JOBS / IOT_RATE
        failed = result["actions"].get("failed", 0)
        self.row(f"throttled fan-out: {FAN_OUT_JOBS} jobs at {IOT_RATE} req/s per operation, wall / floor",
                 f"{result['seconds'] / floor:.2f} ({result['seconds']:.1f} s / {floor:.1f} s)", "<= 1.15",
                 result["seconds"] / floor <= 1.15)
        self.row("throttled fan-out: jobs cancelled / failed, throttled answers",
                 f"{cancelled} / {failed}, {proxy.injected.get('throttle', 0)} throttled", f"{FAN_OUT_JOBS} / 0",
                 cancelled == FAN_OUT_JOBS and failed == 0)

    def storm(self, url: str) -> None:
        iot = client("iot", url)
        thing = iot.create_thing(thingName="storm-thing")["thingArn"]
        jobs = [f"storm-{index}" for index in range(STORM_JOBS)]
        for job_id in jobs:
            iot.create_job(jobId=job_id, targets=[thing], document="{}")
        rng = random.Random(7)
        deliveries = []
        for _ in range(STORM_DELIVERIES):
            job = rng.choice(jobs)
            state = rng.choices([("ALARM", "OK"), ("OK", "ALARM"), ("ALARM", "ALARM")], weights=[8, 1, 1])[0]
            deliveries.append(alarm_eventbridge(job_id=job, alarm_name=f"fw-crash-rate-{job}", state=state[0],
                                                previous_state=state[1]))
        shares = [deliveries[index::STORM_INSTANCES] for index in range(STORM_INSTANCES)]
        create_state_table(url)
        running = []
        for index, share in enumerate(shares):
            path = self.folder / f"storm-{index}.json"
            path.write_text(json.dumps(share))
            running.append(self.worker("storm", str(path), url=url, wait=False, claims=True))
        totals: dict[str, int] = {}
        claims: dict[str, int] = {}
        for process, result in running:
            collected = self.collect(process, result)
            for operation, count in collected["calls"].items():
                totals[operation] = totals.get(operation, 0) + count
            for outcome, count in collected["claims"].items():
                claims[outcome] = claims.get(outcome, 0) + count
        cancels = totals.get("CancelJob", 0)
        self.row(f"alert storm: {STORM_DELIVERIES} deliveries, {STORM_JOBS} jobs, {STORM_INSTANCES} warm instances: "
                 "CancelJob calls", str(cancels), str(STORM_JOBS), cancels == STORM_JOBS)
        self.row("alert storm: total API calls", f"{sum(totals.values())} ({json.dumps(totals)})", "-", None)
        self.row("alert storm: claims taken, by outcome", json.dumps(claims, sort_keys=True), "-", None)

    def footprint(self) -> None:
        zipped = io.BytesIO()
        with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(self.asset.rglob("*")):
                archive.write(path, path.relative_to(self.asset))
        size = zipped.tell() / 1e6
        self.row("zipped function asset", f"{size:.2f} MB", "<= 5 MB", size <= 5)

    def table(self) -> str:
        rows = [("figure", "measured", "target", "ok")] + [
            (f, m, t, "-" if ok is None else ("yes" if ok else "NO")) for f, m, t, ok in self.rows]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = ["| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |" for row in rows]
        lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
        return "\n".join(lines)


def create_state_table(url: str) -> None:
    """The function's state table on the emulator, as `rollout-guard state init` makes it (kept if it exists)."""
    from rollout_guard.schema import create_state_table as create

    create(client("dynamodb", url), STATE_TABLE)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--only", help="comma-separated sections: footprint, cold_start, first_alert, warm, storm, "
                                       "fan_out (default: all)")
    args = parser.parse_args()
    wanted = set(args.only.split(",")) if args.only else None
    with tempfile.TemporaryDirectory(prefix="rollout-guard-bench-") as folder:
        bench = Bench(Path(folder))
        for section in (bench.footprint, bench.cold_start):
            if wanted is None or section.__name__ in wanted:
                section()
        with moto_server() as url:
            for server_section in (bench.first_alert, bench.warm, bench.storm, bench.fan_out):
                if wanted is None or server_section.__name__ in wanted:
                    reset(url)
                    server_section(url)
        print(bench.table())
        if args.json:
            Path(args.json).write_text(json.dumps(bench.rows, indent=1))
    missed = [figure for figure, *_, ok in bench.rows if ok is False]
    if missed:
        print(f"\n{len(missed)} target(s) missed; BENCHMARKS.md explains each: " + "; ".join(missed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
