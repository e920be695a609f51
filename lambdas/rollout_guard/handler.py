"""The Lambda entry point: wires Powertools, configuration, the policy and the IoT adapter to the guard.

Failure semantics:
- an input that is not an alert is kept in the dead-letter queue with its reason and the invocation succeeds (no
  retry could help); without a queue configured (the CLI) it raises `UnrecognisedAlert`;
- a job that could not be confirmed or cancelled raises `HaltIncomplete` after every other job was handled, so the
  platform retries the alert (a retry re-checks each job with DescribeJob and never cancels twice) and finally
  dead-letters it: no alert is lost;
- any other failure (listing jobs, AWS faults past the retries) raises, with the same retry and dead-letter path.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from . import alerts, guard, halt_events, policy
from .clients import make_client, pace
from .decisions import BLOCKED, CANCELED, ESCALATED, FAILED, SKIPPED, WOULD_CANCEL
from .iot import IotJobs
from .kill_switch import KillSwitch
from .settings import Settings

# Logs go to stderr (Lambda ships both streams to CloudWatch Logs) so that stdout, where EMF metrics and the CLI's
# result are printed, stays machine-readable.
logger = Logger(service="rollout-guard", stream=sys.stderr)
metrics = Metrics(namespace="RolloutGuard", service="rollout-guard")
SAFETY_MARGIN_S = 10.0


class HaltIncomplete(RuntimeError):
    """Some job could not be confirmed or cancelled; the outcome says which."""

    def __init__(self, outcome: dict[str, Any]):
        self.outcome = outcome
        failed = [d["jobId"] for d in outcome["decisions"] if d["action"] == FAILED]
        super().__init__(f"could not halt jobs {failed}")


@dataclass
class Runtime:
    settings: Settings
    policy: policy.Policy
    jobs: guard.JobsPort
    # The work of one invocation; wrapped by Powertools' Tracer when tracing is on.
    process: Callable[[dict[str, Any], Runtime, Callable[[], bool]], dict[str, Any]]
    kill_switch: KillSwitch | None = None

    # Clients most invocations never need are made at their first use, not at cold start.
    @cached_property
    def events(self) -> Any:
        return make_client("events", self.settings.max_attempts)

    @cached_property
    def sqs(self) -> Any:
        return make_client("sqs", self.settings.max_attempts)

    def kill_switch_engaged(self) -> bool:
        if self.kill_switch is None:
            return False
        state = self.kill_switch.state()
        if state.problem:
            metrics.add_metric(name="KillSwitchUnreadable", unit=MetricUnit.Count, value=1)
            logger.error("Kill switch unreadable: acting as if off", extra={"problem": state.problem})
        if state.engaged:
            metrics.add_metric(name="KillSwitchEngaged", unit=MetricUnit.Count, value=1)
            logger.warning("Kill switch on: every action is a dry run", extra={"parameter": self.kill_switch.name})
        return state.engaged


_runtime: Runtime | None = None


def runtime() -> Runtime:
    """Built once per execution environment, on the first invocation (not at import)."""
    global _runtime
    if _runtime is None:
        settings = Settings.from_env(os.environ)
        process = _process
        if settings.tracing:
            # The X-Ray SDK costs about as much cold start as boto3 itself, so it loads only when tracing is on.
            from aws_lambda_powertools import Tracer

            process = Tracer(service="rollout-guard").capture_method(_process, capture_response=False)
        kill_switch = None
        if settings.kill_switch_parameter:
            # Few attempts: a slow SSM must not hold a halt back for long; failing reads count as "off".
            kill_switch = KillSwitch(settings.kill_switch_parameter, make_client("ssm", max_attempts=2))
        _runtime = Runtime(
            settings=settings,
            policy=policy.load_file(settings.policy_file),
            jobs=IotJobs(pace(make_client(max_attempts=settings.max_attempts), settings.iot_rate)),
            process=process,
            kill_switch=kill_switch,
        )
    return _runtime


def reset() -> None:
    """Forget the cached runtime (the CLI and tests change the environment between runs)."""
    global _runtime
    _runtime = None


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    metrics.add_metric(name="AlertsReceived", unit=MetricUnit.Count, value=1)
    rt = runtime()
    # Stop starting calls while a retried call could still finish before the timeout; what is left is reported
    # failed, and the platform's retry of the alert finishes it.
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - SAFETY_MARGIN_S
    return rt.process(event, rt, lambda: time.monotonic() > deadline)


def _process(event: dict[str, Any], rt: Runtime, out_of_time: Callable[[], bool]) -> dict[str, Any]:
    try:
        alert = alerts.parse(event)
    except alerts.UnrecognisedAlert as error:
        metrics.add_metric(name="AlertsUnrecognised", unit=MetricUnit.Count, value=1)
        logger.error("Unrecognised alert", extra={"problem": str(error)})
        if rt.settings.dead_letter_queue_url is None:
            raise
        # Kept in the dead-letter queue at once: a retry could not make it recognisable. If keeping it fails, the
        # error goes up, and the platform's retries and on-failure destination keep it instead.
        body = json.dumps({"problem": str(error), "event": event}, default=str)
        rt.sqs.send_message(QueueUrl=rt.settings.dead_letter_queue_url, MessageBody=body)
        return {"status": "rejected", "detail": str(error), "rule": None, "decisions": []}
    if alert.correlation_id:
        logger.set_correlation_id(alert.correlation_id)
    logger.append_keys(alert_kind=alert.kind)

    outcome = guard.respond(alert, rt.policy, rt.jobs, dry_run=rt.settings.dry_run, out_of_time=out_of_time,
                            kill_switch=rt.kill_switch_engaged)
    result = outcome.to_dict()
    for action, metric in (
        (CANCELED, "JobsCancelled"),
        (WOULD_CANCEL, "JobsWouldCancel"),
        (SKIPPED, "JobsSkipped"),
        (BLOCKED, "JobsBlocked"),
        (FAILED, "JobsFailed"),
        (ESCALATED, "JobsEscalated"),
    ):
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=outcome.count(action))
    if outcome.count(BLOCKED):
        logger.error(
            "BLAST RADIUS CAP HIT: nothing cancelled",
            extra={"rule": result["rule"], "blocked": outcome.count(BLOCKED), "decisions": result["decisions"]},
        )
    logger.info(
        "Alert handled",
        extra={"status": outcome.status, "detail": outcome.detail, "rule": result["rule"], "alert": result["alert"],
               "decisions": result["decisions"]},
    )
    if outcome.count(CANCELED):
        _after_halt(alert, result, rt)
    if outcome.failed:
        raise HaltIncomplete(result)
    return result


def _after_halt(alert: alerts.Alert, result: dict[str, Any], rt: Runtime) -> None:
    """Time-to-halt and the "Rollout Halted" events. A failure here is logged and counted, never raised: the jobs
    are already cancelled, and a retry of the alert would not announce them again."""
    started = _parse_time(alert.timestamp)
    if started is not None:
        elapsed_ms = (datetime.now(timezone.utc) - started).total_seconds() * 1000
        metrics.add_metric(name="TimeToHalt", unit=MetricUnit.Milliseconds, value=max(0.0, elapsed_ms))
    if rt.settings.event_bus is None:
        return
    try:
        failed = halt_events.publish(rt.events, result, rt.settings.event_bus)
    except Exception as error:  # botocore raises many types; all mean the announcement did not go out
        failed = len(halt_events.entries(result, rt.settings.event_bus))
        logger.exception("Rollout Halted events not sent", extra={"error": str(error)})
    if failed:
        logger.error("Rollout Halted events rejected", extra={"failed": failed})
    metrics.add_metric(name="HaltEventsFailed", unit=MetricUnit.Count, value=failed)


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
