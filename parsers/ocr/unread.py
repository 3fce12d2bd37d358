"""Ink the page's reading left out: the characters standing on their own that Tesseract's layout drops.

A MIAT score row printed ``0 ☐   1 ☒   2 ☐`` comes back from the page's reading as its boxes alone, and a
score of ``9`` alone in its table cell as nothing: the engine takes a lone character, far from any other
text, for a speck or a rule. So the ink that no word or box accounts for (less a table's rules) is gathered
into marks, a mark of about a character's height is cut out, the cuts are set side by side on one line, and
that line is read once: far cheaper than a second look at the page, and the engine reads a lone character
well when it stands in a line of others.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image

from parsers.ocr.engine import Word
from parsers.ocr.ticks import TickBox

Read = Callable[[Image.Image], list[Word]]
"""The engine's reading of a picture: its words, in the picture's pixels."""

_RULE: Final = 3.0
"""A straight run of ink longer than this many text heights is a table's rule or an underline, not print."""

_SHORTEST: Final = 0.5
_TALLEST: Final = 2.0
_WIDEST: Final = 8.0
"""A mark worth reading is from half to twice the text's height, and at most this many heights wide."""

_INK: Final = 0.08
"""... and holds at least this share of a text height squared in ink (a 1 does; a speck of noise does not)."""

_MAX_MARKS: Final = 200
"""A page with more unread marks than this is noise or a picture, not a form's lone characters."""


@dataclass(frozen=True)
class _Mark:
    x0: int
    top: int
    x1: int
    bottom: int


def unread_words(
    read: Read, dark: npt.NDArray[np.bool_], words: Sequence[Word], boxes: Sequence[TickBox]
) -> list[Word]:
    """The words the page's reading (``words``, and the tick ``boxes``) left out, read from the page's ink
    (``dark``, True where there is ink), in the page's pixels."""
    heights = [w.bottom - w.top for w in words if any(c.isalnum() for c in w.text) and w.bottom > w.top]
    if not heights:
        return []
    height = float(statistics.median(heights))
    unread = _without_rules(dark, round(_RULE * height))
    for word in words:
        unread[max(0, int(word.top) - 2) : int(word.bottom) + 3, max(0, int(word.x0) - 2) : int(word.x1) + 3] = False
    for box in boxes:
        unread[max(0, box.top - 3) : box.bottom + 4, max(0, box.x0 - 3) : box.x1 + 4] = False
    marks = [
        m
        for m in (_fitted(unread, m, height) for m in _marks(unread, height))
        if m is not None and not _beside_words(m, words, height)
    ]
    if not marks or len(marks) > _MAX_MARKS:
        return []
    return _read_marks(read, unread, marks, round(height))


def _without_rules(dark: npt.NDArray[np.bool_], longest: int) -> npt.NDArray[np.bool_]:
    """``dark`` less its horizontal and vertical runs longer than ``longest`` pixels. A run is measured
    across two neighbouring rows (columns), as a rule a little off level steps from one row to the next, and
    cleared from both: what is left of a rule must not join the characters near it into one mark."""
    clean = dark.copy()
    for view in (clean, clean.T):
        band = view[:-1] | view[1:]
        padded = np.zeros((band.shape[0], band.shape[1] + 2), dtype=np.int8)
        padded[:, 1:-1] = band
        steps = np.diff(padded, axis=1)
        starts, ends = np.argwhere(steps == 1), np.argwhere(steps == -1)
        long = (ends[:, 1] - starts[:, 1]) > longest
        for row, start, end in zip(starts[long, 0], starts[long, 1], ends[long, 1], strict=True):
            view[row : row + 2, start:end] = False
    return clean


def _marks(unread: npt.NDArray[np.bool_], height: float) -> list[_Mark]:
    """The groups of ``unread`` ink, joined across gaps smaller than a third of the text's height (the
    strokes of one character, the characters of one short word)."""
    block = max(2, round(height / 3))
    rows, columns = -(-unread.shape[0] // block), -(-unread.shape[1] // block)
    padded = np.zeros((rows * block, columns * block), dtype=bool)
    padded[: unread.shape[0], : unread.shape[1]] = unread
    grid: list[list[bool]] = np.asarray(padded.reshape(rows, block, columns, block).any(axis=(1, 3))).tolist()
    seen: set[tuple[int, int]] = set()
    marks: list[_Mark] = []
    for first in ((r, c) for r in range(rows) for c in range(columns) if grid[r][c]):
        if first in seen:
            continue
        seen.add(first)
        stack, cells = [first], []
        while stack:
            r, c = stack.pop()
            cells.append((r, c))
            for near in ((r + dr, c + dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1)):
                if 0 <= near[0] < rows and 0 <= near[1] < columns and grid[near[0]][near[1]] and near not in seen:
                    seen.add(near)
                    stack.append(near)
        r0, r1 = min(r for r, _ in cells), max(r for r, _ in cells)
        c0, c1 = min(c for _, c in cells), max(c for _, c in cells)
        marks.append(_Mark(c0 * block, r0 * block, (c1 + 1) * block, (r1 + 1) * block))
    return marks


def _fitted(unread: npt.NDArray[np.bool_], mark: _Mark, height: float) -> _Mark | None:
    """``mark`` shrunk to its ink, if it is worth reading: about a character's height, a short word's width
    at most, and more ink than a speck of noise."""
    ink = unread[mark.top : mark.bottom, mark.x0 : mark.x1]
    rows, columns = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        return None
    tall, wide = rows[-1] - rows[0] + 1, columns[-1] - columns[0] + 1
    if not (_SHORTEST * height <= tall <= _TALLEST * height and wide <= _WIDEST * height):
        return None
    if int(ink.sum()) < _INK * height**2:
        return None
    return _Mark(
        mark.x0 + int(columns[0]), mark.top + int(rows[0]), mark.x0 + int(columns[-1]) + 1, mark.top + int(rows[-1]) + 1
    )


def _beside_words(mark: _Mark, words: Sequence[Word], height: float) -> bool:
    """Whether a word stands on ``mark``'s line within a text height of it: then the mark is a piece of
    that word the engine left outside its box (an i's dot, a stroke), not a character on its own."""
    return any(
        w.x0 - height < mark.x1 and mark.x0 < w.x1 + height and w.top < mark.bottom and mark.top < w.bottom
        for w in words
    )


def _read_marks(read: Read, unread: npt.NDArray[np.bool_], marks: list[_Mark], height: int) -> list[Word]:
    """The marks' ink, black on white (the grey edges of a rule or a painted-out box would have the engine
    drop them again), set side by side on one line two text heights apart, their bottoms level (most
    characters stand on the baseline), read at once. Side by side, not stacked: a column of lone digits is
    what the engine takes for a table."""
    gap = 2 * height
    tallest = max(m.bottom - m.top for m in marks)
    line_height = tallest + 2 * height
    # The engine finds a lone character on a line of its own and then cannot read it; a copy beside it makes
    # a line it reads. The copy has no place on the page, so what is read of it is dropped.
    drawn = marks if len(marks) > 1 else marks * 2
    width = sum(m.x1 - m.x0 + gap for m in drawn) + gap
    line = np.full((line_height, width), 255, dtype=np.uint8)
    places: list[tuple[int, int, _Mark]] = []
    x = gap
    for mark in drawn:
        ink = unread[mark.top : mark.bottom, mark.x0 : mark.x1]
        y = height + tallest - ink.shape[0]
        line[y : y + ink.shape[0], x : x + ink.shape[1]][ink] = 0
        if len(places) < len(marks):
            places.append((x, y, mark))
        x += ink.shape[1] + gap
    try:
        words = read(Image.fromarray(line))
    except RuntimeError:
        return []  # tesserocr's iterator can raise on a word it found and then could not read: nothing added
    found: list[Word] = []
    for word in words:
        middle = (word.x0 + word.x1) / 2
        for start, y, mark in places:
            if start <= middle < start + mark.x1 - mark.x0 and any(c.isalnum() for c in word.text):
                dx, dy = mark.x0 - start, mark.top - y
                found.append(
                    replace(
                        word,
                        x0=word.x0 + dx,
                        x1=word.x1 + dx,
                        top=word.top + dy,
                        bottom=word.bottom + dy,
                        baseline=word.baseline + dy,
                    )
                )
                break
    return found
