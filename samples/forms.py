"""Complete sample values for each form, and the forms as fillable (AcroForm) PDFs.

The PDFs follow forms-spec.md, "How a form looks on paper": the title on page 1, each printed label with a widget
beside it, a field's fully qualified name equal to its key. The layout is driven by the definitions in
config/forms/, so a label changed there changes the sample forms too.
"""

from __future__ import annotations

import datetime as dt
import io
import random
from collections.abc import Mapping
from typing import Any, Literal, cast

from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject, TextStringObject
from reportlab.lib.colors import Color
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen.canvas import Canvas

from config.forms import FieldDefinition, FormDefinition, FormDefinitions, FormKind, load_form_definitions
from parsers.types import Value
from samples.people import Patient, Referrer, care_provider, form1_referrer, seeded

YesNoStyle = Literal["checkbox", "pair", "radio"]
EnumStyle = Literal["text", "combo"]

_definitions: FormDefinitions | None = None


def default_definitions() -> FormDefinitions:
    """The packaged definitions, read once: loading them for every sample PDF would dominate the run time."""
    global _definitions
    if _definitions is None:
        _definitions = load_form_definitions()
    return _definitions


def fillable_pdf(
    kind: FormKind,
    values: Mapping[str, Value],
    *,
    definitions: FormDefinitions | None = None,
    yesno_style: YesNoStyle = "checkbox",
    hierarchical: bool = True,
    enum_style: EnumStyle = "text",
) -> bytes:
    """The form ``kind`` as a fillable PDF holding ``values``; keys absent from ``values`` leave widgets empty.

    ``hierarchical`` stores dotted names as a field tree (``patient`` → ``surname``) as Acrobat does; without it
    every field keeps its flat dotted name.
    """
    definition = (definitions or default_definitions())[kind]
    unknown = sorted(set(values) - definition.keys)
    if unknown:
        raise ValueError(f"{kind} has no field {unknown[0]!r}")
    pdf = _draw_form(definition, values, yesno_style=yesno_style, enum_style=enum_style)
    return _nest_field_names(pdf) if hierarchical else pdf


# --- complete values -------------------------------------------------------------------------------------


class Timeline:
    """The dates of one referral, in the order things happen: all on or before ``today`` except the MAR chart's
    first and last dates, which lie ahead.

    Derived from the seed alone (not the form), so the three forms of a referral agree with one another.
    """

    def __init__(self, today: dt.date, seed: int) -> None:
        rng = seeded("timeline", seed)
        days = dt.timedelta
        self.form2_signed = today - days(rng.randrange(0, 3))
        self.miat_assessed = self.form2_signed - days(rng.randrange(0, 4))
        self.ea_assessed = self.miat_assessed - days(rng.randrange(0, 4))
        self.consent = self.ea_assessed
        self.form1_signed = self.ea_assessed - days(rng.randrange(1, 15))
        self.discharged = self.form1_signed - days(rng.randrange(0, 10))
        self.agency_signed = today - days(rng.randrange(2, 6))
        self.pharmacy_signed = self.agency_signed + days(rng.randrange(0, 2))
        self.first_mar = today + days(rng.randrange(3, 10))
        self.mar_end = self.first_mar + days(rng.randrange(28, 120))


def complete_values(
    kind: FormKind,
    person: Patient,
    *,
    today: dt.date,
    seed: int = 0,
    referrer: Referrer | None = None,
) -> dict[str, Value]:
    """A complete, valid set of values for ``kind`` about ``person``: pass the same patient for every form
    of one referral. ``referrer`` is who filled in Form 1 (drawn from the seed when not given)."""
    rng = seeded(kind, seed)
    timeline = Timeline(today, seed)
    if kind == "form1":
        return _form1(person, timeline, seed, referrer)
    if kind == "form2":
        return _form2(person, timeline, rng, seed)
    if kind == "miat":
        return _miat(person, timeline, rng)
    return _mar(person, timeline, rng)


def _patient_block(person: Patient, *, identity_only: bool = False) -> dict[str, Value]:
    values: dict[str, Value] = {
        "patient.forenames": person.forenames,
        "patient.surname": person.surname,
        "patient.dob": person.dob,
        "patient.nhs_number": person.nhs_number,
    }
    if not identity_only:
        values |= {
            "patient.title": person.title,
            "patient.address": person.address,
            "patient.postcode": person.postcode,
            "patient.phone": person.phone,
        }
    return values


def _ticks(rng: random.Random, codes: list[str], low: int, high: int) -> tuple[str, ...]:
    """A few codes in printed order, as a tick list reads back."""
    chosen = set(rng.sample(codes, rng.randint(low, high)))
    return tuple(code for code in codes if code in chosen)


def _difficulties(seed: int) -> tuple[str, ...]:
    # Form 1's difficulties and Form 2's reasons for referral describe the same problem: one draw for both.
    return _ticks(seeded("difficulties", seed), [f"D{n}" for n in range(1, 16)], 2, 4)


DIFFICULTY_NOTES = {
    "D1": "cannot manage the caps on her bottles",
    "D2": "struggles to press tablets out of the blister strips",
    "D3": "cannot read the labels even with glasses",
    "D4": "often forgets the lunchtime and evening doses",
    "D5": "mixes up which tablet is for what",
    "D6": "has been found to take extra doses",
    "D7": "finds the larger tablets hard to swallow",
    "D8": "cannot use the inhaler properly",
    "D9": "is hard of hearing and misses instructions over the phone",
    "D10": "runs out because repeat prescriptions are not ordered",
    "D11": "takes many medicines at different times of day",
    "D12": "keeps old medicines in the kitchen drawer",
    "D13": "is worried about side effects and skips doses",
    "D14": "carer visits are at irregular times",
    "D15": "becomes anxious when the packaging changes",
}


def _form1(person: Patient, timeline: Timeline, seed: int, referrer: Referrer | None) -> dict[str, Value]:
    who = referrer or form1_referrer(seeded("form1-referrer", seed), person)
    difficulties = _difficulties(seed)
    values = _patient_block(person) | {
        "gp.practice_name": person.gp.name,
        "supplier.name": person.pharmacy.name,
        "referrer.name": who.name,
        "referrer.role": who.role,
        "referrer.phone": who.phone,
        "difficulties": difficulties,
        "description": "The patient " + "; ".join(DIFFICULTY_NOTES[code] for code in difficulties) + ".",
        "consent.given": True,
        "signature.name": who.name,
        "signature.date": timeline.form1_signed,
    }
    if who.organisation:
        values["referrer.organisation"] = who.organisation
    if who.email:
        values["referrer.email"] = who.email
    if "D15" in difficulties:
        values["difficulties.other"] = "Becomes anxious when the packaging changes"
    return values


ADJUSTMENT_CODES = [f"A{n}" for n in range(1, 16)]


def _form2(person: Patient, timeline: Timeline, rng: random.Random, seed: int) -> dict[str, Value]:
    pharmacist = person.pharmacy.pharmacist
    adjustments = _ticks(rng, ADJUSTMENT_CODES, 2, 4)
    values = _patient_block(person) | {
        "patient.lives_alone": person.lives_alone,
        "gp.practice_name": person.gp.name,
        "gp.ods_code": person.gp.ods_code,
        "supplier.type": "Community pharmacy",
        "supplier.name": person.pharmacy.name,
        "supplier.ods_code": person.pharmacy.ods_code,
        "supplier.phone": person.pharmacy.phone,
        "referrer.name": pharmacist.name,
        "referrer.role": pharmacist.role,
        "referrer.email": person.pharmacy.email,
        # The expected Equality Act pattern: impairment Yes, assessable in the pharmacy No, for the patient Yes.
        "ea.disability": True,
        "ea.assessable": False,
        "ea.for_patient": True,
        "ea.assessment_date": timeline.ea_assessed,
        "adjustments": adjustments,
        "why_not_resolved": "Adjustments were tried for several weeks but doses are still missed and the "
        "patient cannot manage the aids without help at home.",
        "reasons": _difficulties(seed),
        "risk.recent_discharge": rng.random() < 0.3,
        "risk.medicines_count": rng.randint(5, 16),
        "consent.given": True,
        "consent.date": timeline.consent,
        "signature.name": pharmacist.name,
        "signature.date": timeline.form2_signed,
    }
    if pharmacist.gphc_number:
        values["referrer.gphc_number"] = pharmacist.gphc_number
    if "A15" in adjustments:
        values["adjustments.other"] = "Tried a talking reminder clock"
    if values["risk.recent_discharge"]:
        values["risk.discharge_date"] = timeline.discharged
    high_risk = _ticks(rng, ["Anticoagulant", "Insulin", "Opioid", "Methotrexate", "Lithium", "Antiepileptic"], 0, 2)
    if high_risk:
        values["risk.high_risk_medicines"] = high_risk
    return values


def _miat(person: Patient, timeline: Timeline, rng: random.Random) -> dict[str, Value]:
    assessor = person.pharmacy.technician
    values = _patient_block(person, identity_only=True) | {
        "supplier.name": person.pharmacy.name,
        "assessor.name": assessor.name,
        "assessor.role": assessor.role,
        "assessment.date": timeline.miat_assessed,
        "assessment.setting": rng.choice(("Pharmacy", "Home", "Telephone")),
    }
    cognitive = [rng.choice((0, 1, 1, 2, 2)) for _ in range(6)]
    # One or two physical items do not apply (no liquids, no compliance aid yet): they count as nothing.
    not_applicable = set(rng.sample(range(7), rng.randint(1, 2)))
    physical: list[int | str] = ["N/A" if i in not_applicable else rng.choice((0, 1, 2)) for i in range(7)]
    for n, score in enumerate(cognitive, start=1):
        values[f"cognitive.c{n}"] = score
    for n, item in enumerate(physical, start=1):
        values[f"physical.p{n}"] = item
    physical_total = sum(item for item in physical if isinstance(item, int))
    values |= {
        "score.cognitive": sum(cognitive),
        "score.physical": physical_total,
        "score.total": sum(cognitive) + physical_total,
        "support.lives_alone": person.lives_alone,
        "support.carer": rng.choice(("None", "Informal (family or friends)", "Formal care package")),
        "outcome": "Refer to NMSS",
        "signature.name": assessor.name,
        "signature.date": timeline.miat_assessed,
    }
    if values["support.carer"] == "Formal care package":
        values["support.visits_per_day"] = rng.randint(1, 4)
    concerns = _ticks(rng, ["Stockpiling", "OutOfDate", "StoppedKept", "Duplicates", "UnsafeStorage"], 0, 2)
    if concerns:
        values["storage.concerns"] = concerns
    return values


def _mar(person: Patient, timeline: Timeline, rng: random.Random) -> dict[str, Value]:
    provider = care_provider(rng)
    pharmacist = person.pharmacy.pharmacist
    values = _patient_block(person) | {
        "care_provider.name": provider.name,
        "care_provider.manager": provider.manager,
        "care_provider.phone": provider.phone,
        "care_provider.email": provider.email,
        "supplier.name": person.pharmacy.name,
        "supplier.phone": person.pharmacy.phone,
        "supplier.ods_code": person.pharmacy.ods_code,
        "gp.practice_name": person.gp.name,
        "administration.all_medicines": True,
        "administration.visits_cover_all": rng.random() < 0.7,
        "duration.needed": rng.choice(("Indefinitely", "Until a date")),
        "agency.signature.name": provider.manager,
        "agency.signature.date": timeline.agency_signed,
        "pharmacy.agreed": True,
        "pharmacy.signature.name": pharmacist.name,
        "pharmacy.signature.date": timeline.pharmacy_signed,
        "pharmacy.first_mar_date": timeline.first_mar,
    }
    if not values["administration.visits_cover_all"]:
        values["administration.absence_arrangements"] = "Daughter gives the bedtime dose and signs the chart."
    if values["duration.needed"] == "Until a date":
        values["duration.end_date"] = timeline.mar_end
    return values


def missing_required(definition: FormDefinition, values: Mapping[str, Value]) -> list[FieldDefinition]:
    """The required fields (conditional ones when their condition holds) that ``values`` leaves empty."""
    return [f for f in definition.fields if f.is_required(values) and values.get(f.key) in (None, "", ())]


# --- drawing: reportlab writes the page and flat-named widgets -------------------------------------------

PAGE_WIDTH, PAGE_HEIGHT = float(A4[0]), float(A4[1])
MARGIN = 40.0
BOTTOM = 50.0
LABEL_WIDTH = 220.0
WIDGET_X = MARGIN + LABEL_WIDTH + 10
WIDGET_WIDTH = PAGE_WIDTH - MARGIN - WIDGET_X
LABEL_FONT, LABEL_SIZE, LEADING = "Helvetica", 9.0, 11.0
BOX = 11.0
ROW_GAP = 7.0
BORDER = Color(0.35, 0.35, 0.35)
FILL = Color(0.95, 0.96, 1.0)


class _Page:
    """A cursor down the page that starts a new page when the next row will not fit."""

    def __init__(self, canvas: Canvas, title: str) -> None:
        self.canvas = canvas
        self.number = 1
        self.y = PAGE_HEIGHT - MARGIN
        # Wrapped at spaces only, so the title reads back whole once line breaks are folded to spaces.
        for line in simpleSplit(title, "Helvetica-Bold", 18, PAGE_WIDTH - 2 * MARGIN):
            self.y -= 22
            canvas.setFont("Helvetica-Bold", 18)
            canvas.drawString(MARGIN, self.y, line)
        self.y -= 16
        canvas.setFont("Helvetica-Oblique", 8)
        canvas.drawString(MARGIN, self.y, "Sample form: every name, number and address on it is invented.")
        self.y -= 18

    def row(self, height: float) -> float:
        """The top of a row ``height`` high, on a new page when this one is full."""
        if self.y - height < BOTTOM:
            self.canvas.showPage()
            self.number += 1
            self.y = PAGE_HEIGHT - MARGIN
        top = self.y
        self.y -= height + ROW_GAP
        return top


def _draw_form(
    definition: FormDefinition, values: Mapping[str, Value], *, yesno_style: YesNoStyle, enum_style: EnumStyle
) -> bytes:
    buffer = io.BytesIO()
    # invariant: fixed creation date and document id, so the same values give the same bytes.
    canvas = Canvas(buffer, pagesize=A4, invariant=1)
    canvas.setTitle(definition.title)
    canvas.setAuthor("NMSS Intake samples")
    page = _Page(canvas, definition.title)
    for field in definition.fields:
        _draw_field(page, field, values.get(field.key), yesno_style, enum_style)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _draw_field(page: _Page, field: FieldDefinition, value: Value | None, yesno: YesNoStyle, enum: EnumStyle) -> None:
    label_lines = simpleSplit(field.label, LABEL_FONT, LABEL_SIZE, LABEL_WIDTH)
    if field.type == "checks":
        widget_height = len(field.options) * (BOX + 4)
    elif field.type == "multiline":
        widget_height = 40.0
    elif field.type == "yesno":
        widget_height = BOX + 2
    else:
        widget_height = 16.0
    top = page.row(max(len(label_lines) * LEADING, widget_height))
    canvas = page.canvas
    canvas.setFont(LABEL_FONT, LABEL_SIZE)
    for n, line in enumerate(label_lines):
        canvas.drawString(MARGIN, top - LABEL_SIZE - n * LEADING, line)
    form = canvas.acroForm
    if field.type == "checks":
        ticked = value if isinstance(value, tuple) else ()
        for n, option in enumerate(field.options):
            y = top - (n + 1) * (BOX + 4) + 4
            _checkbox(form, f"{field.key}.{option.code}", option.code in ticked, y)
            _caption(canvas, option.text, WIDGET_X + BOX + 5, y + 2)
    elif field.type == "yesno":
        _yes_no(page, field.key, value if isinstance(value, bool) else None, top - BOX, yesno)
    elif field.type == "enum" and enum == "combo":
        texts = [o.text for o in field.options]
        chosen = _text(field, value)
        form.choice(
            name=field.key,
            value=chosen or texts[0],
            options=texts if chosen else ["", *texts],
            x=WIDGET_X,
            y=top - widget_height,
            width=WIDGET_WIDTH,
            height=widget_height,
            fontSize=9,
            borderColor=BORDER,
            fillColor=FILL,
            fieldFlags="combo",
        )
    else:
        form.textfield(
            name=field.key,
            value=_text(field, value),
            x=WIDGET_X,
            y=top - widget_height,
            width=WIDGET_WIDTH,
            height=widget_height,
            fontSize=9,
            borderWidth=1,
            borderColor=BORDER,
            fillColor=FILL,
            maxlen=0,
            fieldFlags="multiline" if field.type == "multiline" else "",
        )


def _text(field: FieldDefinition, value: Value | None) -> str:
    """What a form filler would have typed: dates day-first, an enum's printed option text."""
    if value is None or isinstance(value, tuple):
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, int):
        return str(value)
    option = field.option(value) if field.type == "enum" else None
    return option.text if option is not None else value


def _checkbox(form: Any, name: str, checked: bool, y: float, x: float = WIDGET_X) -> None:
    form.checkbox(
        name=name,
        checked=checked,
        buttonStyle="cross",
        x=x,
        y=y,
        size=BOX,
        borderColor=BORDER,
        fillColor=FILL,
        borderWidth=1,
    )


def _caption(canvas: Canvas, text: str, x: float, y: float) -> None:
    # Long option texts shrink rather than run off the page.
    size = 8.5
    room = PAGE_WIDTH - MARGIN - x
    while size > 6 and canvas.stringWidth(text, LABEL_FONT, size) > room:
        size -= 0.5
    canvas.setFont(LABEL_FONT, size)
    canvas.drawString(x, y, text)


def _yes_no(page: _Page, key: str, answer: bool | None, y: float, style: YesNoStyle) -> None:
    canvas, form = page.canvas, page.canvas.acroForm
    if style == "checkbox":
        _checkbox(form, key, answer is True, y)
        _caption(canvas, "Yes", WIDGET_X + BOX + 5, y + 2)
        return
    for n, (text, meaning) in enumerate((("Yes", True), ("No", False))):
        x = WIDGET_X + n * 60
        if style == "pair":
            _checkbox(form, f"{key}.{text.lower()}", answer is meaning, y, x)
        else:
            form.radio(
                name=key,
                value=text,
                selected=answer is meaning,
                buttonStyle="circle",
                x=x,
                y=y,
                size=BOX,
                borderColor=BORDER,
                fillColor=FILL,
                borderWidth=1,
            )
        _caption(canvas, text, x + BOX + 5, y + 2)


# --- nesting: dotted names become a field tree, as Acrobat stores them ------------------------------------


def _nest_field_names(pdf: bytes) -> bytes:
    """Rewrite the AcroForm so ``patient.surname`` is a kid ``surname`` of a parent field ``patient``.

    reportlab writes every field at the top level with its dotted name; the service must read the tree form
    too, since that is what Acrobat and Word's PDF export produce.
    """
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    acroform = cast(DictionaryObject, writer.root_object["/AcroForm"])
    top_level = ArrayObject()
    parents: dict[str, IndirectObject] = {}
    for reference in cast(ArrayObject, acroform["/Fields"]):
        field = cast(DictionaryObject, reference.get_object())
        *path, leaf = str(field["/T"]).split(".")
        parent: IndirectObject | None = None
        for depth in range(1, len(path) + 1):
            prefix = ".".join(path[:depth])
            if prefix not in parents:
                node = DictionaryObject(
                    {NameObject("/T"): TextStringObject(path[depth - 1]), NameObject("/Kids"): ArrayObject()}
                )
                # pypdf has no public way to add an indirect object; _add_object is what its own helpers use.
                parents[prefix] = writer._add_object(node)
                _attach(parents[prefix], parent, top_level)
            parent = parents[prefix]
        field[NameObject("/T")] = TextStringObject(leaf)
        _attach(reference, parent, top_level)
    acroform[NameObject("/Fields")] = top_level
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _attach(child: IndirectObject, parent: IndirectObject | None, top_level: ArrayObject) -> None:
    if parent is None:
        top_level.append(child)
        return
    cast(DictionaryObject, child.get_object())[NameObject("/Parent")] = parent
    cast(ArrayObject, cast(DictionaryObject, parent.get_object())["/Kids"]).append(child)
