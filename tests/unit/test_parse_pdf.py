"""Reading the four forms from fillable PDFs, and telling unreadable PDFs apart.

The PDFs are built here: with reportlab (flat dotted field names, as most generators write them) and by
hand (real field hierarchies, custom check-box states, radio groups and broken trees, which reportlab
cannot write).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from pypdf import PdfReader, PdfWriter
from reportlab.pdfgen import canvas

from config.forms import FormDefinitions, load_form_definitions
from parsers import Form, Unreadable, parse_document
from parsers.pdf import parse_pdf
from parsers.recognise import by_field_names, by_filename, by_title
from parsers.types import FieldError, Found, Place

TODAY = dt.date(2025, 6, 15)
FORM1_TITLE = "Form 1 - Referral to Pharmacy/Dispensary - Difficulty using/managing medications"
FORM2_TITLE = "Form 2 \u2013 NMSS Referral"


@pytest.fixture(scope="module")
def definitions() -> FormDefinitions:
    return load_form_definitions()


# --- building PDFs by hand -------------------------------------------------------------------------------


WIDGET_PLACE = Place(left=50, top=782, right=60, bottom=792, page_width=595, page_height=842)
"""Where every widget ``RawPdf`` draws (``/Rect [50 50 60 60]`` on an A4 page) stands on the page's picture."""


def pdf_string(text: str) -> str:
    """A PDF string literal; text beyond latin-1 is written as UTF-16BE with a byte-order mark."""
    if all(ord(c) < 128 for c in text):
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        return f"({escaped})"
    return "<FEFF" + text.encode("utf-16-be").hex().upper() + ">"


@dataclass
class RawPdf:
    """A tiny PDF writer: numbered object bodies, one page per entry of ``page_texts``, an AcroForm."""

    bodies: dict[int, str] = field(default_factory=dict)
    widgets: dict[int, list[int]] = field(default_factory=dict)
    pages: list[int] = field(default_factory=list)

    def reserve(self) -> int:
        number = len(self.bodies) + 1
        self.bodies[number] = "null"
        return number

    def add(self, body: str) -> int:
        number = self.reserve()
        self.bodies[number] = body
        return number

    def page(self, index: int = 0) -> int:
        return self.pages[index]

    def widget(self, body: str, *, page: int = 0, with_p: bool = True) -> int:
        """A widget annotation (possibly merged with its field) listed on page ``page``."""
        p_entry = f" /P {self.pages[page]} 0 R" if with_p else ""
        number = self.add(f"<< /Type /Annot /Subtype /Widget /Rect [50 50 60 60]{p_entry} {body} >>")
        self.widgets.setdefault(page, []).append(number)
        return number

    def text(self, name: str | None, value: str | None, *, page: int = 0, extra: str = "") -> int:
        entries = " /FT /Tx" + (f" /T {pdf_string(name)}" if name is not None else "")
        entries += f" /V {pdf_string(value)}" if value is not None else ""
        return self.widget(entries + extra, page=page)

    def checkbox(self, name: str, state: str | None, *, use_v: bool = True, page: int = 0) -> int:
        """A check box with on-state ``state`` ticked, or unticked when ``state`` is None."""
        shown = state or "Off"
        value = f" /V /{shown}" if use_v else ""
        return self.widget(f"/FT /Btn /T {pdf_string(name)}{value} /AS /{shown}", page=page)

    def parent(self, name: str, kids: Sequence[int], extra: str = "") -> int:
        refs = " ".join(f"{k} 0 R" for k in kids)
        return self.add(f"<< /T {pdf_string(name)} /Kids [{refs}]{extra} >>")

    def radio(self, name: str, states: Sequence[str], chosen: str | None, extra: str = "") -> int:
        kids = [self.widget(f"/AS /{s if s == chosen else 'Off'}") for s in states]
        value = f" /V /{chosen}" if chosen else ""
        return self.parent(name, kids, f" /FT /Btn /Ff 49152{value}{extra}")

    def render(self, page_texts: Sequence[str], fields: Sequence[int] | None, *, image: bool = False) -> bytes:
        catalog, pages_node = self.reserve(), self.reserve()
        font = self.add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
        xobject = ""
        if image:
            img = self.add(
                "<< /Type /XObject /Subtype /Image /Width 1 /Height 1 /ColorSpace /DeviceGray"
                " /BitsPerComponent 8 /Length 1 >>\nstream\n\x80\nendstream"
            )
            xobject = f" /XObject << /Im1 {img} 0 R >>"
        kids = []
        for index, text in enumerate(page_texts):
            lines = "".join(
                f"BT /F1 12 Tf 50 {780 - 20 * i} Td {pdf_string(t)} Tj ET\n" for i, t in enumerate(text.splitlines())
            )
            if image:
                lines += "q 400 0 0 500 50 100 cm /Im1 Do Q\n"
            content = self.add(f"<< /Length {len(lines)} >>\nstream\n{lines}endstream")
            annots = " ".join(f"{w} 0 R" for w in self.widgets.get(index, []))
            kids.append(self.bodies_page(index, pages_node, content, font, xobject, annots))
        self.bodies[pages_node] = f"<< /Type /Pages /Count {len(kids)} /Kids [{' '.join(f'{k} 0 R' for k in kids)}] >>"
        acroform = ""
        if fields is not None:
            acroform = f" /AcroForm << /Fields [{' '.join(f'{f} 0 R' for f in fields)}] >>"
        self.bodies[catalog] = f"<< /Type /Catalog /Pages {pages_node} 0 R{acroform} >>"
        return self.serialise(catalog)

    def bodies_page(self, index: int, parent: int, content: int, font: int, xobject: str, annots: str) -> int:
        number = self.pages[index]
        self.bodies[number] = (
            f"<< /Type /Page /Parent {parent} 0 R /MediaBox [0 0 595 842] /Contents {content} 0 R"
            f" /Resources << /Font << /F1 {font} 0 R >>{xobject} >> /Annots [{annots}] >>"
        )
        return number

    def serialise(self, root: int) -> bytes:
        out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for number in sorted(self.bodies):
            offsets.append(len(out))
            out += f"{number} 0 obj\n{self.bodies[number]}\nendobj\n".encode("latin-1")
        start = len(out)
        out += f"xref\n0 {len(offsets) + 1}\n0000000000 65535 f \n".encode()
        out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
        out += f"trailer\n<< /Size {len(offsets) + 1} /Root {root} 0 R >>\nstartxref\n{start}\n%%EOF\n".encode()
        return bytes(out)


def raw_pdf(pages: int = 1) -> RawPdf:
    pdf = RawPdf()
    pdf.pages = [pdf.reserve() for _ in range(pages)]
    return pdf


def parse(data: bytes, definitions: FormDefinitions, filename: str = "attachment.pdf") -> Form | Unreadable:
    return parse_document(data, filename, definitions, today=TODAY)


def parse_form(data: bytes, definitions: FormDefinitions, filename: str = "attachment.pdf") -> Form:
    document = parse(data, definitions, filename)
    assert isinstance(document, Form), document
    return document


# --- building PDFs with reportlab --------------------------------------------------------------------------


def reportlab_form2(text_values: dict[str, str], ticked: Sequence[str], unticked: Sequence[str] = ()) -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    pdf.drawString(50, 800, FORM2_TITLE)
    pdf.drawString(50, 780, "Send with Form 1 and the Medication Independence Assessment Tool.")
    y = 740
    for name, value in text_values.items():
        pdf.acroForm.textfield(name=name, value=value, x=250, y=y, width=250, height=16)
        y -= 20
    for name in ticked:
        pdf.acroForm.checkbox(name=name, checked=True, x=250, y=y)
        y -= 20
    for name in unticked:
        pdf.acroForm.checkbox(name=name, checked=False, x=250, y=y)
        y -= 20
    pdf.acroForm.radio(name="supplier.type", value="Community pharmacy", selected=True, x=250, y=y)
    pdf.acroForm.radio(name="supplier.type", value="Dispensing surgery", selected=False, x=300, y=y)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def encrypted(data: bytes, user_password: str, owner_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password=owner_password, algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def form2_pdf() -> bytes:
    return reportlab_form2(
        {
            "patient.surname": "Smith",
            "patient.forenames": "Jane",
            "patient.dob": "3/4/41",
            "patient.nhs_number": "943 476 5919",
            "patient.postcode": "nr1 3sr",
            "gp.ods_code": "d82001",
            "consent.date": "1 May 2025",
            "risk.medicines_count": "sixty-one",
        },
        ticked=["adjustments.A7", "adjustments.A1", "risk.high_risk_medicines.Insulin", "consent.given"],
        unticked=["adjustments.A2", "ea.assessable"],
    )


# --- fillable forms ----------------------------------------------------------------------------------------


def test_a_fillable_form_with_flat_dotted_names_is_read_into_typed_values(
    form2_pdf: bytes, definitions: FormDefinitions
) -> None:
    form = parse_form(form2_pdf, definitions, "scan0001.pdf")
    assert form.kind == "form2"
    assert form.source == "acroform"
    assert form.pages == 1
    assert form.filename == "scan0001.pdf"
    assert form.fields == {
        "patient.forenames": "Jane",
        "patient.surname": "Smith",
        "patient.dob": dt.date(1941, 4, 3),
        "patient.nhs_number": "9434765919",
        "patient.postcode": "NR1 3SR",
        "gp.ods_code": "D82001",
        "supplier.type": "Community pharmacy",
        "ea.assessable": False,
        "adjustments": ("A1", "A7"),
        "risk.high_risk_medicines": ("Insulin",),
        "consent.given": True,
        "consent.date": dt.date(2025, 5, 1),
    }
    assert form.invalid == (FieldError("risk.medicines_count", "invalid_number"),)


def test_each_value_says_which_page_and_field_it_came_from(form2_pdf: bytes, definitions: FormDefinitions) -> None:
    form = parse_form(form2_pdf, definitions)
    found = {f.key: f for f in form.found}
    surname = found["patient.surname"]
    assert (surname.key, surname.page, surname.label) == ("patient.surname", 1, "patient.surname")
    assert surname.place is not None
    assert found["adjustments"].label in ("adjustments.A7", "adjustments.A1")
    assert set(found) == set(form.fields) | {e.key for e in form.invalid}


def test_a_real_field_hierarchy_is_read_by_joining_the_names_of_ancestors(definitions: FormDefinitions) -> None:
    pdf = raw_pdf()
    patient = pdf.parent(
        "patient",
        [pdf.text("surname", "O'Brien"), pdf.text("forenames", "S\u00e9an"), pdf.text("dob", "03.04.1941")],
    )
    # A deeper chain with the field type set on an ancestor and inherited by the kids.
    signature = pdf.parent(
        "signature", [pdf.widget("/T (name) /V (Ann Other)"), pdf.widget("/T (date) /V (2/5/25)")], " /FT /Tx"
    )
    difficulties = pdf.parent(
        "difficulties",
        [pdf.checkbox("D4", "Yes"), pdf.checkbox("D7", "On"), pdf.checkbox("D15", "Ticked"), pdf.checkbox("D1", None)],
    )
    data = pdf.render([FORM1_TITLE], [patient, signature, difficulties])
    form = parse_form(data, definitions)
    assert form.kind == "form1"
    assert form.fields == {
        "patient.forenames": "Séan",
        "patient.surname": "O'Brien",
        "patient.dob": dt.date(1941, 4, 3),
        "difficulties": ("D4", "D7", "D15"),
        "signature.name": "Ann Other",
        "signature.date": dt.date(2025, 5, 2),
    }
    assert Found("patient.surname", 1, "patient.surname", WIDGET_PLACE) in form.found


@pytest.mark.parametrize("state", ["Yes", "On", "1", "Ja", "Selected"])
def test_a_check_box_in_any_state_but_off_is_ticked(state: str, definitions: FormDefinitions) -> None:
    pdf = raw_pdf()
    fields = [pdf.checkbox("consent.given", state), pdf.text("patient.surname", "Smith")]
    form = parse_form(pdf.render([FORM1_TITLE], fields), definitions)
    assert form.fields["consent.given"] is True


def test_an_unticked_single_yes_no_box_means_no(definitions: FormDefinitions) -> None:
    pdf = raw_pdf()
    fields = [pdf.checkbox("consent.given", None), pdf.text("patient.surname", "Smith")]
    form = parse_form(pdf.render([FORM1_TITLE], fields), definitions)
    assert form.fields["consent.given"] is False


def test_a_check_box_without_a_value_is_read_from_its_appearance_state(definitions: FormDefinitions) -> None:
    pdf = raw_pdf()
    fields = [pdf.checkbox("difficulties.D2", "Yes", use_v=False), pdf.checkbox("difficulties.D3", None, use_v=False)]
    form = parse_form(pdf.render([FORM1_TITLE], fields), definitions)
    assert form.fields["difficulties"] == ("D2",)


@pytest.mark.parametrize(
    ("yes", "no", "expected"),
    [("Yes", None, True), (None, "Yes", False), ("On", "On", "unanswered"), (None, None, "absent")],
)
def test_a_yes_no_pair_of_boxes_answers_only_when_exactly_one_is_ticked(
    yes: str | None, no: str | None, expected: object, definitions: FormDefinitions
) -> None:
    pdf = raw_pdf()
    consent = pdf.parent("consent", [pdf.parent("given", [pdf.checkbox("yes", yes), pdf.checkbox("no", no)])])
    form = parse_form(pdf.render([FORM1_TITLE], [consent, pdf.text("patient.surname", "Smith")]), definitions)
    if expected == "unanswered":
        assert "consent.given" not in form.fields
        assert form.invalid == (FieldError("consent.given", "unanswered"),)
    elif expected == "absent":
        assert "consent.given" not in form.fields
        assert form.invalid == ()
    else:
        assert form.fields["consent.given"] is expected


def test_a_radio_group_gives_the_chosen_option(definitions: FormDefinitions) -> None:
    pdf = raw_pdf()
    role = pdf.radio("referrer.role", ["Self", "Unpaid#20carer", "Hospital"], "Unpaid#20carer")
    consent = pdf.radio("consent.given", ["Yes", "No"], "No")
    form = parse_form(pdf.render([FORM1_TITLE], [role, consent]), definitions)
    assert form.fields == {"referrer.role": "Unpaid carer", "consent.given": False}


def test_a_radio_group_with_option_texts_gives_the_printed_text(definitions: FormDefinitions) -> None:
    pdf = raw_pdf()
    role = pdf.radio("referrer.role", ["0", "1", "2"], "2", " /Opt [(Self) (Relative) (Care agency)]")
    form = parse_form(pdf.render([FORM1_TITLE], [role]), definitions)
    assert form.fields == {"referrer.role": "Care agency"}


def test_a_radio_group_with_nothing_chosen_is_absent(definitions: FormDefinitions) -> None:
    pdf = raw_pdf()
    fields = [pdf.radio("referrer.role", ["Self", "Relative"], None), pdf.text("patient.surname", "Smith")]
    form = parse_form(pdf.render([FORM1_TITLE], fields), definitions)
    assert form.fields == {"patient.surname": "Smith"}


def test_a_combo_box_gives_its_printed_text(definitions: FormDefinitions) -> None:
    pdf = raw_pdf()
    setting = pdf.widget("/FT /Ch /Ff 131072 /T (assessment.setting) /V (h) /Opt [[(p) (Pharmacy)] [(h) (Home)]]")
    outcome = pdf.widget("/FT /Ch /T (outcome) /V [(Refer to NMSS)]")
    form = parse_form(pdf.render(["Medication Independence Assessment Tool"], [setting, outcome]), definitions)
    assert form.fields == {"assessment.setting": "Home", "outcome": "Refer to NMSS"}


def test_unicode_and_multiline_text_values_are_decoded(definitions: FormDefinitions) -> None:
    pdf = raw_pdf()
    fields = [pdf.text("patient.surname", "Wi\u015bniewska"), pdf.text("patient.address", "1 High St\r\nNorwich")]
    form = parse_form(pdf.render([FORM1_TITLE], fields), definitions)
    assert form.fields == {"patient.surname": "Wiśniewska", "patient.address": "1 High St\nNorwich"}


def test_a_field_on_a_later_page_is_found_on_that_page(definitions: FormDefinitions) -> None:
    pdf = raw_pdf(pages=2)
    fields = [pdf.text("patient.surname", "Smith"), pdf.text("signature.name", "Ann Other", page=1)]
    form = parse_form(pdf.render([FORM1_TITLE, "Declaration"], fields), definitions)
    assert form.pages == 2
    assert Found("signature.name", 2, "signature.name", WIDGET_PLACE) in form.found


def test_a_fillable_field_s_place_is_its_box_measured_from_the_top_left_of_the_page(
    definitions: FormDefinitions,
) -> None:
    """A widget's /Rect (PDF points, y upwards) becomes a box on the page picture (y downwards)."""
    pdf = raw_pdf()
    fields = [pdf.text("patient.surname", "Smith")]
    form = parse_form(pdf.render([FORM1_TITLE], fields), definitions)
    assert form.found[0].place == Place(left=50, top=782, right=60, bottom=792, page_width=595, page_height=842)


def test_field_names_that_are_not_our_keys_are_ignored(definitions: FormDefinitions) -> None:
    pdf = raw_pdf()
    fields = [pdf.text("Text1", "hello"), pdf.checkbox("CheckBox1", "Yes"), pdf.text("patient.surname", "Smith")]
    form = parse_form(pdf.render([FORM1_TITLE], fields), definitions)
    assert form.fields == {"patient.surname": "Smith"}


# --- recognising the form ----------------------------------------------------------------------------------


def test_form2_is_recognised_although_its_first_page_names_form1_further_down(definitions: FormDefinitions) -> None:
    pdf = raw_pdf()
    title = f"Form 2 - NMSS Referral\nSend with {FORM1_TITLE}\nand the Medication Independence Assessment Tool"
    form = parse_form(pdf.render([title], [pdf.text("patient.surname", "Smith")]), definitions, "form1.pdf")
    assert form.kind == "form2"


def test_without_a_title_the_field_names_say_which_form_it_is(definitions: FormDefinitions) -> None:
    pdf = raw_pdf()
    fields = [pdf.text("cognitive.c1", "2"), pdf.text("physical.p7", "N/A"), pdf.text("patient.surname", "Smith")]
    form = parse_form(pdf.render(["Please complete every section"], fields), definitions, "form1.pdf")
    assert form.kind == "miat"
    assert form.fields == {"patient.surname": "Smith", "cognitive.c1": 2, "physical.p7": "N/A"}


def test_without_title_or_telling_field_names_the_file_name_decides(definitions: FormDefinitions) -> None:
    pdf = raw_pdf()
    form = parse_form(pdf.render(["Please complete"], [pdf.text("patient.surname", "Smith")]), definitions, "MIAT.pdf")
    assert form.kind == "miat"


def test_a_flat_form_is_recognised_by_its_title_and_read_from_its_text(definitions: FormDefinitions) -> None:
    form = parse_form(raw_pdf().render(["Registration for NMSS MAR chart\nSurname: Smith"], None), definitions)
    assert form.kind == "mar"
    assert form.source == "text"
    assert form.fields == {"patient.surname": "Smith"}


def test_a_pdf_that_is_none_of_the_four_forms_is_unrecognised(definitions: FormDefinitions) -> None:
    document = parse(raw_pdf().render(["Invoice 1234\nTotal due"], None), definitions, "invoice.pdf")
    assert document == Unreadable("invoice.pdf", "unrecognised")


# --- unreadable PDFs ---------------------------------------------------------------------------------------


def test_a_pdf_that_needs_a_password_to_open_is_encrypted(form2_pdf: bytes, definitions: FormDefinitions) -> None:
    document = parse(encrypted(form2_pdf, "user", "owner"), definitions, "form2.pdf")
    assert isinstance(document, Unreadable)
    assert document.problem == "encrypted"
    assert document.kind == "form2"


def test_a_pdf_with_only_an_owner_password_is_read_normally(form2_pdf: bytes, definitions: FormDefinitions) -> None:
    form = parse_form(encrypted(form2_pdf, "", "owner"), definitions)
    assert form.kind == "form2"
    assert form.fields["patient.surname"] == "Smith"
    assert form.fields["adjustments"] == ("A1", "A7")


@pytest.mark.parametrize("keep", [20, 200])
def test_a_truncated_pdf_is_corrupt(keep: int, form2_pdf: bytes, definitions: FormDefinitions) -> None:
    document = parse(form2_pdf[:keep], definitions)
    assert isinstance(document, Unreadable)
    assert document.problem == "corrupt"


def test_a_pdf_with_no_pages_is_corrupt(definitions: FormDefinitions) -> None:
    pdf = RawPdf()
    pdf.add("<< /Type /Catalog /Pages 2 0 R >>")
    pdf.add("<< /Type /Pages /Count 0 /Kids [] >>")
    document = parse(pdf.serialise(1), definitions)
    assert isinstance(document, Unreadable)
    assert document.problem == "corrupt"


def test_zero_bytes_are_corrupt(definitions: FormDefinitions) -> None:
    assert parse(b"", definitions, "form2.pdf") == Unreadable("form2.pdf", "corrupt")


def test_a_text_file_named_pdf_is_unrecognised(definitions: FormDefinitions) -> None:
    document = parse(b"Dear NMSS,\nplease find the forms attached.\n", definitions, "form2.pdf")
    assert document == Unreadable("form2.pdf", "unrecognised")


def test_a_pdf_is_known_by_its_content_not_its_name(form2_pdf: bytes, definitions: FormDefinitions) -> None:
    assert parse_form(form2_pdf, definitions, "referral.docx").kind == "form2"


def test_junk_before_the_pdf_header_is_tolerated_within_the_first_kilobyte(
    form2_pdf: bytes, definitions: FormDefinitions
) -> None:
    assert parse_form(b"\xef\xbb\xbf" + b"x" * 500 + b"\n" + form2_pdf, definitions).kind == "form2"
    late = parse(b"x" * 2000 + form2_pdf, definitions)
    assert isinstance(late, Unreadable)
    assert late.problem == "unrecognised"


def test_pages_with_an_image_and_no_text_are_scanned(definitions: FormDefinitions) -> None:
    document = parse(raw_pdf(pages=2).render(["", ""], None, image=True), definitions, "Form 2.pdf")
    assert document == Unreadable("Form 2.pdf", "scanned", "form2")


def test_a_scanned_page_with_filled_fields_is_read_from_the_fields(definitions: FormDefinitions) -> None:
    pdf = raw_pdf()
    data = pdf.render([""], [pdf.text("patient.surname", "Smith")], image=True)
    form = parse_form(data, definitions, "form1.pdf")
    assert form.fields == {"patient.surname": "Smith"}


# --- hostile field trees -----------------------------------------------------------------------------------


def test_a_field_tree_that_loops_back_on_itself_is_read_without_hanging(definitions: FormDefinitions) -> None:
    pdf = raw_pdf()
    surname = pdf.text("surname", "Smith")
    patient = pdf.reserve()
    # The kid lists its own parent among its kids: a loop that a naive walk would follow for ever.
    looping = pdf.add(f"<< /T (loop) /Kids [{patient} 0 R] >>")
    pdf.bodies[patient] = f"<< /T (patient) /Kids [{surname} 0 R {looping} 0 R {patient} 0 R] >>"
    form = parse_form(pdf.render([FORM1_TITLE], [patient, patient]), definitions)
    assert form.fields == {"patient.surname": "Smith"}


def test_malformed_field_entries_are_skipped_not_fatal(definitions: FormDefinitions) -> None:
    pdf = raw_pdf()
    self_ref = pdf.reserve()
    pdf.bodies[self_ref] = f"{self_ref} 0 R"
    junk = [
        pdf.add("42"),
        pdf.add("/JustAName"),
        pdf.add("<< /T (patient) /Kids 7 >>"),
        pdf.add("<< /T (odd) /Kids [1 (two) /Three null 99 0 R] >>"),
        pdf.add("<< /T 12 /FT /Tx /V (x) >>"),
        pdf.add("<< /T (bad.flags) /FT /Btn /Ff (radio) /V 3 >>"),
        pdf.add("<< /T (novalue) /FT /Tx /V << /A 1 >> >>"),
        self_ref,
    ]
    good = pdf.text("patient.surname", "Smith")
    form = parse_form(pdf.render([FORM1_TITLE], [*junk, good]), definitions)
    assert form.fields == {"patient.surname": "Smith"}


def test_a_very_deep_field_tree_is_cut_off_rather_than_exhausting_the_stack(definitions: FormDefinitions) -> None:
    pdf = raw_pdf()
    node = pdf.text("leaf", "deep")
    for level in range(2000):
        node = pdf.parent(f"n{level}", [node])
    data = pdf.render([FORM1_TITLE], [node, pdf.text("patient.surname", "Smith")])
    form = parse_form(data, definitions)
    assert form.fields == {"patient.surname": "Smith"}


@pytest.mark.parametrize(
    "catalog_extra",
    ["/AcroForm 5", "/AcroForm << /Fields 3 >>", "/AcroForm << /Fields [(x)] >>", "/AcroForm << >>"],
)
def test_a_broken_acroform_dictionary_leaves_a_flat_form(catalog_extra: str, definitions: FormDefinitions) -> None:
    pdf = raw_pdf()
    data = pdf.render([FORM1_TITLE], None).replace(b"/Type /Catalog", f"/Type /Catalog {catalog_extra}".encode())
    # The xref offsets are now off by a few bytes; pdfminer falls back to scanning, as for many real files.
    form = parse_form(data, definitions)
    assert form.kind == "form1"
    assert form.fields == {}


def test_parse_pdf_returns_unreadable_rather_than_raising_on_garbage(definitions: FormDefinitions) -> None:
    for data in (b"%PDF-1.7\n" + bytes(range(256)) * 40, b"%PDF-", b"%PDF-1.4\n1 0 obj << /Type /Catalog"):
        document = parse_pdf(data, "x.pdf", definitions, today=TODAY)
        assert isinstance(document, Unreadable)


# --- recognition rules on their own ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("FORM 1 — REFERRAL TO PHARMACY / DISPENSARY: Difficulty Using/Managing Medications", "form1"),
        ("Form 2 - NMSS referral\nattach Form 1 – Referral to Pharmacy/Dispensary", "form2"),
        ("NMSS\nMedication Independence Assessment Tool (MIAT)", "miat"),
        ("Registration for NMSS MAR chart", "mar"),
        ("Form 12 NMSS referral", None),
        ("", None),
    ],
)
def test_a_title_is_matched_whatever_its_case_dashes_and_punctuation(
    text: str, expected: str | None, definitions: FormDefinitions
) -> None:
    assert by_title(text, definitions) == expected


def test_field_names_count_only_keys_that_one_form_alone_has(definitions: FormDefinitions) -> None:
    shared = ["patient.surname", "patient.dob", "signature.date"]
    assert by_field_names(shared, definitions) is None
    assert by_field_names([*shared, "difficulties.D4", "description"], definitions) == "form1"
    assert by_field_names(["care_provider.name", "cognitive.c1"], definitions) is None
    assert by_field_names(["cognitive.c1"], definitions, at_least=3) is None


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("Form1.pdf", "form1"),
        ("form_2 signed.pdf", "form2"),
        ("MIAT - J Smith.pdf", "miat"),
        ("MAR chart registration.pdf", "mar"),
        ("C:\\Users\\x\\Form 2.pdf", "form2"),
        ("Form 12.pdf", None),
        ("letter.pdf", None),
    ],
)
def test_a_file_name_can_say_which_form_it_is(
    filename: str, expected: str | None, definitions: FormDefinitions
) -> None:
    assert by_filename(filename, definitions) == expected


def test_a_flat_form_s_place_is_the_box_around_its_value_on_the_label_s_line(definitions: FormDefinitions) -> None:
    """``Surname: Smith`` printed at 12 points on a baseline 760 points up an A4 page: the box spans the line's
    text from a little below its baseline to a little under its size above it, measured from the top."""
    pdf = raw_pdf()
    form = parse_form(pdf.render([f"{FORM1_TITLE}\nSurname: Smith"], None), definitions)
    place = {f.key: f.place for f in form.found}["patient.surname"]
    assert place is not None
    assert (place.left, place.top, place.bottom) == (50, 71.8, 85)
    assert 50 < place.right < 200
    assert (place.page_width, place.page_height) == (595, 842)
