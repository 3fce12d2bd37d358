"""The four forms as Word documents (python-docx), and LibreOffice's PDF of them.

A referrer's word processor is the second producer of test forms, so the parser is not tuned to the project's
own drawing (samples/flat.py): :func:`word_document` lays a form out in a table, as ``Label: value``
paragraphs (some with a tab before the value) or with the value below the label, optionally with Word
content controls (check boxes and tagged text boxes). :func:`convert_to_pdf` turns many of them into PDFs in
one LibreOffice run, as "Save as PDF" would.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from docx import Document
from docx.oxml import OxmlElement, parse_xml
from docx.oxml.ns import qn
from docx.shared import Pt

from config.forms import FieldDefinition, FormDefinitions, FormKind
from parsers.types import Value
from samples.flat import TICK_SETS, Layout, PrintStyle, numbered_labels, printed_lines, section_of
from samples.forms import default_definitions

_W14: Final = "http://schemas.microsoft.com/office/word/2010/wordml"


def word_document(
    kind: FormKind,
    values: Mapping[str, Value],
    *,
    layout: Layout = "table",
    style: PrintStyle | None = None,
    content_controls: bool = False,
    tabs: bool = False,
    definitions: FormDefinitions | None = None,
    numbered: bool = False,
) -> bytes:
    """The form ``kind`` holding ``values`` as a .docx in ``layout`` (``numbered``: each label with its
    question's number before it).

    With ``content_controls`` each tick box is a Word check-box content control and each written value a
    plain-text content control tagged with its field's key; with ``tabs`` a ``Label:`` is followed by a tab
    rather than a space.
    """
    definition = (definitions or default_definitions())[kind]
    style = style or PrintStyle()
    document: Any = Document()
    document.styles["Normal"].font.size = Pt(10)
    document.core_properties.title = definition.title
    document.add_heading(definition.title, level=1)
    document.add_paragraph("Sample form: every name, number and address on it is invented.")
    section = ""
    table: Any = None
    labels = numbered_labels(definition) if numbered else {f.key: f.label for f in definition.fields}
    for field in definition.fields:
        if section_of(field.key) != section:
            section = section_of(field.key)
            document.add_heading(f"Section: {section}", level=2)
            table = document.add_table(rows=0, cols=2) if layout == "table" else None
            if table is not None:
                table.style = "Table Grid"
        lines = printed_lines(field, values.get(field.key), style)
        if table is not None:
            label_cell, value_cell = table.add_row().cells
            label_cell.paragraphs[0].add_run(labels[field.key])
            for n, line in enumerate(lines or [""]):
                paragraph = value_cell.paragraphs[0] if n == 0 else value_cell.add_paragraph()
                _write(paragraph, line, field, style, content_controls)
        elif layout == "colon" and len(lines) <= 1:
            paragraph = document.add_paragraph()
            paragraph.add_run(f"{labels[field.key]}:" + ("\t" if tabs else " "))
            _write(paragraph, lines[0] if lines else "", field, style, content_controls)
        else:
            paragraph = document.add_paragraph()
            paragraph.add_run(labels[field.key] + (":" if layout == "colon" else "")).bold = layout == "below"
            for line in lines:
                _write(document.add_paragraph(), line, field, style, content_controls)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _write(paragraph: Any, line: str, field: FieldDefinition, style: PrintStyle, content_controls: bool) -> None:
    if not content_controls:
        paragraph.add_run(line)
        return
    ticked, unticked = TICK_SETS[style.ticks]
    if field.type in ("checks", "yesno", "score", "enum") and (ticked in line or unticked in line):
        # Each glyph becomes a check-box control; the text between stays plain.
        rest = line
        while rest:
            positions = [(rest.find(g), g) for g in (ticked, unticked) if rest.find(g) >= 0]
            if not positions:
                paragraph.add_run(rest)
                break
            at, glyph = min(positions)
            if at:
                paragraph.add_run(rest[:at])
            paragraph._p.append(_checkbox(glyph == ticked))
            rest = rest[at + len(glyph) :]
        return
    paragraph._p.append(_text_control(field.key, line))


def _run(text: str) -> Any:
    run = OxmlElement("w:r")
    t = OxmlElement("w:t")
    t.text = text
    t.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
    run.append(t)
    return run


def _sdt(properties: list[Any], text: str) -> Any:
    sdt = OxmlElement("w:sdt")
    pr = OxmlElement("w:sdtPr")
    for element in properties:
        pr.append(element)
    content = OxmlElement("w:sdtContent")
    content.append(_run(text))
    sdt.append(pr)
    sdt.append(content)
    return sdt


def _text_control(key: str, text: str) -> Any:
    tag = OxmlElement("w:tag")
    tag.set(qn("w:val"), key)
    return _sdt([tag], text)


def _checkbox(checked: bool) -> Any:
    box = parse_xml(
        f'<w14:checkbox xmlns:w14="{_W14}"><w14:checked w14:val="{int(checked)}"/>'
        '<w14:checkedState w14:val="2612" w14:font="MS Gothic"/>'
        '<w14:uncheckedState w14:val="2610" w14:font="MS Gothic"/></w14:checkbox>'
    )
    return _sdt([box], "☒" if checked else "☐")


# --- LibreOffice -------------------------------------------------------------------------------------------


class ConversionFailed(RuntimeError):
    """LibreOffice did not produce a PDF for every document it was given (or is not installed)."""


def libreoffice() -> str | None:
    """The LibreOffice program on PATH (``libreoffice`` or ``soffice``), or None."""
    return shutil.which("libreoffice") or shutil.which("soffice")


def convert_to_pdf(documents: Sequence[Path], outdir: Path, *, timeout: float = 300.0) -> list[Path]:
    """Convert ``documents`` to PDFs in ``outdir`` in one LibreOffice run; returns the PDFs in the same order.

    Each run gets a private, throwaway LibreOffice profile, so it neither touches nor waits on the user's.
    Raises :class:`ConversionFailed` when LibreOffice is missing, fails, or runs past ``timeout`` seconds.
    """
    program = libreoffice()
    if program is None:
        raise ConversionFailed("LibreOffice is not installed (Debian package libreoffice-writer)")
    if not documents:
        return []
    outdir.mkdir(parents=True, exist_ok=True)
    profile = Path(tempfile.mkdtemp(prefix="nmss-lo-profile-"))
    command = [
        program,
        f"-env:UserInstallation={profile.as_uri()}",
        "--headless",
        "--norestore",
        "--convert-to",
        "pdf",
        "--outdir",
        str(outdir),
        *(str(d) for d in documents),
    ]
    try:
        result = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ConversionFailed(f"LibreOffice ran past {timeout:.0f} s") from exc
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    pdfs = [outdir / f"{d.stem}.pdf" for d in documents]
    missing = [p.name for p in pdfs if not p.is_file()]
    if result.returncode != 0 or missing:
        raise ConversionFailed(
            f"LibreOffice exited {result.returncode}; no PDF for {len(missing)} document(s): "
            + result.stderr.decode(errors="replace")[-500:]
        )
    return pdfs
