"""`replay --report FILE.html`: one self-contained HTML file, a chart per job or deployment as inline SVG (no
script, no font or style from elsewhere: it opens offline, in a ticket, from a mail), with the casualty table below
each chart. Drawn by hand rather than by a chart library: the file stays a few kilobytes a job and loads nothing."""

from __future__ import annotations

from html import escape
from typing import Any

from .report_data import SERIES, Chart, iso

WIDTH, HEIGHT = 900, 320
LEFT, RIGHT, TOP, BOTTOM = 56, 24, 28, 44
COLOURS = {"failed": "#d62728", "rejected": "#9467bd", "timed_out": "#8c564b", "other_version": "#e377c2",
           "dark": "#1f77b4"}
MARKS = {"crossing": ("#d62728", ""), "halt": ("#222222", ""), "compare": ("#7b3294", "6 4")}
STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 32px; }
table { border-collapse: collapse; margin-top: 8px; } td, th { border: 1px solid #ccc; padding: 2px 8px; }
th { background: #f4f4f4; text-align: left; } tr.discounted td { color: #777; }
svg text { font: 11px system-ui, sans-serif; } .legend span { margin-right: 12px; }
"""


def html(charts: list[Chart], title: str, summary: list[str]) -> str:
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(title)}</title>",
             f"<style>{STYLE}</style></head><body>", f"<h1>{escape(title)}</h1>"]
    parts += [f"<p>{escape(line)}</p>" for line in summary]
    if not charts:
        parts.append("<p>No job had a casualty.</p>")
    for chart in charts:
        parts += [f"<section class=\"job\" id=\"{escape(chart.subject)}\">",
                  f"<h2>{escape(chart.subject)} (rule {escape(chart.rule)})</h2>",
                  *[f"<p class=\"mark {m.kind}\">{escape(m.label)}</p>" for m in chart.marks],
                  svg(chart), _legend(), _table(chart), "</section>"]
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _x(chart: Chart, at_ms: float) -> float:
    span = max(1, chart.end_ms - chart.start_ms)
    pad = span * 0.04
    return LEFT + (at_ms - chart.start_ms + pad) / (span + 2 * pad) * (WIDTH - LEFT - RIGHT)


def _y(chart: Chart, value: float) -> float:
    return HEIGHT - BOTTOM - value / (chart.peak * 1.15) * (HEIGHT - TOP - BOTTOM)


def svg(chart: Chart) -> str:
    """The chart: outage minutes shaded by the rest of the fleet's disconnect share, each kind's counted casualties
    as a cumulative step line, the threshold dashed, the crossing, the halt and a compared policy's crossing."""
    out = [f"<svg width=\"{WIDTH}\" height=\"{HEIGHT}\" "  # inline in HTML: no namespace URL needed
           f"viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"casualties of {escape(chart.subject)}\">"]
    for minute, share, what in chart.outage:
        x0, x1 = max(LEFT, _x(chart, minute)), min(WIDTH - RIGHT, _x(chart, minute + 60_000))
        if x1 > x0:
            out.append(f"<rect class=\"outage\" x=\"{x0:.1f}\" y=\"{TOP}\" width=\"{x1 - x0:.1f}\" "
                       f"height=\"{HEIGHT - TOP - BOTTOM}\" fill=\"#f0a500\" fill-opacity=\"{min(0.6, 0.1 + share):.2f}\">"
                       f"<title>{escape(what)}</title></rect>")
    out += _axes(chart)
    total: list[int] = sorted(at for times in chart.series.values() for at in times)
    for kind, times in [*((kind, chart.series[kind]) for kind in SERIES), ("counted", total)]:
        if times:
            out.append(_steps(chart, times, COLOURS.get(kind, "#444444"), kind))
    if chart.threshold is not None:
        y = _y(chart, chart.threshold)
        out.append(f"<line class=\"threshold\" x1=\"{LEFT}\" x2=\"{WIDTH - RIGHT}\" y1=\"{y:.1f}\" y2=\"{y:.1f}\" "
                   f"stroke=\"#555\" stroke-dasharray=\"4 3\"/><text x=\"{LEFT + 4}\" y=\"{y - 4:.1f}\">"
                   f"{escape(chart.threshold_label)}</text>")
    for n, mark in enumerate(chart.marks):
        colour, dash = MARKS[mark.kind]
        x = _x(chart, mark.at_ms)
        out.append(f"<g class=\"{mark.kind}\"><line x1=\"{x:.1f}\" x2=\"{x:.1f}\" y1=\"{TOP}\" y2=\"{HEIGHT - BOTTOM}\" "
                   f"stroke=\"{colour}\" stroke-width=\"2\" stroke-dasharray=\"{dash}\"/>"
                   f"<text x=\"{min(x + 4, WIDTH - 300):.1f}\" y=\"{TOP + 12 + 13 * n}\" fill=\"{colour}\">"
                   f"{escape(mark.label)}</text></g>")
    out.append("</svg>")
    return "".join(out)


def _steps(chart: Chart, times: list[int], colour: str, kind: str) -> str:
    points = [(_x(chart, chart.start_ms), _y(chart, 0))]
    for n, at in enumerate(times, start=1):
        x = _x(chart, at)
        points += [(x, _y(chart, n - 1)), (x, _y(chart, n))]
    points.append((_x(chart, chart.end_ms), _y(chart, len(times))))
    width, faint = (3, ' stroke-opacity="0.35"') if kind == "counted" else (1.5, "")
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return (f"<polyline class=\"series {kind}\" points=\"{path}\" fill=\"none\" stroke=\"{colour}\" "
            f"stroke-width=\"{width}\"{faint}><title>{kind}: {len(times)}</title></polyline>")


def _axes(chart: Chart) -> list[str]:
    base = HEIGHT - BOTTOM
    out = [f"<line x1=\"{LEFT}\" x2=\"{WIDTH - RIGHT}\" y1=\"{base}\" y2=\"{base}\" stroke=\"#999\"/>",
           f"<line x1=\"{LEFT}\" x2=\"{LEFT}\" y1=\"{TOP}\" y2=\"{base}\" stroke=\"#999\"/>"]
    for n in range(5):
        at = chart.start_ms + (chart.end_ms - chart.start_ms) * n / 4
        out.append(f"<text x=\"{_x(chart, at):.1f}\" y=\"{base + 16}\" text-anchor=\"middle\">"
                   f"{iso(at)[11:19]}</text>")
    step = max(1, chart.peak // 5)
    for value in range(0, chart.peak + 1, step):
        out.append(f"<text x=\"{LEFT - 6}\" y=\"{_y(chart, value) + 4:.1f}\" text-anchor=\"end\">{value}</text>")
    out.append(f"<text x=\"{(LEFT + WIDTH - RIGHT) / 2}\" y=\"{HEIGHT - 8}\" text-anchor=\"middle\">event time (UTC, "
               f"{iso(chart.start_ms)[:10]})</text>")
    return out


def _legend() -> str:
    spans = "".join(f"<span style=\"color:{COLOURS[kind]}\">&#9632; {kind}</span>" for kind in SERIES)
    return (f"<p class=\"legend\">{spans}<span>&#9632; counted (all kinds)</span>"
            "<span style=\"color:#f0a500\">&#9632; the rest of the fleet disconnecting</span></p>")


def _table(chart: Chart) -> str:
    rows = "".join(
        f"<tr class=\"{'counted' if row.counted else 'discounted'}\"><td>{escape(row.thing)}</td>"
        f"<td>{escape(row.kind)}</td><td>{iso(row.at_ms)}</td><td>{'counted' if row.counted else 'discounted'}</td>"
        f"<td>{escape(row.why)}</td></tr>" for row in chart.rows)
    return ("<table class=\"casualties\"><thead><tr><th>thing</th><th>kind</th><th>time</th><th>counted</th>"
            f"<th>why</th></tr></thead><tbody>{rows}</tbody></table>")


def write(path: Any, charts: list[Chart], title: str, summary: list[str]) -> None:
    path.write_text(html(charts, title, summary), encoding="utf-8")
