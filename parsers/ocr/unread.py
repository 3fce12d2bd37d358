"""Ink the page's reading passed over, read again: one pass after the page's words and tick boxes.

Tesseract's page reading drops what stands on its own: a MIAT score's ``0 ☐   1 ☒   2 ☐`` comes back as its
boxes alone, a total of ``9`` alone in its table cell as nothing (the engine takes a lone character, far from
any other text, for a speck or a rule), and now and then a faint or handwritten value. So the page's ink is
taken once, less its ruled lines and less what was read already (words and tick boxes), and what is left is
read in two ways, cheapest first:

- marks of about a character's height, away from any word, are cut out, set side by side on one line and read
  at once: the engine reads a lone character well when it stands in a line of others;
- any patch of ink still unread after that (a value of a few words, a mark the line could not read) is read
  on its own as one line of text, from the page's grey with its rules and read text painted out.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt
from PIL import Image

from parsers.ocr.engine import Word
from parsers.ocr.ticks import TickBox, dark_pixels


class Reader(Protocol):
    """The engine's readings of a picture, in the picture's pixels (parsers/ocr/engine.py)."""

    def words(self, image: Image.Image) -> list[Word]: ...

    def line(self, image: Image.Image) -> list[Word]: ...


_RULE: Final = 0.18
"""Inches: a dark run longer than this, across or down, is a ruled line (a table's, even one row of it), not
writing (a 10-point l is 0.14 inch tall)."""

_FAINT: Final = 200
"""Grey levels below this may be a ruled line's pixels, however faint."""

_BESIDE: Final = 0.06
"""Inches: ink this close to the side of a word read is taken to be part of it (a letter's tail, a photo's
bent rule), not a word of its own."""

# Lone marks, read side by side on one line.

_SHORTEST: Final = 0.5
_TALLEST_MARK: Final = 2.0
_WIDEST: Final = 8.0
"""A lone mark is from half to twice the text's height, and at most this many heights wide."""

_INK: Final = 0.08
"""... and holds at least this share of a text height squared in ink (a 1 does; a speck of noise does not)."""

_MAX_MARKS: Final = 200
"""A page with more lone marks than this is noise or a picture, not a form's lone characters."""

# Patches, read one at a time.

_TEXT_HEIGHT: Final = (0.04, 0.4)
"""Inches: how tall a patch of unread ink may be to be a line's worth of writing, and not a speck or a blot."""

_LEAST_INK: Final = 0.0006
"""Square inches of ink, at the least, in a patch worth a look (a 9-point 1 has about 0.001)."""

_SAME_PATCH: Final = 0.12
"""Inches: ink closer than this across a line is one patch (the gap between words is less)."""

_TALLEST: Final = 2.0
"""A patch's word standing more than this many times as high above its baseline as the page's usual word is
a table's corner or a bracket of lines, not writing."""

_WORTH_KEEPING: Final = 0.3
"""What a patch reads less surely than this is taken for no writing at all (a photo's bent ruled line reads
as "[paar" at 0.02)."""

_MOST_PATCHES: Final = 40
"""Patches a page has read at most: each costs a few hundredths of a second."""


@dataclass(frozen=True)
class _Mark:
    x0: int
    top: int
    x1: int
    bottom: int


def unread_words(
    reader: Reader, image: Image.Image, words: Sequence[Word], boxes: Sequence[TickBox], dpi: float
) -> list[Word]:
    """The words the page's reading (``words``, and the tick ``boxes``) passed over on ``image`` (grey, at
    ``dpi``), in its pixels."""
    page = np.array(image, dtype=np.uint8)
    ruled = _ruled(page < _FAINT, max(8, round(_RULE * dpi)))
    ink = dark_pixels(page)
    ink &= ~ruled
    page[ruled] = 255
    del ruled
    _take(ink, page, words, boxes, round(_BESIDE * dpi))
    heights = [w.bottom - w.top for w in words if any(c.isalnum() for c in w.text) and w.bottom > w.top]
    found = _lone_marks(reader, ink, words, float(statistics.median(heights))) if heights else []
    _take(ink, page, found, (), round(_BESIDE * dpi))
    return found + _patches(reader, ink, page, [*words, *found], dpi)


def _take(
    ink: npt.NDArray[np.bool_],
    page: npt.NDArray[np.uint8],
    words: Sequence[Word],
    boxes: Sequence[TickBox],
    beside: int,
) -> None:
    """Takes what ``words`` and ``boxes`` cover out of ``ink`` and paints it out of ``page``. A tick box's
    option stands close to its box, so a box takes only its own ink."""
    for x0, top, x1, bottom, reach in [(w.x0, w.top, w.x1, w.bottom, beside) for w in words] + [
        (b.x0, b.top, b.x1, b.bottom, 3) for b in boxes
    ]:
        taken = slice(max(0, int(top) - 3), int(bottom) + 4), slice(max(0, int(x0) - reach), int(x1) + reach + 1)
        ink[taken] = False
        page[taken] = 255


def _ruled(ink: npt.NDArray[np.bool_], length: int) -> npt.NDArray[np.bool_]:
    """The pixels of ``ink`` on a straight dark run of at least ``length``, down or across. Found on every
    pixel short of white: a thin ruled line scanned grey breaks up at the ink's threshold."""
    ruled = np.zeros_like(ink)
    for column, start, end in _long_runs(ink.T, length):
        ruled[start:end, column] = True
    for row, start, end in _long_runs(ink, length):
        ruled[row, start:end] = True
    return ruled


def _long_runs(ink: npt.NDArray[np.bool_], length: int) -> list[tuple[int, int, int]]:
    """Each dark run along the rows of ``ink`` at least ``length`` long, as (row, start, end)."""
    padded = np.zeros((ink.shape[0], ink.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = ink
    edges = np.diff(padded, axis=1)
    del padded
    starts, ends = np.argwhere(edges == 1), np.argwhere(edges == -1)
    long = ends[:, 1] - starts[:, 1] >= length
    return [(int(r), int(a), int(b)) for (r, a), b in zip(starts[long], ends[long][:, 1], strict=True)]


def _lone_marks(reader: Reader, ink: npt.NDArray[np.bool_], words: Sequence[Word], height: float) -> list[Word]:
    """The characters standing on their own in ``ink`` (text ``height`` pixels tall), read side by side."""
    marks = [
        m
        for m in (_fitted(ink, m, height) for m in _marks(ink, height))
        if m is not None and not _beside_words(m, words, height)
    ]
    if not marks or len(marks) > _MAX_MARKS:
        return []
    return _read_marks(reader, ink, marks, round(height))


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
    if not (_SHORTEST * height <= tall <= _TALLEST_MARK * height and wide <= _WIDEST * height):
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


def _read_marks(reader: Reader, unread: npt.NDArray[np.bool_], marks: list[_Mark], height: int) -> list[Word]:
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
        words = reader.words(Image.fromarray(line))
    except RuntimeError:
        return []  # the engine failed on the line: the patches' reading below still looks at the marks
    found: list[Word] = []
    for word in words:
        middle = (word.x0 + word.x1) / 2
        for start, y, mark in places:
            if start <= middle < start + mark.x1 - mark.x0 and any(c.isalnum() for c in word.text):
                found.append(word.moved(mark.x0 - start, mark.top - y))
                break
    return found


def _patches(
    reader: Reader, ink: npt.NDArray[np.bool_], page: npt.NDArray[np.uint8], words: Sequence[Word], dpi: float
) -> list[Word]:
    """Each patch of ``ink`` a line of writing might be (a value of a few words, a faint or handwritten one),
    read on its own as one line from ``page`` (the grey, its rules and read text painted out)."""
    unread = Image.fromarray(page)
    height, width = ink.shape
    shortest, tallest = _TEXT_HEIGHT[0] * dpi, _TEXT_HEIGHT[1] * dpi
    risen = sorted(w.baseline - w.top for w in words if w.baseline > w.top)
    typical = risen[len(risen) // 2] if risen else shortest
    least = _LEAST_INK * dpi * dpi
    found: list[Word] = []
    for top, bottom in _runs(np.any(ink, axis=1), gap=1):
        if bottom - top > tallest:
            continue
        band = ink[top:bottom]
        for x0, x1 in _runs(np.any(band, axis=0), gap=round(_SAME_PATCH * dpi)):
            patch = band[:, x0:x1]
            rows = np.flatnonzero(patch.any(axis=1))
            if rows[-1] - rows[0] + 1 < shortest or int(patch.sum()) < least:
                continue
            if len(found) >= _MOST_PATCHES:
                return found
            pad = round(0.05 * dpi)
            x_left, upper = max(0, x0 - pad), max(0, top + int(rows[0]) - pad)
            right, lower = min(width, x1 + pad), min(height, top + int(rows[-1]) + 1 + pad)
            try:
                read = reader.line(unread.crop((x_left, upper, right, lower)))
            except RuntimeError:
                continue  # the engine failed on this patch: the others are still read
            for word in read:
                if (
                    word.confidence < _WORTH_KEEPING
                    or not any(c.isalnum() for c in word.text)
                    or word.baseline - word.top > _TALLEST * typical
                ):
                    continue  # the end of a bent ruled line, a table's corner, a speck: nothing written
                found.append(word.moved(x_left, upper))
    return found


def _runs(flags: npt.NDArray[np.bool_] | np.bool_, *, gap: int) -> list[tuple[int, int]]:
    """The stretches (start, end) where ``flags`` is True, joined across gaps of at most ``gap``."""
    where = np.flatnonzero(flags)
    if where.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(where) > gap + 1)
    starts = np.concatenate([[where[0]], where[breaks + 1]])
    ends = np.concatenate([where[breaks], [where[-1]]]) + 1
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]
