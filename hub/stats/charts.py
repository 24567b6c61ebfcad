"""Server-rendered SVG charts: the geometry is computed here, the markup is drawn by
``templates/stats/_chart.html`` (autoescaped like every template, so no label can inject markup).

Each chart carries its own title and description (``<title>``/``<desc>``, named by
``aria-labelledby``) and the table of its numbers, which the page shows under the drawing: a
screen reader or a text browser reads the table, a sighted reader reads the drawing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH = 640
HEIGHT = 200
LEFT = 48  # room for the y-axis labels
BOTTOM = 24  # room for the x-axis labels
TOP = 10
RIGHT = 10


@dataclass(frozen=True)
class Line:
    name: str
    series: int  # colour index: css class ``s{series}``
    points: str  # the polyline's "x,y x,y ..."


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int
    label: str  # a tooltip: "2026-12-01 · succeeded: 4"


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Chart:
    chart_id: str
    title: str
    desc: str
    legend: list[str]
    lines: list[Line] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    table_head: list[str] = field(default_factory=list)
    table_rows: list[list[str]] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT


def _nice_max(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value`` (at least 1)."""
    if value <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop ends at 10 * power >= value


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _y_ticks(top: float) -> list[Tick]:
    plot = HEIGHT - TOP - BOTTOM
    return [Tick(TOP + plot - plot * i / 4, _fmt(top * i / 4)) for i in range(5)]


def _x_ticks(days: Sequence[str], x_of: list[float]) -> list[Tick]:
    step = max(1, math.ceil(len(days) / 6))
    return [Tick(x_of[i], days[i][5:]) for i in range(0, len(days), step)]


def _table(days: Sequence[str], columns: Sequence[Sequence[float | None]]) -> list[list[str]]:
    rows = []
    for i, day in enumerate(days):
        cells = [_fmt(value) if (value := column[i]) is not None else "-" for column in columns]
        rows.append([day, *cells])
    return rows


def line_chart(
    chart_id: str,
    title: str,
    desc: str,
    days: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
) -> Chart:
    """One polyline per series over the days; a missing value (None) breaks the line."""
    values = [v for _, points in series for v in points if v is not None]
    top = _nice_max(max(values, default=0.0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    x_of = [LEFT + (plot_w * i / max(1, len(days) - 1)) for i in range(len(days))]
    lines = []
    for index, (name, points) in enumerate(series):
        coords = " ".join(
            f"{x_of[i]:.1f},{TOP + plot_h - plot_h * v / top:.1f}"
            for i, v in enumerate(points)
            if v is not None
        )
        lines.append(Line(name=name, series=index, points=coords))
    return Chart(
        chart_id=chart_id,
        title=title,
        desc=desc,
        legend=[name for name, _ in series],
        lines=lines,
        y_ticks=_y_ticks(top),
        x_ticks=_x_ticks(days, x_of),
        table_head=["Day", *(name for name, _ in series)],
        table_rows=_table(days, [p for _, p in series]),
    )


def stacked_bars(
    chart_id: str,
    title: str,
    desc: str,
    days: Sequence[str],
    series: Sequence[tuple[str, Sequence[int]]],
) -> Chart:
    """One bar per day, stacked by series (jobs by state)."""
    totals = [sum(points[i] for _, points in series) for i in range(len(days))]
    top = _nice_max(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(days))
    width = max(1.0, slot * 0.8)
    bars = []
    for i, day in enumerate(days):
        base = 0
        for index, (name, points) in enumerate(series):
            if points[i]:
                height = plot_h * points[i] / top
                y = TOP + plot_h - plot_h * base / top - height
                label = f"{day} · {name}: {points[i]}"
                bars.append(Bar(LEFT + slot * i + slot * 0.1, y, width, height, index, label))
                base += points[i]
    x_of = [LEFT + slot * i + slot / 2 for i in range(len(days))]
    return Chart(
        chart_id=chart_id,
        title=title,
        desc=desc,
        legend=[name for name, _ in series],
        bars=bars,
        y_ticks=_y_ticks(top),
        x_ticks=_x_ticks(days, x_of),
        table_head=["Day", *(name for name, _ in series)],
        table_rows=_table(days, [p for _, p in series]),
    )


def category_bars(chart_id: str, title: str, desc: str, items: Sequence[tuple[str, int]]) -> Chart:
    """One horizontal bar per category (jobs by provider)."""
    top = _nice_max(max((count for _, count in items), default=0))
    height = max(HEIGHT // 2, 28 * len(items) + TOP + BOTTOM)
    plot_w = WIDTH - LEFT * 3 - RIGHT
    bars = [
        Bar(LEFT * 3, TOP + 28 * i, plot_w * count / top, 20, 0, f"{name}: {count}")
        for i, (name, count) in enumerate(items)
    ]
    return Chart(
        chart_id=chart_id,
        title=title,
        desc=desc,
        legend=[],
        bars=bars,
        y_ticks=[Tick(TOP + 28 * i + 14, name) for i, (name, _) in enumerate(items)],
        table_head=["Provider", "Jobs"],
        table_rows=[[name, str(count)] for name, count in items],
        height=height,
    )
