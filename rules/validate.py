"""Validators for typed field values: each takes a value and answers with a problem code, or None when valid.

Pure functions: the date they compare against is passed in. They never echo the value they reject.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable

import phonenumbers

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


def normalise_postcode(value: str) -> str | None:
    """``value`` in its one written form (upper case, one space before the last three characters), or None
    when it is not a UK postcode in the strict format."""
    compact = "".join(value.split()).upper()
    candidate = f"{compact[:-3]} {compact[-3:]}"
    return candidate if POSTCODE.match(candidate) else None


def postcode_problem(value: str) -> str | None:
    """A postcode must be written in its normal form: the parser normalises spacing and case before this."""
    return None if POSTCODE.match(value) else "invalid_postcode"


DRAMA_RANGES = (("1632960", 3), ("7700900", 3), ("1134960", 3), ("1144960", 3), ("1154960", 3))
"""Ofcom's numbers kept for drama (01632 960xxx, 07700 900xxx, 0113/0114/0115 496 0xxx): never in service,
so phonenumbers calls them invalid, but the invented people of samples/ and the tests ring them."""


def phone_problem(value: str) -> str | None:
    """A UK telephone number (+44, any spacing, an extension allowed), checked with ``phonenumbers``."""
    try:
        number = phonenumbers.parse(value, "GB")
    except phonenumbers.NumberParseException:
        return "invalid_phone"
    if number.country_code != 44:
        return "invalid_phone"
    if phonenumbers.is_valid_number(number):
        return None
    national = str(number.national_number)
    drama = any(national.startswith(prefix) and len(national) == len(prefix) + rest for prefix, rest in DRAMA_RANGES)
    return None if drama else "invalid_phone"


def email_problem(value: str) -> str | None:
    return None if EMAIL.match(value) and len(value) <= 254 else "invalid_email"


def is_secure_email(value: str, secure_domains: Iterable[str]) -> bool:
    """Whether patient data may be emailed to ``value``: its domain is exactly one of ``secure_domains``
    (nhs.net and the DCB1596 accredited domains the settings list), compared without case."""
    domain = value.rpartition("@")[2].strip().lower()
    return email_problem(value) is None and domain in {d.strip().lower() for d in secure_domains}


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
    """``date_in_future`` for a date after ``today`` where the field forbids it; a date of birth (``past_only``)
    must give an age from 0 to 120 years today (``implausible_date_of_birth`` otherwise)."""
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
