"""Eligibility of a complete referral (forms-spec.md): each failure is a reason for the team, never a rejection.

Pure: the list of practices and the open referrals are read by the shell and passed in as plain data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from parsers.types import Form
from rules.validate import age_on

EXPECTED_EQUALITY_ACT = (True, False, True)
"""Impairment Yes, could be assessed in the pharmacy or by telephone No, adjustment for the patient Yes."""

EQUALITY_ACT_KEYS = ("ea.disability", "ea.assessable", "ea.for_patient")


@dataclass(frozen=True)
class EligibilityPolicy:
    """The rules' settings: the minimum age on the day received, and the service's practice list.

    ``practices`` holds the GP practice codes the service covers; None means no list has been imported, and
    then the practice check is skipped with the warning ``practice_check_skipped`` rather than sending
    every referral to review.
    """

    min_age: int = 18
    practices: frozenset[str] | None = None


@dataclass(frozen=True)
class Eligibility:
    """``reasons`` (codes) the referral needs the team's review for, and ``warnings`` shown beside it."""

    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def eligibility(forms: Sequence[Form], received: dt.date, policy: EligibilityPolicy) -> Eligibility:
    """Check a complete referral: age on ``received``, GP practice, consent, Equality Act answers, adjustments.

    Reason codes: ``under_minimum_age``, ``practice_not_in_list``, ``consent_not_given``,
    ``equality_act_pattern``, ``no_adjustment_tried``.
    """
    by_kind = {form.kind: form.fields for form in forms}
    form2 = by_kind.get("form2", {})
    reasons: list[str] = []
    warnings: list[str] = []
    born = next((f["patient.dob"] for f in by_kind.values() if isinstance(f.get("patient.dob"), dt.date)), None)
    if isinstance(born, dt.date) and age_on(born, received) < policy.min_age:
        reasons.append("under_minimum_age")
    code = form2.get("gp.ods_code")
    if policy.practices is None:
        warnings.append("practice_check_skipped")
    elif not isinstance(code, str) or code.upper() not in policy.practices:
        reasons.append("practice_not_in_list")
    if any(fields.get("consent.given") is not True for kind, fields in by_kind.items() if kind in ("form1", "form2")):
        reasons.append("consent_not_given")
    if tuple(form2.get(key) for key in EQUALITY_ACT_KEYS) != EXPECTED_EQUALITY_ACT:
        reasons.append("equality_act_pattern")
    if not form2.get("adjustments"):
        reasons.append("no_adjustment_tried")
    return Eligibility(reasons=tuple(reasons), warnings=tuple(warnings))
