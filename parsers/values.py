"""Turning what was written in a field into a typed value, the same way for every kind of document.

The PDF, text and Word readers each find *raw* values — the text in a box, a check box's state, or the
options ticked in a list — and hand them to :func:`type_fields`, which returns the typed values keyed as in
config/forms/ and a :class:`FieldError` for each field whose writing cannot be read as its type. A field with
nothing written in it is simply absent: whether it was required is the rules' business, not the parser's.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Final

from config.forms import FieldDefinition, FormDefinition, Option
from parsers.types import FieldError, Value

RawValue = str | bool | tuple[str, ...]
"""What a reader found: text, a check box's state, or the ticked options (codes or printed texts)."""

NOT_APPLICABLE: Final = "N/A"

_MONTHS: Final[dict[str, int]] = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}

_NUMERIC_DATE: Final = re.compile(r"(\d{1,2})\s*([/.\-])\s*(\d{1,2})\s*\2\s*(\d{4}|\d{2})")
_ISO_DATE: Final = re.compile(r"(\d{4})\s*([/.\-])\s*(\d{1,2})\s*\2\s*(\d{1,2})")
_WORDED_DATE: Final = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?\s*[\s\-/.,]\s*([a-z]+)\.?\s*[\s\-/.,]\s*(\d{4}|\d{2})")
_WEEKDAY: Final = re.compile(r"^(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)[a-z]*\.?,?\s+")

_YES: Final = frozenset({"yes", "y", "true", "t", "on", "1", "x", "ticked", "checked", "selected", "✓", "✔", "☒", "☑"})
_NO: Final = frozenset({"no", "n", "false", "f", "off", "0", "unticked", "unchecked", "☐"})
_NOT_APPLICABLE: Final = frozenset({"na", "notapplicable"})


def type_fields(
    raw: Mapping[str, RawValue], definition: FormDefinition, today: dt.date
) -> tuple[dict[str, Value], tuple[FieldError, ...]]:
    """Type every raw value whose key the form defines, in the form's printed order.

    Returns the values of the fields that were filled in and readable, and one error for each field that was
    filled in but unreadable. Keys the form does not define and fields left empty are left out of both.
    ``today`` only decides the century of a two-digit year of birth.
    """
    fields: dict[str, Value] = {}
    errors: list[FieldError] = []
    for field in definition.fields:
        if field.key not in raw:
            continue
        result = type_value(raw[field.key], field, today)
        if isinstance(result, FieldError):
            errors.append(result)
        elif result is not None:
            fields[field.key] = result
    return fields, tuple(errors)


def type_value(raw: RawValue, field: FieldDefinition, today: dt.date) -> Value | FieldError | None:
    """One field's typed value, a :class:`FieldError` saying why it cannot be read, or None when it is empty."""
    if field.type == "checks":
        return _checks(raw, field)
    if field.type == "yesno":
        return _yesno(raw, field.key)
    if isinstance(raw, bool):
        # A lone check box stands for a yes/no or one option of a list; for any other type it says nothing.
        return None
    if isinstance(raw, tuple):
        if not raw:
            return None
        if field.type not in ("text", "multiline") and len(raw) > 1:
            # Several options ticked where one answer is wanted, as for a Yes/No with both ticked.
            return FieldError(field.key, "unanswered")
        raw = ("\n" if field.type == "multiline" else ", ").join(raw)
    if not raw.strip():
        return None
    match field.type:
        case "date":
            return _date(raw, field, today)
        case "integer":
            return _integer(raw, field)
        case "score":
            return _score(raw, field)
        case "enum":
            option = match_option(raw, field.options)
            return option.code if option is not None else FieldError(field.key, "unknown_option")
        case "nhs_number":
            digits = re.sub(r"[\s\-]", "", raw)
            if len(digits) == 10 and digits.isascii() and digits.isdigit():
                return digits
            return FieldError(field.key, "invalid_format")
        case "postcode":
            return normalise_postcode(raw)
        case "multiline":
            return _multiline(raw)
        case "ods_gp" | "ods_pharmacy" | "ods_supplier" | "gphc":
            return re.sub(r"\s+", "", raw).upper()
        case _:
            return _single_line(raw)


def parse_date(text: str, today: dt.date, *, past_only: bool = False) -> dt.date | None:
    """A UK day-first date (``3/4/41``, ``03-04-1941``, ``3.4.1941``, ``3 April 1941``, ``1941-04-03``), or None.

    A two-digit year is 20yy, except with ``past_only`` (a date of birth) where it is the latest century that
    does not put the date after ``today``.
    """
    text = _WEEKDAY.sub("", text.strip().lower()).strip()
    if match := _ISO_DATE.fullmatch(text):
        return _make_date(int(match[1]), int(match[3]), int(match[4]))
    if match := _NUMERIC_DATE.fullmatch(text):
        day, month, year = int(match[1]), int(match[3]), match[4]
    elif (match := _WORDED_DATE.fullmatch(text)) and match[2] in _MONTHS:
        day, month, year = int(match[1]), _MONTHS[match[2]], match[3]
    else:
        return None
    if len(year) == 4:
        return _make_date(int(year), month, day)
    return _two_digit_year(int(year), month, day, today, past_only)


def match_option(text: str, options: tuple[Option, ...]) -> Option | None:
    """The option whose printed text or code is ``text``, ignoring case, punctuation and spacing."""
    wanted = _fold(text)
    if not wanted:
        return None
    for option in options:
        if wanted in (_fold(option.code), _fold(option.text)):
            return option
    return None


def parse_yes_no(text: str) -> bool | None:
    """True for yes/y/true/on/ticked and the like, False for no/n/false/off/unticked, None for anything else."""
    folded = text.strip().lower().rstrip(".")
    # A check box state copied as a PDF name ("/Yes", "/Off") reads the same as the word.
    folded = folded.removeprefix("/")
    if folded in _YES:
        return True
    if folded in _NO:
        return False
    return None


def normalise_postcode(text: str) -> str:
    """Upper case with one space before the last three characters; anything unlike a postcode stays as text."""
    compact = re.sub(r"\s+", "", text).upper()
    if 5 <= len(compact) <= 7 and compact.isascii() and compact.isalnum():
        return f"{compact[:-3]} {compact[-3:]}"
    return _single_line(text).upper()


def _checks(raw: RawValue, field: FieldDefinition) -> Value | FieldError | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, str):
        # A text box or a list box that holds the ticked options written out, e.g. "D4, D7".
        raw = tuple(part for part in re.split(r"[,;\n]+", raw) if part.strip())
    if not raw:
        return None
    ticked: set[str] = set()
    for text in raw:
        option = match_option(text, field.options)
        if option is None:
            return FieldError(field.key, "unknown_option")
        ticked.add(option.code)
    return tuple(option.code for option in field.options if option.code in ticked)


def _yesno(raw: RawValue, key: str) -> Value | FieldError | None:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, tuple):
        answers = {parse_yes_no(text) for text in raw}
        if not answers:
            return None
        if None in answers:
            return FieldError(key, "unknown_option")
        if len(answers) > 1:
            return FieldError(key, "unanswered")
        return answers.pop()
    if not raw.strip():
        return None
    answer = parse_yes_no(raw)
    return answer if answer is not None else FieldError(key, "unknown_option")


def _date(text: str, field: FieldDefinition, today: dt.date) -> Value | FieldError:
    parsed = parse_date(text, today, past_only=field.past_only)
    return parsed if parsed is not None else FieldError(field.key, "invalid_date")


def _integer(text: str, field: FieldDefinition) -> Value | FieldError:
    number = _whole_number(text)
    if number is None:
        return FieldError(field.key, "invalid_number")
    if (field.min is not None and number < field.min) or (field.max is not None and number > field.max):
        return FieldError(field.key, "out_of_range")
    return number


def _score(text: str, field: FieldDefinition) -> Value | FieldError:
    if _fold(text) in _NOT_APPLICABLE:
        return NOT_APPLICABLE if field.allow_na else FieldError(field.key, "out_of_range")
    number = _whole_number(text)
    if number is None:
        return FieldError(field.key, "invalid_number")
    low = field.min if field.min is not None else 0
    if number < low or (field.max is not None and number > field.max):
        return FieldError(field.key, "out_of_range")
    return number


def _whole_number(text: str) -> int | None:
    compact = re.sub(r"\s+", "", text)
    if not re.fullmatch(r"[+-]?[0-9]{1,9}", compact):
        return None
    return int(compact)


def _two_digit_year(yy: int, month: int, day: int, today: dt.date, past_only: bool) -> dt.date | None:
    if not past_only:
        return _make_date(2000 + yy, month, day)
    century = today.year // 100 * 100
    # Try this century, then the last two: 29/02/00 is valid in 2000 but not 1900, so step until one is.
    for base in (century, century - 100, century - 200):
        candidate = _make_date(base + yy, month, day)
        if candidate is not None and candidate <= today:
            return candidate
    return None


def _make_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _fold(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _single_line(text: str) -> str:
    return " ".join(text.split())


def _multiline(text: str) -> str:
    lines = [" ".join(line.split()) for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(lines).strip("\n")
