"""`make bench`, the fleet signal: a simulated 10,000-device rollout through the detector against moto.

The events are those the stack's topic rules put on the fleet queue (per device: its execution outcome, the
reboot's disconnect and connect), in batches of 10 as the SQS event source hands them over, slightly out of order,
through the function's own handler (Powertools' decorators and batch utility included) with moto in-process. The
dark checks the detector schedules are delivered back the same way. Printed: events per second sustained, state
table writes per event, and the time from handing over the batch whose event crosses a threshold to CancelJob
accepted (median and p99 over fresh jobs), beside the floor of an alarm-based halt.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
DEVICES = int(os.environ.get("BENCH_FLEET_DEVICES", "10000"))
PER_MINUTE = 1_000  # IoT Jobs' rollout rate the README plans with
FAILING = 0.01  # under the policy's 5%: the big rollout is never halted
BATCH = 10
CROSSING_TRIALS = 60
ALARM_PERIOD_S = 60  # the shortest standard-resolution CloudWatch alarm period, one evaluation period
POLICY = """
rules:
  - name: share
    match: {signal: casualties}
    jobs: ["fw-big"]
    reason_code: FLEET_SHARE
    dark_after: 2m
    casualties: {percent: 5, min_things: 40, fleet_things: 100000}
  - name: count
    match: {signal: casualties}
    jobs: ["fw-cross-*"]
    reason_code: FLEET_CASUALTIES
    dark_after: 2m
    casualties: {things: 3, within: 10m, fleet_things: 100000}
"""


class Queue:
    """The fleet queue's dark checks, held until due by the rollout's own clock (as SQS holds them by delay),
    then delivered in batches."""

    def __init__(self):
        self.checks = []  # (due, message)

    def schedule(self, check, delay_s):
        from rollout_guard.fleet.dark_checks import due

        self.checks.append((due(check) * 1000, check.message()))

    def drained(self, in_flight: int) -> bool:
        return True  # the bench hands every batch over before the checks that follow it: nothing else is queued

    def due(self, now_ms: int | None) -> list[dict]:
        ready = [message for due, message in self.checks if now_ms is None or due <= now_ms]
        self.checks = [(due, message) for due, message in self.checks if now_ms is not None and due > now_ms]
        return ready


def rollout_events(start_ms: int, job_id: str, rng: random.Random) -> list[dict]:
    from rollout_guard_local import samples

    events = []
    for n in range(DEVICES):
        at = start_ms + n * 60_000 // PER_MINUTE
        thing = f"dev-{n:05d}"
        status = "FAILED" if rng.random() < FAILING else "SUCCEEDED"
        events.append(samples.job_execution(job_id, thing, status, at))
        events.append(samples.presence(thing, False, at + 2_000))
        events.append(samples.presence(thing, True, at + 25_000))
    # Delivered roughly in time order, but not exactly: swap neighbours within a few seconds.
    for index in range(0, len(events) - 1, 2):
        if rng.random() < 0.3:
            events[index], events[index + 1] = events[index + 1], events[index]
    return events


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    import boto3
    from moto import mock_aws
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iot.models import iot_backends

    from rollout_guard.adapters.clients import make_client
    from rollout_guard.adapters.dynamo_fleet import DynamoFleetState
    from rollout_guard.bootstrap import Overrides, build_runtime
    from rollout_guard.handler import lambda_handler
    from rollout_guard.schema import create_state_table
    from rollout_guard.settings import Settings
    from rollout_guard.telemetry import logger
    from rollout_guard_local import samples
    from rollout_guard_local.context import LocalContext
    from rollout_guard_local.emulator import EMULATOR_ENV

    os.environ.update(EMULATOR_ENV)  # moto in-process: test credentials, the emulator's region
    logger.setLevel("ERROR")
    rng = random.Random(7)
    figures: dict[str, object] = {}
    with mock_aws(), tempfile.TemporaryDirectory() as folder, open(os.devnull, "w") as sink:  # noqa: PTH123
        policy = Path(folder) / "policy.yaml"
        policy.write_text(POLICY)
        create_state_table(boto3.client("dynamodb"), "bench-fleet")
        iot = boto3.client("iot")
        thing = iot.create_thing(thingName="dev-00000")["thingArn"]
        # What the runtime makes at its first fleet batch, made here to read its write count.
        counted = DynamoFleetState("bench-fleet", lambda: make_client("dynamodb"))
        queue = Queue()
        runtime = build_runtime(Settings(policy_file=str(policy), state_table="bench-fleet", iot_rate=0),
                                Overrides(fleet_state=counted, timers=queue))
        backend = iot_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"]

        def deliver(bodies: list[dict]) -> None:
            with contextlib.redirect_stdout(sink):  # the EMF metrics Lambda would ship to CloudWatch
                answer = lambda_handler(samples.sqs_batch(*bodies), LocalContext(), runtime=runtime)
            assert answer == {"batchItemFailures": []}, answer

        # --- throughput -----------------------------------------------------------------------------------
        iot.create_job(jobId="fw-big", targets=[thing], document="{}", targetSelection="SNAPSHOT")
        start_ms = int(time.time() * 1000) - 3 * 3_600_000
        events = rollout_events(start_ms, "fw-big", rng)
        writes_before = counted.writes
        checks_delivered = 0
        began = time.perf_counter()
        for index in range(0, len(events), BATCH):
            backend.jobs["fw-big"].job_process_details.update(numberOfSucceededThings=index // 3,
                                                              numberOfQueuedThings=0)
            batch = events[index:index + BATCH]
            deliver(batch)
            ready = queue.due(min(event["timestamp"] for event in batch if event.get("clientId")) - 30_000
                              if any(event.get("clientId") for event in batch) else None)
            for start in range(0, len(ready), BATCH):
                deliver(ready[start:start + BATCH])
            checks_delivered += len(ready)
        ready = queue.due(None)
        for start in range(0, len(ready), BATCH):
            deliver(ready[start:start + BATCH])
        checks_delivered += len(ready)
        elapsed = time.perf_counter() - began
        writes = counted.writes - writes_before
        halted = iot.describe_job(jobId="fw-big")["job"]["status"] == "CANCELED"
        figures.update(events=len(events), seconds=round(elapsed, 2), events_per_s=round(len(events) / elapsed),
                       dark_checks=checks_delivered, writes=writes, writes_per_event=round(writes / len(events), 3),
                       failures_halted=halted)

        # --- moto's own ceiling: the same UpdateItem, back to back, nothing else --------------------------------
        dynamodb = boto3.client("dynamodb")
        ceiling_calls = 2_000
        began = time.perf_counter()
        for n in range(ceiling_calls):
            dynamodb.update_item(TableName="bench-fleet", Key={"id": {"S": f"ceiling#{n % 500}"}},
                                 UpdateExpression="ADD connected :c SET #ttl = :ttl",
                                 ExpressionAttributeNames={"#ttl": "expiration"},
                                 ExpressionAttributeValues={":c": {"NS": [str(n)]}, ":ttl": {"N": "1"}})
        per_second = ceiling_calls / (time.perf_counter() - began)
        figures.update(moto_updates_per_s=round(per_second),
                       moto_ceiling_events_per_s=round(per_second / figures["writes_per_event"]))

        # --- crossing a threshold to CancelJob accepted ----------------------------------------------------
        accepted: dict[str, float] = {}
        cancel = runtime.alert_path.jobs.cancel

        def timed_cancel(job_id, *rest):
            answer = cancel(job_id, *rest)
            accepted[job_id] = time.perf_counter()
            return answer

        runtime.alert_path.jobs.cancel = timed_cancel
        latencies = []
        for trial in range(CROSSING_TRIALS):
            job_id = f"fw-cross-{trial}"
            iot.create_job(jobId=job_id, targets=[thing], document="{}", targetSelection="SNAPSHOT")
            at = int(time.time() * 1000) - 60_000
            deliver([samples.job_execution(job_id, f"dev-{n}", "FAILED", at + n) for n in (1, 2)])
            crossing = [samples.job_execution(job_id, "dev-3", "FAILED", at + 3),
                        *(samples.presence(f"dev-{n}", True, at + n) for n in range(4, 4 + BATCH - 1))]
            handed = time.perf_counter()
            deliver(crossing)
            latencies.append((accepted[job_id] - handed) * 1000)
        latencies.sort()
        p50 = statistics.median(latencies)
        p99 = latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))]
        floor_s = ALARM_PERIOD_S + p50 / 1000
        figures.update(crossing_p50_ms=round(p50, 1), crossing_p99_ms=round(p99, 1),
                       alarm_floor_s=round(floor_s, 2), alarm_floor_over_fleet=round(floor_s / (p50 / 1000)),
                       devices_updated_during_alarm_floor=round(PER_MINUTE * floor_s / 60))
    rows = [
        ("fleet rollout: events through the detector (10,000 devices, 3 events each, batches of 10)",
         f"{figures['events']} in {figures['seconds']} s", "-", None),
        ("fleet rollout: events per second sustained (moto in-process)", f"{figures['events_per_s']}", ">= 1000",
         figures["events_per_s"] >= 1000),
        ("moto's own ceiling: bare UpdateItem calls per second / writes per event",
         f"{figures['moto_ceiling_events_per_s']} events/s ({figures['moto_updates_per_s']} UpdateItem/s)", "-", None),
        ("fleet rollout: state-table writes per event (dark checks' writes included)",
         f"{figures['writes_per_event']} ({figures['writes']} writes, {figures['dark_checks']} dark checks)", "<= 1",
         figures["writes_per_event"] <= 1),
        ("fleet rollout: 1% failing, under its rule's 5%: job left running", str(not figures["failures_halted"]),
         "True", not figures["failures_halted"]),
        (f"threshold crossed to CancelJob accepted, median / p99 of {CROSSING_TRIALS}",
         f"{figures['crossing_p50_ms']} ms / {figures['crossing_p99_ms']} ms", "< 1000 ms",
         figures["crossing_p99_ms"] < 1000),
        ("alarm-based floor (one 60 s period + the same delivery) / fleet signal",
         f"{figures['alarm_floor_over_fleet']} x ({figures['alarm_floor_s']} s)", "-", None),
        ("devices updated during the alarm-based floor, at 1,000 a minute",
         str(figures["devices_updated_during_alarm_floor"]), "-", None),
    ]
    width = max(len(row[0]) for row in rows)
    print(f"{'figure'.ljust(width)}  measured  target  ok")
    for name, measured, target, ok in rows:
        print(f"{name.ljust(width)}  {measured}  {target}  {'-' if ok is None else 'yes' if ok else 'NO'}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
