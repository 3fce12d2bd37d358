"""Identifier checks that decide whether a referral goes back to the referrer."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.validate import nhs_number_problem, postcode_problem


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
