"""Reading the forms out of attachments.

:func:`parse_document` takes one attachment's bytes and returns a :class:`Form` (the form's kind and typed
values) or an :class:`Unreadable` saying why there is none. It never raises and does no I/O.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from config.forms import FormDefinitions
from parsers.pdf import parse_pdf
from parsers.types import Document, Form, Unreadable, Value

__all__ = ["Document", "Form", "Unreadable", "Value", "parse_document"]

_PDF_MAGIC: Final = b"%PDF-"
_MAGIC_WINDOW: Final = 1024
"""Readers accept a PDF whose header comes after some junk (a mail gateway's banner, a BOM) within 1 KB."""


def parse_document(data: bytes, filename: str, definitions: FormDefinitions, *, today: dt.date) -> Document:
    """The form in one attachment, or why there is none.

    The file's content decides how it is read, never its name: a PDF is one with ``%PDF-`` in its first
    1024 bytes. Zero bytes are "corrupt"; anything that is not a PDF is "unrecognised". ``today`` only
    settles the century of two-digit years.
    """
    if not data:
        return Unreadable(filename, "corrupt")
    if _PDF_MAGIC in data[:_MAGIC_WINDOW]:
        return parse_pdf(data, filename, definitions, today=today)
    # Word documents (.docx: a ZIP beginning b"PK\x03\x04") are read here once parsers/docx.py exists.
    return Unreadable(filename, "unrecognised")
