"""The sample data: invented people, fillable forms and emails must be valid, readable and repeatable."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import io
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

import pdfplumber
import pytest
from pdfminer.pdftypes import resolve1

from config.forms import FORM_KINDS, FormKind, load_form_definitions
from parsers.types import Value
from rules.validate import POSTCODE, value_problem
from samples.emails import out_of_office_reply, plain_email, referral_email
from samples.forms import complete_values, fillable_pdf, missing_required
from samples.people import POST_TOWNS, is_valid_nhs_number, nhs_number, patient, seeded
from samples.scenarios import all_scenarios, deliver_to_maildir

TODAY = dt.date(2026, 3, 10)
DEFINITIONS = load_form_definitions()


def field_names(pdf: bytes) -> dict[str, Any]:
    """Every terminal field's fully qualified name (``/T`` of each ancestor joined by dots) and its ``/V``."""
    found: dict[str, Any] = {}

    def walk(references: Any, prefix: tuple[str, ...], inherited: Any) -> None:
        for reference in resolve1(references):
            field = resolve1(reference)
            title = field.get("T")
            name = (*prefix, title.decode("latin-1") if isinstance(title, bytes) else title) if title else prefix
            value = field.get("V", inherited)
            if "Kids" in field and any("T" in resolve1(kid) for kid in resolve1(field["Kids"])):
                walk(field["Kids"], name, value)
            else:
                found[".".join(name)] = value

    with pdfplumber.open(io.BytesIO(pdf)) as document:
        walk(resolve1(document.doc.catalog["AcroForm"])["Fields"], (), None)
    return found


def top_level_names(pdf: bytes) -> set[str]:
    with pdfplumber.open(io.BytesIO(pdf)) as document:
        fields = resolve1(resolve1(document.doc.catalog["AcroForm"])["Fields"])
        return {resolve1(f)["T"].decode("latin-1") for f in fields}


def expected_names(kind: FormKind, values: dict[str, Value], yesno_style: str = "checkbox") -> set[str]:
    """The widget names ``values`` must have filled: a tick list gives one name per ticked option, a yes/no
    pair one name per answer."""
    names: set[str] = set()
    for key, value in values.items():
        definition = DEFINITIONS[kind].field(key)
        assert definition is not None
        if definition.type == "checks":
            names.update(f"{key}.{code}" for code in cast(tuple[str, ...], value))
        elif definition.type == "yesno" and yesno_style == "pair":
            names.update((f"{key}.yes", f"{key}.no"))
        else:
            names.add(key)
    return names


def page_one_text(pdf: bytes) -> str:
    with pdfplumber.open(io.BytesIO(pdf)) as document:
        return " ".join((document.pages[0].extract_text() or "").split())


def referral(seed: int = 0) -> Iterator[tuple[FormKind, dict[str, Value]]]:
    person = patient(seeded("test", seed), today=TODAY)
    for kind in FORM_KINDS:
        yield kind, complete_values(kind, person, today=TODAY, seed=seed)


# --- people -----------------------------------------------------------------------------------------------


def test_every_generated_nhs_number_starts_999_and_passes_the_check_digit() -> None:
    rng = seeded("nhs", 1)
    numbers = [nhs_number(rng) for _ in range(500)] + [patient(rng, today=TODAY).nhs_number for _ in range(50)]
    assert all(n.startswith("999") and len(n) == 10 and is_valid_nhs_number(n) for n in numbers)
    assert all(
        value_problem(DEFINITIONS["form2"].field("patient.nhs_number"), n, TODAY) is None  # type: ignore[arg-type]
        for n in numbers
    )


def test_the_check_digit_agrees_with_the_domain_notes_example() -> None:
    assert is_valid_nhs_number("9434765919")
    assert not is_valid_nhs_number("9434765918")
    assert not is_valid_nhs_number("9999999999")


def test_patients_are_adults_in_norfolk_with_valid_postcodes_and_drama_range_phones() -> None:
    rng = seeded("people", 2)
    for _ in range(100):
        person = patient(rng, today=TODAY)
        assert person.dob <= TODAY.replace(year=TODAY.year - 18)
        assert POSTCODE.match(person.postcode)
        assert person.address.splitlines()[-1] in {town for _, town in POST_TOWNS}
        assert person.phone.startswith(("01632 960", "07700 900"))
        assert person.pharmacy.email.endswith("@nhs.net")
        assert person.pharmacy.ods_code[0] == "F"
        assert len(person.pharmacy.ods_code) == 5


def test_the_same_seed_gives_the_same_patient() -> None:
    assert patient(seeded("x", 3), today=TODAY) == patient(seeded("x", 3), today=TODAY)
    assert patient(seeded("x", 3), today=TODAY) != patient(seeded("x", 4), today=TODAY)


# --- complete values --------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(12))
def test_complete_values_fill_every_required_field_with_a_valid_value(seed: int) -> None:
    for kind, values in referral(seed):
        definition = DEFINITIONS[kind]
        assert missing_required(definition, values) == []
        assert set(values) <= definition.keys
        problems = {
            key: value_problem(definition.field(key), value, TODAY)  # type: ignore[arg-type]
            for key, value in values.items()
        }
        assert {key: code for key, code in problems.items() if code} == {}


@pytest.mark.parametrize("seed", range(12))
def test_the_dates_of_a_referral_happen_in_order(seed: int) -> None:
    forms = dict(referral(seed))
    form1, form2, miat = forms["form1"], forms["form2"], forms["miat"]
    assert form1["signature.date"] <= form2["ea.assessment_date"] <= miat["assessment.date"]  # type: ignore[operator]
    assert miat["assessment.date"] <= form2["signature.date"] <= TODAY  # type: ignore[operator]
    assert form2["consent.date"] <= form2["signature.date"]  # type: ignore[operator]


@pytest.mark.parametrize("seed", range(12))
def test_miat_totals_equal_the_sum_of_the_scores_with_na_counting_nothing(seed: int) -> None:
    miat = dict(referral(seed))["miat"]
    cognitive = [miat[f"cognitive.c{n}"] for n in range(1, 7)]
    physical = [miat[f"physical.p{n}"] for n in range(1, 8)]
    assert "N/A" in physical
    assert all(score in (0, 1, 2) for score in cognitive)
    assert miat["score.cognitive"] == sum(cast(list[int], cognitive))
    assert miat["score.physical"] == sum(p for p in physical if isinstance(p, int))
    assert miat["score.total"] == cast(int, miat["score.cognitive"]) + cast(int, miat["score.physical"])


def test_every_form_of_a_referral_is_about_the_same_patient_with_the_expected_equality_act_answers() -> None:
    forms = dict(referral(5))
    for key in ("patient.surname", "patient.dob", "patient.nhs_number"):
        assert len({forms[kind][key] for kind in ("form1", "form2", "miat")}) == 1
    assert (forms["form2"]["ea.disability"], forms["form2"]["ea.assessable"], forms["form2"]["ea.for_patient"]) == (
        True,
        False,
        True,
    )
    assert forms["form1"]["consent.given"] is True
    assert forms["form2"]["consent.given"] is True


# --- fillable PDFs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("hierarchical", [True, False])
@pytest.mark.parametrize("yesno_style", ["checkbox", "pair", "radio"])
def test_each_fillable_pdf_opens_shows_its_title_and_names_every_filled_field(
    yesno_style: Any, hierarchical: bool
) -> None:
    for kind, values in referral(7):
        pdf = fillable_pdf(kind, values, yesno_style=yesno_style, hierarchical=hierarchical)
        assert DEFINITIONS[kind].title in page_one_text(pdf)
        names = set(field_names(pdf))
        assert expected_names(kind, values, yesno_style) <= names


def test_a_hierarchical_pdf_has_a_top_level_patient_field_and_no_dotted_names() -> None:
    values = dict(referral(1))["form2"]
    top = top_level_names(fillable_pdf("form2", values))
    assert "patient" in top
    assert not any("." in name for name in top)
    assert "patient.surname" in top_level_names(fillable_pdf("form2", values, hierarchical=False))


def test_widgets_carry_the_values_as_a_form_filler_would_type_them() -> None:
    values = dict(referral(2))["form2"]
    fields = field_names(fillable_pdf("form2", values, enum_style="combo"))
    assert fields["patient.surname"].decode() == values["patient.surname"]
    assert fields["patient.dob"].decode() == cast(dt.date, values["patient.dob"]).strftime("%d/%m/%Y")
    assert fields["supplier.type"].decode() == "Community pharmacy"
    assert fields["ea.disability"].name == "Yes"
    assert fields["ea.assessable"].name == "Off"
    ticked = {name for name, value in fields.items() if name.startswith("adjustments.A") and value.name != "Off"}
    assert ticked == {f"adjustments.{code}" for code in cast(tuple[str, ...], values["adjustments"])}


def test_radio_yes_no_groups_hold_yes_or_no_as_their_value() -> None:
    values = dict(referral(2))["form2"]
    fields = field_names(fillable_pdf("form2", values, yesno_style="radio"))
    assert fields["ea.disability"].name == "Yes"
    assert fields["ea.assessable"].name == "No"


def test_absent_values_leave_widgets_empty() -> None:
    values = dict(referral(3))["form2"]
    del values["patient.dob"], values["consent.given"]
    fields = field_names(fillable_pdf("form2", values, yesno_style="pair"))
    assert fields["patient.dob"] in (b"", None)
    assert fields["consent.given.yes"].name == "Off"
    assert fields["consent.given.no"].name == "Off"


def test_an_unknown_key_is_refused_rather_than_silently_dropped() -> None:
    with pytest.raises(ValueError, match="no field"):
        fillable_pdf("form1", {"patient.shoe_size": "9"})


# --- emails and scenarios ---------------------------------------------------------------------------------


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def test_a_referral_email_parses_back_with_its_pdf_attachments() -> None:
    when = dt.datetime(2026, 3, 10, 10, 30, tzinfo=dt.UTC)
    raw = referral_email(
        attachments=[("Form1.pdf", b"%PDF-1.4 one"), ("MIAT.pdf", b"%PDF-1.4 two")],
        sender="pharmacy.fake1@nhs.net",
        subject="NMSS referral",
        date=when,
        extra_headers={"X-Test": "1"},
    )
    assert b"\r\n" in raw
    assert b"\n" not in raw.replace(b"\r\n", b"")
    message = parse(raw)
    assert message.get_content_type() == "multipart/mixed"
    assert message["To"] == "agem.norfolkmedicineservices@nhs.net"
    assert message["X-Test"] == "1"
    attachments = [(p.get_filename(), p.get_content_type(), p.get_content()) for p in message.iter_attachments()]
    assert attachments == [
        ("Form1.pdf", "application/pdf", b"%PDF-1.4 one"),
        ("MIAT.pdf", "application/pdf", b"%PDF-1.4 two"),
    ]
    assert all(p.get_content_disposition() == "attachment" for p in message.iter_attachments())


def test_an_out_of_office_reply_is_marked_auto_replied() -> None:
    when = dt.datetime(2026, 3, 10, 10, 30, tzinfo=dt.UTC)
    message = parse(out_of_office_reply(sender="a.fake@nhs.net", original_subject="Ref 1", date=when))
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["Subject"] == "Automatic reply: Ref 1"
    assert not message.is_multipart()


def test_a_plain_email_has_no_attachments() -> None:
    when = dt.datetime(2026, 3, 10, 10, 30, tzinfo=dt.UTC)
    message = parse(plain_email(sender="a.fake@nhs.net", subject="Question", date=when, body="Hello\n"))
    assert list(message.iter_attachments()) == []
    assert message.get_content().strip() == "Hello"


def test_scenarios_are_deterministic_for_the_same_day_and_seed() -> None:
    first, second = all_scenarios(TODAY, seed=3), all_scenarios(TODAY, seed=3)
    assert [s.raw for s in first] == [s.raw for s in second]
    assert [s.raw for s in first] != [s.raw for s in all_scenarios(TODAY, seed=4)]


def test_every_scenario_has_its_expected_outcome_and_realistic_attachments() -> None:
    scenarios = {s.name: s for s in all_scenarios(TODAY)}
    assert {name: s.expected_outcome for name, s in scenarios.items()} == {
        "accepted": "accepted",
        "accepted_name_in_subject": "accepted",
        "incomplete": "incomplete",
        "misrouted": "misrouted",
        "mar_registration": "mar_registration",
        "not_a_submission": "not_a_submission",
        "automatic": "automatic",
    }
    filenames = {name: [p.get_filename() for p in parse(s.raw).iter_attachments()] for name, s in scenarios.items()}
    assert filenames["accepted"] == ["Form 2 - NMSS Referral.pdf", "Form1.pdf", "MIAT.pdf"]
    assert filenames["incomplete"] == ["Form 2 - NMSS Referral.pdf", "Form1.pdf"]
    assert filenames["misrouted"] == ["Form1.pdf"]
    assert filenames["mar_registration"] == ["MAR chart registration.pdf"]
    assert filenames["not_a_submission"] == filenames["automatic"] == []
    assert parse(scenarios["automatic"].raw)["Auto-Submitted"] == "auto-replied"
    assert not parse(scenarios["misrouted"].raw)["From"].addresses[0].domain.endswith("nhs.net")
    assert parse(scenarios["accepted"].raw)["From"].addresses[0].domain == "nhs.net"


def test_only_the_name_in_subject_scenario_puts_the_patients_surname_in_the_subject() -> None:
    for scenario in all_scenarios(TODAY, seed=1):
        message = parse(scenario.raw)
        surnames = set()
        for part in message.iter_attachments():
            surnames.add(field_names(part.get_content()).get("patient.surname"))
        surnames.discard(None)
        in_subject = any(s.decode() in message["Subject"] for s in surnames if s)
        assert in_subject == (scenario.name == "accepted_name_in_subject"), scenario.name
        filenames = " ".join(p.get_filename() or "" for p in message.iter_attachments())
        assert not any(s.decode() in filenames for s in surnames if s)


def test_the_incomplete_scenario_leaves_date_of_birth_and_consent_date_empty() -> None:
    incomplete = next(s for s in all_scenarios(TODAY) if s.name == "incomplete")
    form2 = next(p for p in parse(incomplete.raw).iter_attachments() if (p.get_filename() or "").startswith("Form 2"))
    fields = field_names(form2.get_content())
    assert fields["patient.dob"] in (b"", None)
    assert fields["consent.date"] in (b"", None)
    assert fields["patient.surname"] not in (b"", None)


def test_scenarios_are_delivered_into_the_maildirs_new_folder(tmp_path: Path) -> None:
    scenarios = all_scenarios(TODAY)
    paths = deliver_to_maildir(tmp_path / "var" / "inbox", scenarios)
    assert {p.parent for p in paths} == {tmp_path / "var" / "inbox" / "new"}
    assert all((tmp_path / "var" / "inbox" / sub).is_dir() for sub in ("tmp", "new", "cur"))
    assert sorted(p.read_bytes() for p in paths) == sorted(s.raw for s in scenarios)
    assert list((tmp_path / "var" / "inbox" / "tmp").iterdir()) == []
    deliver_to_maildir(tmp_path / "var" / "inbox", scenarios[:1])
    assert len(list((tmp_path / "var" / "inbox" / "new").iterdir())) == len(scenarios) + 1
