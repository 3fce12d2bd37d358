"""Bar charts drawn on the server as plain SVG: no JavaScript, and no inline style for the Content-Security-Policy
to refuse (SVG's own attributes place and colour everything).

A chart is decoration for sighted readers: the template marks it as one image with a one-line description and
puts the same figures in a table right below it, which is what screen readers and the CSV use.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

WIDTH, HEIGHT = 720, 300
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 44
"""The plot area's margins: room for the value axis on the left and the category labels below."""

COLOURS: Mapping[str, str] = {
    "blue": "#005eb8",
    "green": "#007f3b",
    "yellow": "#ffb81c",
    "red": "#d5281b",
    "purple": "#330072",
    "grey": "#768692",
    "dark-blue": "#003087",
}
"""NHS.UK's palette; each contrasts at least 3:1 with the white page, as WCAG 1.4.11 asks of graphics, except
yellow, which always sits beside a darker neighbour and is named in the legend and the table."""


@dataclass(frozen=True)
class Series:
    """One kind of bar: its name in the legend and its colour."""

    name: str
    colour: str


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Chart:
    """Everything the template draws: bars, the category labels, the value axis' ticks and the legend."""

    width: int
    height: int
    bars: tuple[Bar, ...]
    categories: tuple[Label, ...]
    ticks: tuple[Label, ...]
    legend: tuple[Series, ...]
    baseline: float


def bar_chart(
    categories: Sequence[str], series: Sequence[Series], values: Sequence[Sequence[float]], *, stacked: bool
) -> Chart:
    """Bars for each of ``categories``: ``values[i][j]`` is series ``j`` in category ``i``, stacked on one
    another or side by side."""
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    totals = [sum(row) if stacked else max(row, default=0) for row in values]
    top = nice_ceiling(max(totals, default=0))
    scale = plot_height / top
    slot = plot_width / max(len(categories), 1)
    bar_width = slot * 0.7 / (1 if stacked else max(len(series), 1))
    baseline = TOP + plot_height
    bars = []
    for i, row in enumerate(values):
        left = LEFT + i * slot + slot * 0.15
        stacked_height = 0.0
        for j, value in enumerate(row):
            height = value * scale
            if height <= 0:
                continue
            if stacked:
                bars.append(Bar(left, baseline - stacked_height - height, bar_width, height, series[j].colour))
                stacked_height += height
            else:
                bars.append(Bar(left + j * bar_width, baseline - height, bar_width, height, series[j].colour))
    labels = tuple(Label(LEFT + (i + 0.5) * slot, baseline + 18, text) for i, text in enumerate(categories))
    ticks = tuple(Label(LEFT - 6, baseline - value * scale + 4, _number(value)) for value in _ticks(top))
    return Chart(WIDTH, HEIGHT, tuple(bars), labels, ticks, tuple(series), baseline)


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5, 10, 20, 50… (at least 1) that is at least ``value``: the value axis' top."""
    if value <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return float(step * magnitude)
    return float(10 * magnitude)  # pragma: no cover - the loop always returns


def _ticks(top: float) -> list[float]:
    """Whole-number steps up to ``top`` (one of 1, 2, 5, 10, 20…): every unit up to 5, else fifths or quarters."""
    if top <= 5:
        return [float(n) for n in range(int(top) + 1)]
    parts = 4 if f"{top:g}".startswith("2") else 5
    return [top * n / parts for n in range(parts + 1)]


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.1f}"
