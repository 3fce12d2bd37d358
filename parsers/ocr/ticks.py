"""Tick boxes on a page's picture, read from the ink inside each box, not from what an OCR engine makes of it.

A box is a small square outline: a dark run along its top, a matching one along its bottom, and dark left and
right sides. What is inside it decides: next to no ink is an empty box; a tick, a cross, a scribble or a
filled square is a ticked one. A box whose ink is between the two is read by the nearer side, with a low
confidence, so the decision the rules make on it is the team's. Everything is measured on a page already
turned upright and deskewed, in its own pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

_SMALLEST: Final = 0.05
_LARGEST: Final = 0.28
"""A box's side, in inches: from a small printed box (about 4 points) to a generous hand-drawn one (20)."""

_SQUARE: Final = 0.25
"""How far from square (as a share of the side) a box's height may be."""

_SIDE_INK: Final = 0.85
"""The share of a side's length that must be dark for it to be a box's side (a scan breaks lines a little)."""

_CORNER_INK: Final = 0.6
"""A box has square corners: at least this share of each corner's few pixels is dark."""

_CROWDED: Final = 0.15
"""A box stands apart: at most this share of each side of a ring just outside it may be dark (a hand-drawn
tick may cross it)."""

_EMPTY: Final = 0.04
_TICKED: Final = 0.10
"""Ink inside the box, as a share of its inside: at most ``_EMPTY`` is empty, at least ``_TICKED`` is ticked."""

_SURE: Final = 0.99
_UNSURE: Final = 0.5


@dataclass(frozen=True)
class TickBox:
    """One box: where it is (pixels), whether it is ticked, how sure that reading is (0 to 1), and its ink."""

    x0: int
    top: int
    x1: int
    bottom: int
    ticked: bool
    confidence: float
    ink: float


def dark_pixels(grey: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """The page's ink: pixels darker than Otsu's threshold between paper and print."""
    histogram = np.bincount(grey.ravel(), minlength=256).astype(np.float64)
    total = histogram.sum()
    if total == 0:
        return np.zeros(grey.shape, dtype=bool)
    levels = np.arange(256, dtype=np.float64)
    weight = np.cumsum(histogram)
    mean = np.cumsum(histogram * levels)
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mean[-1] * weight / total - mean) ** 2 / (weight * (total - weight))
    threshold = int(np.nanargmax(between[:-1])) if np.isfinite(between[:-1]).any() else 128
    return grey <= threshold


def find_boxes(dark: npt.NDArray[np.bool_], dpi: float) -> list[TickBox]:
    """Every tick box on a page whose ink is ``dark`` (True where there is ink), top to bottom."""
    height, width = dark.shape
    smallest, largest = max(6, round(_SMALLEST * dpi)), round(_LARGEST * dpi)
    # A top edge is a dark run across two neighbouring rows, so that a line a pixel off level still counts.
    band = dark[:-1] | dark[1:]
    padded = np.zeros((band.shape[0], width + 2), dtype=np.int8)
    padded[:, 1:-1] = band
    steps = np.diff(padded, axis=1)
    starts = np.argwhere(steps == 1)
    ends = np.argwhere(steps == -1)
    lengths = ends[:, 1] - starts[:, 1]
    keep = (lengths >= smallest) & (lengths <= largest)
    ys, x0s, x1s = starts[keep][:, 0], starts[keep][:, 1], ends[keep][:, 1]
    # Most runs are strokes of letters: a box has ink down both sides, so look there first, all runs at once.
    for share in (0.3, 0.5, 0.7):
        rows = np.minimum(ys + ((x1s - x0s) * share).astype(np.intp), height - 1)
        left = dark[rows, x0s] | dark[rows, np.minimum(x0s + 2, width - 1)]
        right = dark[rows, x1s - 1] | dark[rows, np.maximum(x1s - 3, 0)]
        sided = left & right
        ys, x0s, x1s = ys[sided], x0s[sided], x1s[sided]
    boxes: list[TickBox] = []
    taken = np.zeros(dark.shape, dtype=bool)
    for y, x0, x1 in zip(ys, x0s, x1s, strict=True):
        if taken[y, (x0 + x1) // 2]:
            continue
        box = _box_at(dark, int(y), int(x0), int(x1))
        if box is not None:
            boxes.append(box)
            taken[box.top : box.bottom + 1, box.x0 : box.x1 + 1] = True
    return boxes


def _box_at(dark: npt.NDArray[np.bool_], top: int, x0: int, x1: int) -> TickBox | None:
    """The box whose top edge runs from ``x0`` to ``x1`` (exclusive) on row ``top``, if there is one."""
    side = x1 - x0
    slack = max(2, round(side * _SQUARE))
    best: int | None = None
    for bottom in range(top + side - slack, min(dark.shape[0] - 1, top + side + slack) + 1):
        if bottom <= top + 2:
            continue
        row = dark[bottom - 1 : bottom + 1, x0:x1].any(axis=0)
        if row.mean() >= _SIDE_INK:
            best = bottom
    if best is None:
        return None
    bottom = best
    # The edges were found through two-row bands: trim the rows and columns that only touch them.
    while bottom - top > 2 and dark[top, x0:x1].mean() < _SIDE_INK:
        top += 1
    while bottom - top > 2 and dark[bottom, x0:x1].mean() < _SIDE_INK:
        bottom -= 1
    while x1 - x0 > 2 and dark[top : bottom + 1, x0].mean() < _SIDE_INK:
        x0 += 1
    while x1 - x0 > 2 and dark[top : bottom + 1, x1 - 1].mean() < _SIDE_INK:
        x1 -= 1
    side = x1 - x0
    edge = max(1, side // 10)
    left = dark[top : bottom + 1, max(0, x0 - 1) : x0 + edge + 1].any(axis=1)
    right = dark[top : bottom + 1, x1 - edge - 1 : x1 + 1].any(axis=1)
    if left.mean() < _SIDE_INK or right.mean() < _SIDE_INK:
        return None
    corner = max(3, edge + 1)
    corners = (
        dark[top : top + corner, x0 : x0 + corner],
        dark[top : top + corner, x1 - corner : x1],
        dark[bottom - corner + 1 : bottom + 1, x0 : x0 + corner],
        dark[bottom - corner + 1 : bottom + 1, x1 - corner : x1],
    )
    if min(float(c.mean()) for c in corners) < _CORNER_INK:
        return None  # rounded: an o, an e, a b, not a box's square corner
    if _beside(dark, top, x0, x1 - 1, bottom, edge) > _CROWDED:
        return None  # a curve trimmed square (a bold o), whose ink goes on just past the "edges"
    if _surroundings(dark, top, x0, x1 - 1, bottom) > _CROWDED:
        return None  # part of a letter, a word or a table's lines, not a box standing on its own
    inset = max(2, round(side * 0.18))
    inside = dark[top + inset : bottom - inset + 1, x0 + inset : x1 - inset]
    if inside.size == 0:
        return None
    ink = float(inside.mean())
    if ink <= _EMPTY:
        ticked, confidence = False, _SURE
    elif ink >= _TICKED:
        ticked, confidence = True, _SURE
    else:
        ticked, confidence = ink >= (_EMPTY + _TICKED) / 2, _UNSURE
    return TickBox(x0, top, x1 - 1, bottom, ticked, confidence, ink)


def _beside(dark: npt.NDArray[np.bool_], top: int, x0: int, x1: int, bottom: int, edge: int) -> float:
    """The darkest of the four lines two pixels outside the box's edges, along the edges' middle."""
    gap = 2
    height, width = dark.shape
    if top - gap < 0 or x0 - gap < 0 or bottom + gap >= height or x1 + gap >= width:
        return 1.0
    inner = slice(x0 + edge + 1, x1 - edge), slice(top + edge + 1, bottom - edge)
    sides = (
        dark[top - gap, inner[0]],
        dark[bottom + gap, inner[0]],
        dark[inner[1], x0 - gap],
        dark[inner[1], x1 + gap],
    )
    return max((float(side.mean()) for side in sides if side.size), default=1.0)


def _surroundings(dark: npt.NDArray[np.bool_], top: int, x0: int, x1: int, bottom: int) -> float:
    """The darkest side of a ring a few pixels outside the box, as a share of its pixels: a box's ring is
    clear all round, a letter's (the bowl of an R, a D's curve) is crossed by the rest of the letter."""
    gap = max(3, (x1 - x0) // 5)
    height, width = dark.shape
    t, b, left, right = top - gap, bottom + gap, x0 - gap, x1 + gap
    if t < 0 or left < 0 or b >= height or right >= width:
        return 1.0
    sides = (dark[t, left : right + 1], dark[b, left : right + 1], dark[t : b + 1, left], dark[t : b + 1, right])
    return max(float(side.mean()) for side in sides)
