"""Eligibility of a complete referral: every failure is a reason for the team's review."""

from __future__ import annotations

import datetime as dt

import pytest

from rules.eligibility import EligibilityPolicy, eligibility

from .test_decide import form

RECEIVED = dt.date(2026, 11, 27)
NORFOLK = EligibilityPolicy(practices=frozenset({"D99001"}))


def referral(changes: dict[str, object] | None = None, kind: str = "form2") -> list:  # type: ignore[type-arg]
    forms = {k: form(k) for k in ("form2", "form1", "miat")}  # type: ignore[arg-type]
    forms[kind] = form(kind, changes)  # type: ignore[arg-type]
    return list(forms.values())


def test_a_complete_referral_for_a_norfolk_adult_is_eligible() -> None:
    assert eligibility(referral(), RECEIVED, NORFOLK).reasons == ()


@pytest.mark.parametrize(
    ("born", "eligible"),
    [(dt.date(2008, 11, 27), True), (dt.date(2008, 11, 28), False), (dt.date(2010, 1, 1), False)],
)
def test_the_patient_must_be_18_on_the_day_received(born: dt.date, eligible: bool) -> None:
    forms = [form(k, {"patient.dob": born}) for k in ("form2", "form1", "miat")]  # type: ignore[arg-type]
    reasons = eligibility(forms, RECEIVED, NORFOLK).reasons
    assert (reasons == ()) == eligible
    assert eligible or reasons == ("under_minimum_age",)


def test_the_minimum_age_is_the_teams_setting() -> None:
    forms = [form(k, {"patient.dob": dt.date(2010, 1, 1)}) for k in ("form2", "form1", "miat")]  # type: ignore[arg-type]
    assert eligibility(forms, RECEIVED, EligibilityPolicy(min_age=16, practices=frozenset({"D99001"}))).reasons == ()


def test_a_practice_outside_the_list_is_a_reason() -> None:
    assert eligibility(referral({"gp.ods_code": "Y99901"}), RECEIVED, NORFOLK).reasons == ("practice_not_in_list",)


def test_with_no_practice_list_the_practice_is_not_checked_and_the_team_is_warned() -> None:
    result = eligibility(referral({"gp.ods_code": "Y99901"}), RECEIVED, EligibilityPolicy())
    assert (result.reasons, result.warnings) == ((), ("practice_check_skipped",))


def test_consent_not_given_on_form1_is_a_reason() -> None:
    reasons = eligibility(referral({"consent.given": False}, kind="form1"), RECEIVED, NORFOLK).reasons
    assert reasons == ("consent_not_given",)


@pytest.mark.parametrize(
    "answers",
    [(False, False, True), (True, True, True), (True, False, False), (None, False, True), (False, True, False)],
)
def test_any_equality_act_pattern_but_yes_no_yes_is_a_reason(answers: tuple[bool | None, ...]) -> None:
    changes = dict(zip(("ea.disability", "ea.assessable", "ea.for_patient"), answers, strict=True))
    assert eligibility(referral(changes), RECEIVED, NORFOLK).reasons == ("equality_act_pattern",)


def test_no_adjustment_tried_is_a_reason() -> None:
    assert eligibility(referral({"adjustments": None}), RECEIVED, NORFOLK).reasons == ("no_adjustment_tried",)


def test_every_failure_is_reported_not_only_the_first() -> None:
    changes = {"gp.ods_code": "Y99901", "adjustments": None, "ea.for_patient": False}
    assert eligibility(referral(changes), RECEIVED, NORFOLK).reasons == (
        "practice_not_in_list",
        "equality_act_pattern",
        "no_adjustment_tried",
    )
