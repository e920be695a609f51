"""Casualties: which of a job's things count against a fleet-signal rule, and whether its threshold is crossed.

Pure functions of what the detector found (the job's casualties, its executed things, the fleet's disconnects in
the same minutes): no AWS call happens here. Counting is a set of things, so a duplicate or a late event changes
nothing, and a window is found over the casualties' own times, so the order of arrival does not matter either.
"""

from __future__ import annotations

from dataclasses import dataclass

from .policy import Casualties

# What an execution event's status makes of its thing; SUCCEEDED makes none (but opens the success grace).
FAILURES = {"FAILED": "failed", "REJECTED": "rejected", "TIMED_OUT": "timed_out"}
DARK = "dark"
# The rest of the fleet went dark "at a comparable rate" when its share of disconnects in the same minutes is at
# least half the job's share of dark things: then the dark things are taken for a network outage.
OUTAGE_FACTOR = 0.5
SHOWN = 5  # things named in a comment


@dataclass(frozen=True, order=True)
class Casualty:
    at_ms: int  # when it failed or disconnected, by the event's own clock
    thing: str
    kind: str  # failed, rejected, timed_out or dark

    def encode(self) -> str:
        return f"{self.at_ms}|{self.kind}"

    @classmethod
    def decode(cls, thing: str, text: str) -> Casualty:
        at, _, kind = text.partition("|")
        return cls(int(at), thing, kind)


@dataclass(frozen=True)
class Verdict:
    crossed: bool
    counted: tuple[Casualty, ...]  # by time
    discounted: int  # dark things not counted (a network outage)
    detail: str  # for the log and the CancelJob comment: the count, the threshold and the first things

    @property
    def crossing(self) -> Casualty | None:
        return self.counted[-1] if self.counted else None


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


def most_within(times: list[int], window_ms: int) -> int:
    """The most casualties that fall in any window of `window_ms` (times sorted)."""
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] > window_ms:
            start += 1
        best = max(best, end - start + 1)
    return best


def verdict(rule: Casualties, found: list[Casualty], executed: int | None, outage_reason: str | None) -> Verdict:
    """Whether the job's casualties cross the rule's threshold: `things` (within `within_s`), or `percent` of the
    executed things once `min_things` have executed. `executed` is None when the rule needs no percentage."""
    first: dict[str, Casualty] = {}
    for casualty in sorted(found):  # a thing counts once, at its first casualty
        first.setdefault(casualty.thing, casualty)
    found = sorted(first.values())
    counted = tuple(c for c in found if c.kind != DARK or outage_reason is None)
    discounted = len(found) - len(counted)
    parts = []
    crossed = False
    if rule.things is not None:
        if rule.within_s is None:
            reached = len(counted)
            parts.append(f"{reached} casualties, threshold {rule.things}")
        else:
            reached = most_within([c.at_ms for c in counted], rule.within_s * 1000)
            parts.append(f"{reached} casualties within {rule.within_s} s, threshold {rule.things}")
        crossed = reached >= rule.things
    if rule.percent is not None and rule.min_things is not None:
        base = max(executed or 0, len(counted))
        share = 100 * len(counted) / base if base else 0.0
        parts.append(f"{len(counted)} of {base} executed things ({share:.1f}%), threshold {rule.percent:g}% "
                     f"once {rule.min_things} have executed")
        crossed = crossed or (base >= rule.min_things and share >= rule.percent)
    kinds = sorted({c.kind for c in counted})
    tally = ", ".join(f"{sum(1 for c in counted if c.kind == kind)} {kind}" for kind in kinds)
    detail = "; ".join(parts) + (f" ({tally})" if tally else "")
    if counted:
        shown = ", ".join(f"{c.thing} {c.kind}" for c in counted[:SHOWN])
        detail += f": {shown}{', ...' if len(counted) > SHOWN else ''}"
    if outage_reason:
        detail += f"; {outage_reason}"
    return Verdict(crossed, counted, discounted, detail)
