"""One measurement in a fresh process (`python -S`, the function's asset and the Lambda runtime's packages on the
path, plus the CLI package for its sample alerts and Lambda context; the cold-start modes import neither). Usage: worker.py MODE RESULT_FILE [ARGS...]; the result is written as JSON to RESULT_FILE."""

from __future__ import annotations

import json
import sys
import time

T0 = time.perf_counter()


def alarm(job_id: str | None, name: str = "fw-crash-rate-eu", state: str = "ALARM", previous: str = "OK") -> dict:
    from rollout_guard_local.samples import alarm_eventbridge

    return alarm_eventbridge(job_id=job_id, alarm_name=name, state=state, previous_state=previous)


def context(timeout_s: float = 60.0):
    from rollout_guard_local.context import LocalContext

    return LocalContext(function_name="rollout-guard-bench", timeout_ms=int(timeout_s * 1000))


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

    handler.default_runtime()
    return {"seconds": time.perf_counter() - T0}


def cold_bare() -> dict:
    import bare_handler  # noqa: F401  (its module init creates the client)

    return {"seconds": time.perf_counter() - T0}


def first_guard(job_id: str) -> dict:
    """The first alert of an execution environment: import, runtime, claim and CancelJob, timed to the answer."""
    import rollout_guard.handler as handler

    accepted: list[float] = []
    handler.default_runtime().jobs._client.meta.events.register(
        "after-call.iot.CancelJob", lambda **kw: accepted.append(time.time()))
    result = handler.lambda_handler(alarm(job_id), context())
    assert result["decisions"][0]["action"] == "canceled", result
    return {"accepted": accepted[0]}


def first_bare(job_id: str) -> dict:
    import bare_handler

    accepted: list[float] = []
    bare_handler.iot.meta.events.register("after-call.iot.CancelJob", lambda **kw: accepted.append(time.time()))
    assert bare_handler.handler(alarm(job_id), None)["cancelled"] == [job_id]
    return {"accepted": accepted[0]}


def warm(rounds: str) -> dict:
    import bare_handler

    import rollout_guard.handler as handler

    handler.lambda_handler(alarm("fw-warmup"), context())  # warm: runtime built, first calls made
    bare_handler.handler(alarm("bare-warmup"), None)
    calls = counter(handler.default_runtime().jobs._client)
    accepted: list[float] = []  # when each CancelJob answer arrived
    for iot_client in (handler.default_runtime().jobs._client, bare_handler.iot):
        iot_client.meta.events.register("after-call.iot.CancelJob", lambda **kw: accepted.append(time.perf_counter()))
    guard_times, bare_times, guard_halt, bare_halt = [], [], [], []
    for index in range(int(rounds)):
        # Alerts a quarter second apart: the latency of an alert, not of a queue held to IoT's 10 requests a second
        # (back to back, the guard's pacing would wait where real IoT would throttle the bare handler).
        time.sleep(0.25)
        start = time.perf_counter()
        result = handler.lambda_handler(alarm(f"fw-{index}"), context())
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
        handler.lambda_handler(alarm(f"fw-{index}", state="OK", previous="ALARM"), context())
    return {"guard": guard_times, "bare": bare_times, "guard_halt": guard_halt, "bare_halt": bare_halt,
            "calls_per_cancel": per_cancel,
            "calls_per_ignored": sum(calls.values()) / int(rounds)}


def fan_out() -> dict:
    import rollout_guard.handler as handler

    runtime = handler.default_runtime()
    calls = counter(runtime.alert_path.jobs._client)
    start = time.perf_counter()
    try:
        result = handler.lambda_handler(alarm(None, name="fleet-fanout-all"), context(timeout_s=60))
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
    runtime = handler.default_runtime()
    calls = counter(runtime.alert_path.jobs._client)
    outcomes: dict[str, int] = {}
    claim = runtime.alert_path.claims.once

    def counted(job_id, level, act):  # how each claim ended, to tell a lost race from a store that failed
        claimed = claim(job_id, level, act)
        key = claimed.outcome + (" (store failed)" if "claim store" in claimed.detail else "")
        outcomes[key] = outcomes.get(key, 0) + 1
        return claimed

    runtime.alert_path.claims.once = counted
    for event in deliveries:
        handler.lambda_handler(event, context())
    return {"calls": calls, "claims": outcomes}


def rss() -> dict:
    import resource

    import rollout_guard.handler as handler

    result = handler.lambda_handler(alarm("fw-rss"), context())
    assert result["decisions"][0]["action"] == "canceled"
    return {"max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


if __name__ == "__main__":
    mode, result_file, *args = sys.argv[1:]
    outcome = {"cold-guard": cold_guard, "cold-bare": cold_bare, "warm": warm, "fan-out": fan_out,
               "storm": storm, "rss": rss, "first-guard": first_guard, "first-bare": first_bare}[mode](*args)
    with open(result_file, "w") as handle:
        json.dump(outcome, handle)
