"""Templates that number their questions ("1. Surname", "Q2 Forename(s)", "3) NHS number", "2a. Postcode"):
the forms are read as if the numbers were not there, from a flat PDF, a Word file and a scan alike."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from config.forms import load_form_definitions
from parsers import Form, parse_document
from parsers.mail import read_mail
from samples.emails import referral_email
from samples.flat import flat_pdf, numbered_labels
from samples.photos import form_pages, scanned_tiff
from samples.scenarios import Scenario
from samples.wordfile import word_document

from .conftest import Service, today

pytestmark = pytest.mark.reading_only


def _accepted_forms(scenarios: list[Scenario]) -> tuple[Scenario, list[Form]]:
    scenario = next(s for s in scenarios if s.expected_outcome == "accepted")
    definitions = load_form_definitions()
    forms = []
    for attachment in read_mail(scenario.raw).attachments:
        document = parse_document(attachment.data, attachment.filename, definitions, today=today())
        assert isinstance(document, Form)
        forms.append(document)
    return scenario, forms


def _json(service: Service, *args: str) -> list[dict[str, object]]:
    result = service.invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    return list(json.loads(result.stdout))


def test_a_referral_on_numbered_templates_is_read_and_decided_as_the_plain_one(
    service: Service, scenarios: list[Scenario]
) -> None:
    scenario, forms = _accepted_forms(scenarios)
    assert "1b. Forename(s)" in numbered_labels(load_form_definitions()["form2"]).values()
    numbered = [(f"{form.kind}.pdf", flat_pdf(form.kind, form.fields, numbered=True)) for form in forms]
    raw = referral_email(
        attachments=numbered, sender="pharmacy.numbers@nhs.net", subject="NMSS referral", date=_sent(scenario)
    )
    (service.root / "plain.eml").write_bytes(scenario.raw)
    (service.root / "numbered.eml").write_bytes(raw)

    [plain, decided] = _json(service, "check", "plain.eml", "numbered.eml")

    assert decided["outcome"] == plain["outcome"] == "accepted"
    assert decided["problems"] == []
    assert decided["forms"] == plain["forms"]

    for form in forms:
        (service.root / f"{form.kind}.docx").write_bytes(word_document(form.kind, form.fields, numbered=True))
        [word] = _json(service, "parse", f"{form.kind}.docx")
        assert (word["form"], word["missing"], word["invalid"]) == (form.kind, [], [])
        assert word["counts"] == {"fields": len(load_form_definitions()[form.kind].fields), "filled": len(form.fields)}


def test_a_scan_of_a_numbered_form_is_read_by_its_labels(service: Service, scenarios: list[Scenario]) -> None:
    """OCR reads the numbers as words like any other: they are set aside by the same rule."""
    _, forms = _accepted_forms(scenarios)
    form2 = next(form for form in forms if form.kind == "form2")
    (service.root / "scan.tif").write_bytes(scanned_tiff(form_pages("form2", form2.fields, seed=3, numbered=True)))

    [scan] = _json(service, "parse", "scan.tif")

    assert (scan["form"], scan["source"]) == ("form2", "ocr")
    fields = scan["fields"]
    assert isinstance(fields, dict)
    for key in ("patient.surname", "patient.forenames", "patient.postcode"):
        assert fields.get(key) == form2.fields[key], key
    assert len(fields) >= len(form2.fields) * 3 // 4


def _sent(scenario: Scenario) -> dt.datetime:
    message = read_mail(scenario.raw)
    assert message.date is not None
    return message.date
