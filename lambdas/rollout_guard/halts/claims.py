"""Exactly-once cancels across instances: a claim on (job, level) is taken before acting on the job.

Two deliveries of one alarm, or two instances in a storm, can both see a job active; only the one that takes the
claim calls CancelJob, the other reports the job skipped. Escalating to force is a claim of its own, so a later
forcing rule still acts after a soft cancel. This module is the port: its types, the claim's key and the state
table's schema (which the stack and `rollout-guard state init` create from here). `dynamo_claims` is the adapter;
`NoClaims` acts at once (no table configured: the CLI without --state-table, the tests of the use case).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

# The state table: one item per claim, found by `id`, removed by DynamoDB's TTL on `expiration` (epoch seconds).

class ClaimOutcome(StrEnum):
    ACTED = "acted"  # this invocation held the claim and acted
    HELD_ELSEWHERE = "held_elsewhere"  # another invocation holds the claim and is acting now
    DONE_ELSEWHERE = "done_elsewhere"  # another invocation held the claim and acted


ACTED, HELD_ELSEWHERE, DONE_ELSEWHERE = ClaimOutcome.ACTED, ClaimOutcome.HELD_ELSEWHERE, ClaimOutcome.DONE_ELSEWHERE


class ClaimLevel(StrEnum):
    """What a claim is for: one job is claimed once per level (and, for a throttle or a restore, per episode)."""

    CANCEL = "cancel"
    CANCEL_WITH_FORCE = "cancel-force"
    ESCALATE = "escalate"  # a forced cancel after a soft one: a later forcing rule still acts
    THROTTLE = "throttle"  # a throttle and its restore are claimed per job like a cancel
    RESTORE = "restore"
    CANCEL_DEPLOYMENT = "cancel-deployment"  # a Greengrass v2 deployment, claimed by its id


@dataclass(frozen=True)
class Claimed:
    outcome: ClaimOutcome
    detail: str = ""

    @property
    def acted(self) -> bool:
        return self.outcome == ACTED


def cancel_level(force: bool) -> ClaimLevel:
    return ClaimLevel.CANCEL_WITH_FORCE if force else ClaimLevel.CANCEL


def claim_of(job_id: str, level: str) -> dict[str, str]:
    """What identifies a claim (hashed into the table's key by the adapter)."""
    return {"job": job_id, "level": level}


# How a skip names what the other invocation is doing and has done, per claim level.
WORDS = {ClaimLevel.CANCEL: ("cancelling", "cancelled"), ClaimLevel.CANCEL_WITH_FORCE: ("cancelling", "cancelled"),
         ClaimLevel.ESCALATE: ("escalating", "cancelled"), ClaimLevel.THROTTLE: ("throttling", "throttled"),
         ClaimLevel.RESTORE: ("restoring", "restored"), ClaimLevel.CANCEL_DEPLOYMENT: ("cancelling", "cancelled")}


def episode_level(level: ClaimLevel, episode: str) -> str:
    """A level claimed once per episode (a throttle per ALARM transition, a restore per throttle), so a later
    episode claims again."""
    return f"{level}@{episode}"


def skipped_detail(claimed: Claimed, level: str = ClaimLevel.CANCEL) -> str:
    doing, done = WORDS[ClaimLevel(level.partition("@")[0])]  # the level, whatever its episode holds
    what = "deployment" if level == ClaimLevel.CANCEL_DEPLOYMENT else "job"
    if claimed.outcome == HELD_ELSEWHERE:
        return f"another invocation is {doing} the {what} (it holds the claim)"
    return f"another invocation already {done} the {what}{': ' + claimed.detail if claimed.detail else ''}"


class Claims(Protocol):
    def begin(self, context: Any) -> None:
        """Called once per invocation with the Lambda context: a claim of an invocation that dies is released
        when that invocation's time is up."""

    def once(self, job_id: str, level: str, act: Callable[[], Any]) -> Claimed:
        """Run `act` if this invocation takes the claim on (job_id, level). Errors of `act` propagate and release
        the claim. When the claim store cannot be reached, act anyway (and say so): a missed halt bricks devices."""


class NoClaims:
    def begin(self, context: Any) -> None:
        return None

    def once(self, job_id: str, level: str, act: Callable[[], Any]) -> Claimed:
        act()
        return Claimed(ACTED)
