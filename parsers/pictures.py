"""A picture of one page of a PDF, for the team to see where a value was read.

:func:`render_page` draws a page with pdfium (pypdfium2) as a PNG: the crop box, turned as the page's
``/Rotate`` turns it, so that a :class:`parsers.types.Place` marks the same spot on it. pdfium is a C library
reading hostile files: only the isolated workers call this (``intake.isolation``), under their time limit and
memory cap. It never raises, but for MemoryError, which the worker reports as "too_large".
"""

from __future__ import annotations

import io
from typing import Final

import pypdfium2 as pdfium

from parsers.types import PICTURE_WIDTH, PagePicture, Unreadable

MAX_PIXELS: Final = 4_000_000
"""Pixels in one picture at most, whatever size a hostile page claims (a 200-inch page is drawn smaller)."""

MAX_PAGE: Final = 10_000
"""Pages beyond this are not drawn: the parsers count no further."""


def render_page(data: bytes, page: int, *, width: int = PICTURE_WIDTH) -> PagePicture | Unreadable:
    """Page ``page`` (1-based) of the PDF ``data`` drawn ``width`` pixels across, or why it cannot be.

    A page that does not exist is "unrecognised"; a file that needs a password "encrypted"; anything pdfium
    cannot open or draw "corrupt".
    """
    try:
        return _render(data, page, width)
    except MemoryError:
        raise
    except pdfium.PdfiumError as exc:
        return Unreadable("", "encrypted" if "password" in str(exc).lower() else "corrupt")
    except Exception:  # noqa: BLE001 - hostile bytes can make the binding raise anything; none of it may escape
        return Unreadable("", "corrupt")


def _render(data: bytes, number: int, width: int) -> PagePicture | Unreadable:
    document = pdfium.PdfDocument(data)
    try:
        document.init_forms()  # before any page is loaded: a fillable form's values are drawn, as printed
        pages = len(document)
        if not 0 < number <= min(pages, MAX_PAGE):
            return Unreadable("", "unrecognised")
        page = document[number - 1]
        try:
            page_width, page_height = page.get_size()  # points, as shown: crop box, turned by /Rotate
            if not (page_width > 0 and page_height > 0):
                return Unreadable("", "corrupt")
            scale = width / page_width
            if page_width * page_height * scale * scale > MAX_PIXELS:
                scale = (MAX_PIXELS / (page_width * page_height)) ** 0.5
            bitmap = page.render(scale=scale, may_draw_forms=True)
            try:
                image = bitmap.to_pil()
                out = io.BytesIO()
                image.save(out, format="PNG", optimize=False)
                return PagePicture(out.getvalue(), number, pages, image.width, image.height)
            finally:
                bitmap.close()
        finally:
            page.close()
    finally:
        document.close()
