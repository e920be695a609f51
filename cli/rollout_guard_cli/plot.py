"""`replay --plot FILE.png`: the report's charts as one image for a ticket or a chat (matplotlib, drawn off screen),
one panel per job or deployment, stacked: the same series, threshold, outage minutes and marks as the HTML."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .report import COLOURS, MARKS
from .report_data import SERIES, Chart

PANEL_HEIGHT_IN, WIDTH_IN, DPI = 3.0, 10.0, 100


def write(path: Path, charts: list[Chart], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no screen: the image only
    from matplotlib import dates
    from matplotlib import pyplot as plt

    panels = max(1, len(charts))
    figure, axes = plt.subplots(panels, 1, figsize=(WIDTH_IN, PANEL_HEIGHT_IN * panels), squeeze=False)
    figure.suptitle(title)
    for axis, chart in zip(axes[:, 0], charts, strict=False):
        _panel(axis, chart)
        axis.xaxis.set_major_formatter(dates.DateFormatter("%H:%M:%S", tz=timezone.utc))
    if not charts:
        axes[0, 0].text(0.5, 0.5, "No job had a casualty.", ha="center", va="center")
        axes[0, 0].set_axis_off()
    figure.tight_layout()
    figure.savefig(path, dpi=DPI, format="png", metadata={"Software": None})  # the same data, the same bytes
    plt.close(figure)


def _time(at_ms: float) -> datetime:
    return datetime.fromtimestamp(at_ms / 1000, tz=timezone.utc)


def _panel(axis: Any, chart: Chart) -> None:
    for minute, share, _ in chart.outage:
        axis.axvspan(_time(minute), _time(minute + 60_000), color="#f0a500", alpha=min(0.6, 0.1 + share), lw=0)
    total = sorted(at for times in chart.series.values() for at in times)
    for kind, times in [*((kind, chart.series[kind]) for kind in SERIES), ("counted", total)]:
        if times:
            xs = [_time(chart.start_ms), *(_time(at) for at in times), _time(chart.end_ms)]
            ys = [0, *range(1, len(times) + 1), len(times)]
            axis.step(xs, ys, where="post", color=COLOURS.get(kind, "#444444"), label=kind,
                      lw=3 if kind == "counted" else 1.5, alpha=0.35 if kind == "counted" else 1.0)
    if chart.threshold is not None:
        axis.axhline(chart.threshold, color="#555555", ls="--", lw=1, label=chart.threshold_label)
    for mark in chart.marks:
        colour, dash = MARKS[mark.kind]
        axis.axvline(_time(mark.at_ms), color=colour, lw=2, ls="--" if dash else "-", label=mark.label)
    axis.set_title(f"{chart.subject} (rule {chart.rule})", fontsize=10)
    axis.set_ylabel("casualties")
    axis.set_ylim(0, chart.peak * 1.15)
    axis.yaxis.get_major_locator().set_params(integer=True)
    axis.legend(fontsize=7, loc="center right", framealpha=0.85)
