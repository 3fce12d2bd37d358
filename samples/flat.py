"""The four forms printed flat, as a word processor prints them: text only, no fillable fields.

:func:`printed_lines` says how one field's value looks on paper in a given :class:`PrintStyle` (dates in one of
the UK formats, tick lists as ticked and unticked boxes before or after each option, with or without its code,
Yes/No pairs, MIAT scores as a number or as ticked options). :func:`flat_pdf` draws a whole form with reportlab
in one of three layouts — a two-column table, ``Label: value`` lines, or the value below its label — and
samples/wordfile.py lays the same printed lines out in Word documents. Labels and options come from
config/forms/, so a changed label changes the printed forms too.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, get_args

from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from config.forms import FieldDefinition, FormDefinition, FormDefinitions, FormKind
from parsers.types import Value
from samples.forms import default_definitions
from samples.people import seeded

Layout = Literal["table", "colon", "below"]
LAYOUTS: tuple[Layout, ...] = get_args(Layout)

TickSide = Literal["before", "after"]

TICK_SETS: Final[dict[str, tuple[str, str]]] = {
    "ballot": ("☒", "☐"),
    "check": ("☑", "☐"),
    "mark": ("✔", "☐"),
    "brackets": ("[X]", "[ ]"),
    "lower": ("[x]", "[ ]"),
    "round": ("(X)", "( )"),
}
"""(ticked, unticked) as forms-spec.md lists them."""

DATE_FORMATS: Final = ("%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "{day} %B %Y", "{day} %b %Y", "%Y-%m-%d")


@dataclass(frozen=True)
class PrintStyle:
    """How values are printed: which tick glyphs and on which side, option codes or not, the date format,
    MIAT scores as numbers or ticked options, choices written out or ticked."""

    ticks: str = "ballot"
    side: TickSide = "before"
    codes: bool = True
    date_format: str = "%d/%m/%Y"
    scores_ticked: bool = False
    choices_ticked: bool = False
    nhs_spaced: bool = True

    @classmethod
    def from_seed(cls, seed: int) -> PrintStyle:
        """A style drawn from ``seed``: the same seed, the same style."""
        rng = seeded("print-style", seed)
        return cls(
            ticks=rng.choice(sorted(TICK_SETS)),
            side=rng.choice(("before", "after")),
            codes=rng.random() < 0.5,
            date_format=rng.choice(DATE_FORMATS),
            scores_ticked=rng.random() < 0.5,
            choices_ticked=rng.random() < 0.4,
            nhs_spaced=rng.random() < 0.6,
        )


def printed_date(day: dt.date, style: PrintStyle) -> str:
    return day.strftime(style.date_format.replace("{day}", str(day.day)))


def _box(option: str, ticked: bool, style: PrintStyle) -> str:
    glyph = TICK_SETS[style.ticks][0 if ticked else 1]
    return f"{glyph} {option}" if style.side == "before" else f"{option} {glyph}"


def printed_lines(field: FieldDefinition, value: Value | None, style: PrintStyle) -> list[str]:
    """The lines printed in ``field``'s value space; [] for an empty text field. Options print even when
    none is ticked, as on paper."""
    if field.type == "checks":
        ticked = value if isinstance(value, tuple) else ()
        return [
            _box(f"{o.code} {o.text}" if style.codes and o.code != o.text else o.text, o.code in ticked, style)
            for o in field.options
        ]
    if field.type == "yesno":
        return ["   ".join(_box(word, value is answer, style) for word, answer in (("Yes", True), ("No", False)))]
    if field.type == "score" and style.scores_ticked:
        choices = ["0", "1", "2", *(["N/A"] if field.allow_na else [])]
        return ["   ".join(_box(c, str(value) == c, style) for c in choices)]
    if field.type == "enum" and style.choices_ticked:
        return [_box(o.text, o.code == value, style) for o in field.options]
    if value is None:
        return []
    if isinstance(value, dt.date):
        return [printed_date(value, style)]
    if field.type == "nhs_number" and isinstance(value, str) and style.nhs_spaced:
        return [f"{value[:3]} {value[3:6]} {value[6:]}"]
    if field.type == "enum" and isinstance(value, str):
        option = field.option(value)
        return [option.text if option is not None else value]
    return str(value).split("\n")


def section_of(key: str) -> str:
    """The heading a field prints under: fields are grouped by the first part of their key."""
    return key.split(".")[0].replace("_", " ").capitalize()


# --- drawing ------------------------------------------------------------------------------------------------

PAGE_WIDTH, PAGE_HEIGHT = float(A4[0]), float(A4[1])
MARGIN, BOTTOM = 45.0, 55.0
LABEL_WIDTH = 200.0
VALUE_X = MARGIN + LABEL_WIDTH + 12.0
SIZE, LEADING = 9.5, 12.0
TITLE_SIZE = 15.0

_DEJAVU: Final = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
_DEJAVU_BOLD: Final = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


def _fonts() -> tuple[str, str]:
    """A regular and a bold font with the ballot-box glyphs (DejaVu Sans), or Helvetica when it is absent."""
    if "DejaVuSans" in pdfmetrics.getRegisteredFontNames():
        return "DejaVuSans", "DejaVuSans-Bold"
    if _DEJAVU.is_file() and _DEJAVU_BOLD.is_file():
        pdfmetrics.registerFont(TTFont("DejaVuSans", str(_DEJAVU)))
        pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(_DEJAVU_BOLD)))
        return "DejaVuSans", "DejaVuSans-Bold"
    return "Helvetica", "Helvetica-Bold"


def ascii_only(style: PrintStyle) -> PrintStyle:
    """``style`` with bracket ticks, for a font without the ballot-box glyphs."""
    if TICK_SETS[style.ticks][0].isascii():
        return style
    return PrintStyle(**{**style.__dict__, "ticks": "brackets"})


_HANDWRITING: Final = Path("/usr/share/fonts/truetype/humor-sans/Humor-Sans.ttf")


def handwriting_font() -> str:
    """A handwriting-like font (Debian's fonts-humor-sans) for values filled in by hand."""
    if "HumorSans" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("HumorSans", str(_HANDWRITING)))
    return "HumorSans"


class _Pen:
    def __init__(self, canvas: Canvas, regular: str, bold: str, hand: str | None = None) -> None:
        self.canvas, self.regular, self.bold = canvas, regular, bold
        self.hand = hand
        self.y = PAGE_HEIGHT - MARGIN

    def write_value(self, x: float, text: str) -> None:
        """A value: in the handwriting font when there is one, but for tick boxes, which are printed."""
        if self.hand is None or any(glyph in text for glyph in "☒☑✔☐"):
            self.write(x, text)
            return
        self.canvas.setFont(self.hand, SIZE + 1.5)
        self.canvas.drawString(x, self.y, text)

    def need(self, height: float) -> None:
        if self.y - height < BOTTOM:
            self.canvas.showPage()
            self.y = PAGE_HEIGHT - MARGIN

    def write(self, x: float, text: str, *, bold: bool = False, size: float = SIZE) -> None:
        self.canvas.setFont(self.bold if bold else self.regular, size)
        self.canvas.drawString(x, self.y, text)

    def wrap(self, text: str, width: float, *, bold: bool = False, size: float = SIZE) -> list[str]:
        return simpleSplit(text, self.bold if bold else self.regular, size, width) or [""]


def numbered_labels(definition: FormDefinition) -> dict[str, str]:
    """Each field's printed label with its question's number before it, as templates number them: sections
    numbered ``1.``, ``Q2``, ``3)`` in turn, and a field within one ``2a.`` (its section's number, a letter)."""
    labels: dict[str, str] = {}
    section, number, letter = "", 0, 0
    for field in definition.fields:
        if section_of(field.key) != section:
            section, number, letter = section_of(field.key), number + 1, 0
        letter += 1
        sub = f"{number}{chr(96 + letter)}." if letter <= 26 else f"{number}.{letter}"
        prefix = (f"{number}.", f"Q{number}", f"{number})")[number % 3] if letter == 1 else sub
        labels[field.key] = f"{prefix} {field.label}"
    return labels


def flat_pdf(
    kind: FormKind,
    values: Mapping[str, Value],
    *,
    layout: Layout = "table",
    style: PrintStyle | None = None,
    definitions: FormDefinitions | None = None,
    handwritten: bool = False,
    numbered: bool = False,
) -> bytes:
    """The form ``kind`` holding ``values``, drawn as flat text in ``layout``; no fillable fields at all.
    ``handwritten`` writes the values in a handwriting font (in the table and below layouts), as if filled
    in by hand on a printed form; ``numbered`` prints each label with its question's number before it."""
    definition = (definitions or default_definitions())[kind]
    regular, bold = _fonts()
    style = style or PrintStyle()
    if regular == "Helvetica":
        style = ascii_only(style)
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=1)
    canvas.setTitle(definition.title)
    pen = _Pen(canvas, regular, bold, handwriting_font() if handwritten else None)
    # Wrapped at the size it is printed, as a form's long title runs onto a second line rather than off the page.
    for line in pen.wrap(definition.title, PAGE_WIDTH - 2 * MARGIN, bold=True, size=TITLE_SIZE):
        pen.y -= 20
        pen.write(MARGIN, line, bold=True, size=TITLE_SIZE)
    pen.y -= 14
    pen.write(MARGIN, "Sample form: every name, number and address on it is invented.", size=7.5)
    pen.y -= 10
    section = ""
    labels = numbered_labels(definition) if numbered else {f.key: f.label for f in definition.fields}
    for field in definition.fields:
        if section_of(field.key) != section:
            section = section_of(field.key)
            pen.need(3 * LEADING)
            pen.y -= 2 * LEADING
            pen.write(MARGIN, f"Section: {section}", bold=True, size=11)
            pen.y -= 4
        lines = printed_lines(field, values.get(field.key), style)
        _draw_field(pen, labels[field.key], lines, layout)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _draw_field(pen: _Pen, label: str, lines: list[str], layout: Layout) -> None:
    full = PAGE_WIDTH - 2 * MARGIN
    if layout == "table":
        label_lines = pen.wrap(label, LABEL_WIDTH - 6)
        value_lines = [part for line in lines for part in pen.wrap(line, PAGE_WIDTH - MARGIN - VALUE_X - 6)]
        rows = max(len(label_lines), len(value_lines), 1)
        pen.need(rows * LEADING + 6)
        top = pen.y
        for n in range(rows):
            pen.y -= LEADING
            if n < len(label_lines):
                pen.write(MARGIN + 3, label_lines[n])
            if n < len(value_lines):
                pen.write_value(VALUE_X, value_lines[n])
        pen.y -= 5
        pen.canvas.setLineWidth(0.5)
        pen.canvas.rect(MARGIN, pen.y, full, top - pen.y)
        pen.canvas.line(VALUE_X - 6, pen.y, VALUE_X - 6, top)
        return
    if layout == "colon":
        inline = len(lines) == 1
        head = f"{label}: {lines[0]}" if inline else f"{label}:"
        wrapped = pen.wrap(head, full)
        rest = [] if inline else [part for line in lines for part in pen.wrap(line, full - 15)]
        pen.need((len(wrapped) + len(rest)) * LEADING + 4)
        for part in wrapped:
            pen.y -= LEADING
            pen.write(MARGIN, part)
        for part in rest:
            pen.y -= LEADING
            pen.write(MARGIN + 15, part)
        pen.y -= 4
        return
    label_lines = pen.wrap(label, full, bold=True)
    value_lines = [part for line in lines for part in pen.wrap(line, full)]
    pen.need((len(label_lines) + len(value_lines)) * LEADING + 6)
    for part in label_lines:
        pen.y -= LEADING
        pen.write(MARGIN, part, bold=True)
    for part in value_lines:
        pen.y -= LEADING
        pen.write_value(MARGIN, part)
    pen.y -= 6
