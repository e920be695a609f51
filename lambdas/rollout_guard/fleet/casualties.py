"""Casualties: which of a job's things count against a fleet-signal rule, and whether its threshold is crossed.

Pure functions of what the detector found (the job's casualties, its executed things, the fleet's disconnects in
the same minutes): no AWS call happens here. Counting is a set of things, so a duplicate or a late event changes
nothing, and a window is found over the casualties' own times, so the order of arrival does not matter either.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from rollout_guard.policy import Casualties

# What an execution event's status makes of its thing; SUCCEEDED makes none (but opens the success grace).
FAILURES = {"FAILED": "failed", "REJECTED": "rejected", "TIMED_OUT": "timed_out"}
# A watched thing whose `$package` shadow reports another version than the job's (rolled back or reflashed).
OTHER_VERSION = "other_version"
# The kinds that count whatever an outage says (a dark thing counts unless the rest of the fleet went dark too).
ALWAYS = (*FAILURES.values(), OTHER_VERSION)
DARK = "dark"
# A dark thing discounted as a network outage, found still dark when the rest of the fleet had come back: it counts
# whatever the outage comparison says.
STILL_DARK = "still_dark"
KINDS = (*ALWAYS, DARK, STILL_DARK)
# The rest of the fleet went dark "at a comparable rate" when its share of disconnects in the same minutes is at
# least half the job's share of dark things: then the dark things are taken for a network outage.
OUTAGE_FACTOR = 0.5
SHOWN = 5  # things named in a comment


@dataclass(frozen=True, order=True)
class Casualty:
    at_ms: int  # when it failed or disconnected, by the event's own clock
    thing: str
    kind: str  # failed, rejected, timed_out, other_version, dark or still_dark


def minute_of(at_ms: int) -> int:
    return at_ms // 60_000


def confirmation(kept: Casualty, new: Casualty) -> Casualty | None:
    """A thing first recorded dark that reports a failure since (IoT times out a bricked device's execution) is a
    casualty whatever an outage says: a `still_dark` record at its dark time, counted once with it."""
    if kept.kind == DARK and new.kind in ALWAYS:
        return Casualty(kept.at_ms, kept.thing, STILL_DARK)
    return None


@dataclass(frozen=True)
class Tally:
    """How many of a job's things became casualties, per minute (by event time) and kind: what the state keeps of a
    job instead of its casualties, so that nothing grows with the fleet. A thing counts once per job (its first
    casualty), and once more as `still_dark` when a recheck found it still dark."""

    minutes: dict[int, dict[str, int]]

    @classmethod
    def of(cls, found: Iterable[Casualty]) -> Tally:
        """What the state keeps of these casualties, in time order: each thing's first record, and a dark thing's
        confirmation (a `still_dark` record of its own)."""
        first: dict[tuple[str, bool], Casualty] = {}
        for casualty in sorted(found):
            kept = first.setdefault((casualty.thing, casualty.kind == STILL_DARK), casualty)
            if (confirmed := confirmation(kept, casualty)) is not None:
                first.setdefault((casualty.thing, True), confirmed)
        minutes: dict[int, Counter[str]] = {}
        for casualty in first.values():
            minutes.setdefault(minute_of(casualty.at_ms), Counter())[casualty.kind] += 1
        return cls({minute: dict(kinds) for minute, kinds in minutes.items()})

    def total(self, kind: str) -> int:
        return sum(counts.get(kind, 0) for counts in self.minutes.values())

    def counted_in(self, minute: int, outage_reason: str | None) -> int:
        counts = self.minutes.get(minute, {})
        failures = sum(counts.get(kind, 0) for kind in ALWAYS)
        return failures + counts.get(DARK if outage_reason is None else STILL_DARK, 0)

    def nth_minute(self, n: int, outage_reason: str | None) -> tuple[int, int] | None:
        """The minute in which the Nth counted casualty (by event time) falls, and how many were counted before."""
        before = 0
        for minute in sorted(self.minutes):
            here = self.counted_in(minute, outage_reason)
            if before + here >= n:
                return minute, before
            before += here
        return None

    def dark_minutes(self) -> set[int]:
        return {minute for minute, counts in self.minutes.items() if counts.get(DARK)}

    def counted(self, outage_reason: str | None) -> tuple[int, int]:
        """(things counted, dark things discounted) under the outage comparison's answer."""
        failures = sum(self.total(kind) for kind in ALWAYS)
        dark, still = self.total(DARK), self.total(STILL_DARK)
        if outage_reason is None:
            return failures + dark, 0
        return failures + still, max(0, dark - still)


@dataclass(frozen=True)
class Verdict:
    crossed: bool
    counted: tuple[Casualty, ...]  # by time
    discounted: int  # dark things not counted (a network outage)
    detail: str  # for the log and the CancelJob comment: the count, the threshold and the first things
    total: int = 0  # things counted in all (`counted` holds those read)
    crossed_by: Casualty | None = None  # the casualty whose event time crossed the threshold

    @property
    def crossing(self) -> Casualty | None:
        return self.crossed_by or (self.counted[-1] if self.counted and self.crossed else None)


def outage(dark: int, executed: int, others_disconnects: int, fleet_things: int) -> str | None:
    """Why the job's dark things look like a network outage, or None when they look like its own casualties."""
    if dark == 0:
        return None
    job_share = dark / max(1, executed)
    others = max(1, fleet_things - executed)
    others_share = others_disconnects / others
    if others_share < OUTAGE_FACTOR * job_share:
        return None
    return (f"{dark} dark thing(s) not counted: {others_disconnects} of the fleet's other {others} things "
            f"disconnected in the same minutes ({others_share:.1%}), against {job_share:.1%} of the job's "
            f"{executed} executed things gone dark: a network outage, not the firmware")


def first_within(times: list[int], window_ms: int, n: int) -> int | None:
    """The index of the first time that closes a window of `window_ms` holding `n` (times sorted), or None."""
    start = 0
    for end, at in enumerate(times):
        while at - times[start] > window_ms:
            start += 1
        if end - start + 1 >= n:
            return end
    return None


def nth_counted(found: list[Casualty], n: int, outage_reason: str | None) -> Casualty | None:
    """The Nth counted casualty by event time of `found` (1-based)."""
    counted = _counted(found, outage_reason)
    return counted[n - 1] if 0 < n <= len(counted) else None


def most_within(times: list[int], window_ms: int) -> int:
    """The most casualties that fall in any window of `window_ms` (times sorted)."""
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] > window_ms:
            start += 1
        best = max(best, end - start + 1)
    return best


def _counted(found: list[Casualty], outage_reason: str | None) -> list[Casualty]:
    """Each thing once, at its first casualty that counts: dark records count unless the dark things look like an
    outage; a `still_dark` record always counts. (How many were discounted is the tally's to say.)"""
    by_thing: dict[str, list[Casualty]] = {}
    for casualty in sorted(found):
        by_thing.setdefault(casualty.thing, []).append(casualty)
    counted = []
    for records in by_thing.values():
        counts = [c for c in records if c.kind != DARK or outage_reason is None]
        if counts:
            counted.append(counts[0])
    return sorted(counted)


def verdict(rule: Casualties, found: list[Casualty], executed: int | None, outage_reason: str | None,
            tally: Tally | None = None) -> Verdict:
    """Whether the job's casualties cross the rule's threshold: `things` (within `within_s`), or `percent` of the
    executed things once `min_things` have executed. `executed` is None when the rule needs no percentage.

    `tally` holds the job's counts (the state's; without it, those of `found`); `found` are the casualties read, on
    which the window, the casualty that crossed and the things named are judged (the detector reads the minutes of
    each)."""
    tally = tally if tally is not None else Tally.of(found)
    counted = tuple(_counted(found, outage_reason))
    total, discounted = tally.counted(outage_reason)
    total = max(total, len(counted))
    parts = []
    crossed, crossed_by = False, None
    if rule.things is not None:
        if rule.within_s is None:
            reached = total
            parts.append(f"{reached} casualties, threshold {rule.things}")
            crossed_by = _nth(tally, found, rule.things, outage_reason)
        else:
            times = [c.at_ms for c in counted]
            reached = most_within(times, rule.within_s * 1000)
            parts.append(f"{reached} casualties within {rule.within_s} s, threshold {rule.things}")
            index = first_within(times, rule.within_s * 1000, rule.things)
            crossed_by = counted[index] if index is not None else None
        crossed = reached >= rule.things
    if rule.percent is not None and rule.min_things is not None:
        base = max(executed or 0, total)
        share = 100 * total / base if base else 0.0
        parts.append(f"{total} of {base} executed things ({share:.1f}%), threshold {rule.percent:g}% "
                     f"once {rule.min_things} have executed")
        crossed = crossed or (base >= rule.min_things and share >= rule.percent)
    tallies = {kind: n for kind in KINDS if (n := _kind_total(tally, kind, outage_reason))}
    detail = _detail(parts, counted, total, tallies, outage_reason)
    # a casualty crosses only what was reached: `crossed_by` is None whenever `crossed` is False
    return Verdict(crossed, counted, discounted, detail, total, crossed_by)


def _nth(tally: Tally, found: list[Casualty], n: int, outage_reason: str | None) -> Casualty | None:
    """The Nth counted casualty by event time: the tally says which minute holds it, `found` has that minute."""
    located = tally.nth_minute(n, outage_reason)
    if located is None:
        return None
    minute, before = located
    return nth_counted([c for c in found if minute_of(c.at_ms) == minute], n - before, outage_reason)


def _detail(parts: list[str], counted: tuple[Casualty, ...], total: int, tallies: dict[str, int],
            outage_reason: str | None) -> str:
    """For the log and the CancelJob comment: the counts, the thresholds, the first things and why dark ones were
    not counted."""
    tally_text = ", ".join(f"{n} {kind}" for kind, n in sorted(tallies.items()))
    detail = "; ".join(parts) + (f" ({tally_text})" if tally_text else "")
    if counted:
        shown = ", ".join(f"{c.thing} {c.kind}" for c in counted[:SHOWN])
        detail += f": {shown}{', ...' if total > SHOWN else ''}"
    if outage_reason:
        detail += f"; {outage_reason}"
    return detail


def _kind_total(tally: Tally, kind: str, outage_reason: str | None) -> int:
    if kind == DARK and outage_reason is not None:
        return 0
    if kind == STILL_DARK and outage_reason is None:
        return 0  # its thing is counted as dark already
    return tally.total(kind)
