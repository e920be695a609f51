"""The fleet path: one SQS batch of the fleet's events handed to the detector, and SQS's answer (the messages to
deliver again). A message fails when a write of its failed or a halt it caused could not finish, so SQS delivers
only those again (and finally keeps them in the dead-letter queue)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rollout_guard.telemetry import log

if TYPE_CHECKING:
    from rollout_guard.fleet.dark_checks import InProgressListing, Timers
    from rollout_guard.fleet.detector import Respond
    from rollout_guard.fleet.state import FleetState
    from rollout_guard.halts.deployments import DeploymentsPort
    from rollout_guard.halts.jobs import JobsPort
    from rollout_guard.policy import Policy


class FleetNeedsState(RuntimeError):
    """Fleet events arrived, but no state table is configured to count them in."""


@dataclass(frozen=True)
class FleetBatch:
    """What one batch of fleet events did: SQS's answer (the messages to deliver again), each job's evaluation, and
    the messages that were no fleet event, with why."""

    answer: dict[str, Any]
    reports: list[dict[str, Any]]
    rejected: dict[str, str]


@dataclass(frozen=True)
class FleetPath:
    policy: Policy
    state: FleetState  # the fleet signal's counts (the state table)
    jobs: JobsPort  # IoT for the fleet signal's own calls, paced at its share of the budget
    listing: InProgressListing  # the dark checks' listing of IN_PROGRESS executions, shared a while
    timers: Timers | None = None  # the detector's dark checks (the fleet queue)
    clock: Callable[[], float] = field(default=time.time)  # epoch seconds: a simulation passes its own
    deployments: DeploymentsPort | None = None  # Greengrass v2: a deployment's name and IoT job, when rules name them

    def handle(self, event: dict[str, Any], context: Any, halt: Respond) -> FleetBatch:
        """The batch's answer; `halt` is the alert path's, for a job whose casualties crossed its rule."""
        from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

        from rollout_guard.fleet.detector import Detector

        detector = Detector(self.policy, self.state, self.jobs, halt, timers=self.timers, listing=self.listing,
                            clock=self.clock, deployments=self.deployments)
        plan = detector.plan([(record.get("messageId"), record.get("body"), _sent(record))
                              for record in event["Records"]])
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        answer = process_partial_response(
            event=event, record_handler=lambda record: plan.settle(record.message_id), processor=processor,
            context=context)
        for error in processor.exceptions:
            log("error", "Fleet event not settled; SQS delivers it again", error=f"{error[0].__name__}: {error[1]}"
                if error[0] else str(error[1]))
        return FleetBatch(dict(answer), detector.reports, dict(plan.problems))


def _sent(record: Any) -> int | None:
    """An SQS record's SentTimestamp (epoch ms), when it carries one."""
    sent = record.get("attributes", {}).get("SentTimestamp") if isinstance(record, dict) else None
    return int(sent) if isinstance(sent, str) and sent.isdigit() else None
