"""Reading the forms from Word documents (.docx) directly: tables, paragraphs, content controls, tick glyphs."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest
from docx import Document
from msoffcrypto.format.ooxml import OOXMLFile

from config.forms import FormDefinitions, load_form_definitions
from parsers import Form, Unreadable, parse_document
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


def docx_with(*paragraphs: str, xml: str = "") -> bytes:
    document = Document()
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    if not xml:
        return out.getvalue()
    # Splice raw WordprocessingML (symbols, tracked changes) in before the section properties.
    source = zipfile.ZipFile(io.BytesIO(out.getvalue()))
    patched = io.BytesIO()
    with zipfile.ZipFile(patched, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "word/document.xml":
                data = data.replace(b"<w:sectPr", xml.encode() + b"<w:sectPr", 1)
            target.writestr(item, data)
    return patched.getvalue()


def test_check_box_content_controls_are_read_by_their_ticked_state(definitions: FormDefinitions) -> None:
    values = complete_values("form2", patient(6), today=TODAY, seed=6)
    data = word_document("form2", values, layout="below", content_controls=True)
    form = parse_document(data, "referral.docx", definitions, today=TODAY)
    assert isinstance(form, Form)
    assert form.fields["adjustments"] == values["adjustments"]
    assert form.fields["ea.assessable"] is False


def test_a_content_control_tagged_with_a_key_gives_that_fields_value(definitions: FormDefinitions) -> None:
    values = {"patient.surname": "Tagged", "patient.forenames": "Ann"}
    data = word_document("miat", values, layout="colon", content_controls=True)
    form = parse_document(data, "miat.docx", definitions, today=TODAY)
    assert isinstance(form, Form)
    assert form.fields["patient.surname"] == "Tagged"
    assert any(f.key == "patient.surname" and f.label == "patient.surname" for f in form.found)


def test_word_symbol_font_boxes_are_ticks_and_deleted_text_is_not_read(definitions: FormDefinitions) -> None:
    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    xml = (
        f'<w:p {w}><w:r><w:t xml:space="preserve">Lives alone: </w:t></w:r>'
        '<w:r><w:sym w:font="Wingdings" w:char="F0FE"/><w:t xml:space="preserve"> Yes </w:t></w:r>'
        '<w:r><w:sym w:font="Wingdings" w:char="F0A8"/><w:t xml:space="preserve"> No</w:t></w:r></w:p>'
        f'<w:p {w}><w:r><w:t xml:space="preserve">Surname: </w:t></w:r><w:del w:id="1" w:author="a" '
        'w:date="2025-01-01T00:00:00Z"><w:r><w:delText>Wrong</w:delText></w:r></w:del>'
        "<w:r><w:t>Right</w:t></w:r></w:p>"
    )
    form = parse_document(docx_with("Form 2 – NMSS Referral", xml=xml), "x.docx", definitions, today=TODAY)
    assert isinstance(form, Form)
    assert form.fields == {"patient.surname": "Right", "patient.lives_alone": True}


def test_a_zip_that_is_not_a_word_document_is_unrecognised(definitions: FormDefinitions) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("form2.txt", "Form 2 – NMSS Referral")
    assert parse_document(archive.getvalue(), "forms.zip", definitions, today=TODAY) == Unreadable(
        "forms.zip", "unrecognised"
    )


def test_a_truncated_word_document_is_corrupt_and_named_by_its_file_name(definitions: FormDefinitions) -> None:
    data = word_document("form1", {})[:900]
    assert parse_document(data, "Form 1.docx", definitions, today=TODAY) == Unreadable(
        "Form 1.docx", "corrupt", "form1"
    )


def test_a_word_document_that_is_none_of_the_forms_is_unrecognised(definitions: FormDefinitions) -> None:
    document = parse_document(docx_with("Minutes of the practice meeting"), "notes.docx", definitions, today=TODAY)
    assert document == Unreadable("notes.docx", "unrecognised")


def test_a_word_file_saved_with_a_password_is_encrypted_and_an_other_ole_file_is_not_a_form(
    definitions: FormDefinitions,
) -> None:
    """Word's "Encrypt with password" saves an OLE file holding an EncryptedPackage, not a ZIP: it is told as a
    locked PDF is, with the form its name says; an OLE file that holds none (an old .doc) stays unrecognised."""
    out = io.BytesIO()
    OOXMLFile(io.BytesIO(docx_with("Form 2 – NMSS Referral", "Surname Example"))).encrypt("practice", out)
    locked = parse_document(out.getvalue(), "Form 2.docx", definitions, today=TODAY)
    assert locked == Unreadable("Form 2.docx", "encrypted", "form2")

    not_encrypted = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4096)
    assert parse_document(not_encrypted, "letter.doc", definitions, today=TODAY) == Unreadable(
        "letter.doc", "unrecognised"
    )
