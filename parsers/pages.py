"""A form photographed page by page: pictures of one message read as the pages of one document.

A phone photographs a form a page at a time and the referrer attaches the photos ("IMG_0412.jpg",
"IMG_0413.jpg"). Only the first page carries the form's title, so each later page alone holds "no form".
:func:`read_pages` reads a form's picture and the pictures after it as one document's pages, through the same
OCR reader as a multi-page scan (``parsers.ocr.parse_pictures``), and makes a PDF of those pages for the team
to download, each picture a page.

Only the isolated parse workers call this (``intake.isolation``): it decodes hostile pictures. It never raises
but for MemoryError, which the worker reports as "too_large".
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from typing import Final

from config.forms import FormDefinitions
from parsers import may_be_a_page
from parsers.types import Form, PagesRead, Unreadable

_A4_WIDTH_POINTS: Final = 595.0
"""A picture's shorter side is taken as an A4 page's width in the PDF (a photo says nothing true of its size)."""

_JPEG_QUALITY: Final = 90


def read_pages(pictures: Sequence[bytes], filename: str, definitions: FormDefinitions, *, today: dt.date) -> PagesRead:
    """``pictures[0]`` (a picture holding a form) and the pictures after it, read as one document's pages in
    order. A following picture too small to be a page (a logo) is no page. When none follows, or the pages
    hold no form, ``document`` is ``Unreadable`` and the pictures stay what they were read as alone."""
    from parsers.ocr import parse_pictures

    if not pictures:
        return PagesRead(Unreadable(filename, "unrecognised"))
    pages = [pictures[0], *(data for data in pictures[1:] if may_be_a_page(data))]
    if len(pages) < 2:
        return PagesRead(Unreadable(filename, "unrecognised"))
    document = parse_pictures(pages, filename, definitions, today=today)
    if not isinstance(document, Form):
        return PagesRead(document)
    try:
        pdf = pictures_pdf(pages)
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - a picture OCR read but pdfium would not take: the team keeps the first
        pdf = None
    return PagesRead(document, pdf)


def pictures_pdf(pictures: Sequence[bytes]) -> bytes:
    """``pictures`` as a PDF, one a page, its shorter side A4's width: a JPEG as it was sent (unless its EXIF
    data turns it), any other picture as a JPEG. One picture is decoded at a time, for the worker's memory cap."""
    import pypdfium2
    from PIL import Image, ImageOps

    pdf = pypdfium2.PdfDocument.new()
    try:
        for sent in pictures:
            jpeg = sent
            with Image.open(io.BytesIO(sent)) as picture:
                as_sent = picture.format == "JPEG" and picture.mode in ("L", "RGB") and _upright(picture)
                if not as_sent:
                    upright = ImageOps.exif_transpose(picture)
                    out = io.BytesIO()
                    upright.convert("L" if upright.mode in ("1", "L", "I;16") else "RGB").save(
                        out, format="JPEG", quality=_JPEG_QUALITY
                    )
                    jpeg = out.getvalue()
            image = pypdfium2.PdfImage.new(pdf)
            image.load_jpeg(io.BytesIO(jpeg), inline=True)
            pixels_wide, pixels_high = image.get_px_size()
            scale = _A4_WIDTH_POINTS / max(1, min(pixels_wide, pixels_high))
            width, height = pixels_wide * scale, pixels_high * scale
            image.set_matrix(pypdfium2.PdfMatrix().scale(width, height))
            page = pdf.new_page(width, height)
            page.insert_obj(image)
            page.gen_content()
            page.close()
        out = io.BytesIO()
        pdf.save(out)
        return out.getvalue()
    finally:
        pdf.close()


_EXIF_ORIENTATION: Final = 0x0112


def _upright(picture: object) -> bool:
    getexif = getattr(picture, "getexif", None)
    if getexif is None:
        return True
    return int(getexif().get(_EXIF_ORIENTATION, 1) or 1) == 1
