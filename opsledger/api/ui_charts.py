"""The dashboard's charts as inline SVG drawn on the server: no JavaScript library, no CDN,
nothing to download — a page's charts arrive with its HTML and work offline and under a
strict Content-Security-Policy (only presentation attributes, no ``style`` attribute).

A chart is a series of ``(time, value)`` points (``None``: no data there, the line breaks),
an optional target drawn as a dashed red line, labelled axes (the value range, the first and
last time, UTC) and a ``<title>`` and ``aria-label`` that say what it shows. Every text that
goes into the SVG is escaped (:func:`markupsafe.escape`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

__all__ = ["SERIES", "TARGET", "Chart", "svg"]

#: The series colour (matplotlib's first, as the review's charts) and the target's (red).
SERIES = "#1f77b4"
TARGET = "#d62728"
WIDTH, HEIGHT = 560, 200
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 22, 30


@dataclass(frozen=True)
class Chart:
    """One chart: ``points`` over time, ``target`` (drawn dashed), the value axis from
    ``low`` to ``high`` (default: from the data and the target), ``unit`` after numbers."""

    title: str
    points: Sequence[tuple[datetime, float | None]]
    target: float | None = None
    unit: str = ""
    low: float | None = None
    high: float | None = None
    digits: int = 1


def _range(chart: Chart) -> tuple[float, float]:
    values = [v for _, v in chart.points if v is not None]
    if chart.target is not None:
        values.append(chart.target)
    low = chart.low if chart.low is not None else min(values, default=0.0)
    high = chart.high if chart.high is not None else max(values, default=1.0)
    if high <= low:
        high = low + 1.0
    return low, high


def _label(value: float, chart: Chart) -> str:
    return f"{value:,.{chart.digits}f}{chart.unit}"


def _runs(coords: Sequence[tuple[float, float] | None]) -> list[list[tuple[float, float]]]:
    """The polylines to draw: consecutive points with data."""
    runs: list[list[tuple[float, float]]] = [[]]
    for c in coords:
        if c is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(c)
    return [r for r in runs if r]


def svg(chart: Chart) -> Markup:
    """The chart as an ``<svg>`` element (responsive: it scales to its container)."""
    low, high = _range(chart)
    times = [t for t, _ in chart.points]
    first, last = (min(times), max(times)) if times else (None, None)
    span = (last - first).total_seconds() if first and last and last > first else 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: datetime) -> float:
        return LEFT + (((t - first).total_seconds() / span) if first else 0.0) * plot_w

    def y(v: float) -> float:
        return TOP + (1 - (min(max(v, low), high) - low) / (high - low)) * plot_h

    coords = [None if v is None else (x(t), y(v)) for t, v in chart.points]
    title = escape(chart.title)
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="{title}" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{title}</title>",
             f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fafbfc" '
             f'stroke="#8a93a3"/>',
             f'<text x="{LEFT}" y="14" font-size="12" fill="#1d2330">{title}</text>']
    for value, anchor_y in ((high, TOP + 4), (low, TOP + plot_h)):
        parts.append(f'<text x="{LEFT - 4}" y="{anchor_y:.1f}" font-size="10" '
                     f'text-anchor="end" fill="#5b6474">{escape(_label(value, chart))}</text>')
    if first is not None and last is not None:
        for moment, x_at, anchor in ((first, LEFT, "start"), (last, LEFT + plot_w, "end")):
            parts.append(f'<text x="{x_at}" y="{HEIGHT - 10}" font-size="10" '
                         f'text-anchor="{anchor}" fill="#5b6474">'
                         f'{moment:%Y-%m-%d %H:%M} UTC</text>')
    if chart.target is not None:
        ty = y(chart.target)
        parts.append(f'<line class="target" x1="{LEFT}" y1="{ty:.1f}" x2="{LEFT + plot_w}" '
                     f'y2="{ty:.1f}" stroke="{TARGET}" stroke-width="2" '
                     f'stroke-dasharray="6 4"/>')
        parts.append(f'<text x="{LEFT + plot_w - 2}" y="{ty - 4:.1f}" font-size="10" '
                     f'text-anchor="end" fill="{TARGET}">target '
                     f'{escape(_label(chart.target, chart))}</text>')
    for run in _runs(coords):
        if len(run) == 1:
            cx, cy = run[0]
            parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="2.5" fill="{SERIES}"/>')
        else:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in run)
            parts.append(f'<polyline class="series" points="{path}" fill="none" '
                         f'stroke="{SERIES}" stroke-width="2"/>')
    if not any(c is not None for c in coords):
        parts.append(f'<text x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" font-size="12" '
                     f'text-anchor="middle" fill="#5b6474">no data</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
