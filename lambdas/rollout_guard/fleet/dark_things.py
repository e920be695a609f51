"""Dark things: whether a disconnected thing came back, which job it was executing, and when a dark check may
judge. Pure functions of what the state and IoT told the detector; the detector does the reads.

A thing is dark when no connect of its own follows its disconnect within `dark_after` (by the events' clock). It
counts for the job it was executing: a job whose execution on it is IN_PROGRESS, or else the job it reported
SUCCEEDED within the success grace before it disconnected (a reboot into the new firmware). A check judges once the
fleet queue has been read past the moments it judges on (the low-water mark): the reconnects up to `dark_after`,
and the whole of each minute whose disconnects the outage comparison adds up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rollout_guard.fleet.casualties import minute_of
from rollout_guard.fleet.state import ThingDays

DARK_CHECK_SLACK_S = 5  # connect events in flight when a check falls due
WATERMARK_SLACK_S = 10  # a batch read just before the low-water mark's batch, still being settled
WATERMARK_WAIT_S = 300  # the longest a check waits for the low-water mark before judging without it
# A discounted dark thing is looked at again every `dark_after` (a minute at least), from `dark_after` after it was
# discounted: once the rest of the fleet is back, it has one more `dark_after` to come back, then it counts. While the
# fleet is not back, at most `RECHECK_ROUNDS` looks (an outage longer than that hides it: the log says so).
RECHECK_MIN_S = 60
RECHECK_ROUNDS = 30
FLEET_BACK = 0.8  # the rest of the fleet is back when its connects since reach this share of its disconnects


def came_back(at_ms: int, connected: Iterable[int], dark_after_ms: int) -> bool:
    """A connect after the disconnect, within `dark_after`."""
    return any(at_ms < when <= at_ms + dark_after_ms for when in connected)


def came_back_since(at_ms: int, connected: Iterable[int]) -> bool:
    """Any connect after the disconnect (a recheck: the thing came back late, it is not dark)."""
    return any(when > at_ms for when in connected)


Grace = Callable[[str], int]  # how long after a job's SUCCEEDED its thing still counts for it (ms; its rule's)


def job_by_success(at_ms: int, seen: ThingDays, grace_ms: Grace, until_ms: int) -> list[str]:
    """The job the thing reported SUCCEEDED for last, from its grace (`grace_ms` of the job) before the disconnect
    until `until_ms`."""
    near = [job for when, job in sorted(seen.succeeded) if at_ms - grace_ms(job) <= when <= until_ms]
    return near[-1:]


def executing(at_ms: int, seen: ThingDays, dark_after_ms: int, grace_ms: Grace,
              in_progress: list[str] | None) -> list[str]:
    """The jobs the thing was executing when it disconnected: its IN_PROGRESS jobs when IoT was asked (a dark
    thing), else the job it reported SUCCEEDED for around the disconnect."""
    if came_back(at_ms, seen.connected, dark_after_ms):  # fine; a reboot into a job's firmware is still that job's
        return job_by_success(at_ms, seen, grace_ms, at_ms + dark_after_ms)
    if in_progress:
        return in_progress
    return job_by_success(at_ms, seen, grace_ms, at_ms)


def judged_until(disconnects: Iterable[tuple[str, int]], dark_after_s: int) -> int:
    """The moment (epoch ms) the fleet queue must have been read past before a check judges: the reconnects it
    waits for, and the end of every minute whose disconnects it compares."""
    last = max(at for _, at in disconnects)
    end_of_minute = (minute_of(last) + 1) * 60_000
    return max(last + dark_after_s * 1000 + DARK_CHECK_SLACK_S * 1000, end_of_minute) + WATERMARK_SLACK_S * 1000


def recheck_step_s(dark_after_s: int) -> int:
    return max(dark_after_s, RECHECK_MIN_S)


def fleet_is_back(disconnects: int, connects_since: int) -> bool:
    """Whether the fleet came back after the minutes it dropped in: its connects since reach `FLEET_BACK` of its
    disconnects then."""
    return connects_since >= FLEET_BACK * disconnects
