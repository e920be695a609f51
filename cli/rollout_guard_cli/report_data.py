"""What a replay's report draws, per job or deployment: its casualties over event time by kind, the rule's threshold,
the minutes the rest of the fleet disconnected (an outage's share), the crossing and the halt, and the table of
casualties (counted, or discounted and why). Read from the replay's own fleet state after the run, so the picture
is the detector's, not a second reckoning; `report` draws it as SVG in HTML, `plot` as a PNG."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from rollout_guard.fleet.casualties import DARK, STILL_DARK

SERIES = ("failed", "rejected", "timed_out", "other_version", "dark")  # each its own series, in this order


def iso(at_ms: int | float) -> str:
    return datetime.fromtimestamp(at_ms / 1000, tz=timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Row:
    thing: str
    kind: str
    at_ms: int
    counted: bool
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"thing": self.thing, "kind": self.kind, "at": iso(self.at_ms), "counted": self.counted, "why": self.why}


@dataclass(frozen=True)
class Mark:
    at_ms: float
    label: str
    kind: str  # crossing, halt, compare


@dataclass
class Chart:
    """One job's (or deployment's) picture."""

    subject: str
    rule: str
    start_ms: int
    end_ms: int
    series: dict[str, list[int]]  # kind -> the times of its counted casualties, sorted
    threshold: float | None  # casualties, on the chart's scale
    threshold_label: str
    outage: list[tuple[int, float, str]]  # (minute start ms, the rest of the fleet's disconnect share, what it was)
    marks: list[Mark] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)

    @property
    def peak(self) -> int:
        return max([sum(len(times) for times in self.series.values()), math.ceil(self.threshold or 0), 1])


def charts(state: Any, verdicts: dict[str, Any], policy: Any, halted: dict[str, float], first_ms: int) -> list[Chart]:
    """Each job with casualties, drawn from the replay's fleet state (`InMemoryFleetState`)."""
    from rollout_guard.fleet.evaluation import fleet_rule

    drawn = []
    for subject, verdict in sorted(verdicts.items()):
        tally = state.tally(subject)
        if not tally.minutes:
            continue
        rule = fleet_rule(policy, subject, lambda _: None) or next(
            (r for r in policy.fleet_rules() if r.name == verdict.rule), None)
        if rule is None or rule.casualties is None:
            continue
        found = sorted(state.casualties(subject, sorted(tally.minutes)))
        rows = _rows(found, verdict)
        times = [row.at_ms for row in rows]
        end = max([*times, *([halted[subject] * 1000] if subject in halted else [])])
        chart = Chart(subject, rule.name, min([first_ms, *times]), int(end), _series(rows),
                      *_threshold(rule.casualties, verdict), _outage(state, tally, rule.casualties.fleet_things),
                      rows=rows)
        chart.marks += _marks(verdict, halted.get(subject))
        drawn.append(chart)
    return drawn


def _rows(found: list[Any], verdict: Any) -> list[Row]:
    """Each thing once, at its first record; a dark one counted unless the dark things looked like an outage (then
    counted only when a recheck found it still dark)."""
    still = {c.thing for c in found if c.kind == STILL_DARK}
    rows, seen = [], set()
    for casualty in found:
        if casualty.kind == STILL_DARK or casualty.thing in seen:
            continue
        seen.add(casualty.thing)
        if casualty.kind != DARK:
            rows.append(Row(casualty.thing, casualty.kind, casualty.at_ms, True, "its own outcome"))
        elif casualty.thing in still:
            rows.append(Row(casualty.thing, DARK, casualty.at_ms, True, "still dark once the fleet was back"))
        elif verdict.discounted:
            rows.append(Row(casualty.thing, DARK, casualty.at_ms, False, verdict.why_discounted or "an outage"))
        else:
            rows.append(Row(casualty.thing, DARK, casualty.at_ms, True, "dark past dark_after; no outage"))
    return rows


def _series(rows: list[Row]) -> dict[str, list[int]]:
    return {kind: sorted(row.at_ms for row in rows if row.kind == kind and row.counted) for kind in SERIES}


def _threshold(casualties: Any, verdict: Any) -> tuple[float | None, str]:
    if casualties.things is not None:
        within = f" within {casualties.within_s} s" if casualties.within_s else ""
        return float(casualties.things), f"threshold: {casualties.things} casualties{within}"
    executed = verdict.casualties  # without executed counts, the share of the things counted is drawn at its floor
    return (max(1.0, casualties.percent * max(executed, casualties.min_things) / 100),
            f"threshold: {casualties.percent:g}% of executed things once {casualties.min_things} executed")


def _outage(state: Any, tally: Any, fleet_things: int | None) -> list[tuple[int, float, str]]:
    """The minutes the job's casualties fell in and around, with the rest of the fleet's disconnect share."""
    wanted = {minute + step for minute in tally.minutes for step in (-2, -1, 0, 1, 2)}
    shaded = []
    for minute, counts in sorted(state.minutes(wanted).items()):
        if counts.others and fleet_things:
            share = counts.others / fleet_things
            shaded.append((minute * 60_000, share, f"{counts.others} of the fleet's {fleet_things} things "
                                                   f"disconnected ({share:.1%})"))
    return shaded


def _marks(verdict: Any, halted_s: float | None) -> list[Mark]:
    marks = []
    if verdict.halted and verdict.at:
        at = datetime.fromisoformat(verdict.at).timestamp() * 1000
        marks.append(Mark(at, f"crossed at {verdict.at} on {verdict.casualty}", "crossing"))
    if halted_s is not None:
        marks.append(Mark(halted_s * 1000, f"halt at {iso(halted_s * 1000)}", "halt"))
    return marks


def compared(chart: Chart, verdict: Any, name: str) -> None:
    """Another policy's verdict on the same job, marked on its chart."""
    if verdict is not None and verdict.halted and verdict.at:
        at = datetime.fromisoformat(verdict.at).timestamp() * 1000
        chart.marks.append(Mark(at, f"{name}: crosses at {verdict.at} on {verdict.casualty}", "compare"))
        chart.end_ms = max(chart.end_ms, int(at))
    else:
        chart.marks.append(Mark(chart.end_ms, f"{name}: would not halt", "compare"))
