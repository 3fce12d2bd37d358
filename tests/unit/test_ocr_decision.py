"""Forms read by OCR: decided automatically only when every value was read surely and passes its checks;
otherwise the team checks them (``review``, ``ocr_uncertain``) with the uncertain fields marked, and the
referrer is never told a field is missing or wrong on the strength of OCR alone."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pytest

from config.forms import FormKind
from parsers.types import Form, Value
from rules.decide import decide
from rules.types import Context, Submission
from tests.unit.test_decide import DEFINITIONS, RECEIVED, TODAY, form

SURE = 0.97
THRESHOLD = 0.9


def scanned(kind: FormKind, changes: Mapping[str, Value | None] | None = None, **unsure: float) -> Form:
    """``kind``'s complete fixture as OCR would give it: every value at ``SURE`` but those named in ``unsure``
    (keys with ``__`` for ``.``)."""
    base = form(kind, changes)
    confidence = dict.fromkeys(base.fields, SURE)
    confidence.update({key.replace("__", "."): value for key, value in unsure.items()})
    return dataclasses.replace(base, source="ocr", confidence=confidence)


def decided(*forms: Form, threshold: float = THRESHOLD):  # type: ignore[no-untyped-def]
    return decide(Submission(forms, RECEIVED), DEFINITIONS, TODAY, Context(ocr_min_confidence=threshold))


CASES = [
    # (what the scan gave, outcome, reasons, fields marked uncertain, reply)
    pytest.param(
        [scanned("form2"), scanned("form1"), scanned("miat")], "accepted", (), [], None, id="every value sure: accepted"
    ),
    pytest.param(
        [scanned("form2", patient__nhs_number=0.62), form("form1"), form("miat")],
        "review",
        ("ocr_uncertain",),
        ["patient.nhs_number"],
        "unreadable",
        id="one value unsure: review, that field marked",
    ),
    pytest.param(
        [scanned("form2", {"patient.nhs_number": "9990000019"}), form("form1"), form("miat")],
        "review",
        ("ocr_uncertain",),
        ["patient.nhs_number"],
        "unreadable",
        id="NHS number read surely but failing its check digit: review, never a guess",
    ),
    pytest.param(
        [scanned("form2", {"patient.dob": None}), form("form1"), form("miat")],
        "review",
        ("ocr_uncertain",),
        ["patient.dob"],
        "unreadable",
        id="a required field not read: review, not an incomplete reply",
    ),
    pytest.param(
        [scanned("form2", {"patient.postcode": "NR1 3Q5"}), form("form1"), form("miat")],
        "review",
        ("ocr_uncertain",),
        ["patient.postcode"],
        "unreadable",
        id="a postcode failing its check",
    ),
    pytest.param(
        [scanned("form2", supplier__ods_code=0.89), form("form1"), form("miat")],
        "review",
        ("ocr_uncertain",),
        ["supplier.ods_code"],
        "unreadable",
        id="just under the threshold",
    ),
    pytest.param(
        [scanned("form2", supplier__ods_code=0.9), form("form1"), form("miat")],
        "accepted",
        (),
        [],
        None,
        id="at the threshold",
    ),
    pytest.param(
        [scanned("form2", {"patient.dob": None}), form("form1")],
        "review",
        ("ocr_uncertain",),
        ["patient.dob"],
        "unreadable",
        id="a form missing too: still the team's, no incomplete reply",
    ),
    pytest.param(
        [form("form2", {"patient.dob": None}), form("form1"), form("miat")],
        "incomplete",
        (),
        [],
        "incomplete",
        id="a typed form with a field missing is still incomplete",
    ),
    pytest.param(
        [scanned("mar", pharmacy__first_mar_date=0.4)],
        "review",
        ("ocr_uncertain",),
        ["pharmacy.first_mar_date"],
        "unreadable",
        id="a MAR registration read unsurely",
    ),
]


@pytest.mark.parametrize(("forms", "kind", "reasons", "marked", "reply"), CASES)
def test_a_scanned_referral_is_decided_alone_only_when_every_value_is_sure(
    forms: list[Form], kind: str, reasons: tuple[str, ...], marked: list[str], reply: str | None
) -> None:
    outcome = decided(*forms)
    assert outcome.kind == kind
    assert outcome.reasons[: len(reasons)] == reasons
    assert [p.field for p in outcome.problems if p.code == "ocr_uncertain"] == marked
    assert outcome.reply == reply
    # Nothing about a scanned form is ever put to the referrer as missing or invalid.
    if any(f.source == "ocr" for f in forms):
        assert all(p.code in ("ocr_uncertain", "missing_form") for p in outcome.problems)


def test_the_threshold_comes_from_the_context() -> None:
    forms = [scanned("form2", patient__surname=0.8), form("form1"), form("miat")]
    assert decided(*forms, threshold=0.75).kind == "accepted"
    assert decided(*forms, threshold=0.85).kind == "review"
