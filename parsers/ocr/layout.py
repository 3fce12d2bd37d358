"""Words read from a page's picture, as the printed lines and segments the flat-form reader takes.

Positions go from the picture's pixels to PDF points (1/72 inch), measured down the page, so that the
reader's distances (what lines up, what is a gap) mean on a scan what they mean on a flat PDF. A line is the
words sharing a baseline; a segment the words of a line that stand close together, as in parsers/text.py.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from typing import Final

from parsers.ocr.engine import Word
from parsers.text import Line, Segment

_POINTS: Final = 72.0

_SAME_LINE: Final = 0.45
"""Words whose baselines are within this share of the text height share a line."""

_CAP_HEIGHT: Final = 0.72
"""A capital's height as a share of the type size, in the sans fonts forms are printed in: how a line's type
size is told from the height of its words above the baseline."""

_DEFAULT_SIZE: Final = 10.0

_SAME_SIZE: Final = 1.25
"""Heights of words above their baselines vary by a tenth or more from line to line of the same print, and the
reader ends a value at a line in larger text: a line is given the page's usual size unless it stands out by
more than this (a title; not the section headings a point or two larger, which the gap before them ends)."""


_CODE: Final = re.compile(r"[A-Z](?:[lI|]|[lI|][0-9]|[0-9][lI|])")
"""A form's item code (C1, P1, A14, D11) whose 1 the engine read as an l or an I: a capital and one or two
characters, digits but for the one misread. "All" is left alone: it is a word as often as it is A11."""


def _text(word: Word) -> str:
    """The word as printed: an item code's misread 1 put right, so that its label and option are found."""
    if _CODE.fullmatch(word.text):
        return word.text[0] + "".join("1" if c in "lI|" else c for c in word.text[1:])
    return word.text


def page_lines(words: Sequence[Word], page: int, dpi: float) -> list[Line]:
    """``words`` of page ``page`` (numbered from 1), read at ``dpi``, as lines top to bottom."""
    scale = _POINTS / dpi
    text_words = [w for w in words if not w.box]
    heights = [w.baseline - w.top for w in text_words if w.baseline > w.top]
    typical = statistics.median(heights) if heights else _DEFAULT_SIZE * _CAP_HEIGHT / scale
    rows: list[list[Word]] = []
    for word in sorted(words, key=lambda w: w.baseline):
        if rows and abs(word.baseline - statistics.median(w.baseline for w in rows[-1])) <= _SAME_LINE * typical:
            rows[-1].append(word)
        else:
            rows.append([word])
    return [_line(row, page, scale, typical) for row in rows]


def _line(row: list[Word], page: int, scale: float, typical: float) -> Line:
    row.sort(key=lambda w: w.x0)
    risen = [w.baseline - w.top for w in row if not w.box and w.baseline > w.top]
    tallest = max(risen, default=typical)
    size = (tallest if tallest > _SAME_SIZE * typical else typical) * scale / _CAP_HEIGHT
    gap = max(7.0, 0.7 * size) / scale
    segments: list[list[Word]] = []
    for word in row:
        if segments and word.x0 - segments[-1][-1].x1 <= gap:
            segments[-1].append(word)
        else:
            segments.append([word])
    baseline = statistics.median(w.baseline for w in row)
    return Line(
        page,
        baseline * scale,
        round(size, 1),
        tuple(
            Segment(
                words[0].x0 * scale,
                words[-1].x1 * scale,
                " ".join(_text(w) for w in words),
                min(w.confidence for w in words),
            )
            for words in segments
        ),
    )
