"""What a parser returns. Unreadable input is a value too, never an exception."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from config.forms import FormKind

Value = str | int | bool | dt.date | tuple[str, ...]
"""A typed field value: text, a whole number or MIAT score, yes/no, a date, or the ticked option codes.

A MIAT physical item answered "N/A" is the string ``"N/A"``.
"""

UnreadableProblem = Literal[
    "scanned", "encrypted", "corrupt", "unrecognised", "too_large", "timeout", "too_deep", "too_many_parts"
]
"""Why a document gave no form: no text layer, a user password, broken structure, not one of our forms,
over the size limit, parsing ran past its time limit, inside more forwards or containers than are opened,
or past the number of parts in one message (or files in one container) that are read."""

FieldErrorCode = Literal[
    "invalid_date",
    "invalid_number",
    "out_of_range",
    "unknown_option",
    "unanswered",
    "invalid_format",
]


@dataclass(frozen=True)
class FieldError:
    """A field that has something written in it that cannot be read as its type (``code`` says how)."""

    key: str
    code: FieldErrorCode | str


@dataclass(frozen=True)
class Place:
    """Where a value stands on its page, as a picture of the page shows it: a box in points measured from the
    page's top-left corner (its crop box, turned as the page's ``/Rotate`` turns it), and that page's size."""

    left: float
    top: float
    right: float
    bottom: float
    page_width: float
    page_height: float


@dataclass(frozen=True)
class Found:
    """Where a field's value came from: the page (1-based), the label or field name it matched and, in a PDF,
    the value's place on that page (``place``; None in a Word file, or where the file does not say)."""

    key: str
    page: int
    label: str
    place: Place | None = None


FormSource = Literal["acroform", "text", "docx", "ocr"]
"""How a form's values were read: a fillable PDF's fields, a flat PDF's text, a Word file, or OCR of pictures."""


@dataclass(frozen=True)
class Form:
    """One recognised form and the values read from it, keyed as in config/forms/."""

    kind: FormKind
    filename: str
    fields: Mapping[str, Value]
    invalid: tuple[FieldError, ...] = ()
    found: tuple[Found, ...] = ()
    source: FormSource = "acroform"
    pages: int = 1
    confidence: Mapping[str, float] = field(default_factory=dict)
    """For a form read by OCR (``source="ocr"``): per field read, how sure the engine was of it, 0 to 1 (the
    least sure word or tick box it was read from). Empty for text a file holds as text, which is exact."""

    readable: Literal[True] = field(default=True, init=False)


@dataclass(frozen=True)
class Unreadable:
    """A document that gave no form. ``kind`` is set where the file name or title said which form it is."""

    filename: str
    problem: UnreadableProblem
    kind: FormKind | None = None

    readable: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "readable", self.problem == "unrecognised")


Document = Form | Unreadable
"""The result of parsing one file."""


PICTURE_WIDTH: Final = 1000
"""Pixels across a page picture: small print on an A4 form stays legible."""


@dataclass(frozen=True)
class PagePicture:
    """Page ``page`` of ``pages`` of a PDF drawn as a PNG ``width`` × ``height`` pixels (``parsers.pictures``)."""

    png: bytes
    page: int
    pages: int
    width: int
    height: int


@dataclass(frozen=True)
class PagesRead:
    """What :func:`parsers.pages.read_pages` made of pictures: the form on them as pages of one document
    (``Form.pages`` says how many), and those pages as one PDF (``pdf``); or, with ``pdf`` None, why they are
    not one document."""

    document: Document
    pdf: bytes | None = None
