"""Is every form about the same patient?"""

from __future__ import annotations

from collections.abc import Sequence

from parsers.types import Form, Value
from rules.validate import nhs_number_problem


def _surname(form: Form) -> str | None:
    value = form.fields.get("patient.surname")
    return " ".join(value.lower().split()) if isinstance(value, str) else None


def _nhs_number(form: Form) -> Value | None:
    # A mistyped number is reported as invalid on its own form; it says nothing about which patient it is.
    value = form.fields.get("patient.nhs_number")
    return value if isinstance(value, str) and nhs_number_problem(value) is None else None


def same_patient(forms: Sequence[Form]) -> bool:
    """True unless two forms name different patients.

    Valid NHS numbers are compared where both forms carry one; otherwise surname and date of birth, where both
    forms carry both. Forms that give too little to compare do not count as a mismatch: missing fields are
    reported as missing, not as a different patient.
    """
    for i, first in enumerate(forms):
        for second in forms[i + 1 :]:
            a, b = _nhs_number(first), _nhs_number(second)
            if a is not None and b is not None:
                if a != b:
                    return False
                continue
            dob_a, dob_b = first.fields.get("patient.dob"), second.fields.get("patient.dob")
            name_a, name_b = _surname(first), _surname(second)
            if None not in (dob_a, dob_b, name_a, name_b) and (dob_a, name_a) != (dob_b, name_b):
                return False
    return True
