"""`make bench`, the replay: `rollout-guard replay`'s own work (reading aside) on streams of growing size, to show it
grows linearly with the events (issue 26: no per-event work that grows with the events seen so far).

Streams, in event time, as the fleet archive keeps them:
- one job, every execution FAILED (the job crosses early; what follows is counted by nobody);
- many jobs, one thing each that SUCCEEDED and went dark for good (a dark check per thing);
- a rollout of 20 jobs: per thing its outcome (1% failing), the reboot's disconnect and its connect, shuffled
  within a few seconds as the fleet delivers them.
Printed: events, seconds (the best of three replays), events per second, the ratio of each doubling's time, and
the process's peak memory.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import logging
import random
import resource
import sys
import time
import warnings
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "cli"))

AT = 1_800_000_000_000
POLICY = {"rules": [{"name": "fleet", "match": {"signal": "casualties"}, "jobs": ["fw-*"], "reason_code": "FLEET",
                     "dark_after": "2m", "casualties": {"things": 3, "within": "10m", "percent": 5, "min_things": 40,
                                                        "fleet_things": 10_000_000}}]}


def failing(n: int) -> list[tuple[int, dict]]:
    from rollout_guard_local import samples

    return [(AT + i * 20, samples.job_execution("fw-1", f"dev-{i}", "FAILED", AT + i * 20)) for i in range(n)]


def dark_per_job(n: int) -> list[tuple[int, dict]]:
    from rollout_guard_local import samples

    events = []
    for i in range(n // 2):
        at = AT + i * 60
        events += [(at, samples.job_execution(f"fw-{i}", f"dev-{i}", "SUCCEEDED", at)),
                   (at + 1000, samples.presence(f"dev-{i}", False, at + 1000))]
    return sorted(events, key=lambda pair: pair[0])


def rollout(n: int, jobs: int = 20) -> list[tuple[int, dict]]:
    from rollout_guard_local import samples

    rng = random.Random(26)  # noqa: S311 - a reproducible stream, not cryptography
    events = []
    for i in range(n // 3):
        at = AT + i * 60 + rng.randint(0, 5_000)
        job, thing = f"fw-{i % jobs}", f"dev-{i}"
        status = "FAILED" if rng.random() < 0.01 else "SUCCEEDED"
        events += [(at, samples.job_execution(job, thing, status, at)),
                   (at + 2_000 + rng.randint(0, 3_000), samples.presence(thing, False, at + 2_000)),
                   (at + 40_000 + rng.randint(0, 3_000), samples.presence(thing, True, at + 40_000))]
    return sorted(events, key=lambda pair: pair[0])


def timed(stream: list[tuple[int, dict]], runs: int) -> float:
    """The best of `runs` replays (the machine's noise only ever adds time)."""
    from rollout_guard.policy import load
    from rollout_guard_cli import replay

    policy = load(POLICY)
    best = float("inf")
    for _ in range(runs):
        gc.collect()
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            replay.replay(stream, policy, None)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50000,100000,200000,400000,1000000")
    parser.add_argument("--runs", type=int, default=3, help="replays of each stream, the best counted")
    args = parser.parse_args()
    from rollout_guard.telemetry import logger

    logger.setLevel(logging.CRITICAL)
    warnings.filterwarnings("ignore")
    sizes = [int(size) for size in args.sizes.split(",")]
    print("| stream | events | seconds | events/s | time ratio to the size before |")
    print("|---|---|---|---|---|")
    for name, make in (("one job, every execution FAILED", failing), ("one thing per job, dark for good",
                                                                       dark_per_job),
                       ("20 jobs, outcomes and reboots (1% failing)", rollout)):
        before = None
        for size in sizes:
            stream = make(size)
            seconds = timed(stream, args.runs)
            ratio = "-" if before is None else f"{seconds / before[1]:.2f} for {len(stream) / before[0]:.1f}x"
            print(f"| {name} | {len(stream):,} | {seconds:.2f} | {len(stream) / seconds:,.0f} | {ratio} |")
            before = (len(stream), seconds)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak memory of the process (every stream above held in memory in turn): {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
