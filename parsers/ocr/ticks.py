"""Tick boxes on a page's picture, read from the ink inside each box, not from what an OCR engine makes of it.

A box is a small square outline standing apart: a dark run along its top, a matching one along its bottom,
dark left and right sides, square corners, and a clear band around it, which a letter's bowl (an a, a d) does
not have: the rest of the letter runs through it. What is inside it decides, measured in the outline's own
strokes so that it means the same at any resolution: next to no ink is an empty box; a tick, a cross, a
scribble or a filled square is a ticked one. The confidence is the margin between the ink and the threshold,
so a box with a pen's slip in it is read by the nearer side but left to the team. Everything is measured on a
page already turned upright and deskewed, in its own pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

_SMALLEST: Final = 0.07
_LARGEST: Final = 0.28
"""A box's side, in inches: from a small printed box (about 5 points, larger than the bowl of a 10-point a
or d) to a generous hand-drawn one (20)."""

_SQUARE: Final = 0.2
"""How far from square (as a share of the side) a box may be."""

_SIDE_INK: Final = 0.85
"""The share of a side's length that must be dark for it to be a box's side (a scan breaks lines a little)."""

_CORNER_INK: Final = 0.75
"""A box has square corners: at least this share of each corner's few pixels is dark (an o's are empty)."""

_CLEAR: Final = 0.3
"""A box stands apart: at most this share of the length of each side may have ink in the band just outside
it (a hand-drawn tick may cross it). Letters stand closer together than a space, so the bowl of an a, whose
arch runs above it, or the counter of an e, fail here."""

_STROKE: Final = 0.2
"""A box's outline is thin beside its side: a stroke thicker than this share of the side is a blot or a
letter's heavy stem, unless the box is filled in."""

_EMPTY: Final = 0.25
_TICKED: Final = 0.6
"""Ink inside the box, in strokes: the dark pixels inside over (the outline's stroke width x the inside's
side), so that it means the same at any resolution and any pen. An empty box holds at most a speck of noise
(``_EMPTY``); a tick is one stroke across it or more, a cross about three, a filled box its whole side. Between
the two the box is read by the nearer side with a confidence below the service's threshold."""

_SURE: Final = 0.99
_DOUBT: Final = 0.5
"""The confidence of a box read on the threshold itself; it rises to ``_SURE`` at ``_EMPTY`` and ``_TICKED``."""


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
        box = _box_at(dark, int(y), int(x0), int(x1), smallest)
        if box is not None:
            boxes.append(box)
            taken[box.top : box.bottom + 1, box.x0 : box.x1 + 1] = True
    return boxes


def _box_at(dark: npt.NDArray[np.bool_], top: int, x0: int, x1: int, smallest: int) -> TickBox | None:
    """The box whose top edge runs from ``x0`` to ``x1`` (exclusive) on row ``top``, if there is one."""
    bottom = _bottom(dark, top, x0, x1)
    if bottom is None:
        return None
    # The edges were found through two-row bands: trim the rows and columns that only touch them.
    while bottom - top > 2 and dark[top, x0:x1].mean() < _SIDE_INK:
        top += 1
    while bottom - top > 2 and dark[bottom, x0:x1].mean() < _SIDE_INK:
        bottom -= 1
    while x1 - x0 > 2 and dark[top : bottom + 1, x0].mean() < _SIDE_INK:
        x0 += 1
    while x1 - x0 > 2 and dark[top : bottom + 1, x1 - 1].mean() < _SIDE_INK:
        x1 -= 1
    width, height = x1 - x0, bottom + 1 - top
    if min(width, height) < smallest or abs(width - height) > max(2, _SQUARE * max(width, height)):
        return None  # what was left after trimming is a letter's bowl, not a square
    box = dark[top : bottom + 1, x0:x1]
    side = min(width, height)
    depths = _depths(box)
    stroke = float(np.median(depths))
    filled = stroke > _STROKE * side
    if filled and box.mean() < 0.9:
        return None  # a blot or a heavy letter, neither outlined nor filled in
    if not _outlined(box, round(stroke)):
        return None
    if _crowded(dark, top, x0, x1, bottom):
        return None  # part of a letter, a word or a table's lines, not a box standing on its own
    if filled:
        ink = float(side)
    else:
        # Inside the outline, clear of its blur: each edge's own depth and a pixel more, at least an eighth.
        least = max(2, round(side / 8))
        t, b, left, right = (max(least, round(depth) + 1) for depth in depths)
        inside = box[t : height - b, left : width - right]
        if inside.size == 0:
            return None
        # A speck of noise or a stroke one pixel wide would weigh too much against an outline drawn that thin.
        ink = float(inside.sum()) / (max(stroke, side / 16) * (inside.shape[0] + inside.shape[1]) / 2)
    ticked, confidence = read_ink(ink)
    return TickBox(x0, top, x1 - 1, bottom, ticked, confidence, round(ink, 3))


def read_ink(ink: float) -> tuple[bool, float]:
    """Whether a box holding ``ink`` (in strokes) is ticked, and how sure that is: the margin between its ink
    and the threshold halfway from empty to ticked, as a share of the way to either, from 0.5 on the
    threshold to ``_SURE`` at ``_EMPTY`` or ``_TICKED`` and beyond."""
    threshold = (_EMPTY + _TICKED) / 2
    margin = min(1.0, abs(ink - threshold) / (threshold - _EMPTY))
    return ink >= threshold, round(_DOUBT + (_SURE - _DOUBT) * margin, 3)


def _bottom(dark: npt.NDArray[np.bool_], top: int, x0: int, x1: int) -> int | None:
    """The row of the bottom edge under a top edge from ``x0`` to ``x1``: the last row, of the run of inked
    rows nearest a square's bottom, in which that span is dark (through two-row bands, as for the top)."""
    side = x1 - x0
    slack = max(2, round(side * _SQUARE))
    first, last = max(top + 3, top + side - slack), min(dark.shape[0] - 1, top + side + slack)
    if last < first:
        return None
    rows = dark[first - 1 : last + 1, x0:x1]
    cover = (rows[:-1] | rows[1:]).mean(axis=1)
    inked = np.flatnonzero(cover >= _SIDE_INK)
    if inked.size == 0:
        return None
    nearest = int(inked[np.argmin(np.abs(inked + first - top - side))])
    while nearest + 1 in inked:
        nearest += 1
    return first + nearest


def _depths(box: npt.NDArray[np.bool_]) -> tuple[float, float, float, float]:
    """How thick the outline is at the top, bottom, left and right: the median depth of ink in from the
    middle half of each edge (a cross or a tick inside reaches the edges only near the corners)."""
    depths = []
    for edge in (box, box[::-1], box.T, box[:, ::-1].T):
        rows, columns = edge.shape
        middle = edge[: rows // 2, columns // 4 : columns - columns // 4]
        depth = np.where(middle.all(axis=0), rows // 2, np.argmin(middle, axis=0))
        depths.append(max(1.0, float(np.median(depth))))
    return depths[0], depths[1], depths[2], depths[3]


def _outlined(box: npt.NDArray[np.bool_], stroke: int) -> bool:
    """Whether ``box`` has ink along the whole of each of its four edges and in each of its square corners."""
    band = max(2, stroke + 1)
    edges = (box[:band].any(axis=0), box[-band:].any(axis=0), box[:, :band].any(axis=1), box[:, -band:].any(axis=1))
    if min(float(edge.mean()) for edge in edges) < _SIDE_INK:
        return False
    # Each corner's few pixels, or those a pixel further in (an edge's blurred last row can pass for it).
    k = max(2, stroke)
    turned = (box, box[:, ::-1], box[::-1], box[::-1, ::-1])
    return all(
        max(float(corner[dy : dy + k, dx : dx + k].mean()) for dy in (0, 1) for dx in (0, 1)) >= _CORNER_INK
        for corner in turned
    )


def _crowded(dark: npt.NDArray[np.bool_], top: int, x0: int, x1: int, bottom: int) -> bool:
    """Whether more than ``_CLEAR`` of any side of the band just outside the box (two pixels out, past the
    edge's blur, to a quarter of the side) has ink: the rest of a letter, or a word set tight against it."""
    reach = max(4, (x1 - x0) // 4)
    bands = (
        dark[max(0, top - reach) : max(0, top - 1), x0:x1].any(axis=0),
        dark[bottom + 2 : bottom + reach + 1, x0:x1].any(axis=0),
        dark[top : bottom + 1, max(0, x0 - reach) : max(0, x0 - 1)].any(axis=1),
        dark[top : bottom + 1, x1 + 1 : x1 + reach].any(axis=1),
    )
    return max((float(band.mean()) for band in bands if band.size), default=0.0) > _CLEAR
