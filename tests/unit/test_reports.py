"""The reports' arithmetic: weeks, outcomes per week, working days to assessment, calls on time."""

from __future__ import annotations

import datetime as dt

from rules.reports import (
    Arrival,
    Assessed,
    CallDue,
    assessment_times,
    calls_on_time,
    nearest_rank,
    referrals_per_week,
    weeks_up_to,
)

WEDNESDAY = dt.date(2026, 11, 25)
WEEKS = weeks_up_to(WEDNESDAY)


def test_twelve_weeks_of_mondays_end_with_this_week() -> None:
    assert len(WEEKS) == 12
    assert WEEKS[-1] == dt.date(2026, 11, 23)
    assert WEEKS[0] == dt.date(2026, 9, 7)
    assert all(week.weekday() == 0 for week in WEEKS)


def test_submissions_are_counted_in_the_week_they_arrived_by_outcome() -> None:
    arrivals = [
        Arrival(dt.date(2026, 11, 23), "accepted"),
        Arrival(dt.date(2026, 11, 29), "accepted"),  # Sunday: still this week
        Arrival(dt.date(2026, 11, 20), "incomplete"),
        Arrival(dt.date(2026, 11, 24), "not_a_submission"),  # not a referral
        Arrival(dt.date(2026, 9, 6), "accepted"),  # before the first week
    ]

    rows = referrals_per_week(arrivals, WEEKS)

    assert rows[-1].counts["accepted"] == 2
    assert rows[-1].total == 2
    assert rows[-2].counts["incomplete"] == 1
    assert sum(row.total for row in rows) == 3


def test_working_days_to_assessment_per_week_of_assessment_with_median_and_90th_percentile() -> None:
    monday = dt.date(2026, 11, 23)
    assessed = [Assessed(monday - dt.timedelta(days=7 * n), monday + dt.timedelta(days=2)) for n in range(3)]
    # waited 2 working days, 7 and 12 (the weeks before hold no bank holiday)

    rows = assessment_times(assessed, WEEKS)

    this_week, overall = rows[-2], rows[-1]
    assert (this_week.assessments, this_week.median, this_week.p90) == (3, 7.0, 12)
    assert overall.week is None
    assert overall.assessments == 3
    assert rows[0].assessments == 0
    assert rows[0].median is None


def test_the_90th_percentile_is_a_value_that_occurred() -> None:
    assert nearest_rank([1], 90) == 1
    assert nearest_rank(list(range(1, 11)), 90) == 9
    assert nearest_rank(list(range(1, 12)), 90) == 10


def test_calls_are_on_time_late_or_not_made_per_stage_up_to_today() -> None:
    due = dt.date(2026, 11, 16)
    calls = [
        CallDue("6w", due, due),
        CallDue("6w", due, due + dt.timedelta(days=1)),
        CallDue("6w", due, None),
        CallDue("6m", due, due - dt.timedelta(days=2)),
        CallDue("12m", WEDNESDAY + dt.timedelta(days=1), None),  # due tomorrow: not counted yet
    ]

    by_stage = {row.kind: row for row in calls_on_time(calls, WEEKS, WEDNESDAY)}

    assert (by_stage["6w"].on_time, by_stage["6w"].late, by_stage["6w"].not_made) == (1, 1, 1)
    assert by_stage["6w"].percent_on_time == 33
    assert by_stage["6m"].percent_on_time == 100
    assert by_stage["12m"].due == 0
    assert by_stage["12m"].percent_on_time is None
