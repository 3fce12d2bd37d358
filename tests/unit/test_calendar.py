"""The team's calendar: working days, bank holidays, office hours and follow-up due dates."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.calendar import (
    is_bank_holiday,
    is_working_day,
    next_working_day,
    previous_working_day,
    received_in_hours,
    working_day_on_or_after,
    working_days_between,
)
from rules.followups import follow_up_due, schedule_follow_ups

LONDON = ZoneInfo("Europe/London")
days = st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2030, 12, 31))
instants = st.datetimes(
    min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2030, 12, 31), timezones=st.just(dt.UTC)
)


def london(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=LONDON)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("day", "name"),
    [
        (dt.date(2026, 12, 25), "Christmas Day, a Friday"),
        (dt.date(2026, 12, 28), "Boxing Day moved to Monday: 26 December 2026 is a Saturday"),
        (dt.date(2027, 3, 26), "Good Friday 2027"),
        (dt.date(2027, 3, 29), "Easter Monday 2027, the day after the clocks go forward"),
        (dt.date(2027, 5, 3), "Early May bank holiday 2027"),
        (dt.date(2027, 8, 30), "Summer bank holiday 2027"),
    ],
)
def test_england_and_wales_bank_holidays_are_not_working_days(day: dt.date, name: str) -> None:
    assert is_bank_holiday(day), name
    assert not is_working_day(day), name


def test_scottish_bank_holidays_are_working_days_in_norfolk() -> None:
    assert is_working_day(dt.date(2027, 1, 4))  # 2 January observed in Scotland only
    assert is_working_day(dt.date(2027, 8, 2))  # Scotland's summer bank holiday


def test_after_christmas_2026_the_next_working_day_is_tuesday_29_december() -> None:
    assert next_working_day(dt.date(2026, 12, 24)) == dt.date(2026, 12, 29)
    assert previous_working_day(dt.date(2026, 12, 29)) == dt.date(2026, 12, 24)


def test_over_easter_2027_the_next_working_day_after_thursday_is_tuesday() -> None:
    assert next_working_day(dt.date(2027, 3, 25)) == dt.date(2027, 3, 30)
    assert working_day_on_or_after(dt.date(2027, 3, 26)) == dt.date(2027, 3, 30)


def test_age_in_working_days_skips_weekends_and_bank_holidays() -> None:
    assert working_days_between(dt.date(2026, 11, 27), dt.date(2026, 11, 30)) == 1  # Friday to Monday
    assert working_days_between(dt.date(2026, 12, 24), dt.date(2026, 12, 29)) == 1  # over Christmas
    assert working_days_between(dt.date(2026, 12, 1), dt.date(2026, 12, 1)) == 0
    assert working_days_between(dt.date(2026, 12, 2), dt.date(2026, 12, 1)) == 0


@pytest.mark.parametrize(
    ("arrived", "counts_as"),
    [
        (london(2026, 11, 30, 10, 15), london(2026, 11, 30, 10, 15)),  # Monday, in hours
        (london(2026, 11, 30, 7, 5), london(2026, 11, 30, 9, 0)),  # Monday, before opening
        (london(2026, 11, 30, 17, 0), london(2026, 12, 1, 9, 0)),  # Monday, at closing
        (london(2026, 11, 28, 11, 0), london(2026, 11, 30, 9, 0)),  # Saturday
        (london(2026, 12, 24, 17, 30), london(2026, 12, 29, 9, 0)),  # Christmas Eve evening
        (london(2027, 3, 28, 10, 0), london(2027, 3, 30, 9, 0)),  # the Sunday the clocks go forward, at Easter
    ],
)
def test_mail_outside_office_hours_counts_as_received_at_nine_on_the_next_working_day(
    arrived: dt.datetime, counts_as: dt.datetime
) -> None:
    assert received_in_hours(arrived) == counts_as


def test_office_hours_follow_london_time_across_the_clock_change() -> None:
    # 08:30 UTC on Monday 30 March 2026 is 09:30 BST: in hours. In winter the same UTC time is before opening.
    assert received_in_hours(dt.datetime(2026, 3, 30, 8, 30, tzinfo=dt.UTC)) == london(2026, 3, 30, 9, 30)
    assert received_in_hours(dt.datetime(2026, 11, 30, 8, 30, tzinfo=dt.UTC)) == london(2026, 11, 30, 9, 0)


def test_a_naive_arrival_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        received_in_hours(dt.datetime(2026, 11, 30, 10, 0))


@given(days)
def test_the_working_day_on_or_after_a_day_is_the_first_working_day_from_it(day: dt.date) -> None:
    found = working_day_on_or_after(day)
    assert found >= day
    assert is_working_day(found)
    assert all(not is_working_day(day + dt.timedelta(n)) for n in range((found - day).days))


@given(days)
def test_the_next_working_day_is_always_after_and_never_more_than_five_days_away(day: dt.date) -> None:
    found = next_working_day(day)
    assert day < found <= day + dt.timedelta(days=5)
    assert is_working_day(found)
    assert previous_working_day(found) <= day


@given(days, days)
def test_working_day_ages_add_up(first: dt.date, second: dt.date) -> None:
    start, end = sorted((first, second))
    middle = start + (end - start) / 2
    assert working_days_between(start, end) == working_days_between(start, middle) + working_days_between(middle, end)


@given(instants)
def test_received_in_hours_is_never_earlier_and_always_within_office_hours(at: dt.datetime) -> None:
    counted = received_in_hours(at)
    assert counted >= at
    assert is_working_day(counted.date())
    assert dt.time(9) <= counted.time() < dt.time(17)
    local = at.astimezone(LONDON)
    if is_working_day(local.date()) and dt.time(9) <= local.time() < dt.time(17):
        assert counted == at


def test_follow_up_calls_fall_at_six_weeks_six_months_and_twelve_months() -> None:
    calls = schedule_follow_ups(dt.date(2026, 11, 30))
    assert [(c.kind, c.label, c.due) for c in calls] == [
        ("6w", "6 weeks", dt.date(2027, 1, 11)),
        ("6m", "6 months", dt.date(2027, 6, 1)),  # 30 May 2027 is a Sunday, 31 May the spring bank holiday
        ("12m", "12 months", dt.date(2027, 11, 30)),
    ]


def test_a_six_month_call_from_the_end_of_august_is_clamped_to_february_then_moved_off_the_weekend() -> None:
    # 31 August 2026 + 6 months = 28 February 2027, a Sunday: the call is on Monday 1 March.
    assert follow_up_due(dt.date(2026, 8, 31), "6m") == dt.date(2027, 3, 1)


def test_a_six_week_call_landing_on_christmas_day_moves_to_the_next_working_day() -> None:
    # 13 November 2026 + 42 days = Friday 25 December; Monday 28 is Boxing Day's substitute.
    assert follow_up_due(dt.date(2026, 11, 13), "6w") == dt.date(2026, 12, 29)


def test_a_twelve_month_call_landing_on_easter_monday_moves_to_tuesday() -> None:
    assert follow_up_due(dt.date(2026, 3, 29), "12m") == dt.date(2027, 3, 30)


@given(days)
def test_each_follow_up_is_on_a_working_day_within_four_days_of_its_calendar_date(day: dt.date) -> None:
    raw = {
        "6w": day + dt.timedelta(days=42),
        "6m": _add_months(day, 6),
        "12m": _add_months(day, 12),
    }
    for call in schedule_follow_ups(day):
        assert is_working_day(call.due)
        assert raw[call.kind] <= call.due <= raw[call.kind] + dt.timedelta(days=4)


def _add_months(day: dt.date, months: int) -> dt.date:
    """Calendar months clamped to the month's end, written out independently of dateutil."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")
