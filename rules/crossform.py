"""Checks across the forms of one referral: the same pharmacy, dates in order, and the MIAT's own arithmetic.

Whether every form is about the same patient is ``rules.patients.same_patient``. Each finding here is a code
for the team, never a value from the forms.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

from parsers.types import Form, Value

COGNITIVE_ITEMS = tuple(f"cognitive.c{n}" for n in range(1, 7))
PHYSICAL_ITEMS = tuple(f"physical.p{n}" for n in range(1, 8))


@dataclass(frozen=True)
class MiatScores:
    """The MIAT's sub-scores computed from its items; an item not answered or marked N/A counts as 0."""

    cognitive: int
    physical: int

    @property
    def total(self) -> int:
        return self.cognitive + self.physical


def miat_scores(miat: Mapping[str, Value]) -> MiatScores:
    """The cognitive and physical scores of a MIAT's fields, from its 13 items."""
    return MiatScores(cognitive=_sum(miat, COGNITIVE_ITEMS), physical=_sum(miat, PHYSICAL_ITEMS))


def _sum(fields: Mapping[str, Value], keys: Sequence[str]) -> int:
    return sum(v for k in keys if isinstance(v := fields.get(k), int) and not isinstance(v, bool))


def miat_score_warnings(miat: Mapping[str, Value]) -> tuple[str, ...]:
    """``miat_score_differs`` when a printed score disagrees with the items (a warning: the items stand)."""
    scores = miat_scores(miat)
    printed = (
        ("score.cognitive", scores.cognitive),
        ("score.physical", scores.physical),
        ("score.total", scores.total),
    )
    for key, computed in printed:
        value = miat.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value != computed:
            return ("miat_score_differs",)
    return ()


def _pharmacy(fields: Mapping[str, Value]) -> str | None:
    value = fields.get("supplier.name")
    if not isinstance(value, str):
        return None
    # Case, punctuation and spacing vary between forms typed by different people; the words are what count.
    words = "".join(c if c.isalnum() else " " for c in value.casefold()).split()
    return " ".join(words) or None


def crossform_reasons(forms: Sequence[Form], received: dt.date) -> tuple[str, ...]:
    """What disagrees between the forms of a complete referral, as reason codes for the team.

    ``pharmacy_differs``: the MIAT's pharmacy is not Form 2's. ``dates_out_of_order``: the Equality Act
    assessment, the MIAT, Form 2's signature and the day received do not follow one another (equal is fine).
    """
    by_kind = {form.kind: form.fields for form in forms}
    form2, miat = by_kind.get("form2", {}), by_kind.get("miat", {})
    reasons: list[str] = []
    ours, theirs = _pharmacy(form2), _pharmacy(miat)
    if ours is not None and theirs is not None and ours != theirs:
        reasons.append("pharmacy_differs")
    sequence = [form2.get("ea.assessment_date"), miat.get("assessment.date"), form2.get("signature.date"), received]
    dates = [d for d in sequence if isinstance(d, dt.date)]
    if any(later < earlier for earlier, later in pairwise(dates)):
        reasons.append("dates_out_of_order")
    return tuple(reasons)
