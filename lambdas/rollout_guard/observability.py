"""The observability contract: service, namespace, dimensions and every metric the function emits.

Spelled once, here. The function emits through these names and the stack's dashboard and alarms chart them from
here, so a rename cannot silently empty a dashboard; a test holds the three together. Plain constants only: the
CDK app imports this module without loading Powertools.
"""

from __future__ import annotations

from enum import StrEnum

SERVICE = "rollout-guard"
NAMESPACE = "RolloutGuard"
# Powertools' Metrics adds the service as the one default dimension of every metric.
DIMENSIONS = {"service": SERVICE}
LOG_LEVEL = "INFO"


class Metric(StrEnum):
    ALERTS_RECEIVED = "AlertsReceived"
    ALERTS_UNRECOGNISED = "AlertsUnrecognised"
    JOBS_CANCELLED = "JobsCancelled"
    JOBS_WOULD_CANCEL = "JobsWouldCancel"
    JOBS_SKIPPED = "JobsSkipped"
    JOBS_BLOCKED = "JobsBlocked"
    JOBS_FAILED = "JobsFailed"
    JOBS_ESCALATED = "JobsEscalated"
    JOBS_NOT_FOUND = "JobsNotFound"
    TIME_TO_HALT = "TimeToHalt"
    HALT_EVENTS_FAILED = "HaltEventsFailed"
    KILL_SWITCH_ENGAGED = "KillSwitchEngaged"
    KILL_SWITCH_UNREADABLE = "KillSwitchUnreadable"
    CLAIM_STORE_UNAVAILABLE = "ClaimStoreUnavailable"
    FLEET_EVENTS_RECEIVED = "FleetEventsReceived"
    FLEET_EVENTS_UNRECOGNISED = "FleetEventsUnrecognised"
    CASUALTIES_COUNTED = "CasualtiesCounted"
    DARK_DISCOUNTED = "DarkThingsDiscounted"
    UNMAPPED_CLIENTS = "UnmappedClients"
    STILL_DARK_COUNTED = "StillDarkCounted"
    CHECKS_WITHOUT_WATERMARK = "DarkChecksJudgedWithoutWatermark"
    JOBS_GATED = "JobsCreatedUnderFiringAlarm"
    JOBS_THROTTLED = "JobsThrottled"
    JOBS_RESTORED = "JobsRestored"
    THROTTLES_ESCALATED = "ThrottlesEscalated"  # escalation timers that found the alarm still firing
    RESTORES_SKIPPED = "RestoresSkipped"  # a throttled job changed by someone else: left as it is
    THROTTLES_STALE = "ThrottlesStale"  # a throttle held past its rule's max_throttled: left for an operator
    THROTTLE_TIMERS_FAILED = "ThrottleTimersFailed"  # a throttle's next timer could not be set
    JOBS_REGRESSED = "JobsRegressed"  # a completed job whose things fell within its rule's watch_after
    REVERTS_READY = "RevertsReady"  # a revert prepared, waiting for an operator's approval
    REVERTS_CREATED = "RevertsCreated"
    REVERTS_FAILED = "RevertsFailed"  # a revert that could not be prepared or created


# The "Rollout Halted" event the guard puts on its bus for every cancelled job (rules follow it to chat, e-mail and
# the control plane).
HALTED_SOURCE, HALTED_DETAIL_TYPE = "rollout-guard", "Rollout Halted"
# And for a throttle rule's jobs (same source; these stay in the account: the control plane follows halts only).
THROTTLED_DETAIL_TYPE, RESTORED_DETAIL_TYPE = "Rollout Throttled", "Rollout Restored"
# After a rollout: a completed job found regressed, a revert ready for approval, a revert job created.
REGRESSED_DETAIL_TYPE, REVERT_READY_DETAIL_TYPE, REVERTED_DETAIL_TYPE = (
    "Rollout Regressed", "Revert Ready", "Revert Created")
# What the guard announces though it did not act: a restore it skipped (the job changed since the throttle), and a
# throttle held past its rule's `max_throttled` (once). Each with the word of its operations line.
RESTORE_SKIPPED_DETAIL_TYPE, THROTTLE_STALE_DETAIL_TYPE = "Rollout Restore Skipped", "Rollout Throttle Stale"
NOTICES = {RESTORE_SKIPPED_DETAIL_TYPE: "did not restore", THROTTLE_STALE_DETAIL_TYPE: "still throttles"}


# Emitted, yet neither charted nor alarmed, and why.
UNCHARTED: dict[Metric, str] = {
    Metric.JOBS_SKIPPED: "a skip is the guard doing its job (a finished job, a duplicate delivery, a job outside the "
                         "rule's globs); each one is in the 'Alert handled' log line with its reason",
}
