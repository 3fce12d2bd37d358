"""The team's calendar: working days, office hours, and when something counts as received.

The team works Monday to Friday, 09:00 to 17:00 Europe/London, except England & Wales bank holidays (from the
``holidays`` package, which works offline). Everything here is pure: it takes dates and aware datetimes and
returns dates and datetimes; it never reads the clock.
"""

from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo

import holidays

LONDON = ZoneInfo("Europe/London")
"""Where the team works: office hours and due dates are London dates and times."""

OPENS = dt.time(9, 0)
"""When the team's working day starts; mail arriving earlier counts as received now."""

CLOSES = dt.time(17, 0)
"""When the team's working day ends; mail arriving later counts as received at 09:00 on the next working day."""


@functools.cache
def _bank_holidays() -> holidays.HolidayBase:
    # One object for the process: it fills in each year the first time a date in that year is asked about.
    return holidays.country_holidays("GB", subdiv="ENG")


def is_bank_holiday(day: dt.date) -> bool:
    """Whether ``day`` is a bank holiday in England & Wales (substitute days included, e.g. 28 December 2026)."""
    return day in _bank_holidays()


def is_working_day(day: dt.date) -> bool:
    """Whether the team works on ``day``: Monday to Friday and not a bank holiday."""
    return day.weekday() < 5 and not is_bank_holiday(day)


def working_day_on_or_after(day: dt.date) -> dt.date:
    """``day`` itself when the team works then, else the first working day after it."""
    while not is_working_day(day):
        day += dt.timedelta(days=1)
    return day


def next_working_day(day: dt.date) -> dt.date:
    """The first working day strictly after ``day``."""
    return working_day_on_or_after(day + dt.timedelta(days=1))


def previous_working_day(day: dt.date) -> dt.date:
    """The last working day strictly before ``day``."""
    day -= dt.timedelta(days=1)
    while not is_working_day(day):
        day -= dt.timedelta(days=1)
    return day


def working_days_between(start: dt.date, end: dt.date) -> int:
    """How many working days after ``start`` up to and including ``end``: 0 when ``end`` is not after ``start``.

    From Friday to the next Monday is 1; over a bank-holiday Monday, Friday to Tuesday is 1 as well. This is
    the age of something received on ``start`` as seen on ``end``.
    """
    count = 0
    day = start + dt.timedelta(days=1)
    while day <= end:
        if is_working_day(day):
            count += 1
        day += dt.timedelta(days=1)
    return count


def received_in_hours(at: dt.datetime, tz: dt.tzinfo = LONDON) -> dt.datetime:
    """When mail that arrived at ``at`` counts as received, in ``tz``.

    Within office hours on a working day it is ``at`` itself; before 09:00 on a working day it is 09:00 that
    day; otherwise (after 17:00, at a weekend, on a bank holiday) it is 09:00 on the next working day.

    Raises:
        ValueError: ``at`` is naive.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("at must be timezone-aware")
    local = at.astimezone(tz)
    day = local.date()
    if is_working_day(day):
        if local.time() < OPENS:
            return _at(day, OPENS, tz)
        if local.time() < CLOSES:
            return local
    return _at(next_working_day(day), OPENS, tz)


def local_day(at: dt.datetime, tz: dt.tzinfo = LONDON) -> dt.date:
    """The date in ``tz`` at the instant ``at`` (which must be aware)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("at must be timezone-aware")
    return at.astimezone(tz).date()


def _at(day: dt.date, time: dt.time, tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime.combine(day, time, tzinfo=tz)
