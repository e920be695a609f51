"""One measurement in a fresh process (`python -S`, the function's asset and the Lambda runtime's packages on the
path). Usage: worker.py MODE RESULT_FILE [ARGS...]; the result is written as JSON to RESULT_FILE."""

from __future__ import annotations

import json
import sys
import time

T0 = time.perf_counter()


class Context:
    function_name = "rollout-guard-bench"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:rollout-guard-bench"
    aws_request_id = "bench"

    def __init__(self, timeout_s: float = 60.0):
        self.deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


def alarm(job_id: str | None, name: str = "fw-crash-rate-eu", state: str = "ALARM", previous: str = "OK") -> dict:
    dimensions = {"JobId": job_id} if job_id else {}
    return {
        "version": "0", "id": f"{name}-{job_id}-{state}", "source": "aws.cloudwatch",
        "detail-type": "CloudWatch Alarm State Change", "account": "123456789012", "region": "eu-west-1",
        "time": "2026-11-29T10:00:00Z", "resources": [f"arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{name}"],
        "detail": {
            "alarmName": name,
            "state": {"value": state, "reason": "Threshold Crossed", "timestamp": "2026-11-29T10:00:00.000+0000"},
            "previousState": {"value": previous, "reason": "", "timestamp": "2026-11-29T09:59:00.000+0000"},
            "configuration": {"metrics": [{"id": "m", "metricStat": {"metric": {
                "namespace": "Fleet", "name": "CrashRate", "dimensions": dimensions}}}]},
        },
    }


def counter(client) -> dict[str, int]:
    counts: dict[str, int] = {}

    def count(event_name, **kwargs):
        operation = event_name.rsplit(".", 1)[-1]
        counts[operation] = counts.get(operation, 0) + 1

    client.meta.events.register("before-send.iot", count)
    return counts


def cold_guard() -> dict:
    # T0 is taken as this module starts: the figure is import plus module init, without the interpreter's start.
    import rollout_guard.handler as handler

    handler.runtime()
    return {"seconds": time.perf_counter() - T0}


def cold_bare() -> dict:
    import bare_handler  # noqa: F401  (its module init creates the client)

    return {"seconds": time.perf_counter() - T0}


def warm(rounds: str) -> dict:
    import bare_handler

    import rollout_guard.handler as handler

    handler.lambda_handler(alarm("fw-warmup"), Context())  # warm: runtime built, first calls made
    bare_handler.handler(alarm("bare-warmup"), None)
    calls = counter(handler.runtime().jobs._client)
    accepted: list[float] = []  # when each CancelJob answer arrived
    for iot_client in (handler.runtime().jobs._client, bare_handler.iot):
        iot_client.meta.events.register("after-call.iot.CancelJob", lambda **kw: accepted.append(time.perf_counter()))
    guard_times, bare_times, guard_halt, bare_halt = [], [], [], []
    for index in range(int(rounds)):
        # Alerts a quarter second apart: the latency of an alert, not of a queue held to IoT's 10 requests a second
        # (back to back, the guard's pacing would wait where real IoT would throttle the bare handler).
        time.sleep(0.25)
        start = time.perf_counter()
        result = handler.lambda_handler(alarm(f"fw-{index}"), Context())
        guard_times.append(time.perf_counter() - start)
        guard_halt.append(accepted[-1] - start)
        assert result["decisions"][0]["action"] == "canceled", result
        start = time.perf_counter()
        assert bare_handler.handler(alarm(f"bare-{index}"), None)["cancelled"] == [f"bare-{index}"]
        bare_times.append(time.perf_counter() - start)
        bare_halt.append(accepted[-1] - start)
    per_cancel = sum(calls.values()) / int(rounds)
    calls.clear()
    for index in range(int(rounds)):
        handler.lambda_handler(alarm(f"fw-{index}", state="OK", previous="ALARM"), Context())
    return {"guard": guard_times, "bare": bare_times, "guard_halt": guard_halt, "bare_halt": bare_halt,
            "calls_per_cancel": per_cancel,
            "calls_per_ignored": sum(calls.values()) / int(rounds)}


def fan_out() -> dict:
    import rollout_guard.handler as handler

    runtime = handler.runtime()
    calls = counter(runtime.jobs._client)
    start = time.perf_counter()
    try:
        result = handler.lambda_handler(alarm(None, name="fleet-fanout-all"), Context(timeout_s=60))
        failed_invocation = False
    except handler.HaltIncomplete as error:
        result, failed_invocation = error.outcome, True
    elapsed = time.perf_counter() - start
    actions: dict[str, int] = {}
    for decision in result["decisions"]:
        actions[decision["action"]] = actions.get(decision["action"], 0) + 1
    return {"seconds": elapsed, "actions": actions, "calls": calls, "raised": failed_invocation}


def storm(deliveries_file: str) -> dict:
    import rollout_guard.handler as handler

    deliveries = json.loads(open(deliveries_file).read())
    handler.runtime()
    calls = counter(handler.runtime().jobs._client)
    for event in deliveries:
        handler.lambda_handler(event, Context())
    return {"calls": calls}


def rss() -> dict:
    import resource

    import rollout_guard.handler as handler

    result = handler.lambda_handler(alarm("fw-rss"), Context())
    assert result["decisions"][0]["action"] == "canceled"
    return {"max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


if __name__ == "__main__":
    mode, result_file, *args = sys.argv[1:]
    outcome = {"cold-guard": cold_guard, "cold-bare": cold_bare, "warm": warm, "fan-out": fan_out,
               "storm": storm, "rss": rss}[mode](*args)
    with open(result_file, "w") as handle:
        json.dump(outcome, handle)
