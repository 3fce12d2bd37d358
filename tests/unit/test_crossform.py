"""Checks across the forms of one referral: the pharmacy, the order of the dates, the MIAT's arithmetic."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from rules.crossform import crossform_reasons, miat_score_warnings, miat_scores
from rules.patients import same_patient

from .test_decide import COMPLETE, form

RECEIVED = dt.date(2026, 11, 27)


def test_a_complete_referral_from_one_pharmacy_with_dates_in_order_has_nothing_to_report() -> None:
    assert crossform_reasons([form("form2"), form("form1"), form("miat")], RECEIVED) == ()


def test_the_same_pharmacy_written_differently_is_the_same_pharmacy() -> None:
    miat = form("miat", {"supplier.name": "  EXAMPLE   pharmacy. "})
    assert crossform_reasons([form("form2"), miat], RECEIVED) == ()


def test_a_miat_from_another_pharmacy_is_reported() -> None:
    miat = form("miat", {"supplier.name": "Another Chemist"})
    assert crossform_reasons([form("form2"), miat], RECEIVED) == ("pharmacy_differs",)


def test_a_form2_signed_after_the_day_received_is_out_of_order() -> None:
    form2 = form("form2", {"signature.date": RECEIVED + dt.timedelta(days=1)})
    assert crossform_reasons([form2, form("miat")], RECEIVED) == ("dates_out_of_order",)


def test_an_equality_act_assessment_after_the_miat_is_out_of_order() -> None:
    form2 = form("form2", {"ea.assessment_date": dt.date(2026, 11, 13)})
    assert crossform_reasons([form2, form("miat")], RECEIVED) == ("dates_out_of_order",)


def test_everything_on_one_day_is_in_order() -> None:
    day = dt.date(2026, 11, 27)
    form2 = form("form2", {"ea.assessment_date": day, "signature.date": day})
    assert crossform_reasons([form2, form("miat", {"assessment.date": day})], day) == ()


ITEM = st.sampled_from([0, 1, 2])
PHYSICAL = st.sampled_from([0, 1, 2, "N/A"])


@given(st.lists(ITEM, min_size=6, max_size=6), st.lists(PHYSICAL, min_size=7, max_size=7))
def test_the_miat_scores_are_the_sums_of_the_items_with_na_counting_nothing(
    cognitive: list[int], physical: list[int | str]
) -> None:
    fields = dict(COMPLETE["miat"])
    fields.update({f"cognitive.c{n}": v for n, v in enumerate(cognitive, start=1)})
    fields.update({f"physical.p{n}": v for n, v in enumerate(physical, start=1)})
    scores = miat_scores(fields)
    expected_physical = sum(v for v in physical if isinstance(v, int))
    assert (scores.cognitive, scores.physical, scores.total) == (
        sum(cognitive),
        expected_physical,
        sum(cognitive) + expected_physical,
    )
    printed = {"score.cognitive": sum(cognitive), "score.physical": expected_physical}
    assert miat_score_warnings({**fields, **printed, "score.total": scores.total}) == ()
    assert miat_score_warnings({**fields, "score.total": scores.total + 1}) == ("miat_score_differs",)


def test_a_miat_without_printed_scores_has_no_warning() -> None:
    assert miat_score_warnings(COMPLETE["miat"]) == ()


def test_the_same_nhs_number_on_every_form_is_the_same_patient_whatever_the_names() -> None:
    assert same_patient([form("form2"), form("form1", {"patient.surname": "Other"}), form("miat")])


def test_without_a_number_surname_and_date_of_birth_decide() -> None:
    no_number = form("form1", {"patient.nhs_number": None, "patient.surname": " testwell "})
    assert same_patient([form("form2"), no_number])
    born_later = form("form1", {"patient.nhs_number": None, "patient.dob": dt.date(1950, 1, 1)})
    assert not same_patient([form("form2"), born_later])
