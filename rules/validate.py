"""Validators for typed field values: each takes a value and answers with a problem code, or None when valid.

Pure functions: the date they compare against is passed in. They never echo the value they reject.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from config.forms import FieldDefinition
from parsers.types import Value

POSTCODE = re.compile(
    r"^(GIR 0AA|[A-PR-UWYZ](?:[0-9]{1,2}|[A-HK-Y][0-9]{1,2}|[0-9][ABCDEFGHJKPSTUW]|[A-HK-Y][0-9][ABEHMNPRVWXY])"
    r" [0-9][ABD-HJLNP-UW-Z]{2})$"
)
EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
ODS_GP = re.compile(r"^[A-Z][0-9]{5}$")
ODS_PHARMACY = re.compile(r"^F[A-Z0-9]{4}$")
GPHC = re.compile(r"^[0-9]{7}$")
MAX_AGE_YEARS = 120


def nhs_number_problem(value: str) -> str | None:
    """NHS Data Dictionary modulus 11 check; the ten repeated-digit numbers pass it but are never issued."""
    if not re.fullmatch(r"[0-9]{10}", value):
        return "invalid_nhs_number"
    if len(set(value)) == 1:
        return "invalid_nhs_number"
    total = sum(int(digit) * weight for digit, weight in zip(value[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    if check == 10 or check != int(value[9]):
        return "invalid_nhs_number"
    return None


def postcode_problem(value: str) -> str | None:
    return None if POSTCODE.match(value) else "invalid_postcode"


def phone_problem(value: str) -> str | None:
    # A UK number has 10 or 11 digits once +44 and punctuation are folded; extensions may follow.
    digits = re.sub(r"\D", "", re.split(r"(?i)ext|x", value)[0])
    if digits.startswith("44"):
        digits = "0" + digits[2:]
    return None if 10 <= len(digits) <= 11 and digits.startswith("0") else "invalid_phone"


def email_problem(value: str) -> str | None:
    return None if EMAIL.match(value) else "invalid_email"


def ods_gp_problem(value: str) -> str | None:
    return None if ODS_GP.match(value) else "invalid_ods_code"


def ods_pharmacy_problem(value: str) -> str | None:
    return None if ODS_PHARMACY.match(value) else "invalid_ods_code"


def ods_supplier_problem(value: str) -> str | None:
    # A community pharmacy has an F-code; a dispensing surgery uses its GP practice code.
    return None if ODS_PHARMACY.match(value) or ODS_GP.match(value) else "invalid_ods_code"


def gphc_problem(value: str) -> str | None:
    return None if GPHC.match(value) else "invalid_gphc_number"


TEXT_VALIDATORS: dict[str, Callable[[str], str | None]] = {
    "nhs_number": nhs_number_problem,
    "postcode": postcode_problem,
    "phone": phone_problem,
    "email": email_problem,
    "ods_gp": ods_gp_problem,
    "ods_pharmacy": ods_pharmacy_problem,
    "ods_supplier": ods_supplier_problem,
    "gphc": gphc_problem,
}


def age_on(born: dt.date, day: dt.date) -> int:
    """Age in whole years on ``day``."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def date_problem(definition: FieldDefinition, value: dt.date, today: dt.date) -> str | None:
    if definition.not_future and value > today:
        return "date_in_future"
    if definition.past_only:
        if value > today:
            return "date_in_future"
        if age_on(value, today) > MAX_AGE_YEARS:
            return "implausible_date_of_birth"
    return None


def value_problem(definition: FieldDefinition, value: Value, today: dt.date) -> str | None:
    """The problem code for a present value of ``definition``, or None when it is valid."""
    if definition.must_be is not None and value is not definition.must_be:
        return "must_be_yes" if definition.must_be else "must_be_no"
    if isinstance(value, dt.date):
        return date_problem(definition, value, today)
    validator = TEXT_VALIDATORS.get(definition.type)
    if validator is not None and isinstance(value, str):
        return validator(value)
    return None
