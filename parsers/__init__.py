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

__all__ = ["Document", "Form", "Unreadable", "Value", "is_image", "may_be_a_page", "parse_document"]

_PDF_MAGIC: Final = b"%PDF-"
_ZIP_MAGIC: Final = b"PK\x03\x04"
_OLE_MAGIC: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
"""An OLE compound file: an old Word .doc, or a .docx saved with a password (``parsers.office``)."""
_IMAGE_MAGIC: Final = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"II*\x00", b"MM\x00*")
"""JPEG, PNG and TIFF (both byte orders)."""
_HEIF_BRANDS: Final = (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1")
"""The ISO box brands a phone's HEIC photo starts with, after its size: ``....ftypheic``."""
_MAGIC_WINDOW: Final = 1024
"""Readers accept a PDF whose header comes after some junk (a mail gateway's banner, a BOM) within 1 KB."""


def parse_document(data: bytes, filename: str, definitions: FormDefinitions, *, today: dt.date) -> Document:
    """The form in one attachment, or why there is none.

    The file's content decides how it is read, never its name: a PDF is one with ``%PDF-`` in its first
    1024 bytes, a Word document (.docx) a ZIP package holding ``word/document.xml``, a picture (JPEG, PNG,
    TIFF, HEIC) is read by OCR when it is page-sized, and a Word file saved with a password (an OLE file
    holding an ``EncryptedPackage``) is "encrypted". Zero bytes are
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
    if data.startswith(_OLE_MAGIC):
        from parsers.office import is_encrypted_package

        if is_encrypted_package(data):
            # A Word file saved with a password: told as an encrypted PDF is, never "not a form".
            from parsers.recognise import by_filename

            return Unreadable(filename, "encrypted", by_filename(filename, definitions))
        return Unreadable(filename, "unrecognised")
    if is_image(data):
        if not may_be_a_page(data):
            # A logo, a signature or a broken picture: told from its header by Pillow alone, without loading the
            # OCR engine, whose libraries take most of a worker's memory cap.
            return Unreadable(filename, "unrecognised")
        from parsers.ocr import parse_image

        return parse_image(data, filename, definitions, today=today)
    return Unreadable(filename, "unrecognised")


SMALLEST_PAGE: Final = 500
"""Fewest pixels on a picture's shorter side for it to be a page worth reading (a form at under ~60 dpi is not)."""


def may_be_a_page(data: bytes) -> bool:
    """Whether the picture opens and is page-sized (HEIC is left to the OCR reader: its opener is loaded there)."""
    if data[4:8] == b"ftyp":
        return True
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as picture:
            return min(picture.size) >= SMALLEST_PAGE
    except Image.DecompressionBombError:
        return True  # the reader says "too_large"
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - hostile bytes can make an image decoder raise anything
        return False


def is_image(data: bytes) -> bool:
    """Whether ``data`` is a picture a form may be photographed or scanned into: JPEG, PNG, TIFF or HEIC."""
    return data.startswith(_IMAGE_MAGIC) or (data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS)
