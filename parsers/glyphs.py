"""A PDF's glyphs from PDFium: the flat-form reader's text at a tenth of pdfminer's cost.

pdfminer interprets a page's content stream in Python (some 20 ms a page of a form); PDFium (pypdfium2, which
renders pages for OCR and the workspace already) has every character with its box in a millisecond or two.
:class:`PdfiumText` hands out each page's glyphs exactly as :class:`parsers.text.GlyphCollector` records them
from pdfminer — left edge, right edge (the advance), baseline, type size and text, in pdfminer's device space
(the media box's corner moved to the origin, turned by ``/Rotate``) — so the same lines and segments are
built from either, and a value's place on the page is worked out as before.

PDFium measures in user space. A character's loose box spans its advance across (and its glyph, where that
overhangs: a fraction of a point) and its font's height up, so one call per character gives its edges; the
baseline, size and direction are asked once per text object (a run of characters drawn by one operator), not
per character.

A page whose text PDFium cannot map to Unicode (control codes, U+FFFD) is not trusted: :meth:`PdfiumText.glyphs`
returns None and the caller reads the page with pdfminer, the reference. PDFium is a C library reading hostile
files: only the isolated parse workers get here (``parsers.parse_document``).
"""

from __future__ import annotations

import ctypes
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from parsers.geometry import Sheet
from parsers.text import Glyph

_UNREADABLE_SHARE: Final = 0.05
"""A page whose characters are more than this share unmapped (control codes, U+FFFD) is left to pdfminer:
PDFium guessed where the file gave no Unicode, and a guess in a patient's name is worse than a slower read."""

_WHITESPACE: Final = frozenset(" \t\r\n\u00a0")

_HYPHEN: Final = 0x02
"""What PDFium makes of a hyphen it takes to end a line (``FPDFText_IsHyphen`` says so)."""

_UNMAPPED: Final = frozenset(("", "\ufffd"))

_NO_TEXT: Final = "\ufffe"
"""What PDFium's text of a page holds for a character with no text, and for a hyphen ending a line."""


def _lean(function: Any, restype: type[Any], *argtypes: type[Any]) -> Callable[..., Any]:
    """PDFium's ``function`` called with plain addresses: pypdfium2's own binding checks each argument's pointer
    type, which costs more than the call itself when made for every character of every page."""
    address = ctypes.cast(function, ctypes.c_void_p).value
    assert address is not None  # a symbol the library exports
    return ctypes.CFUNCTYPE(restype, *argtypes)(address)


_unicode = _lean(pdfium_c.FPDFText_GetUnicode, ctypes.c_uint, ctypes.c_void_p, ctypes.c_int)
_loose_box = _lean(pdfium_c.FPDFText_GetLooseCharBox, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p)
_text_object = _lean(pdfium_c.FPDFText_GetTextObject, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)


@dataclass(frozen=True)
class _Run:
    """What the characters of one text object share."""

    size: float
    """In pdfminer's terms: the type size times the device matrix's vertical scale."""
    advance: float
    """Device x travelled per point of the loose box's extent along the baseline: 1 upright, -1 upside down."""
    upright: bool
    """Drawn unturned (x along the baseline, y up): the box's left edge and the run's baseline place each
    character; otherwise each character's origin is asked for."""


class PdfiumText:
    """An open PDF's text through PDFium; close it (or use ``with``) when done."""

    def __init__(self, document: pdfium.PdfDocument) -> None:
        self._document = document
        self.pages = len(document)

    @classmethod
    def open(cls, data: bytes) -> PdfiumText | None:
        """``data`` opened with PDFium, or None when PDFium cannot open it (pdfminer then reads it alone)."""
        try:
            return cls(pdfium.PdfDocument(data))
        except pdfium.PdfiumError:
            return None

    def __enter__(self) -> PdfiumText:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._document.close()

    def glyphs(self, number: int, sheet: Sheet) -> list[Glyph] | None:
        """Page ``number``'s (1-based) glyphs in pdfminer's device space for a page shaped as ``sheet`` (the
        geometry pdfminer read, so the reader's boxes turn back into places as before); None when PDFium's
        text of the page is not to be trusted (see :data:`_UNREADABLE_SHARE`)."""
        page = self._document[number - 1]
        try:
            text = page.get_textpage()
            try:
                return _page_glyphs(text.raw, sheet)
            finally:
                text.close()
        finally:
            page.close()


def _page_glyphs(text: pdfium_c.FPDF_TEXTPAGE, sheet: Sheet, *, whole_text: bool = True) -> list[Glyph] | None:
    count = pdfium_c.FPDFText_CountChars(text)
    page = ctypes.cast(text, ctypes.c_void_p).value
    # The page's text in one call, when it has a character for each of PDFium's: checked again against the
    # character itself at every text object, and read a character at a time when they part.
    chars = _whole_text(text, count) if whole_text else None
    box = pdfium_c.FS_RECTF()
    box_at = ctypes.addressof(box)
    corners = struct.Struct("4f").unpack_from  # FS_RECTF: left, top, right, bottom; one call, not four
    ox, oy = ctypes.c_double(), ctypes.c_double()
    matrix = pdfium_c.FS_MATRIX()
    to_device = _device(sheet)
    # pdfminer's device space is user space moved (and on a turned page turned): unturned, a glyph's left edge
    # moves by a constant, which is worked out once rather than for every character.
    shift_x, shift_y = (-sheet.media[0], -sheet.media[1]) if sheet.rotate == 0 else (0.0, 0.0)
    glyphs: list[Glyph] = []
    unreadable = 0
    run: _Run | None = None
    drawn_by: int | None = None
    fast = False  # in an upright run on an unturned page: each character's box alone places it
    size = advance = baseline = run_bottom = run_top = 0.0
    for index in range(count):
        char = chars[index] if chars is not None else _char(_unicode(page, index))
        if char == _NO_TEXT:
            # PDFium's stand-in for a character with no text, or a hyphen it takes to end a line (code 2), where
            # pdfminer has the hyphen that was drawn.
            code = _unicode(page, index)
            char = "-" if code == _HYPHEN and pdfium_c.FPDFText_IsHyphen(text, index) == 1 else _char(code)
        if not _loose_box(page, index, box_at):
            continue
        left, top, right, bottom = corners(box)
        if char in _WHITESPACE and left == right and bottom == top:
            continue  # a space or line break PDFium inferred (a point, not a box): pdfminer sees only what is drawn
        if char in _UNMAPPED:
            unreadable += 1
        if fast and bottom == run_bottom and top == run_top:
            # The same height as the character before: the same baseline, size and font (a loose box's height
            # is its font's, drawn at its size and baseline), so which text object drew it need not be asked.
            x0 = left + shift_x
            glyphs.append((x0, x0 + (right - left) * advance, baseline, size, char))
            continue
        run_bottom, run_top = bottom, top
        text_object = _text_object(page, index)
        if fast and text_object == drawn_by:
            x0 = left + shift_x
            glyphs.append((x0, x0 + (right - left) * advance, baseline, size, char))
            continue
        if chars is not None and char != _char(_unicode(page, index)) and char != "-":
            return _page_glyphs(text, sheet, whole_text=False)
        drawn_by = text_object
        pdfium_c.FPDFText_GetCharOrigin(text, index, ox, oy)
        pdfium_c.FPDFText_GetMatrix(text, index, matrix)
        run = _run((matrix.a, matrix.b, matrix.c, matrix.d), pdfium_c.FPDFText_GetFontSize(text, index), sheet.rotate)
        size, advance = run.size, run.advance
        fast = run.upright and sheet.rotate == 0 and text_object is not None
        baseline = oy.value + shift_y
        x0, y0 = to_device(left if run.upright else ox.value, oy.value)
        width = (right - left) if run.upright else _along(left, bottom, right, top, matrix)
        glyphs.append((x0, x0 + width * advance, y0, size, char))
    if glyphs and unreadable > _UNREADABLE_SHARE * len(glyphs):
        return None
    return glyphs


def _whole_text(text: pdfium_c.FPDF_TEXTPAGE, count: int) -> str | None:
    """The page's text, a character to each of PDFium's characters; None where it is not that."""
    if count <= 0:
        return None
    buffer = (ctypes.c_ushort * (2 * count + 1))()
    written = pdfium_c.FPDFText_GetText(text, 0, count, buffer)
    whole = bytes(memoryview(buffer)[: max(written - 1, 0)]).decode("utf-16-le", errors="replace")
    return whole if len(whole) == count else None


def _run(matrix: tuple[float, float, float, float], font_size: float, rotate: int) -> _Run:
    """The run of a text object drawn with ``matrix`` (user space, its type size taken out) at ``font_size``
    on a page turned by ``rotate``."""
    a, b, c, d = matrix
    # pdfminer's glyph size is the type size times the device matrix's vertical scale, and its right edge
    # the advance times the device matrix's horizontal scale: the same matrix turned as the page is.
    a_device, d_device = _turned(a, b, rotate)[0], _turned(c, d, rotate)[1]
    scale = math.hypot(a, b)
    return _Run(
        size=abs(font_size * d_device),
        advance=a_device / scale if scale > 0 else 0.0,
        upright=b == 0 and c == 0 and a > 0,
    )


def _along(left: float, bottom: float, right: float, top: float, matrix: pdfium_c.FS_MATRIX) -> float:
    """A turned character's advance in points: its loose box's extent along its baseline."""
    return (right - left) if abs(matrix.a) >= abs(matrix.b) else (top - bottom)


def _turned(x: float, y: float, rotate: int) -> tuple[float, float]:
    """A direction in user space as pdfminer's device space has it on a page turned by ``rotate``."""
    if rotate == 90:
        return y, -x
    if rotate == 180:
        return -x, -y
    if rotate == 270:
        return -y, x
    return x, y


def _device(sheet: Sheet) -> Callable[[float, float], tuple[float, float]]:
    """How a point of user space stands in pdfminer's device space: the inverse of :meth:`Sheet.from_device`."""
    x0, y0, x1, y1 = sheet.media
    if sheet.rotate == 90:
        return lambda x, y: (y - y0, x1 - x)
    if sheet.rotate == 180:
        return lambda x, y: (x1 - x, y1 - y)
    if sheet.rotate == 270:
        return lambda x, y: (y1 - y, x - x0)
    return lambda x, y: (x - x0, y - y0)


def _char(code: int) -> str:
    """The text of a character PDFium mapped to ``code``: "" where it has none, as pdfminer gives."""
    if code in (0x09, 0x0A, 0x0D) or 0x20 <= code < 0xD800 or (0xE000 <= code <= 0x10FFFF and code < 0xFFFE):
        return chr(code)
    return ""
