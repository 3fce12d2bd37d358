"""The team's reports as plain arithmetic: referrals per week by outcome, working days from arrival to the
home assessment, and follow-up calls made on time. Pure: dates and codes go in, counts come out; the shell
reads the rows and says which day it is.

Weeks begin on Monday; a report covers the ``WEEKS`` weeks up to and including the current one. Everything
here is counts, medians and dates: no patient data can reach a report.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from rules.calendar import working_days_between
from rules.followups import FOLLOW_UP_KINDS, LABELS

WEEKS = 12

REPORTED_OUTCOMES: tuple[str, ...] = ("accepted", "review", "incomplete", "misrouted", "mar_registration")
"""The outcomes of submissions that are referrals or registrations; mail with no form, machines' mail and
duplicates are not referrals and are left out."""

OUTCOME_NAMES: Mapping[str, str] = {
    "accepted": "Accepted",
    "review": "For review",
    "incomplete": "Incomplete",
    "misrouted": "Misrouted",
    "mar_registration": "MAR chart registration",
}


def weeks_up_to(today: dt.date, count: int = WEEKS) -> tuple[dt.date, ...]:
    """The Mondays of the ``count`` weeks up to and including ``today``'s, oldest first."""
    this_week = today - dt.timedelta(days=today.weekday())
    return tuple(this_week - dt.timedelta(weeks=n) for n in range(count - 1, -1, -1))


def week_of(day: dt.date) -> dt.date:
    """The Monday of ``day``'s week."""
    return day - dt.timedelta(days=day.weekday())


@dataclass(frozen=True)
class Arrival:
    """A submission: the day it arrived and what became of it in the end."""

    received_on: dt.date
    outcome: str


@dataclass(frozen=True)
class WeekOutcomes:
    """How many submissions that arrived in the week beginning ``week`` ended in each outcome."""

    week: dt.date
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def referrals_per_week(arrivals: Iterable[Arrival], weeks: Sequence[dt.date]) -> tuple[WeekOutcomes, ...]:
    """Per week of ``weeks``: the submissions received that week, counted by ``REPORTED_OUTCOMES``."""
    counts: dict[dt.date, Counter[str]] = {week: Counter() for week in weeks}
    for arrival in arrivals:
        week = week_of(arrival.received_on)
        if week in counts and arrival.outcome in REPORTED_OUTCOMES:
            counts[week][arrival.outcome] += 1
    return tuple(
        WeekOutcomes(week, {outcome: counts[week][outcome] for outcome in REPORTED_OUTCOMES}) for week in weeks
    )


@dataclass(frozen=True)
class Assessed:
    """A referral's home assessment: the day the referral counts as received, and the day of the assessment."""

    received_on: dt.date
    assessed_on: dt.date


@dataclass(frozen=True)
class WaitTimes:
    """Working days from arrival to assessment of the referrals assessed in one week (or in all of them)."""

    week: dt.date | None
    assessments: int
    median: float | None
    p90: int | None


def assessment_times(assessed: Iterable[Assessed], weeks: Sequence[dt.date]) -> tuple[WaitTimes, ...]:
    """Per week of ``weeks`` (the week of the assessment), then for all of them together (``week`` None): how
    many referrals were assessed, the median working days they had waited and the 90th percentile."""
    waits: dict[dt.date, list[int]] = defaultdict(list)
    for item in assessed:
        week = week_of(item.assessed_on)
        if weeks and weeks[0] <= week <= weeks[-1]:
            waits[week].append(working_days_between(item.received_on, item.assessed_on))
    rows = [_wait_times(week, waits[week]) for week in weeks]
    rows.append(_wait_times(None, [days for week in weeks for days in waits[week]]))
    return tuple(rows)


def _wait_times(week: dt.date | None, days: list[int]) -> WaitTimes:
    if not days:
        return WaitTimes(week, 0, None, None)
    return WaitTimes(week, len(days), float(statistics.median(days)), nearest_rank(days, 90))


def nearest_rank(values: Sequence[int], percent: int) -> int:
    """The ``percent``-th percentile of ``values`` by the nearest-rank method: a value that occurred, the
    smallest with at least ``percent`` % of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(math.ceil(percent / 100 * len(ordered)), 1) - 1]


@dataclass(frozen=True)
class CallDue:
    """A follow-up call: which one, the working day it was due and the day it was made (None: not yet)."""

    kind: str
    due: dt.date
    made_on: dt.date | None


@dataclass(frozen=True)
class StageCalls:
    """The calls of one follow-up stage due in the report's weeks, by whether they were made on time."""

    kind: str
    on_time: int
    late: int
    not_made: int

    @property
    def label(self) -> str:
        return LABELS.get(self.kind, self.kind)

    @property
    def due(self) -> int:
        return self.on_time + self.late + self.not_made

    @property
    def percent_on_time(self) -> int | None:
        return round(100 * self.on_time / self.due) if self.due else None


def calls_on_time(calls: Iterable[CallDue], weeks: Sequence[dt.date], today: dt.date) -> tuple[StageCalls, ...]:
    """Per follow-up stage: the calls due from the first of ``weeks`` up to ``today``, made on or before their
    due day (on time), made after it (late), or not made yet."""
    start = weeks[0] if weeks else today
    counts: dict[str, Counter[str]] = {kind: Counter() for kind in FOLLOW_UP_KINDS}
    for call in calls:
        if not start <= call.due <= today or call.kind not in counts:
            continue
        if call.made_on is None:
            counts[call.kind]["not_made"] += 1
        elif call.made_on <= call.due:
            counts[call.kind]["on_time"] += 1
        else:
            counts[call.kind]["late"] += 1
    return tuple(
        StageCalls(kind, counts[kind]["on_time"], counts[kind]["late"], counts[kind]["not_made"])
        for kind in FOLLOW_UP_KINDS
    )
