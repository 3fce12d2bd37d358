"""Every form in every layout, drawn as a flat PDF or written as a Word document, reads back every value.

Each case builds its document first, so the matrix takes a while: it lives here rather than in the unit tests,
which test the readers on small hand-made documents.
"""

from __future__ import annotations

import datetime as dt

import pytest

from config.forms import FormDefinitions, load_form_definitions
from parsers import Form, parse_document
from samples.flat import LAYOUTS, PrintStyle, flat_pdf
from samples.forms import complete_values
from samples.people import patient
from samples.wordfile import word_document

TODAY = dt.date(2025, 6, 15)


@pytest.fixture(scope="module")
def definitions() -> FormDefinitions:
    return load_form_definitions()


def folded(values: object) -> dict[str, object]:
    assert isinstance(values, dict)
    return {k: " ".join(v.split()) if isinstance(v, str) else v for k, v in values.items()}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kind", ["form1", "form2", "miat", "mar"])
def test_a_drawn_flat_pdf_reads_back_every_value(definitions: FormDefinitions, kind: str, layout: str) -> None:
    values = complete_values(kind, patient(4), today=TODAY, seed=4)  # type: ignore[arg-type]
    pdf = flat_pdf(kind, values, layout=layout, style=PrintStyle.from_seed(len(layout)))  # type: ignore[arg-type]
    form = parse_document(pdf, f"{kind}.pdf", definitions, today=TODAY)
    assert isinstance(form, Form)
    assert (form.kind, form.source, form.invalid) == (kind, "text", ())
    assert folded(dict(form.fields)) == folded(dict(values))


@pytest.mark.parametrize("content_controls", [False, True])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kind", ["form1", "form2", "miat", "mar"])
def test_a_word_form_reads_back_every_value(
    definitions: FormDefinitions, kind: str, layout: str, content_controls: bool
) -> None:
    values = complete_values(kind, patient(5), today=TODAY, seed=5)  # type: ignore[arg-type]
    style = PrintStyle.from_seed(len(layout) + len(kind))
    data = word_document(kind, values, layout=layout, style=style, content_controls=content_controls)  # type: ignore[arg-type]
    form = parse_document(data, f"{kind}.docx", definitions, today=TODAY)
    assert isinstance(form, Form)
    assert (form.kind, form.source, form.invalid) == (kind, "docx", ())
    assert folded(dict(form.fields)) == folded(dict(values))
