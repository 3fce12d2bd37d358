"""The submission table of forms-spec.md, walked with literal forms and a fixed day."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import pytest

from config import load_form_definitions
from config.forms import FormKind
from parsers.types import FieldError, Form, Unreadable, Value
from rules.decide import decide
from rules.types import Submission

TODAY = dt.date(2026, 11, 27)
RECEIVED = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)
DEFINITIONS = load_form_definitions()

PATIENT: dict[str, Value] = {
    "patient.title": "Mrs",
    "patient.forenames": "Ada",
    "patient.surname": "Testwell",
    "patient.dob": dt.date(1941, 4, 3),
    "patient.nhs_number": "9990000018",
    "patient.address": "1 Example Row\nNorwich",
    "patient.postcode": "NR1 3QS",
    "patient.phone": "01603 000000",
}

COMPLETE: dict[FormKind, dict[str, Value]] = {
    "form1": {
        **PATIENT,
        "gp.practice_name": "Example Surgery",
        "supplier.name": "Example Pharmacy",
        "referrer.name": "Sam Relative",
        "referrer.role": "Relative",
        "referrer.phone": "07700 900123",
        "difficulties": ("D4", "D5"),
        "description": "Forgets evening doses.",
        "consent.given": True,
        "signature.name": "Sam Relative",
        "signature.date": dt.date(2026, 11, 1),
    },
    "form2": {
        **PATIENT,
        "gp.practice_name": "Example Surgery",
        "gp.ods_code": "D99001",
        "supplier.type": "Community pharmacy",
        "supplier.name": "Example Pharmacy",
        "supplier.ods_code": "FX123",
        "supplier.phone": "01603 111111",
        "referrer.name": "Pat Pharmacist",
        "referrer.role": "Pharmacist",
        "referrer.gphc_number": "2099999",
        "referrer.email": "example.pharmacy@nhs.net",
        "ea.disability": True,
        "ea.assessable": False,
        "ea.for_patient": True,
        "ea.assessment_date": dt.date(2026, 11, 10),
        "adjustments": ("A5",),
        "why_not_resolved": "Still misses doses.",
        "reasons": ("D4",),
        "consent.given": True,
        "consent.date": dt.date(2026, 11, 10),
        "signature.name": "Pat Pharmacist",
        "signature.date": dt.date(2026, 11, 20),
    },
    "miat": {
        **{
            k: v
            for k, v in PATIENT.items()
            if k in ("patient.forenames", "patient.surname", "patient.dob", "patient.nhs_number")
        },
        "supplier.name": "Example Pharmacy",
        "assessor.name": "Pat Pharmacist",
        "assessor.role": "Pharmacist",
        "assessment.date": dt.date(2026, 11, 12),
        "assessment.setting": "Pharmacy",
        **{f"cognitive.c{i}": 1 for i in range(1, 7)},
        **{f"physical.p{i}": 0 for i in range(1, 8)},
        "support.lives_alone": True,
        "support.carer": "None",
        "outcome": "Refer to NMSS",
        "signature.name": "Pat Pharmacist",
        "signature.date": dt.date(2026, 11, 12),
    },
    "mar": {
        **PATIENT,
        "care_provider.name": "Example Care Ltd",
        "care_provider.phone": "01603 222222",
        "care_provider.email": "office@example-care.nhs.net",
        "supplier.name": "Example Pharmacy",
        "gp.practice_name": "Example Surgery",
        "administration.all_medicines": True,
        "administration.visits_cover_all": True,
        "duration.needed": "Indefinitely",
        "agency.signature.name": "Cara Manager",
        "agency.signature.date": dt.date(2026, 11, 2),
        "pharmacy.agreed": True,
        "pharmacy.signature.name": "Pat Pharmacist",
        "pharmacy.signature.date": dt.date(2026, 11, 3),
        "pharmacy.first_mar_date": dt.date(2026, 12, 1),
    },
}


def form(
    kind: FormKind, changes: Mapping[str, Value | None] | None = None, *, invalid: tuple[FieldError, ...] = ()
) -> Form:
    fields = dict(COMPLETE[kind])
    for key, value in (changes or {}).items():
        if value is None:
            fields.pop(key, None)
        else:
            fields[key] = value
    return Form(kind=kind, filename=f"{kind}.pdf", fields=fields, invalid=invalid)


def outcome_of(*documents: Form | Unreadable, automatic: str | None = None):  # type: ignore[no-untyped-def]
    return decide(Submission(tuple(documents), RECEIVED, automatic), DEFINITIONS, TODAY)


@pytest.mark.parametrize("kind", ["form1", "form2", "miat", "mar"])
def test_the_complete_fixtures_are_complete(kind: FormKind) -> None:
    from rules.checks import form_problems

    assert form_problems(form(kind), DEFINITIONS[kind], TODAY) == []


def test_form2_form1_and_miat_complete_are_accepted_without_a_reply() -> None:
    outcome = outcome_of(form("form2"), form("form1"), form("miat"))
    assert (outcome.kind, outcome.reply, outcome.problems) == ("accepted", None, ())
    assert outcome.forms == ("form2", "form1", "miat")


def test_form2_without_the_miat_is_incomplete_and_names_the_missing_form() -> None:
    outcome = outcome_of(form("form2"), form("form1"))
    assert outcome.kind == "incomplete"
    assert outcome.reply == "incomplete"
    assert [(p.label, p.code) for p in outcome.problems] == [
        ("Medication Independence Assessment Tool", "missing_form")
    ]


def test_an_empty_required_field_is_named_by_its_printed_label() -> None:
    outcome = outcome_of(form("form2", {"patient.dob": None, "consent.date": None}), form("form1"), form("miat"))
    assert outcome.kind == "incomplete"
    assert [(p.form, p.field, p.label, p.code) for p in outcome.problems] == [
        ("form2", "patient.dob", "Date of birth", "missing"),
        ("form2", "consent.date", "Date consent obtained", "missing"),
    ]


def test_an_invalid_nhs_number_is_a_problem_that_does_not_carry_the_number() -> None:
    outcome = outcome_of(form("form2", {"patient.nhs_number": "9990000019"}), form("form1"), form("miat"))
    assert outcome.kind == "incomplete"
    problem = outcome.problems[0]
    assert (problem.field, problem.label, problem.code) == ("patient.nhs_number", "NHS number", "invalid_nhs_number")
    assert "9990000019" not in repr(problem)


def test_a_value_the_parser_could_not_read_is_reported_with_the_parsers_code() -> None:
    bad = form("form1", {"signature.date": None}, invalid=(FieldError("signature.date", "invalid_date"),))
    outcome = outcome_of(form("form2"), bad, form("miat"))
    assert [(p.form, p.field, p.code) for p in outcome.problems] == [("form1", "signature.date", "invalid_date")]


def test_a_conditional_field_is_required_only_when_its_condition_holds() -> None:
    ticked_other = form("form1", {"difficulties": ("D4", "D15")})
    assert [p.field for p in outcome_of(form("form2"), ticked_other, form("miat")).problems] == ["difficulties.other"]
    technician = form("form2", {"referrer.role": "Dispenser", "referrer.gphc_number": None})
    assert outcome_of(technician, form("form1"), form("miat")).kind == "accepted"


def test_consent_answered_no_must_be_yes() -> None:
    outcome = outcome_of(form("form2", {"consent.given": False}), form("form1"), form("miat"))
    assert [(p.field, p.code) for p in outcome.problems] == [("consent.given", "must_be_yes")]


def test_a_signature_dated_in_the_future_is_invalid() -> None:
    outcome = outcome_of(form("form2", {"signature.date": TODAY + dt.timedelta(days=1)}), form("form1"), form("miat"))
    assert [(p.field, p.code) for p in outcome.problems] == [("signature.date", "date_in_future")]


@pytest.mark.parametrize("documents", [("form1",), ("form1", "miat")])
def test_form1_without_form2_was_sent_to_the_wrong_place(documents: tuple[FormKind, ...]) -> None:
    outcome = outcome_of(*(form(kind) for kind in documents))
    assert (outcome.kind, outcome.reply) == ("misrouted", "misrouted")


def test_a_complete_mar_registration_is_queued_as_its_own_kind() -> None:
    assert outcome_of(form("mar")).kind == "mar_registration"


def test_a_mar_registration_with_fields_missing_is_incomplete() -> None:
    outcome = outcome_of(form("mar", {"pharmacy.first_mar_date": None}))
    assert (outcome.kind, outcome.reply) == ("incomplete", "incomplete")
    assert [p.label for p in outcome.problems] == ["First MAR chart date"]


@pytest.mark.parametrize("problem", ["scanned", "encrypted", "corrupt"])
def test_a_form_that_cannot_be_read_goes_to_the_team_and_the_sender_is_told(problem: str) -> None:
    outcome = outcome_of(form("form2"), Unreadable("form1.pdf", problem, kind="form1"), form("miat"))  # type: ignore[arg-type]
    assert (outcome.kind, outcome.reply) == ("review", "unreadable")


def test_a_recognised_form_with_nothing_read_from_it_is_checked_by_hand_not_called_empty() -> None:
    flat = Form(kind="form1", filename="form1.pdf", fields={}, source="text")
    outcome = outcome_of(form("form2"), flat, form("miat"))
    assert (outcome.kind, outcome.reply) == ("review", "unreadable")
    assert [(p.form, p.code) for p in outcome.problems] == [("form1", "nothing_read")]


def test_mail_with_no_form_is_not_a_submission_and_gets_no_reply() -> None:
    outcome = outcome_of(Unreadable("invoice.pdf", "unrecognised"))
    assert (outcome.kind, outcome.reply) == ("not_a_submission", None)
    assert outcome_of().kind == "not_a_submission"


def test_automatic_mail_with_no_form_is_filed_as_automatic() -> None:
    assert outcome_of(automatic="auto-submitted").kind == "automatic"


def test_automatic_mail_that_would_get_a_reply_gets_none_and_says_why() -> None:
    outcome = outcome_of(form("form1"), automatic="auto-submitted")
    assert (outcome.kind, outcome.reply, outcome.suppressed) == ("misrouted", None, "auto-submitted")


def test_forms_for_two_different_patients_go_to_the_team() -> None:
    other = form("form1", {"patient.nhs_number": "9990000026"})
    outcome = outcome_of(form("form2"), other, form("miat"))
    assert (outcome.kind, outcome.reasons, outcome.reply) == ("review", ("different_patients",), None)


def test_without_nhs_numbers_the_same_patient_is_matched_by_surname_and_date_of_birth() -> None:
    form1 = form("form1", {"patient.nhs_number": None, "patient.surname": "TESTWELL"})
    assert outcome_of(form("form2"), form1, form("miat")).kind == "accepted"
    older = form("form1", {"patient.nhs_number": None, "patient.dob": dt.date(1940, 1, 1)})
    assert outcome_of(form("form2"), older, form("miat")).reasons == ("different_patients",)
