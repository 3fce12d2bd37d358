"""Follow-up calls after a home assessment: at 6 weeks, 6 months and 12 months, each on a working day.

Six weeks is 42 days; months are calendar months (``dateutil.relativedelta``, so 31 August plus six months is
28 or 29 February). A date that falls on a weekend or an England & Wales bank holiday moves forward to the next
working day. Pure: the assessment date goes in, the due dates come out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from dateutil.relativedelta import relativedelta

from rules.calendar import working_day_on_or_after

FollowUpKind = Literal["6w", "6m", "12m"]
"""Which call: six weeks, six months or twelve months after the home assessment."""

FOLLOW_UP_KINDS: tuple[FollowUpKind, ...] = ("6w", "6m", "12m")
"""The calls in the order they fall due."""

OFFSETS: Mapping[FollowUpKind, relativedelta] = {
    "6w": relativedelta(days=42),
    "6m": relativedelta(months=6),
    "12m": relativedelta(months=12),
}
"""How long after the assessment each call is due, before moving off weekends and bank holidays."""

LABELS: Mapping[str, str] = {"6w": "6 weeks", "6m": "6 months", "12m": "12 months"}
"""How each call is named to the team."""


@dataclass(frozen=True)
class FollowUp:
    """One follow-up call: which one and the working day it is due."""

    kind: FollowUpKind
    due: dt.date

    @property
    def label(self) -> str:
        """``"6 weeks"``, ``"6 months"`` or ``"12 months"``."""
        return LABELS[self.kind]


def follow_up_due(assessed_on: dt.date, kind: FollowUpKind) -> dt.date:
    """The working day the ``kind`` call falls due after a home assessment on ``assessed_on``."""
    return working_day_on_or_after(assessed_on + OFFSETS[kind])


def schedule_follow_ups(assessed_on: dt.date) -> tuple[FollowUp, ...]:
    """The three calls after a home assessment on ``assessed_on``, earliest first."""
    return tuple(FollowUp(kind, follow_up_due(assessed_on, kind)) for kind in FOLLOW_UP_KINDS)
