"""How accurately the flat and Word readers read forms they were not written against.

Two independent producers make the corpus at test time, from fixed seeds: the project's own drawn PDFs
(samples/flat.py) and Word documents built with python-docx (samples/wordfile.py) — read directly, and as
LibreOffice's PDF of them, which is what a referrer's "Save as PDF" gives. Layouts, tick glyphs, date formats
and content controls vary. The bar: every form recognised as its kind, and at least 99% of fields right.
Every wrong field is listed in the failure message.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from config.forms import FORM_KINDS, FormDefinitions, FormKind, load_form_definitions
from parsers import Form, parse_document
from parsers.types import Value
from samples.flat import LAYOUTS, Layout, PrintStyle, flat_pdf
from samples.forms import complete_values
from samples.people import patient
from samples.wordfile import convert_to_pdf, word_document

TODAY = dt.date(2025, 6, 15)
SEEDS = range(3)
BAR = 0.99


@dataclass(frozen=True)
class Sample:
    name: str
    kind: FormKind
    data: bytes
    expected: dict[str, Value]


def _variant(seed: int, kind: FormKind, layout: Layout) -> tuple[dict[str, Value], PrintStyle, int]:
    number = seed * 100 + FORM_KINDS.index(kind) * 10 + LAYOUTS.index(layout)
    return complete_values(kind, patient(seed), today=TODAY, seed=seed), PrintStyle.from_seed(number), number


def _drawn() -> list[Sample]:
    samples = []
    for seed in SEEDS:
        for kind in FORM_KINDS:
            for layout in LAYOUTS:
                values, style, number = _variant(seed, kind, layout)
                pdf = flat_pdf(kind, values, layout=layout, style=style)
                samples.append(Sample(f"drawn-{kind}-{layout}-{number}.pdf", kind, pdf, values))
    return samples


def _word() -> list[Sample]:
    samples = []
    for seed in SEEDS:
        for kind in FORM_KINDS:
            for layout in LAYOUTS:
                values, style, number = _variant(seed, kind, layout)
                data = word_document(
                    kind, values, layout=layout, style=style, content_controls=number % 3 == 0, tabs=number % 2 == 1
                )
                samples.append(Sample(f"word-{kind}-{layout}-{number}.docx", kind, data, values))
    return samples


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Sample]:
    """Drawn PDFs, Word documents, and LibreOffice's PDFs of those documents (converted in one run)."""
    word = _word()
    folder = tmp_path_factory.mktemp("word-corpus")
    paths = []
    for sample in word:
        path = folder / sample.name
        path.write_bytes(sample.data)
        paths.append(path)
    pdfs = convert_to_pdf(paths, folder / "pdf")
    converted = [
        Sample(f"libreoffice-{pdf.name}", sample.kind, pdf.read_bytes(), sample.expected)
        for sample, pdf in zip(word, pdfs, strict=True)
    ]
    return [*_drawn(), *word, *converted]


@pytest.fixture(scope="module")
def definitions() -> FormDefinitions:
    return load_form_definitions()


def _same(expected: Value | None, got: Value | None) -> bool:
    # A long value wraps differently in each layout: line breaks in multi-line text are layout, not content.
    if isinstance(expected, str) and isinstance(got, str):
        return expected.split() == got.split()
    return expected == got


def test_every_form_is_recognised_and_at_least_99_percent_of_fields_are_right(
    corpus: list[Sample], definitions: FormDefinitions
) -> None:
    wrong_kind: list[str] = []
    wrong: list[str] = []
    checked = 0
    for sample in corpus:
        document = parse_document(sample.data, sample.name, definitions, today=TODAY)
        if not isinstance(document, Form) or document.kind != sample.kind:
            wrong_kind.append(f"{sample.name}: read as {document!r}")
            continue
        invalid = {e.key: e.code for e in document.invalid}
        for key in sorted(set(sample.expected) | set(document.fields) | set(invalid)):
            checked += 1
            got = document.fields.get(key)
            if key in invalid or not _same(sample.expected.get(key), got):
                shown = f"invalid ({invalid[key]})" if key in invalid else repr(got)
                wrong.append(f"{sample.name}: {key}: expected {sample.expected.get(key)!r}, got {shown}")
    right = 1 - len(wrong) / max(checked, 1)
    report = "\n".join([*wrong_kind, *wrong])
    print(f"\naccuracy: {len(corpus)} forms, {checked} fields, {len(wrong)} wrong, {right:.2%} right\n{report}")
    assert not wrong_kind, f"forms not recognised as their kind:\n{report}"
    assert right >= BAR, f"{right:.2%} of {checked} fields right, below {BAR:.0%}; wrong:\n{report}"
    assert {s.name.split("-")[0] for s in corpus} == {"drawn", "word", "libreoffice"}
