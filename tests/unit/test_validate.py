"""Identifier checks that decide whether a referral goes back to the referrer."""

from __future__ import annotations

import datetime as dt
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.forms import FieldDefinition, FormDefinition
from parsers.types import Form
from rules.checks import form_problems
from rules.validate import (
    age_on,
    date_problem,
    email_problem,
    gphc_problem,
    is_secure_email,
    nhs_number_problem,
    normalise_postcode,
    ods_gp_problem,
    ods_pharmacy_problem,
    ods_supplier_problem,
    phone_problem,
    postcode_problem,
)


def check_digit(nine: str) -> int | None:
    total = sum(int(d) * w for d, w in zip(nine, range(10, 1, -1), strict=True))
    check = 11 - total % 11
    return 0 if check == 11 else None if check == 10 else check


@pytest.mark.parametrize("number", ["9434765919", "9990000018"])
def test_valid_nhs_numbers_pass(number: str) -> None:
    assert nhs_number_problem(number) is None


@pytest.mark.parametrize("digit", "0123456789")
def test_repeated_digit_nhs_numbers_are_rejected_although_they_pass_the_check(digit: str) -> None:
    assert nhs_number_problem(digit * 10) == "invalid_nhs_number"


@given(st.text(alphabet="0123456789", min_size=9, max_size=9), st.integers(0, 9))
def test_an_nhs_number_passes_exactly_when_its_tenth_digit_is_the_check_digit(nine: str, last: int) -> None:
    expected = check_digit(nine) == last and len(set(nine + str(last))) > 1
    assert (nhs_number_problem(nine + str(last)) is None) == expected


@pytest.mark.parametrize("postcode", ["NR1 3QS", "PE30 1AB", "IP22 4XX", "GIR 0AA", "SW1A 1AA"])
def test_well_formed_postcodes_pass(postcode: str) -> None:
    assert postcode_problem(postcode) is None


@pytest.mark.parametrize("postcode", ["NR13QS", "QR1 3QS", "NR1 3QV", "12345", "NR1  3QS"])
def test_malformed_postcodes_fail(postcode: str) -> None:
    assert postcode_problem(postcode) == "invalid_postcode"


# --- postcodes, telephones, email, ODS, GPhC, dates ------------------------------------------------------

OUTWARDS = st.sampled_from(["NR1", "NR31", "PE30", "IP22", "SW1A", "EC1V", "W1A", "M1", "B33"])
INWARDS = st.builds(
    lambda digit, letters: f"{digit}{letters}",
    st.integers(0, 9),
    st.text(alphabet="ABDEFGHJLNPQRSTUWXYZ", min_size=2, max_size=2),
)


@given(OUTWARDS, INWARDS, st.sampled_from(["", " ", "  "]), st.booleans())
def test_a_postcode_in_any_case_and_spacing_normalises_to_one_valid_form(
    outward: str, inward: str, gap: str, lower: bool
) -> None:
    typed = f"{outward}{gap}{inward}"
    normal = normalise_postcode(typed.lower() if lower else typed)
    assert normal == f"{outward} {inward}"
    assert postcode_problem(normal) is None


@given(st.text(max_size=12))
def test_normalising_a_postcode_gives_a_valid_postcode_or_nothing(text: str) -> None:
    normal = normalise_postcode(text)
    assert normal is None or postcode_problem(normal) is None


@pytest.mark.parametrize(
    "number", ["01603 257006", "+44 1603 257006", "(01603) 257006", "01632 960123", "07700 900123", "020 7946 0000"]
)
def test_uk_telephone_numbers_pass(number: str) -> None:
    assert phone_problem(number) is None


@pytest.mark.parametrize("number", ["01603 25700", "+33 1 23 45 67 89", "123", "telephone", "07700 9001234"])
def test_numbers_that_are_not_uk_telephone_numbers_fail(number: str) -> None:
    assert phone_problem(number) == "invalid_phone"


@given(st.text(alphabet="0123456789 +()-", max_size=20))
def test_the_telephone_check_answers_every_input_with_a_code_or_none(text: str) -> None:
    assert phone_problem(text) in (None, "invalid_phone")


LOCAL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=1, max_size=20).filter(
    lambda s: s[0] not in "." and s[-1] not in "."
)


@given(LOCAL)
def test_an_nhs_net_address_is_valid_and_secure(local: str) -> None:
    address = f"{local}@nhs.net"
    assert email_problem(address) is None
    assert is_secure_email(address, ["nhs.net"])
    assert is_secure_email(address.upper(), ["NHS.net"])


@pytest.mark.parametrize("address", ["pharmacy@example.com", "x@nhs.net.example.com", "x@fake-nhs.net"])
def test_an_address_outside_the_secure_domains_is_not_secure(address: str) -> None:
    assert not is_secure_email(address, ["nhs.net", "norfolk.gov.uk"])


def test_a_configured_accredited_domain_is_secure() -> None:
    assert is_secure_email("team@norfolk.gov.uk", ["nhs.net", "norfolk.gov.uk"])


@pytest.mark.parametrize("address", ["no-at-sign", "a@b", "a@@nhs.net", "a b@nhs.net", "@nhs.net"])
def test_malformed_email_addresses_fail(address: str) -> None:
    assert email_problem(address) == "invalid_email"


@given(st.text(alphabet=string.ascii_uppercase, min_size=1, max_size=1), st.integers(0, 99999))
def test_a_letter_and_five_digits_is_a_gp_practice_code(letter: str, number: int) -> None:
    assert ods_gp_problem(f"{letter}{number:05d}") is None


@given(st.text(alphabet=string.ascii_uppercase + string.digits, min_size=4, max_size=4))
def test_f_and_four_letters_or_digits_is_a_pharmacy_f_code(rest: str) -> None:
    assert ods_pharmacy_problem(f"F{rest}") is None
    assert ods_supplier_problem(f"F{rest}") is None


@pytest.mark.parametrize("code", ["D9900", "D999011", "99001D", "FX12", "FX1234", "fx123"])
def test_malformed_ods_codes_fail(code: str) -> None:
    assert ods_gp_problem(code) == "invalid_ods_code" or ods_pharmacy_problem(code) == "invalid_ods_code"
    assert ods_supplier_problem(code) == "invalid_ods_code"


@given(st.text(max_size=10))
def test_a_gphc_number_is_exactly_seven_digits(text: str) -> None:
    expected = len(text) == 7 and all(c in "0123456789" for c in text)
    assert (gphc_problem(text) is None) == expected


DOB = FieldDefinition(key="patient.dob", label="Date of birth", type="date", past_only=True)
SIGNED = FieldDefinition(key="signature.date", label="Date signed", type="date", not_future=True)
TODAY = dt.date(2026, 11, 27)


@given(st.dates(min_value=dt.date(1850, 1, 1), max_value=dt.date(2100, 1, 1)))
def test_a_date_of_birth_is_valid_exactly_when_it_gives_an_age_from_0_to_120(born: dt.date) -> None:
    problem = date_problem(DOB, born, TODAY)
    if born > TODAY:
        assert problem == "date_in_future"
    else:
        assert (problem is None) == (0 <= age_on(born, TODAY) <= 120)


@given(st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 1, 1)))
def test_a_signature_date_may_be_any_day_up_to_today(signed: dt.date) -> None:
    assert (date_problem(SIGNED, signed, TODAY) is None) == (signed <= TODAY)


@given(st.dates(max_value=dt.date(2026, 1, 1)), st.dates(max_value=dt.date(2100, 1, 1)))
def test_age_on_a_day_counts_the_birthdays_passed_by_then(born: dt.date, day: dt.date) -> None:
    age = age_on(born, day)
    if day >= born:
        assert age >= 0
        assert (day.month, day.day) < (born.month, born.day) or age == day.year - born.year


def test_an_invalid_value_becomes_a_problem_with_the_printed_label_and_never_the_value() -> None:
    phone = FieldDefinition(key="patient.phone", label="Telephone", type="phone", required="R")
    problem = form_problems(
        Form(kind="form2", filename="f.pdf", fields={"patient.phone": "01603 99"}),
        FormDefinition(
            kind="form2", name="Form 2", title="Form 2", title_phrases=(), filename_patterns=(), fields=(phone,)
        ),
        TODAY,
    )
    assert [(p.label, p.code) for p in problem] == [("Telephone", "invalid_phone")]
    assert "01603" not in repr(problem)
