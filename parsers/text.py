"""Reading a form from its printed text: flat PDFs, and Word files laid out the same way.

A reader turns its document into :class:`Line` objects — the text of each printed line, split into
:class:`Segment` s where the text stands apart (a table's cells, a tab) — and :func:`read_lines` finds the
form's labels among them and the value each one labels, in the three layouts forms-spec.md describes:

* a two-column table: the value is the text to the right of the label, down the value's column;
* ``Label: value`` on one line;
* the label alone, the value on the line or lines below it.

Labels may wrap onto following lines. Tick lists, yes/no questions, choices and MIAT scores may be printed as
options with a tick glyph before or after each (``☒ D4 Forgets to take doses``, ``Yes ☐ No ☒``); the ticked
ones are the answer. The raw values go through :func:`parsers.values.type_fields` like any other reader's.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from pdfminer.pdfcolor import PDFColorSpace
from pdfminer.pdfdevice import PDFTextDevice
from pdfminer.pdffont import PDFFont, PDFUnicodeNotDefined
from pdfminer.pdfinterp import PDFGraphicState, PDFResourceManager
from pdfminer.utils import Matrix

from config.forms import FieldDefinition, FormDefinition, Option
from parsers.geometry import Rect
from parsers.labels import Label, Labels, fold, numbering, words
from parsers.types import FieldError, Found, Place, Value
from parsers.values import NOT_APPLICABLE, RawValue, type_fields


@dataclass(frozen=True)
class Segment:
    """Text on one line that stands apart from its neighbours: ``x0``/``x1`` are where it starts and ends.

    ``confidence`` (0 to 1) is how sure the OCR engine was of the least certain word in it; None for text a
    file holds as text, which is read exactly.
    """

    x0: float
    x1: float
    text: str
    confidence: float | None = None


@dataclass(frozen=True)
class Line:
    """One printed line: its page (1-based), its baseline measured down the page, its text size, its segments."""

    page: int
    y: float
    size: float
    segments: tuple[Segment, ...]

    @property
    def text(self) -> str:
        return "  ".join(s.text for s in self.segments)


Locate = Callable[[int, Rect], Place | None]
"""Where a box of a page's text (page number, then x0, y0, x1, y1 in the reader's own units, y upwards) stands
on the page's picture; None where that cannot be said."""


@dataclass(frozen=True)
class TextReading:
    """What :func:`read_lines` found: typed values, fields written but unreadable, and where each label was."""

    fields: dict[str, Value]
    invalid: tuple[FieldError, ...]
    found: tuple[Found, ...]
    confidence: dict[str, float] = field(default_factory=dict)
    """Per field read from segments with a confidence (OCR): the least confidence of the text it was read from."""


# --- tick glyphs --------------------------------------------------------------------------------------------

_TICKED: Final = "☒☑✓✔"
_UNTICKED: Final = "☐□"
_GLYPH: Final = re.compile(
    r"[☒☑✓✔☐□]"
    r"|\[\s*[xX✓✔]\s*\]|\[\s*\]"
    r"|\(\s*[xX]\s*\)|\(\s*\)"
    r"|(?<!\S)X(?!\S)"
)
"""Ticked ``☒ ☑ ✓ ✔ [X] [x] (X) X``, unticked ``☐ □ [ ] ( )``; a bare X only as a word of its own."""

_SYMBOL_FONT_TICKS: Final = str.maketrans(
    {"\uf0fe": "☒", "\uf078": "☒", "\uf0fc": "✓", "\uf0a8": "☐", "\uf06f": "☐", "\uf0a3": "☐", "\uf053": "☒"}
)
"""Word's Wingdings check boxes reach the text layer as private-use code points."""


def normalise_glyphs(text: str) -> str:
    """``text`` with check boxes drawn in Word's symbol fonts turned into the Unicode ballot boxes."""
    return text.translate(_SYMBOL_FONT_TICKS)


def _is_ticked(glyph: str) -> bool:
    return glyph in _TICKED or "x" in glyph.lower() or "✓" in glyph or "✔" in glyph


def _tick_readings(text: str) -> tuple[list[tuple[bool, str]], list[tuple[bool, str]]] | None:
    marks = list(_GLYPH.finditer(text))
    if not marks:
        return None
    pieces = [text[: marks[0].start()]]
    pieces += [text[m.end() : n.start()] for m, n in itertools.pairwise(marks)]
    pieces.append(text[marks[-1].end() :])
    ticks = [_is_ticked(m.group()) for m in marks]
    before = [(t, _clean(p)) for t, p in zip(ticks, pieces[1:], strict=True)]
    after = [(t, _clean(p)) for t, p in zip(ticks, pieces[:-1], strict=True)]
    return before, after


def _clean(piece: str) -> str:
    return " ".join(piece.split()).strip(" ,;:|")


# --- options ------------------------------------------------------------------------------------------------

_YES_NO: Final = (Option("Yes", "Yes"), Option("No", "No"))
_SCORES: Final = tuple(Option(s, s) for s in ("0", "1", "2", NOT_APPLICABLE))


def _options(field: FieldDefinition) -> tuple[Option, ...]:
    if field.type == "yesno":
        return _YES_NO
    if field.type == "score":
        return _SCORES
    return field.options


def resolve_option(text: str, options: Sequence[Option]) -> Option | None:
    """The option ``text`` names: its code, its printed text, or both (``D4 Forgets to take doses``)."""
    wanted = fold(text)
    if not wanted:
        return None
    for option in options:
        if wanted in _spellings(option):
            return option
    # A scan's code can be misread where its words are not ("Al Large-print labels" for A1): the words name
    # the option as well, when what stands before them is no longer than a code.
    for option in options:
        code, printed = fold(option.code), fold(option.text)
        extra = len(wanted) - len(printed)
        if code != printed and len(printed) >= 4 and wanted.endswith(printed) and 0 < extra <= len(code) + 1:
            return option
    return None


@functools.cache
def _spellings(option: Option) -> tuple[str, str, str]:
    """``option`` folded as it may be printed: its code, its text, both. The forms' options are few and fixed,
    and every tick box of every flat form is compared with them."""
    code, printed = fold(option.code), fold(option.text)
    return code, printed, code + printed


def _ticked(text: str, field: FieldDefinition) -> tuple[str, ...] | None:
    """The ticked options' codes (or, when one is not an option, its text), or None when no box is printed."""
    readings = _tick_readings(text)
    if readings is None:
        return None
    options = _options(field)

    def score(reading: list[tuple[bool, str]]) -> int:
        return sum(1 for _, piece in reading if resolve_option(piece, options) is not None)

    before, after = readings
    starts_with_box = bool(_GLYPH.match(text.strip()))
    # Whichever reading names more of the field's options is how the form was printed; on a tie, the side
    # the first box stands on decides.
    chosen = before if (score(before), starts_with_box) >= (score(after), not starts_with_box) else after
    ticked = []
    for is_ticked, piece in chosen:
        if not is_ticked:
            continue
        option = resolve_option(piece, options)
        ticked.append(option.code if option is not None else piece)
    return tuple(ticked)


def _raw_value(text: str, field: FieldDefinition) -> RawValue | None:
    """What was written for ``field``, as :func:`type_fields` takes it, or None when nothing was."""
    if field.type in ("checks", "yesno", "enum", "score"):
        ticked = _ticked(text, field)
        if ticked is not None:
            return ticked
    if field.type == "multiline":
        lines = [" ".join(line.split()) for line in text.split("\n")]
        value = "\n".join(line for line in lines if line)
        return value or None
    flat = " ".join(text.split())
    if not flat:
        return None
    if field.type == "checks":
        parts = [p for p in re.split(r"[,;\n]+", text) if p.strip()]
        options = [resolve_option(p, field.options) for p in parts]
        if all(o is not None for o in options):
            return tuple(o.code for o in options if o is not None)
    if field.type == "enum":
        option = resolve_option(flat, field.options)
        if option is not None:
            return option.code
    return flat


# --- finding labels and values ------------------------------------------------------------------------------

_ALIGN: Final = 4.0
"""Points within which two lines' text starts in the same column."""

_GAP: Final = 2.1
"""A vertical gap of more than this many text heights between two lines ends a value."""

_PITCHES: Final = 1.6
"""... or more than this many of the document's usual line spacings, whichever is more."""

_HEADING: Final = 1.1
"""A line in text this much larger than the label's is a heading, which ends a value."""

_KEEP_GOING: Final = frozenset({"multiline", "checks"})
"""Types whose value runs on until the next label; other types take one line unless a table cell wraps."""

_SEPARATORS: Final = ":-–—=|"
_LABEL_END: Final = " \t*?.)]"


@dataclass(frozen=True)
class _Match:
    label: Label
    spans: tuple[tuple[int, int], ...]
    rest: str


_ASCENT: Final = 0.85
_DESCENT: Final = 0.25
"""How far above and below its baseline a line's text reaches, as shares of its size: the box marked around a
value on its page picture."""


class _Reader:
    def __init__(self, lines: Sequence[Line], definition: FormDefinition, locate: Locate | None = None) -> None:
        self.lines = lines
        self.locate = locate
        self.definition = definition
        self.labels = Labels(definition)
        self.used: set[tuple[int, int]] = set()
        self.taken: dict[str, tuple[Found, str]] = {}
        self.confidence: dict[str, float] = {}
        pitches = sorted(b.y - a.y for a, b in itertools.pairwise(lines) if a.page == b.page and b.y > a.y)
        # Word spaces paragraphs apart, so what counts as a gap is relative to the document's usual spacing.
        self.pitch = pitches[len(pitches) // 2] if pitches else 0.0

    def read(self) -> dict[str, tuple[Found, str]]:
        for i, line in enumerate(self.lines):
            for j in range(len(line.segments)):
                if (i, j) in self.used:
                    continue
                match = self.match(i, j)
                if match is None:
                    continue
                key = next((k for k in match.label.keys if k not in self.taken), None)
                self.used.update(match.spans)
                if key is None:
                    continue
                field = self.definition.field(key)
                assert field is not None
                value, cells, confidence = self.value(match, field)
                place = self.place(line.page, cells or list(match.spans))
                self.taken[key] = (Found(key, line.page, match.label.text, place), value)
                if confidence is not None:
                    self.confidence[key] = confidence
        return self.taken

    def place(self, page: int, cells: Sequence[tuple[int, int]]) -> Place | None:
        """Where the segments ``cells`` (those on ``page``) stand on the page's picture."""
        if self.locate is None:
            return None
        boxes = []
        for i, k in cells:
            line = self.lines[i]
            if line.page != page:
                continue
            segment = line.segments[k]
            baseline = -line.y
            boxes.append((segment.x0, baseline - _DESCENT * line.size, segment.x1, baseline + _ASCENT * line.size))
        if not boxes:
            return None
        box = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
        return self.locate(page, box)

    def match(self, i: int, j: int) -> _Match | None:
        """The label that starts segment ``j`` of line ``i`` (perhaps wrapping onto lines below), if any."""
        first = self.lines[i].segments[j]
        folded_first = words(first.text)
        if folded_first and not self.labels.could_start(folded_first[0][0]):
            folded_first = folded_first[numbering(folded_first) :]  # "1. Surname", "Q3 Date of birth"
        if not folded_first or not self.labels.could_start(folded_first[0][0]):
            return None
        spans = [(i, j)]
        folded = [w for w, _, _ in folded_first]
        best: _Match | None = None
        before_last = 0
        last = folded_first
        for _ in range(4):
            label = self.labels.longest(folded, ending_after=before_last)
            while label is not None:
                end = last[len(label.words) - before_last - 1][2]
                text = self.lines[spans[-1][0]].segments[spans[-1][1]].text
                rest = _after_label(text[end:])
                if rest is not None:
                    best = _Match(label, tuple(spans), rest)
                    break
                label = self.labels.longest(folded[: len(label.words) - 1], ending_after=before_last)
            if not self.labels.continues(folded):
                break
            below = self._aligned_below(spans[-1][0], first.x0)
            if below is None:
                break
            spans.append(below)
            before_last = len(folded)
            last = words(self.lines[below[0]].segments[below[1]].text)
            folded += [w for w, _, _ in last]
        return best

    def _aligned_below(self, i: int, x0: float) -> tuple[int, int] | None:
        if i + 1 >= len(self.lines) or not self._close(i, i + 1):
            return None
        for j, segment in enumerate(self.lines[i + 1].segments):
            if abs(segment.x0 - x0) <= _ALIGN and (i + 1, j) not in self.used:
                return i + 1, j
        return None

    def _close(self, upper: int, lower: int) -> bool:
        a, b = self.lines[upper], self.lines[lower]
        return a.page == b.page and b.y - a.y <= max(_GAP * max(a.size, b.size, 1.0), _PITCHES * self.pitch)

    def _starts_label(self, i: int, j: int) -> bool:
        return (i, j) not in self.used and self.match(i, j) is not None

    def value(self, match: _Match, field: FieldDefinition) -> tuple[str, list[tuple[int, int]], float | None]:
        """The text ``match``'s label labels, marking what it takes as used, the segments it was read from, and
        the least confidence of those segments (None when they carry none)."""
        label_lines = dict(match.spans)
        rows: list[str] = []
        cells: list[tuple[int, int]] = []
        value_x: float | None = None
        confidences: list[float | None] = []
        for i, j in match.spans:
            parts = [match.rest] if (i, j) == match.spans[-1] and match.rest else []
            if parts:
                confidences.append(self.lines[i].segments[j].confidence)
                cells.append((i, j))  # ``Label: value`` in one segment: the segment holds the value
            for k in range(j + 1, len(self.lines[i].segments)):
                segment = self.lines[i].segments[k]
                if (i, k) in self.used or (self._starts_label(i, k) and not _is_option(segment.text, field)):
                    break
                value_x = self.lines[i].segments[k].x0 if value_x is None else value_x
                parts.append(self.lines[i].segments[k].text)
                confidences.append(segment.confidence)
                cells.append((i, k))
                self.used.add((i, k))
            if parts:
                rows.append("  ".join(parts))
        first_i, first_j = match.spans[0]
        anchor = self.lines[first_i].segments[first_j].x0
        in_cell = value_x is not None
        inline = bool(match.rest) and not in_cell
        column = value_x if value_x is not None else anchor
        previous = match.spans[-1][0]
        for i in range(previous + 1, len(self.lines)):
            line = self.lines[i]
            # A value may go on at the top of the next page, but not begin there: what starts a page after a
            # label with nothing beside it (an empty last row) is the next section.
            if not self._close(previous, i) and not (rows and self._next_page_top(previous, i)):
                break
            if not self._may_continue(field, rows, in_cell=in_cell):
                break
            free = [k for k in range(len(line.segments)) if (i, k) not in self.used]
            if not free:
                if i in label_lines:
                    previous = i
                    continue
                break
            if any(line.segments[k].x0 < column - _ALIGN for k in free) and not self._wraps_back(
                line, free, field, anchor
            ):
                break
            if line.size > _HEADING * self.lines[first_i].size:
                break
            if any(self._starts_label(i, k) and not _is_option(line.segments[k].text, field) for k in free):
                break
            text = "  ".join(line.segments[k].text for k in free)
            if not in_cell and not inline and rows and field.type not in _KEEP_GOING and not _GLYPH.search(text):
                break
            rows.append(text)
            confidences.extend(line.segments[k].confidence for k in free)
            cells.extend((i, k) for k in free)
            self.used.update((i, k) for k in free)
            previous = i
        known = [c for c in confidences if c is not None]
        return "\n".join(rows), cells, (min(known) if known and len(known) == len(confidences) else None)

    @staticmethod
    def _wraps_back(line: Line, free: list[int], field: FieldDefinition, anchor: float) -> bool:
        """Whether ``line`` is a long value wrapping back to the margin after ``Label:<tab>value``."""
        return field.type == "multiline" and len(free) == 1 and abs(line.segments[free[0]].x0 - anchor) <= _ALIGN

    def _next_page_top(self, previous: int, i: int) -> bool:
        return self.lines[i].page == self.lines[previous].page + 1 and self.lines[i - 1].page != self.lines[i].page

    @staticmethod
    def _may_continue(field: FieldDefinition, rows: list[str], *, in_cell: bool) -> bool:
        if not rows or in_cell or field.type in _KEEP_GOING:
            return True
        # A choice printed as ticked options may list them one to a line.
        return field.type in ("yesno", "enum", "score") and bool(_GLYPH.search(rows[-1]))


def _is_option(text: str, field: FieldDefinition) -> bool:
    """Whether ``text`` is one of ``field``'s options written out: "GP practice" answers "Referrer role"
    although it is also a label."""
    return field.type in ("enum", "checks") and resolve_option(text, field.options) is not None


def _after_label(rest: str) -> str | None:
    """What follows a label in its segment, or None when the words go on and so were not a label at all."""
    # The label's own closing punctuation ("Forename(s)", "...difficult?") and a required-field star.
    rest = rest.lstrip(_LABEL_END).strip()
    if rest.startswith("(") and ")" in rest and not _GLYPH.match(rest):
        # A parenthetical the configuration does not print: "Surname (as registered):".
        rest = rest[rest.index(")") + 1 :].lstrip(_LABEL_END).strip()
    if not rest:
        return ""
    if rest[0] in _SEPARATORS:
        return rest[1:].strip()
    if _GLYPH.match(rest):
        return rest
    return None


def read_lines(
    lines: Sequence[Line], definition: FormDefinition, today: dt.date, *, locate: Locate | None = None
) -> TextReading:
    """The values of ``definition``'s fields printed in ``lines``, typed, with where each label was found.

    A label found with nothing after it is still reported in ``found``, so the team can see the template
    matched; its field is simply absent from ``fields``. With ``locate`` (lines measured on real pages), each
    ``Found`` also says where its value (or, when there is none, its label) stands on the page's picture.
    """
    reader = _Reader(lines, definition, locate)
    taken = reader.read()
    raw: dict[str, RawValue] = {}
    for key, (_, text) in taken.items():
        field = definition.field(key)
        value = _raw_value(text, field) if field is not None else None
        if value is not None:
            raw[key] = value
    reading = _typed(raw, {key: found for key, (found, _) in taken.items()}, definition, today)
    confidence = {key: reader.confidence[key] for key in reading.fields if key in reader.confidence}
    return TextReading(reading.fields, reading.invalid, reading.found, confidence)


def _typed(
    raw: Mapping[str, RawValue], found: Mapping[str, Found], definition: FormDefinition, today: dt.date
) -> TextReading:
    values, invalid = type_fields(raw, definition, today)
    order = {f.key: i for i, f in enumerate(definition.fields)}
    located = tuple(sorted(found.values(), key=lambda f: order.get(f.key, len(order))))
    return TextReading(values, invalid, located)


def title_text(lines: Iterable[Line], *, page: int = 1) -> str:
    """The text of one page, a line to a line: what recognising a form by its title reads."""
    return "\n".join(line.text for line in lines if line.page == page)


# --- lines from a PDF page ----------------------------------------------------------------------------------

Glyph = tuple[float, float, float, float, str]
"""One glyph: its left and right edge, baseline height, type size and text."""
"""x0, x1, baseline y (up the page), text size, text."""


class GlyphCollector(PDFTextDevice):
    """Records each glyph drawn as (x0, x1, y, size, text) in page space, and nothing else: far cheaper than
    pdfminer's layout analysis. Page 1's title and a flat form's lines are both read with it."""

    def __init__(self, resources: PDFResourceManager) -> None:
        super().__init__(resources)
        self.glyphs: list[Glyph] = []

    def render_char(
        self,
        matrix: Matrix,
        font: PDFFont,
        fontsize: float,
        scaling: float,
        rise: float,  # noqa: ARG002 - the signature is pdfminer's
        cid: int,
        ncs: PDFColorSpace,  # noqa: ARG002
        graphicstate: PDFGraphicState,  # noqa: ARG002
    ) -> float:
        advance = font.char_width(cid) * fontsize * scaling
        try:
            text = font.to_unichr(cid)
        except PDFUnicodeNotDefined:
            text = ""
        a, _, _, d, x, y = matrix
        self.glyphs.append((x, x + advance * a, y, abs(fontsize * d), text))
        return advance


def glyph_lines(glyphs: Iterable[Glyph], page: int) -> list[Line]:
    """Glyphs grouped into lines (sharing a baseline) and each line into segments (split at wide gaps)."""
    # Down the page, then along each line: two stable sorts, cheaper than one on a built key (every glyph of
    # every flat form passes here).
    ordered = sorted(glyphs, key=_LEFT)
    ordered.sort(key=_BASELINE, reverse=True)
    rows: list[list[Glyph]] = []
    row: list[Glyph] = []
    for glyph in ordered:
        if row:
            first = row[0]
            tolerance = 0.3 * (glyph[3] if glyph[3] > first[3] else first[3])
            if abs(first[2] - glyph[2]) <= (tolerance if tolerance > 1.0 else 1.0):
                row.append(glyph)
                continue
        row = [glyph]
        rows.append(row)
    lines: list[Line] = []
    for row in rows:
        row.sort(key=_LEFT)
        size = max(g[3] for g in row)
        segments: list[Segment] = []
        start = end = row[0][0]
        text: list[str] = []
        for x0, x1, _, glyph_size, char in row:
            if text:
                gap = x0 - end
                if gap > 7.0 and gap > 0.7 * (glyph_size if glyph_size > 1.0 else 1.0):
                    segments.append(Segment(start, end, "".join(text).strip()))
                    text, start = [], x0
                elif gap > 0.8 and gap > 0.15 * glyph_size and not text[-1].isspace():
                    text.append(" ")
            if char.isspace():
                if text and not text[-1].isspace():
                    text.append(" ")
            else:
                text.append(char)
            end = (x1 if x1 > end else end) if text else x1
        segments.append(Segment(start, end, "".join(text).strip()))
        kept = tuple(Segment(s.x0, s.x1, normalise_glyphs(s.text)) for s in segments if s.text)
        if kept:
            lines.append(Line(page, -row[0][2], size, kept))
    return lines


_LEFT: Final = operator.itemgetter(0)
_BASELINE: Final = operator.itemgetter(2)
