"""Reading one of the four forms from a PDF.

:func:`parse_pdf` never raises (but for MemoryError, which the isolating worker reports): a file that cannot
be read comes back as :class:`Unreadable` saying why (encrypted, corrupt, scanned, unrecognised). For a
fillable form only page 1's text is read — it is all the title needs — and not even that when filled fields
already say which form it is, so a fillable form costs well under half of pdfplumber extracting its text. A
flat form's labels and values are read from the text of every page (parsers/text.py).

pdfminer reads the file's structure (pages, their geometry, fillable fields). The glyphs the title and a flat
form are read from come from PDFium (parsers/glyphs.py), ten times cheaper than pdfminer interpreting each
page in Python, page by page where PDFium reads the page as pdfminer does: pdfminer reads a page instead when
PDFium cannot open the file or counts other pages, fails on the page, maps too little of its text to Unicode,
or finds no text where pdfminer finds some. ``reader="pdfminer"`` reads every page with pdfminer: the reference
the tests hold PDFium's reading to.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import itertools
import operator
import re
from collections.abc import Sequence
from types import TracebackType
from typing import Final, Literal

from pdfminer.pdfdocument import PDFDocument, PDFEncryptionError
from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
from pdfminer.pdfpage import PDFPage
from pdfminer.pdfparser import PDFParser
from pdfminer.pdftypes import PDFObjRef, PDFStream, resolve1
from pdfminer.psparser import LIT

from config.forms import FormDefinition, FormDefinitions, FormKind
from parsers.acroform import AcroField, map_fields, read_acroform
from parsers.geometry import Rect, Sheet
from parsers.glyphs import PdfiumText
from parsers.recognise import by_field_names, by_filename, recognise
from parsers.text import Glyph, GlyphCollector, Line, glyph_lines, read_lines
from parsers.types import Document, Form, Place, Unreadable
from parsers.values import type_fields

_TEXT_PAGES: Final = 3
"""How many leading pages are looked at to tell a scan (images, no text) from an empty page."""

_MAX_PAGES: Final = 10_000
"""Pages counted at most; a hostile page tree can claim (or loop to) any number."""

_MAX_TEXT_PAGES: Final = 40
"""Pages a flat form is read from at most: the forms run to a few pages; a longer file is mostly something else."""

_DECISIVE_FIELD_NAMES: Final = 3
"""Filled fillable forms with at least this many field names unique to one form are that form, title unread."""

_PDFIUM_CONTENT: Final = 1_000_000
"""Bytes of a page's content (decoded) that PDFium reads at most; a page of a form has tens of thousands."""

_FORM: Final = LIT("Form")
_ESCAPED_NAME: Final = re.compile(rb"/[^\s/\[\]<>(){}%]*#[0-9A-Fa-f]{2}[^\s/\[\]<>(){}%]*")
_ESCAPE: Final = re.compile(rb"#([0-9A-Fa-f]{2})")
_TYPE3: Final = LIT("Type3")

_LEFT: Final = operator.itemgetter(0)
_BASELINE: Final = operator.itemgetter(2)

_TOLERANCE: Final = 3.0
"""Points within which two glyphs share a line, and beyond which a gap between them is a space (pdfplumber's
defaults, so the title reads as pdfplumber would print it)."""


Reader = Literal["pdfium", "pdfminer"]
"""Where the glyphs of a page's text come from: PDFium, falling back to pdfminer page by page, or pdfminer."""


def parse_pdf(
    data: bytes, filename: str, definitions: FormDefinitions, *, today: dt.date, reader: Reader = "pdfium"
) -> Document:
    """The form in PDF ``data``, or why there is none.

    A fillable form gives a :class:`Form` with ``source="acroform"``. A recognised form with nothing in its
    fillable fields gives a Form with ``source="text"`` holding the values printed beside its labels. A PDF that
    needs a password is "encrypted" (an owner password alone does not stop reading); one pdfminer cannot
    parse, or with no pages, is "corrupt"; pages with images but no text and no field values are read by OCR
    (parsers/ocr: ``source="ocr"``), and are "scanned" when no form is read there; anything else that is none
    of the four forms is "unrecognised". ``today`` only resolves two-digit years. ``reader`` says where the
    text's glyphs come from (see the module's docstring).
    """
    try:
        return _parse(data, filename, definitions, today, reader)
    except MemoryError:
        raise  # the isolating worker reports it as "too_large"; it is not the file's structure
    except Exception:  # noqa: BLE001 - hostile bytes can make pdfminer raise anything; none of it may escape
        return Unreadable(filename, "corrupt", _kind_from_name(filename, definitions))


def _parse(data: bytes, filename: str, definitions: FormDefinitions, today: dt.date, reader: Reader) -> Document:
    # pdfminer itself, not pdfplumber over it: pdfplumber decodes the metadata on opening and builds its
    # pages on closing, a tenth of a flat form's whole reading; only a scan's check needs pdfplumber's pages.
    try:
        doc = PDFDocument(PDFParser(io.BytesIO(data)), password="")
    except PDFEncryptionError:
        return Unreadable(filename, "encrypted", _kind_from_name(filename, definitions))
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - whatever pdfminer raises on bytes it cannot parse, the file is corrupt
        return Unreadable(filename, "corrupt", _kind_from_name(filename, definitions))
    first, _, page_of, sheets = _page_numbers(doc)
    if first is None:
        return Unreadable(filename, "corrupt", _kind_from_name(filename, definitions))
    with _Pages(doc, data, sheets, page_of, pdfium=reader == "pdfium") as pages:
        return _read(doc, pages, data, filename, definitions, today)


def _read(
    doc: PDFDocument, pages: _Pages, data: bytes, filename: str, definitions: FormDefinitions, today: dt.date
) -> Document:
    sheets = pages.sheets
    fields = read_acroform(doc.catalog.get("AcroForm"), pages.page_of)
    names = [f.name for f in fields]
    filled = any(f.filled for f in fields)
    # Reading page 1's text costs as much again as reading the fields. When filled fields carry several keys
    # that only one form has, they settle the question as surely as the title and the text is not read.
    kind = by_field_names(names, definitions, at_least=_DECISIVE_FIELD_NAMES) if filled else None
    if kind is None:
        title_text = _lines(pages.glyphs(1))
        if not title_text.strip() and not filled and _is_scan(data):
            # Pictures of pages: read by OCR (imported here, as the readers are: only scans need Tesseract).
            from parsers.ocr import parse_scanned_pdf

            return parse_scanned_pdf(data, filename, definitions, today=today)
        kind = recognise(title_text, names, filename, definitions)
    if kind is None:
        return Unreadable(filename, "unrecognised")
    form = _from_fields(fields, definitions[kind], filename, sheets, today) if filled else None
    return form or _from_text(pages, definitions[kind], filename, today)


def _from_fields(
    fields: Sequence[AcroField], definition: FormDefinition, filename: str, sheets: Sequence[Sheet], today: dt.date
) -> Form | None:
    """The form's values from its fillable fields, or None when none of them is one of our keys."""

    def where(acro: AcroField) -> Place | None:
        if acro.page is None or acro.rect is None or not 0 < acro.page <= len(sheets):
            return None
        return sheets[acro.page - 1].place(acro.rect)

    mapped = map_fields(fields, definition, where)
    if not mapped.values and not mapped.errors:
        return None
    values, type_errors = type_fields(mapped.values, definition, today)
    order = {f.key: i for i, f in enumerate(definition.fields)}
    invalid = sorted((*mapped.errors, *type_errors), key=lambda e: order.get(e.key, len(order)))
    reported = set(values) | {e.key for e in invalid}
    found = sorted(
        (f for key, f in mapped.found.items() if key in reported), key=lambda f: order.get(f.key, len(order))
    )
    return Form(
        kind=definition.kind,
        filename=filename,
        fields=values,
        invalid=tuple(invalid),
        found=tuple(found),
        source="acroform",
        pages=len(sheets),
    )


def _from_text(pages: _Pages, definition: FormDefinition, filename: str, today: dt.date) -> Form:
    """A flat (printed or exported) form: its labels and values read from the text of up to
    ``_MAX_TEXT_PAGES`` pages (every page, not only the leading ones the document was opened with)."""
    sheets = pages.sheets

    def locate(page: int, box: Rect) -> Place | None:
        if not 0 < page <= len(sheets):
            return None
        sheet = sheets[page - 1]
        x0, y0 = sheet.from_device(box[0], box[1])
        x1, y1 = sheet.from_device(box[2], box[3])
        return sheet.place((x0, y0, x1, y1))

    reading = read_lines(pages.lines(_MAX_TEXT_PAGES), definition, today, locate=locate)
    return Form(
        kind=definition.kind,
        filename=filename,
        fields=reading.fields,
        invalid=reading.invalid,
        found=reading.found,
        source="text",
        pages=len(sheets),
    )


class _Pages:
    """The glyphs of each page, from PDFium where it reads the page as pdfminer does, else from pdfminer."""

    def __init__(
        self, doc: PDFDocument, data: bytes, sheets: Sequence[Sheet], page_of: dict[int, int], *, pdfium: bool
    ) -> None:
        self.sheets = sheets
        self.page_of = page_of
        self._doc = doc
        self._miner: list[PDFPage] | None = None
        self._resources = PDFResourceManager(caching=True)
        self._data = data
        self._use_pdfium = pdfium  # opened when a page's text is first wanted: filled fields may say it all
        self._pdfium: PdfiumText | None = None
        self._forms = False
        self._read: dict[int, list[Glyph]] = {}

    def __enter__(self) -> _Pages:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self._pdfium is not None:
            self._pdfium.close()

    def glyphs(self, number: int) -> list[Glyph]:
        """Page ``number``'s (1-based) glyphs, as :class:`parsers.text.GlyphCollector` records them."""
        if number not in self._read:
            glyphs = self._from_pdfium(number)
            if glyphs is None or not _has_text(glyphs):
                # Nothing from PDFium, or no text: pdfminer's reading (empty too on a scan, at little cost).
                glyphs = self._from_pdfminer(number)
            self._read[number] = glyphs
        return self._read[number]

    def lines(self, most: int) -> list[Line]:
        """The printed lines of the first ``most`` pages, top to bottom, page after page."""
        return [line for n in range(1, min(most, len(self.sheets)) + 1) for line in glyph_lines(self.glyphs(n), n)]

    def _open_pdfium(self) -> PdfiumText | None:
        if self._use_pdfium:
            self._use_pdfium = False
            self._pdfium = PdfiumText.open(self._data)
            if self._pdfium is not None and self._pdfium.pages != len(self.sheets):
                # PDFium found other pages than pdfminer (a broken page tree, mended differently): the page
                # numbers and geometry the places are worked out from are pdfminer's, so pdfminer reads them.
                self._pdfium.close()
                self._pdfium = None
            self._forms = self._pdfium is not None and _may_hold_forms(self._data)
        return self._pdfium

    def _from_pdfium(self, number: int) -> list[Glyph] | None:
        pdfium = self._open_pdfium()
        if pdfium is None:
            return None
        try:
            if not _fit_for_pdfium(self._page(number), forms=self._forms):
                return None
            return pdfium.glyphs(number, self.sheets[number - 1])
        except MemoryError:
            raise
        except Exception:  # noqa: BLE001 - a page PDFium (or the look before it) fails on is pdfminer's to read
            return None

    def _from_pdfminer(self, number: int) -> list[Glyph]:
        page = self._page(number)
        if page is None:
            return []
        glyphs = GlyphCollector(self._resources)
        PDFPageInterpreter(self._resources, glyphs).process_page(page)
        return glyphs.glyphs

    def _page(self, number: int) -> PDFPage | None:
        if self._miner is None:
            self._miner = list(itertools.islice(PDFPage.create_pages(self._doc), _MAX_TEXT_PAGES))
        return self._miner[number - 1] if 0 < number <= len(self._miner) else None


def _fit_for_pdfium(page: PDFPage | None, *, forms: bool) -> bool:
    """Whether PDFium may read ``page``. PDFium builds every object of a page in memory before any is read,
    where pdfminer goes through them one by one: a page that could stand for more objects than the worker's
    memory holds is pdfminer's, which at worst runs out of time, as before. That is a page with more than
    ``_PDFIUM_CONTENT`` bytes of content, or (where the file may hold them at all: ``forms``) drawing form
    XObjects (a few KB of forms drawing each other are billions of objects) or Type 3 fonts (each glyph a
    content stream of its own, which may draw forms)."""
    if page is None:
        return False
    size = 0
    for stream in page.contents:
        content = resolve1(stream)
        size += len(content.get_data()) if isinstance(content, PDFStream) else 0
        if size > _PDFIUM_CONTENT:
            return False
    resources = resolve1(page.resources) if forms else None
    if not isinstance(resources, dict):
        return True
    for kind, subtype in (("XObject", _FORM), ("Font", _TYPE3)):
        entries = resolve1(resources.get(kind))
        if isinstance(entries, dict) and any(_subtype(entry) is subtype for entry in entries.values()):
            return False
    return True


def _may_hold_forms(data: bytes) -> bool:
    """Whether the file may hold form XObjects or Type 3 fonts. A stream's dictionary is never compressed, so
    a form XObject's ``/Form`` is in the file's bytes (unless spelt with ``#`` escapes, which send the file the
    long way too); resolving every font of every page to look for Type 3 costs pdfminer more than PDFium's
    whole reading of a page, and Type 3 glyphs are only a danger when they draw forms."""
    if b"/Form" in data:
        return True
    unescape = functools.partial(_ESCAPE.sub, lambda m: bytes((int(m.group(1), 16),)))
    return any(b"/Form" in unescape(name.group()) for name in _ESCAPED_NAME.finditer(data))


def _subtype(entry: object) -> object:
    value = resolve1(entry)
    return resolve1(value.get("Subtype")) if isinstance(value, dict | PDFStream) else None


def _has_text(glyphs: Sequence[Glyph]) -> bool:
    return any(g[4].strip() for g in glyphs)


def _lines(glyphs: list[Glyph]) -> str:
    """The text of one page's ``glyphs``, line by line from the top, words split where glyphs stand apart: what
    the title is recognised by, as pdfplumber would print it."""
    ordered = sorted(glyphs, key=_LEFT)  # down the page, then along each line (two stable sorts)
    ordered.sort(key=_BASELINE, reverse=True)
    lines: list[list[Glyph]] = []
    line: list[Glyph] = []
    for glyph in ordered:
        if line and abs(line[0][2] - glyph[2]) <= _TOLERANCE:
            line.append(glyph)
        else:
            line = [glyph]
            lines.append(line)
    out: list[str] = []
    for line in lines:
        words: list[str] = []
        end: float | None = None
        for x0, x1, _, _, text in sorted(line, key=_LEFT):
            if end is not None and x0 - end > _TOLERANCE:
                words.append(" ")
            words.append(text)
            end = x1
        out.append("".join(words))
    return "\n".join(out)


def _page_numbers(doc: PDFDocument) -> tuple[PDFPage | None, int, dict[int, int], list[Sheet]]:
    """The first page, how many pages, object number → 1-based page number for each page and annotation, and
    each page's geometry (for where a value stands on it)."""
    numbers: dict[int, int] = {}
    sheets: list[Sheet] = []
    count = 0
    first: PDFPage | None = None
    for number, page in enumerate(itertools.islice(PDFPage.create_pages(doc), _MAX_PAGES), start=1):
        count = number
        sheets.append(Sheet.of(page))
        first = first or page
        if isinstance(page.pageid, int):
            numbers.setdefault(page.pageid, number)
        annots = page.annots
        if isinstance(annots, PDFObjRef):
            try:
                annots = annots.resolve(None)
            except Exception:  # noqa: BLE001 - a broken annotation list only loses where fields are
                annots = None
        for annot in annots if isinstance(annots, list) else ():
            if isinstance(annot, PDFObjRef):
                numbers.setdefault(annot.objid, number)
    return first, count, numbers, sheets


def _is_scan(data: bytes) -> bool:
    """Whether the leading pages hold images but no text at all."""
    import pdfplumber  # only a file with no text on page 1 gets here

    with pdfplumber.open(io.BytesIO(data), pages=list(range(1, _TEXT_PAGES + 1))) as pdf:
        if any(char.get("text", "").strip() for page in pdf.pages for char in page.chars):
            return False
        return any(page.images for page in pdf.pages)


def _kind_from_name(filename: str, definitions: FormDefinitions) -> FormKind | None:
    try:
        return by_filename(filename, definitions)
    except Exception:  # noqa: BLE001 - only a hint for the team; never worth failing over
        return None
