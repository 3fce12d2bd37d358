"""PDFium reads every flat form as pdfminer does: the same form, the same fields, each value in the same place.

The flat-PDF reader takes its glyphs from PDFium and falls back to pdfminer page by page (parsers/pdf.py);
``reader="pdfminer"`` reads with pdfminer alone, the reference. Both read the sample forms — drawn in every
layout with every tick style on either side, in a handwriting font, LibreOffice's PDFs of the Word forms, and
what ``nmss-intake samples forms`` writes — and every PDF of the shared corpus, and must agree on the kind,
the fields and the invalid ones, and on where each value stands on its page, within a point: PDFium keeps a
font's widths in whole thousandths of its size (reportlab writes 600.0977), so along a long line its glyphs
drift up to half a point from pdfminer's — as they do on the page pictures PDFium draws — and it measures a
glyph whose ink overhangs its advance (a "j", a "Y") by the ink.

Where they read a page differently, said here once: PDFium leaves out a text object holding only spaces
(Word spaces its tick options apart so), so a "Yes ☐   No ☒" that pdfminer keeps as one segment may be two;
the form read from it is the same, which is what is asserted.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from pdfminer.pdfdocument import PDFDocument
from pdfminer.pdfpage import PDFPage
from pdfminer.pdfparser import PDFParser

from config.forms import FORM_KINDS, FormDefinitions, load_form_definitions
from intake.cli import cli
from parsers.geometry import Sheet
from parsers.glyphs import PdfiumText
from parsers.pdf import parse_pdf
from parsers.types import Document, Form, Unreadable
from samples.flat import LAYOUTS, TICK_SETS, PrintStyle, flat_pdf
from samples.forms import complete_values
from samples.people import patient
from samples.wordfile import convert_to_pdf, word_document
from tests.corpora import CORPORA

TODAY = dt.date(2025, 6, 15)
PLACE_WITHIN = 1.0
"""Points within which PDFium's place of a value is pdfminer's."""


@dataclass(frozen=True)
class Sample:
    name: str
    data: bytes


@pytest.fixture(scope="module")
def definitions() -> FormDefinitions:
    return load_form_definitions()


def _styles() -> list[PrintStyle]:
    """Every tick set, each on both sides of its option, with and without codes; dates, scores and choices
    printed in the ways seeded styles vary them."""
    styles = []
    for n, ticks in enumerate(sorted(TICK_SETS)):
        for side in ("before", "after"):
            seeded = PrintStyle.from_seed(n * 2 + (side == "after"))
            styles.append(
                PrintStyle(
                    ticks=ticks,
                    side=side,
                    codes=side == "before",
                    date_format=seeded.date_format,
                    scores_ticked=seeded.scores_ticked,
                    choices_ticked=seeded.choices_ticked,
                    nhs_spaced=seeded.nhs_spaced,
                )
            )
    return styles


def drawn_samples() -> list[Sample]:
    samples = []
    for n, style in enumerate(_styles()):
        for kind in FORM_KINDS:
            values = complete_values(kind, patient(n), today=TODAY, seed=n)
            for layout in LAYOUTS:
                name = f"drawn-{kind}-{layout}-{style.ticks}-{style.side}.pdf"
                samples.append(Sample(name, flat_pdf(kind, values, layout=layout, style=style)))
    for kind in FORM_KINDS:
        values = complete_values(kind, patient(7), today=TODAY, seed=7)
        for layout in ("table", "below"):
            data = flat_pdf(kind, values, layout=layout, style=PrintStyle.from_seed(7), handwritten=True)
            samples.append(Sample(f"handwritten-{kind}-{layout}.pdf", data))
    return samples


@pytest.fixture(scope="module")
def libreoffice_samples(tmp_path_factory: pytest.TempPathFactory) -> list[Sample]:
    """The Word forms as LibreOffice saves them as PDF: what a referrer's "Save as PDF" gives."""
    folder = tmp_path_factory.mktemp("word")
    paths = []
    for n, style in enumerate(_styles()[::3]):
        for kind in FORM_KINDS:
            values = complete_values(kind, patient(n + 20), today=TODAY, seed=n + 20)
            for layout in LAYOUTS:
                path = folder / f"{kind}-{layout}-{style.ticks}-{style.side}.docx"
                path.write_bytes(
                    word_document(kind, values, layout=layout, style=style, content_controls=n % 2 == 0, tabs=n == 1)
                )
                paths.append(path)
    return [Sample(f"libreoffice-{p.name}", p.read_bytes()) for p in convert_to_pdf(paths, folder / "pdf")]


@pytest.fixture(scope="module")
def cli_samples(tmp_path_factory: pytest.TempPathFactory) -> list[Sample]:
    """What ``nmss-intake samples forms`` writes: fillable forms (one incomplete) and Form 2 printed flat."""
    folder = tmp_path_factory.mktemp("forms")
    result = CliRunner().invoke(cli, ["samples", "forms", str(folder)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return [Sample(f"cli-{p.name}", p.read_bytes()) for p in sorted(folder.glob("*.pdf"))]


def read_both_ways(sample: Sample, definitions: FormDefinitions) -> tuple[Document, Document]:
    ours = parse_pdf(sample.data, sample.name, definitions, today=TODAY)
    reference = parse_pdf(sample.data, sample.name, definitions, today=TODAY, reader="pdfminer")
    return ours, reference


def differences(ours: Document, reference: Document) -> list[str]:
    """What a user would see differ between two readings of one file: the outcome, the kind, each field and
    invalid field, and where each value was found."""
    if isinstance(ours, Unreadable) or isinstance(reference, Unreadable):
        return [] if ours == reference else [f"{ours!r} != {reference!r}"]
    found: list[str] = []
    if (ours.kind, ours.source, ours.pages) != (reference.kind, reference.source, reference.pages):
        found.append(f"{(ours.kind, ours.source, ours.pages)} != {(reference.kind, reference.source, reference.pages)}")
    for key in sorted(set(ours.fields) | set(reference.fields)):
        if ours.fields.get(key) != reference.fields.get(key):
            found.append(f"{key}: {ours.fields.get(key)!r} != {reference.fields.get(key)!r}")
    if ours.invalid != reference.invalid:
        found.append(f"invalid: {ours.invalid} != {reference.invalid}")
    places = {f.key: f for f in reference.found}
    if {f.key for f in ours.found} != set(places):
        found.append(f"found: {sorted(f.key for f in ours.found)} != {sorted(places)}")
    for item in ours.found:
        other = places.get(item.key)
        if other is None or (item.page, item.label) != (other.page, other.label):
            found.append(f"{item.key} found at {item.page}/{item.label!r}, not {other}")
            continue
        if (item.place is None) != (other.place is None):
            found.append(f"{item.key}: place {item.place} != {other.place}")
        elif item.place is not None and other.place is not None:
            ours_box = (item.place.left, item.place.top, item.place.right, item.place.bottom)
            box = (other.place.left, other.place.top, other.place.right, other.place.bottom)
            sizes = (item.place.page_width, item.place.page_height) != (other.place.page_width, other.place.page_height)
            if sizes or any(abs(a - b) > PLACE_WITHIN for a, b in zip(ours_box, box, strict=True)):
                found.append(f"{item.key}: place {item.place} != {other.place}")
    return found


def read_by_pdfium_throughout(sample: Sample) -> bool:
    """Whether PDFium opens the file and reads every page's text itself (no page left to pdfminer)."""
    text = PdfiumText.open(sample.data)
    if text is None:
        return False
    with text:
        pages = list(PDFPage.create_pages(PDFDocument(PDFParser(io.BytesIO(sample.data)))))
        readings = [text.glyphs(n, Sheet.of(page)) for n, page in enumerate(pages, start=1)]
    return len(pages) == text.pages and all(r is not None and any(g[4].strip() for g in r) for r in readings)


def check(samples: list[Sample], definitions: FormDefinitions, *, flat: bool = True) -> None:
    problems: dict[str, list[str]] = {}
    for sample in samples:
        ours, reference = read_both_ways(sample, definitions)
        assert isinstance(reference, Form), f"{sample.name}: the reference reads no form: {reference!r}"
        if flat:
            assert reference.source == "text", sample.name
        assert read_by_pdfium_throughout(sample), f"{sample.name}: PDFium left a page to pdfminer"
        if found := differences(ours, reference):
            problems[sample.name] = found
    assert problems == {}


def test_every_drawn_sample_form_reads_the_same_from_pdfium_as_from_pdfminer(definitions: FormDefinitions) -> None:
    samples = drawn_samples()
    assert len(samples) == 12 * 4 * 3 + 8
    check(samples, definitions)


def test_every_form_libreoffice_saves_as_pdf_reads_the_same_from_pdfium_as_from_pdfminer(
    libreoffice_samples: list[Sample], definitions: FormDefinitions
) -> None:
    assert len(libreoffice_samples) == 4 * 4 * 3
    check(libreoffice_samples, definitions)


def test_the_forms_samples_forms_writes_read_the_same_from_pdfium_as_from_pdfminer(
    cli_samples: list[Sample], definitions: FormDefinitions
) -> None:
    assert {s.name for s in cli_samples} >= {"cli-Form 2 printed.pdf", "cli-Form 1 incomplete.pdf"}
    check(cli_samples, definitions, flat=False)


def _corpus_pdfs() -> list[Path]:
    index = CORPORA / "index.tsv"
    if not index.is_file():
        return []
    rows = [line.split("\t") for line in index.read_text(encoding="utf-8").splitlines()]
    path_at, kind_at = rows[0].index("path"), rows[0].index("kind")
    return [CORPORA / row[path_at] for row in rows[1:] if len(row) > kind_at and row[kind_at] == "pdf"]


@pytest.mark.parametrize("path", _corpus_pdfs() or [None], ids=lambda p: str(p.relative_to(CORPORA)) if p else "absent")
def test_every_corpus_pdf_reads_the_same_from_pdfium_as_from_pdfminer(
    path: Path | None, definitions: FormDefinitions
) -> None:
    if path is None:
        pytest.skip(f"the shared corpora are not at {CORPORA} (set NMSS_CORPUS_DIR)")
    sample = Sample(path.name, path.read_bytes())
    ours, reference = read_both_ways(sample, definitions)
    assert differences(ours, reference) == []
