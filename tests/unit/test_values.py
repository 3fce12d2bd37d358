"""Typing what was written in a field: dates, numbers, scores, yes/no, options, NHS numbers and text."""

from __future__ import annotations

import datetime as dt

import pytest

from config.forms import FieldDefinition, FormDefinition, FormDefinitions, Option, load_form_definitions
from parsers.types import FieldError
from parsers.values import RawValue, parse_date, type_fields, type_value

TODAY = dt.date(2025, 6, 15)


@pytest.fixture(scope="module")
def definitions() -> FormDefinitions:
    return load_form_definitions()


def field(key: str, type_: str, **extra: object) -> FieldDefinition:
    return FieldDefinition(key=key, label=key, type=type_, **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("03/04/1941", dt.date(1941, 4, 3)),
        ("3/4/1941", dt.date(1941, 4, 3)),
        ("03-04-1941", dt.date(1941, 4, 3)),
        ("3.4.1941", dt.date(1941, 4, 3)),
        ("3 April 1941", dt.date(1941, 4, 3)),
        ("3 Apr 1941", dt.date(1941, 4, 3)),
        ("3rd April 1941", dt.date(1941, 4, 3)),
        ("3-Apr-1941", dt.date(1941, 4, 3)),
        ("Thursday 3 April 1941", dt.date(1941, 4, 3)),
        ("1941-04-03", dt.date(1941, 4, 3)),
        (" 03 / 04 / 1941 ", dt.date(1941, 4, 3)),
        ("29/02/2024", dt.date(2024, 2, 29)),
    ],
)
def test_uk_dates_are_read_day_first_in_every_written_style(text: str, expected: dt.date) -> None:
    assert parse_date(text, TODAY) == expected


@pytest.mark.parametrize(
    "text", ["", "31/02/2024", "13/13/2024", "04/03", "next Tuesday", "3 Smarch 1941", "2024-13-01", "1/2/3/4"]
)
def test_text_that_is_not_a_real_date_gives_no_date(text: str) -> None:
    assert parse_date(text, TODAY) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3/4/41", dt.date(1941, 4, 3)),
        ("3/4/25", dt.date(2025, 4, 3)),
        ("15/6/25", dt.date(2025, 6, 15)),
        ("16/6/25", dt.date(1925, 6, 16)),
        ("1/1/00", dt.date(2000, 1, 1)),
        ("29/2/00", dt.date(2000, 2, 29)),
    ],
)
def test_a_two_digit_year_of_birth_takes_the_latest_century_not_after_today(text: str, expected: dt.date) -> None:
    assert parse_date(text, TODAY, past_only=True) == expected


def test_a_two_digit_year_of_birth_never_lands_in_the_future() -> None:
    born = parse_date("16/06/25", TODAY, past_only=True)
    assert born is not None
    assert born <= TODAY


def test_a_two_digit_year_elsewhere_is_this_century() -> None:
    assert parse_date("3/4/41", TODAY) == dt.date(2041, 4, 3)
    assert parse_date("1/7/25", TODAY) == dt.date(2025, 7, 1)


def test_a_date_field_that_cannot_be_read_is_an_invalid_date_error() -> None:
    assert type_value("31/02/2024", field("signature.date", "date"), TODAY) == FieldError(
        "signature.date", "invalid_date"
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12", 12),
        (" 1 2 ", 12),
        ("0", 0),
        ("60", 60),
        ("61", "out_of_range"),
        ("-1", "out_of_range"),
        ("twelve", "invalid_number"),
        ("12.5", "invalid_number"),
    ],
)
def test_whole_numbers_are_checked_against_their_range(raw: str, expected: object) -> None:
    result = type_value(raw, field("risk.medicines_count", "integer", min=0, max=60), TODAY)
    assert result == (expected if isinstance(expected, int) else FieldError("risk.medicines_count", str(expected)))


@pytest.mark.parametrize(
    ("raw", "allow_na", "expected"),
    [
        ("0", True, 0),
        ("2", True, 2),
        ("N/A", True, "N/A"),
        ("n/a", True, "N/A"),
        ("NA", True, "N/A"),
        ("3", True, FieldError("s", "out_of_range")),
        ("N/A", False, FieldError("s", "out_of_range")),
        ("some", True, FieldError("s", "invalid_number")),
        (("1",), True, 1),
        (("1", "2"), True, FieldError("s", "unanswered")),
    ],
)
def test_scores_are_zero_to_max_or_not_applicable_where_allowed(
    raw: RawValue, allow_na: bool, expected: object
) -> None:
    assert type_value(raw, field("s", "score", max=2, allow_na=allow_na), TODAY) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (True, True),
        (False, False),
        ("Yes", True),
        ("y", True),
        ("TRUE", True),
        ("/On", True),
        ("ticked", True),
        ("No", False),
        ("n", False),
        ("false", False),
        ("/Off", False),
        (("Yes",), True),
        (("No",), False),
        (("Yes", "No"), FieldError("q", "unanswered")),
        ("perhaps", FieldError("q", "unknown_option")),
    ],
)
def test_yes_no_answers_are_read_from_words_states_and_ticks(raw: RawValue, expected: object) -> None:
    assert type_value(raw, field("q", "yesno"), TODAY) == expected


def test_a_yes_no_with_nothing_ticked_is_absent() -> None:
    assert type_value((), field("q", "yesno"), TODAY) is None


ROLES = tuple(Option(t, t) for t in ("Self", "Unpaid carer", "Other healthcare professional", "Other"))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Unpaid carer", "Unpaid carer"),
        ("unpaid  CARER", "Unpaid carer"),
        ("Unpaid-carer.", "Unpaid carer"),
        ("Other", "Other"),
        ("other healthcare professional", "Other healthcare professional"),
        (("Self",), "Self"),
        ("Neighbour", FieldError("role", "unknown_option")),
        (("Self", "Other"), FieldError("role", "unanswered")),
    ],
)
def test_a_choice_matches_its_option_ignoring_case_punctuation_and_spacing(raw: RawValue, expected: object) -> None:
    assert type_value(raw, field("role", "enum", options=ROLES), TODAY) == expected


def test_a_choice_is_stored_as_its_options_code() -> None:
    options = (Option("OutOfDate", "Out-of-date medicines"),)
    assert type_value("out of date medicines", field("c", "enum", options=options), TODAY) == "OutOfDate"


DIFFICULTIES = (Option("D1", "Cannot open containers"), Option("D4", "Forgets to take doses"), Option("D15", "Other"))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (("D15", "D1"), ("D1", "D15")),
        (("Forgets to take doses", "d1"), ("D1", "D4")),
        (("D4", "D4"), ("D4",)),
        ("D4, D1", ("D1", "D4")),
        ((), None),
        (True, None),
        (("D99",), FieldError("difficulties", "unknown_option")),
    ],
)
def test_ticked_options_become_codes_in_the_forms_order(raw: RawValue, expected: object) -> None:
    assert type_value(raw, field("difficulties", "checks", options=DIFFICULTIES), TODAY) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("943 476 5919", "9434765919"),
        ("943-476-5919", "9434765919"),
        ("9434765919", "9434765919"),
        ("943 476 591", FieldError("n", "invalid_format")),
        ("94347659190", FieldError("n", "invalid_format")),
        ("943 476 591X", FieldError("n", "invalid_format")),
    ],
)
def test_an_nhs_number_is_ten_digits_without_spaces_or_dashes(raw: str, expected: object) -> None:
    assert type_value(raw, field("n", "nhs_number"), TODAY) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("nr1 3sr", "NR1 3SR"), ("NR13SR", "NR1 3SR"), (" pe30  1ab ", "PE30 1AB"), ("not known", "NOT KNOWN")],
)
def test_a_postcode_is_upper_case_with_one_space_before_the_inward_code(raw: str, expected: str) -> None:
    assert type_value(raw, field("p", "postcode"), TODAY) == expected


@pytest.mark.parametrize(
    ("type_", "raw", "expected"),
    [
        ("text", "  Jane   Mary \n Smith ", "Jane Mary Smith"),
        ("phone", " 01603  123456 ", "01603 123456"),
        ("email", " a@b.nhs.uk ", "a@b.nhs.uk"),
        ("multiline", " 1  High Street \r\nNorwich \n", "1 High Street\nNorwich"),
        ("ods_gp", " d 82001 ", "D82001"),
        ("ods_supplier", "fa 123", "FA123"),
        ("gphc", "20 12345", "2012345"),
    ],
)
def test_text_is_stripped_and_spaces_collapsed(type_: str, raw: str, expected: str) -> None:
    assert type_value(raw, field("t", type_), TODAY) == expected


@pytest.mark.parametrize("raw", ["", "   ", "\n\t"])
def test_an_empty_field_is_absent_whatever_its_type(raw: str) -> None:
    for type_ in ("text", "date", "integer", "enum", "nhs_number", "postcode", "yesno", "checks"):
        options = ROLES if type_ in ("enum", "checks") else ()
        assert type_value(raw, field("k", type_, options=options), TODAY) is None


def test_type_fields_returns_values_and_errors_in_the_forms_order(definitions: FormDefinitions) -> None:
    form1: FormDefinition = definitions["form1"]
    raw: dict[str, RawValue] = {
        "signature.date": "32/01/2025",
        "patient.surname": " Smith ",
        "patient.dob": "3/4/41",
        "difficulties": ("D4", "D1"),
        "consent.given": True,
        "patient.forenames": "   ",
        "not.a.key": "ignored",
        "patient.nhs_number": "123",
    }
    fields, errors = type_fields(raw, form1, TODAY)
    assert fields == {
        "patient.surname": "Smith",
        "patient.dob": dt.date(1941, 4, 3),
        "difficulties": ("D1", "D4"),
        "consent.given": True,
    }
    assert list(fields) == ["patient.surname", "patient.dob", "difficulties", "consent.given"]
    assert errors == (FieldError("patient.nhs_number", "invalid_format"), FieldError("signature.date", "invalid_date"))


def test_type_fields_applies_the_date_of_birth_pivot_from_the_definition(definitions: FormDefinitions) -> None:
    fields, _ = type_fields({"patient.dob": "1/1/24", "signature.date": "1/1/24"}, definitions["form1"], TODAY)
    assert fields == {"patient.dob": dt.date(2024, 1, 1), "signature.date": dt.date(2024, 1, 1)}
    fields, _ = type_fields({"patient.dob": "1/7/25", "signature.date": "1/7/25"}, definitions["form1"], TODAY)
    assert fields == {"patient.dob": dt.date(1925, 7, 1), "signature.date": dt.date(2025, 7, 1)}


def test_miat_scores_follow_their_definitions(definitions: FormDefinitions) -> None:
    fields, errors = type_fields(
        {"cognitive.c1": "N/A", "physical.p1": "n/a", "physical.p2": "2"}, definitions["miat"], TODAY
    )
    assert fields == {"physical.p1": "N/A", "physical.p2": 2}
    assert errors == (FieldError("cognitive.c1", "out_of_range"),)
