"""The options printed beside tick boxes, read a second time where the page's reading left them out.

Tesseract's page layout drops a character standing on its own: the 0, 1 and 2 of a MIAT score row printed
``0 ☐   1 ☒   2 ☐`` come back as nothing, which leaves the boxes with nothing saying which answer each is. So
the ink beside each box that no word accounts for is cut out (a strip the box's height, a few sides either
way, without the box and without a table's rules), the strips are stacked into one small picture, and that is
read once: far cheaper than a second look at the page, and the engine reads a lone character well when it
is all there is.
"""

from __future__ import annotations

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

_REACH: Final = 2.5
"""How far either side of a box its option is looked for, in box sides (three spaces and a short word)."""

_UNREAD: Final = 0.04
"""A strip whose ink outside every word is at least this share of a box's area holds something unread."""

_RULE: Final = 0.9
"""A column (or row) of a strip dark for this share of its length is a table's rule, not print."""

_OVERLAP: Final = 0.3
"""A word read again that overlaps a word of the page's reading by this share of its area is that word."""


@dataclass(frozen=True)
class _Strip:
    x0: int
    top: int
    x1: int
    bottom: int


def beside_boxes(
    read: Read, dark: npt.NDArray[np.bool_], words: Sequence[Word], boxes: Sequence[TickBox]
) -> list[Word]:
    """The words beside ``boxes`` that the page's reading (``words``) left out, read from the page's ink
    (``dark``, True where there is ink), in the page's pixels."""
    if not boxes:
        return []
    covered = np.zeros(dark.shape, dtype=bool)
    for word in words:
        covered[max(0, int(word.top) - 2) : int(word.bottom) + 3, max(0, int(word.x0) - 2) : int(word.x1) + 3] = True
    for box in boxes:
        covered[max(0, box.top - 3) : box.bottom + 4, max(0, box.x0 - 3) : box.x1 + 4] = True
    unread = dark & ~covered
    strips = _merged([_strip(box, dark.shape) for box in boxes])
    wanted = [s for s in strips if _ink(unread, s) >= _UNREAD * _side(boxes) ** 2]
    if not wanted:
        return []
    return [w for w in _read_strips(read, dark, boxes, wanted) if _new(w, words)]


def _side(boxes: Sequence[TickBox]) -> float:
    return float(np.median([b.x1 - b.x0 + 1 for b in boxes]))


def _strip(box: TickBox, shape: tuple[int, ...]) -> _Strip:
    side = box.x1 - box.x0 + 1
    reach = round(_REACH * side)
    margin = side // 3
    return _Strip(
        max(0, box.x0 - reach),
        max(0, box.top - margin),
        min(shape[1], box.x1 + reach),
        min(shape[0], box.bottom + margin),
    )


def _merged(strips: list[_Strip]) -> list[_Strip]:
    """Strips that overlap (the boxes of one row) as one."""
    merged: list[_Strip] = []
    for strip in sorted(strips, key=lambda s: (s.top, s.x0)):
        for n, other in enumerate(merged):
            if (
                strip.x0 <= other.x1
                and other.x0 <= strip.x1
                and strip.top <= other.bottom
                and other.top <= strip.bottom
            ):
                merged[n] = _Strip(
                    min(strip.x0, other.x0),
                    min(strip.top, other.top),
                    max(strip.x1, other.x1),
                    max(strip.bottom, other.bottom),
                )
                break
        else:
            merged.append(strip)
    return merged


def _ink(unread: npt.NDArray[np.bool_], strip: _Strip) -> int:
    return int(_without_rules(unread[strip.top : strip.bottom, strip.x0 : strip.x1]).sum())


def _without_rules(ink: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """``ink`` less the columns and rows a table's rule fills from end to end."""
    clean = ink.copy()
    if clean.size:
        clean[:, ink.mean(axis=0) >= _RULE] = False
        clean[ink.mean(axis=1) >= _RULE, :] = False
    return clean


def _read_strips(read: Read, dark: npt.NDArray[np.bool_], boxes: Sequence[TickBox], strips: list[_Strip]) -> list[Word]:
    """The strips' ink, less their boxes and rules, set side by side on one line with a gap between, read at
    once. Side by side, not stacked: a column of lone digits is what the engine takes for a table's rule."""
    gap = round(_side(boxes))
    height = max(s.bottom - s.top for s in strips) + 2 * gap
    width = sum(s.x1 - s.x0 + gap for s in strips) + gap
    line = np.full((height, width), 255, dtype=np.uint8)
    places: list[tuple[int, int, _Strip]] = []
    x = gap
    for strip in strips:
        # Only the ink, black on white: the faint edges of a painted-out box or of a rule, left in grey, are
        # enough for the engine to drop the lone characters again.
        ink = _without_rules(dark[strip.top : strip.bottom, strip.x0 : strip.x1])
        for box in boxes:
            ink[
                max(0, box.top - 3 - strip.top) : max(0, box.bottom + 4 - strip.top),
                max(0, box.x0 - 3 - strip.x0) : max(0, box.x1 + 4 - strip.x0),
            ] = False
        # Each strip's middle on the line's middle, so that the engine finds one baseline.
        y = (height - ink.shape[0]) // 2
        line[y : y + ink.shape[0], x : x + ink.shape[1]][ink] = 0
        places.append((x, y, strip))
        x += ink.shape[1] + gap
    found: list[Word] = []
    for word in read(Image.fromarray(line)):
        middle = (word.x0 + word.x1) / 2
        for start, y, strip in places:
            if start <= middle < start + strip.x1 - strip.x0 and any(c.isalnum() for c in word.text):
                dx, dy = strip.x0 - start, strip.top - y
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


def _new(word: Word, words: Sequence[Word]) -> bool:
    """Whether ``word`` is not one the page's reading already has."""
    area = max(1.0, (word.x1 - word.x0) * (word.bottom - word.top))
    for other in words:
        width = min(word.x1, other.x1) - max(word.x0, other.x0)
        height = min(word.bottom, other.bottom) - max(word.top, other.top)
        if width > 0 and height > 0 and width * height / area >= _OVERLAP:
            return False
    return True
