"""Reading the forms out of attachments.

:func:`parse_document` takes one attachment's bytes and returns a :class:`Form` (the form's kind and typed
values) or an :class:`Unreadable` saying why there is none. It does no I/O and never raises, but for
MemoryError, which the isolating worker reports as "too_large".
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from config.forms import FormDefinitions
from parsers.types import Document, Form, Unreadable, Value

__all__ = ["Document", "Form", "Unreadable", "Value", "parse_document"]

_PDF_MAGIC: Final = b"%PDF-"
_ZIP_MAGIC: Final = b"PK\x03\x04"
_MAGIC_WINDOW: Final = 1024
"""Readers accept a PDF whose header comes after some junk (a mail gateway's banner, a BOM) within 1 KB."""


def parse_document(data: bytes, filename: str, definitions: FormDefinitions, *, today: dt.date) -> Document:
    """The form in one attachment, or why there is none.

    The file's content decides how it is read, never its name: a PDF is one with ``%PDF-`` in its first
    1024 bytes, a Word document (.docx) a ZIP package holding ``word/document.xml``. Zero bytes are
    "corrupt"; anything that is neither is "unrecognised". ``today`` only
    settles the century of two-digit years.
    """
    if not data:
        return Unreadable(filename, "corrupt")
    # The readers are imported when first needed: pdfplumber and python-docx take most of a second, and
    # importing ``parsers.types`` (as the CLI and the rules do) should not cost that.
    if _PDF_MAGIC in data[:_MAGIC_WINDOW]:
        from parsers.pdf import parse_pdf

        return parse_pdf(data, filename, definitions, today=today)
    if data.startswith(_ZIP_MAGIC):
        from parsers.docx import parse_docx

        # Word documents (.docx) are ZIP packages; parse_docx calls any other ZIP unrecognised.
        return parse_docx(data, filename, definitions, today=today)
    return Unreadable(filename, "unrecognised")
