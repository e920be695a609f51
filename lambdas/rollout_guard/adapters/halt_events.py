"""The guard's announcements: one EventBridge event per job or Greengrass deployment it cancelled ("Rollout
Halted"), throttled ("Rollout Throttled") or restored ("Rollout Restored"), per completed job found regressed ("Rollout
Regressed") and revert prepared or created ("Revert Ready", "Revert Created"), and per notice of a job it did not act on
("Rollout Restore Skipped", "Rollout Throttle Stale"), for chat or e-mail rules to follow."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from rollout_guard.halts.decisions import ANNOUNCED, CANCELED, REGRESSED, RESTORED, REVERT_READY, REVERTED, THROTTLED
from rollout_guard.halts.deployments import NOT_UNDONE
from rollout_guard.observability import (
    HALTED_DETAIL_TYPE,
    HALTED_SOURCE,
    NOTICES,
    REGRESSED_DETAIL_TYPE,
    RESTORED_DETAIL_TYPE,
    REVERT_READY_DETAIL_TYPE,
    REVERTED_DETAIL_TYPE,
    THROTTLED_DETAIL_TYPE,
)

if TYPE_CHECKING:
    from rollout_guard.halts.decisions import Decision
    from rollout_guard.halts.guard import Outcome

SOURCE, DETAIL_TYPE = HALTED_SOURCE, HALTED_DETAIL_TYPE
# Each announced decision (`decisions.ANNOUNCED`) -> its event's detail type, and the word of the operations line
TYPES = {CANCELED: (HALTED_DETAIL_TYPE, "halted"), THROTTLED: (THROTTLED_DETAIL_TYPE, "throttled"),
         RESTORED: (RESTORED_DETAIL_TYPE, "restored"), REGRESSED: (REGRESSED_DETAIL_TYPE, "found regressed"),
         REVERT_READY: (REVERT_READY_DETAIL_TYPE, "prepared a revert of"),
         REVERTED: (REVERTED_DETAIL_TYPE, "created the revert of")}
BATCH = 10  # PutEvents takes at most 10 entries


def announced(outcome: Outcome) -> list[tuple[str, str, Decision]]:
    """Each decision to announce, with its event's detail type and the word of its operations line."""
    done = [(*TYPES[action], decision) for action in ANNOUNCED for decision in outcome.with_action(action)]
    noted = [(decision.notice, NOTICES[decision.notice], decision) for decision in outcome.decisions
             if decision.notice is not None]
    return done + noted


def entries(outcome: Outcome, bus: str) -> list[dict[str, Any]]:
    """The PutEvents entries for every job of an outcome that was cancelled, throttled or restored, or noticed."""
    alert = outcome.alert.summary()
    return [
        {
            "Source": SOURCE,
            "DetailType": detail_type,
            "EventBusName": bus,
            "Detail": json.dumps({
                "jobId": decision.job_id,
                "action": word,
                "rule": outcome.rule_name,
                "reasonCode": decision.reason_code,
                "subject": outcome.alert.subject,
                "force": decision.force,
                "alert": alert,
                **({"detail": decision.detail} if detail_type != HALTED_DETAIL_TYPE else {}),
                **_deployment(decision),
                **({"revertJobId": decision.revert_job_id} if decision.revert_job_id else {}),
            }),
        }
        for detail_type, word, decision in announced(outcome)
    ]


def _deployment(decision: Decision) -> dict[str, Any]:
    """A Greengrass deployment's halt names the deployment, its IoT job (`jobId`) and what the cancel did not undo."""
    if decision.deployment is None:
        return {}
    return {"deploymentId": decision.deployment.deployment_id, "deploymentName": decision.deployment.name,
            "targetArn": decision.deployment.target_arn, "notUndone": NOT_UNDONE}


class HaltAnnouncer:
    def __init__(self, bus: str, client_factory: Callable[[], Any]):
        self.bus = bus
        self._client_factory = client_factory

    @cached_property
    def _client(self) -> Any:  # made at the first halt, not at cold start
        return self._client_factory()

    def announce(self, outcome: Outcome) -> int:
        """Put the events; returns how many EventBridge did not accept (botocore already retried the call). Raises
        when the call itself fails."""
        pending = entries(outcome, self.bus)
        failed = 0
        for start in range(0, len(pending), BATCH):
            answer = self._client.put_events(Entries=pending[start:start + BATCH])
            failed += int(answer.get("FailedEntryCount", 0))
        return failed
