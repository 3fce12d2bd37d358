"""Reading one of the four forms from a Word document (.docx) directly.

The document body is laid out as lines of segments, as parsers/text.py reads a flat PDF: a paragraph is a
line (a tab or a line break inside it splits it), a table row is a line whose segments are its cells, each
cell at the x of its grid column. Word's check-box content controls and legacy check-box fields become the
ballot boxes ☒/☐ by their ticked state; content controls tagged with a field's key (``patient.surname``,
``difficulties.D4``) give that field's value directly, as a fillable PDF's field names do. Deleted text in
tracked changes and field codes are not part of what the document says, so they are skipped.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from dataclasses import dataclass, field
from typing import Any, Final

import docx

from config.forms import FormDefinition, FormDefinitions, FormKind
from parsers.acroform import AcroField, map_fields
from parsers.recognise import by_filename, recognise
from parsers.text import Line, Segment, normalise_glyphs, read_lines
from parsers.types import Document, Form, Unreadable
from parsers.values import type_fields

_W: Final = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_W14: Final = "{http://schemas.microsoft.com/office/word/2010/wordml}"

_MAX_UNPACKED: Final = 200 * 1024 * 1024
"""Bytes a .docx may unpack to: a form is a few hundred KB; far more is a zip bomb, not a referral."""

_MAX_LINES: Final = 20_000
_TITLE_LINES: Final = 40

_COLUMN: Final = 100.0
"""Synthetic width of one table grid column: cells of one column line up, different columns stand apart."""

_TAB: Final = 40.0
_SIZE: Final = 10.0
_HEADING_SIZE: Final = 14.0

_SYMBOLS: Final = {"F0FE": "☒", "F078": "☒", "F0FC": "✓", "F0A8": "☐", "F06F": "☐", "F0A3": "☐", "F053": "☒"}


def parse_docx(data: bytes, filename: str, definitions: FormDefinitions, *, today: dt.date) -> Document:
    """The form in the Word document ``data``, or why there is none; never raises but for MemoryError.

    A ZIP that is not a Word document (a spreadsheet, an archive) is "unrecognised"; one that cannot be
    unpacked is "corrupt"; one that would unpack to more than 200 MB is "too_large". A document whose text is
    no form but which shows pictures is read from those pictures by OCR (``source="ocr"``), and is "scanned"
    when they hold no form either and it has no text. Otherwise the Form has ``source="docx"``; ``found``
    pages count Word's page breaks.
    """
    try:
        return _parse(data, filename, definitions, today)
    except MemoryError:
        raise  # the isolating worker reports it as "too_large"; it is not the file's structure
    except Exception:  # noqa: BLE001 - hostile bytes can make zipfile or lxml raise anything; none may escape
        return Unreadable(filename, "corrupt", _kind_from_name(filename, definitions))


def _parse(data: bytes, filename: str, definitions: FormDefinitions, today: dt.date) -> Document:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile:
        return Unreadable(filename, "corrupt", _kind_from_name(filename, definitions))
    if "word/document.xml" not in {m.filename for m in members}:
        return Unreadable(filename, "unrecognised")
    if sum(m.file_size for m in members) > _MAX_UNPACKED:
        return Unreadable(filename, "too_large", _kind_from_name(filename, definitions))
    document = docx.Document(io.BytesIO(data))
    body = document.element.body
    layout = _Layout()
    layout.block(body, 0.0)
    tags = [AcroField(name=t.name, kind=t.kind, value=t.value, page=t.page, state="Yes") for t in layout.tags]
    # A Word document has no fixed pages: its first lines stand in for page 1.
    title = "\n".join(line.text for line in layout.lines[:_TITLE_LINES])
    names = [t.name for t in tags]
    if layout.pictures and recognise(title, names, "", definitions) is None:
        # No form in its text, but pictures: a scan or a photo of the form pasted into Word, read by OCR
        # (the file's name may say which form it is; its text does not hold it).
        from parsers.ocr import parse_pictures

        scanned = parse_pictures(_pictures(document), filename, definitions, today=today)
        if isinstance(scanned, Form) or not layout.lines:
            return scanned
    kind = recognise(title, names, filename, definitions)
    if not layout.lines or kind is None:
        return Unreadable(filename, "unrecognised")
    return _form(layout, tags, definitions[kind], filename, today)


_PICTURE_REFERENCES: Final = (
    "{http://schemas.openxmlformats.org/drawingml/2006/main}blip",
    "{urn:schemas-microsoft-com:vml}imagedata",
)
_RELATIONSHIP: Final = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"


def _pictures(document: Any) -> list[bytes]:
    """The pictures the document's body shows (word/media/*), in the order it shows them, each once."""
    related = document.part.related_parts
    pictures: dict[str, bytes] = {}
    for element in document.element.body.iter(*_PICTURE_REFERENCES):
        rid = element.get(f"{_RELATIONSHIP}embed") or element.get(f"{_RELATIONSHIP}id")
        part = related.get(rid) if rid else None
        if part is not None and rid not in pictures:
            pictures[rid] = part.blob
    return list(pictures.values())


def _form(layout: _Layout, tags: list[AcroField], definition: FormDefinition, filename: str, today: dt.date) -> Form:
    reading = read_lines(layout.lines, definition, today)
    mapped = map_fields(tags, definition)
    fields = dict(reading.fields)
    found = {f.key: f for f in reading.found}
    invalid = {e.key: e for e in reading.invalid}
    if mapped.values or mapped.errors:
        # A control tagged with the key says for certain which field it is; it wins over a label nearby.
        tagged, tag_errors = type_fields(mapped.values, definition, today)
        for key, value in tagged.items():
            fields[key] = value
            invalid.pop(key, None)
            found[key] = mapped.found[key]
        for error in (*tag_errors, *mapped.errors):
            fields.pop(error.key, None)
            invalid[error.key] = error
    order = {f.key: i for i, f in enumerate(definition.fields)}
    return Form(
        kind=definition.kind,
        filename=filename,
        fields={k: fields[k] for k in sorted(fields, key=lambda k: order.get(k, len(order)))},
        invalid=tuple(sorted(invalid.values(), key=lambda e: order.get(e.key, len(order)))),
        found=tuple(sorted(found.values(), key=lambda f: order.get(f.key, len(order)))),
        source="docx",
        pages=layout.page,
    )


@dataclass(frozen=True)
class _Tag:
    name: str
    kind: Any
    value: str | bool
    page: int


@dataclass
class _Layout:
    """Lays the body out as lines, remembering content controls tagged with a name and whether there are pictures."""

    lines: list[Line] = field(default_factory=list)
    tags: list[_Tag] = field(default_factory=list)
    page: int = 1
    pictures: bool = False

    def block(self, element: Any, x: float) -> None:
        for child in element:
            if len(self.lines) >= _MAX_LINES:
                return
            if child.tag == f"{_W}p":
                self.paragraph(child, x)
            elif child.tag == f"{_W}tbl":
                self.table(child, x)
            elif child.tag == f"{_W}sdt":
                self._remember(child)
                content = child.find(f"{_W}sdtContent")
                if content is not None:
                    self.block(content, x)

    def paragraph(self, element: Any, x: float) -> None:
        style = element.find(f"{_W}pPr/{_W}pStyle")
        name = (style.get(f"{_W}val") or "").lower() if style is not None else ""
        # A heading ends the value above it, as larger type does in a PDF.
        size = _HEADING_SIZE if name.startswith(("heading", "title", "subtitle")) else _SIZE
        for line in self.paragraph_lines(element):
            self.add([(x + offset, text) for offset, text in line], size)

    def paragraph_lines(self, element: Any) -> list[list[tuple[float, str]]]:
        """The paragraph's lines, each a list of (offset, text) pieces split at tabs."""
        lines: list[list[tuple[float, str]]] = [[(0.0, "")]]
        for kind, text in self._inline(element):
            if kind == "break":
                lines.append([(0.0, "")])
            elif kind == "tab":
                lines[-1].append((len(lines[-1]) * _TAB, ""))
            else:
                offset, current = lines[-1][-1]
                lines[-1][-1] = (offset, current + text)
        return [[(o, t) for o, t in line if t.strip()] for line in lines]

    def _inline(self, element: Any) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for child in element:
            tag = child.tag
            if tag in (f"{_W}del", f"{_W}instrText", f"{_W}delText", f"{_W}pPr", f"{_W}rPr"):
                continue
            if tag == f"{_W}t":
                out.append(("text", child.text or ""))
            elif tag == f"{_W}tab":
                out.append(("tab", ""))
            elif tag in (f"{_W}br", f"{_W}cr"):
                if child.get(f"{_W}type") == "page":
                    self.page += 1
                else:
                    out.append(("break", ""))
            elif tag == f"{_W}lastRenderedPageBreak":
                self.page += 1
            elif tag == f"{_W}noBreakHyphen":
                out.append(("text", "-"))
            elif tag == f"{_W}sym":
                out.append(("text", _SYMBOLS.get((child.get(f"{_W}char") or "").upper(), "")))
            elif tag == f"{_W}fldChar":
                box = child.find(f"{_W}ffData/{_W}checkBox")
                if box is not None:
                    out.append(("text", "☒ " if _legacy_ticked(box) else "☐ "))
            elif tag in (f"{_W}drawing", f"{_W}pict", f"{_W}object"):
                self.pictures = True
            elif tag == f"{_W}sdt":
                self._remember(child)
                checkbox = child.find(f"{_W}sdtPr/{_W14}checkbox")
                if checkbox is not None:
                    out.append(("text", "☒" if _ticked(checkbox) else "☐"))
                    continue
                content = child.find(f"{_W}sdtContent")
                if content is not None:
                    out.extend(self._inline(content))
            else:
                out.extend(self._inline(child))
        return out

    def table(self, element: Any, x: float) -> None:
        for row in _children(element, "tr"):
            cells: list[list[list[tuple[float, str, float]]]] = []
            column = 0
            for cell in _children(row, "tc"):
                span = cell.find(f"{_W}tcPr/{_W}gridSpan")
                nested = _Layout(page=self.page)
                nested.block(cell, 0.0)
                self.page = nested.page
                self.tags.extend(nested.tags)
                self.pictures = self.pictures or nested.pictures
                left = x + column * _COLUMN
                cells.append([[(left + s.x0, s.text, line.size) for s in line.segments] for line in nested.lines])
                column += int(span.get(f"{_W}val", "1")) if span is not None else 1
            for n in range(max((len(c) for c in cells), default=0)):
                pieces = [piece for c in cells if n < len(c) for piece in c[n]]
                self.add([(x0, text) for x0, text, _ in pieces], max(size for _, _, size in pieces))

    def add(self, pieces: list[tuple[float, str]], size: float = _SIZE) -> None:
        segments = tuple(
            Segment(x0, x0 + 1.0, normalise_glyphs(" ".join(text.split()))) for x0, text in pieces if text.strip()
        )
        if segments:
            self.lines.append(Line(self.page, len(self.lines) * 1.2 * _SIZE, size, segments))

    def _remember(self, sdt: Any) -> None:
        tag = sdt.find(f"{_W}sdtPr/{_W}tag")
        name = tag.get(f"{_W}val") if tag is not None else None
        if not name:
            return
        checkbox = sdt.find(f"{_W}sdtPr/{_W14}checkbox")
        if checkbox is not None:
            self.tags.append(_Tag(name, "checkbox", _ticked(checkbox), self.page))
            return
        content = sdt.find(f"{_W}sdtContent")
        if content is None:
            return
        texts = ["".join(t.text or "" for t in p.iter(f"{_W}t")) for p in content.iter(f"{_W}p")] or [
            "".join(t.text or "" for t in content.iter(f"{_W}t"))
        ]
        if sdt.find(f"{_W}sdtPr/{_W}showingPlcHdr") is not None:
            texts = []  # the grey "Click here to enter text." of an empty control
        earlier = next((n for n, t in enumerate(self.tags) if t.name == name and isinstance(t.value, str)), None)
        if earlier is not None:
            # One control a line, all tagged alike: the lines of one value.
            before = self.tags[earlier]
            self.tags[earlier] = _Tag(name, "text", "\n".join([str(before.value), *texts]), before.page)
            return
        self.tags.append(_Tag(name, "text", "\n".join(texts), self.page))


def _children(element: Any, name: str) -> list[Any]:
    """``element``'s children called ``name``, looking through content controls wrapped round them."""
    out = []
    for child in element:
        if child.tag == f"{_W}{name}":
            out.append(child)
        elif child.tag == f"{_W}sdt":
            content = child.find(f"{_W}sdtContent")
            if content is not None:
                out.extend(_children(content, name))
    return out


def _ticked(checkbox: Any) -> bool:
    state = checkbox.find(f"{_W14}checked")
    return state is not None and state.get(f"{_W14}val", "1") in ("1", "true", "on")


def _legacy_ticked(box: Any) -> bool:
    for name in ("checked", "default"):
        element = box.find(f"{_W}{name}")
        if element is not None:
            return element.get(f"{_W}val", "1") in ("1", "true", "on")
    return False


def _kind_from_name(filename: str, definitions: FormDefinitions) -> FormKind | None:
    try:
        return by_filename(filename, definitions)
    except Exception:  # noqa: BLE001 - only a hint for the team
        return None
