"""The submission table of forms-spec.md, walked with literal forms and a fixed day."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import pytest

from config import load_form_definitions
from config.forms import FormKind
from parsers.types import FieldError, Form, Unreadable, Value
from rules.decide import decide, decide_unread
from rules.eligibility import EligibilityPolicy
from rules.types import Context, Submission

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


@pytest.mark.parametrize("problem", ["scanned", "encrypted", "corrupt", "timeout", "too_deep", "too_many_parts"])
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
    assert outcome.held_reply == "misrouted", "the team's reply by hand starts from these words"


def test_forms_for_two_different_patients_go_to_the_team() -> None:
    other = form("form1", {"patient.nhs_number": "9990000026"})
    outcome = outcome_of(form("form2"), other, form("miat"))
    assert (outcome.kind, outcome.reasons, outcome.reply) == ("review", ("different_patients",), None)


def test_without_nhs_numbers_the_same_patient_is_matched_by_surname_and_date_of_birth() -> None:
    form1 = form("form1", {"patient.nhs_number": None, "patient.surname": "TESTWELL"})
    assert outcome_of(form("form2"), form1, form("miat")).kind == "accepted"
    older = form("form1", {"patient.nhs_number": None, "patient.dob": dt.date(1940, 1, 1)})
    assert outcome_of(form("form2"), older, form("miat")).reasons == ("different_patients",)


# --- the whole submission table of forms-spec.md, one row per line of the table and per eligibility rule ---

NORFOLK = EligibilityPolicy(practices=frozenset({"D99001", "D99002"}))
IN_AREA = Context(eligibility=NORFOLK)


def documents(*items: FormKind | Form | Unreadable) -> tuple[Form | Unreadable, ...]:
    return tuple(form(item) if isinstance(item, str) else item for item in items)


TABLE: list[tuple[str, tuple[Form | Unreadable, ...], str, str | None, tuple[str, ...]]] = [
    ("Form 2 + Form 1 + MIAT complete", documents("form2", "form1", "miat"), "accepted", None, ()),
    ("Form 2 + Form 1, no MIAT", documents("form2", "form1"), "incomplete", "incomplete", ()),
    ("Form 2 + MIAT, no Form 1", documents("form2", "miat"), "incomplete", "incomplete", ()),
    ("Form 2 alone", documents("form2"), "incomplete", "incomplete", ()),
    (
        "Form 2 with a required field empty",
        documents(form("form2", {"signature.name": None}), "form1", "miat"),
        "incomplete",
        "incomplete",
        (),
    ),
    ("Form 1 alone", documents("form1"), "misrouted", "misrouted", ()),
    ("Form 1 with the MIAT, no Form 2", documents("form1", "miat"), "misrouted", "misrouted", ()),
    ("MAR registration complete", documents("mar"), "mar_registration", None, ()),
    (
        "MAR registration with a field missing",
        documents(form("mar", {"care_provider.name": None})),
        "incomplete",
        "incomplete",
        (),
    ),
    (
        "a scanned form",
        documents("form2", Unreadable("f1.pdf", "scanned", kind="form1"), "miat"),
        "review",
        "unreadable",
        ("unreadable_form",),
    ),
    (
        "a file forwarded past the depth the service reads",
        documents(Unreadable("Form 2.pdf", "too_deep")),
        "review",
        "unreadable",
        ("unreadable_form", "nested_too_deep"),
    ),
    (
        "an email of more parts than the service reads",
        documents("form2", Unreadable("parts-after-1000", "too_many_parts")),
        "review",
        "unreadable",
        ("unreadable_form", "too_many_parts"),
    ),
    ("no form at all", documents(Unreadable("invoice.pdf", "unrecognised")), "not_a_submission", None, ()),
    (
        "forms for two different patients",
        documents("form2", form("form1", {"patient.nhs_number": "9990000026"}), "miat"),
        "review",
        None,
        ("different_patients",),
    ),
    ("the same form twice", documents("form2", "form2", "form1", "miat"), "review", None, ("same_form_twice",)),
    (
        "a referral and a MAR registration together",
        documents("form2", "form1", "miat", "mar"),
        "review",
        None,
        ("referral_and_mar_together",),
    ),
    (
        "eligibility: under 18 on the day received",
        documents(*(form(k, {"patient.dob": dt.date(2009, 1, 1)}) for k in ("form2", "form1", "miat"))),
        "review",
        None,
        ("under_minimum_age",),
    ),
    (
        "eligibility: GP practice outside the list",
        documents(form("form2", {"gp.ods_code": "Y99901"}), "form1", "miat"),
        "review",
        None,
        ("practice_not_in_list",),
    ),
    (
        "eligibility: Equality Act answers not Yes, No, Yes",
        documents(form("form2", {"ea.assessable": True}), "form1", "miat"),
        "review",
        None,
        ("equality_act_pattern",),
    ),
    (
        "cross-form: the MIAT from another pharmacy",
        documents("form2", "form1", form("miat", {"supplier.name": "Another Chemist"})),
        "review",
        None,
        ("pharmacy_differs",),
    ),
    (
        "cross-form: Form 2 signed before the MIAT assessment",
        documents(form("form2", {"signature.date": dt.date(2026, 11, 11)}), "form1", "miat"),
        "review",
        None,
        ("dates_out_of_order",),
    ),
]


@pytest.mark.parametrize(("row", "docs", "kind", "reply", "reasons"), TABLE, ids=[row[0] for row in TABLE])
def test_every_row_of_the_submission_table_gets_its_outcome_reply_and_reasons(
    row: str, docs: tuple[Form | Unreadable, ...], kind: str, reply: str | None, reasons: tuple[str, ...]
) -> None:
    outcome = decide(Submission(docs, RECEIVED), DEFINITIONS, TODAY, IN_AREA)
    assert (outcome.kind, outcome.reply, outcome.reasons) == (kind, reply, reasons), row


def test_an_eligibility_failure_sends_the_referral_to_review_never_back_to_the_referrer() -> None:
    outcome = decide(
        Submission(documents(form("form2", {"gp.ods_code": "Y99901"}), "form1", "miat"), RECEIVED),
        DEFINITIONS,
        TODAY,
        IN_AREA,
    )
    assert (outcome.kind, outcome.reply, outcome.problems) == ("review", None, ())
    assert outcome.eligibility == ("practice_not_in_list",)


def test_without_a_practice_list_the_practice_check_is_skipped_with_a_warning() -> None:
    outcome = outcome_of(form("form2", {"gp.ods_code": "Y99901"}), form("form1"), form("miat"))
    assert outcome.kind == "accepted"
    assert "practice_check_skipped" in outcome.warnings


def test_a_patient_with_an_open_referral_is_flagged_for_the_team_not_bounced() -> None:
    context = Context(eligibility=NORFOLK, open_referrals=frozenset({"9990000018"}))
    outcome = decide(Submission(documents("form2", "form1", "miat"), RECEIVED), DEFINITIONS, TODAY, context)
    assert (outcome.kind, outcome.reply, outcome.reasons) == ("review", None, ("open_referral_exists",))


def test_a_printed_miat_total_that_disagrees_with_the_items_is_a_warning_only() -> None:
    miat = form("miat", {"score.total": 20})
    outcome = decide(Submission(documents("form2", "form1", miat), RECEIVED), DEFINITIONS, TODAY, IN_AREA)
    assert (outcome.kind, outcome.warnings) == ("accepted", ("miat_score_differs",))


def test_a_referrer_email_outside_the_secure_domains_is_a_warning() -> None:
    form2 = form("form2", {"referrer.email": "pharmacy@example.com"})
    outcome = decide(Submission(documents(form2, "form1", "miat"), RECEIVED), DEFINITIONS, TODAY, IN_AREA)
    assert (outcome.kind, outcome.warnings) == ("accepted", ("referrer_email_not_secure",))


@pytest.mark.parametrize(
    ("problem", "reason"), [("timeout", "message_read_timeout"), ("too_large", "message_too_large_to_read")]
)
def test_a_message_that_could_not_itself_be_read_goes_to_the_team_and_nobody_is_answered(
    problem: str, reason: str
) -> None:
    outcome = decide_unread(problem)

    assert (outcome.kind, outcome.forms, outcome.reasons) == ("review", (), (reason,))
    assert outcome.reply is None
