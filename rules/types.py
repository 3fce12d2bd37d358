"""The decision the rules make about one submission."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from config.forms import FormKind
from parsers.types import Document

OutcomeKind = Literal[
    "accepted",
    "incomplete",
    "misrouted",
    "mar_registration",
    "review",
    "not_a_submission",
    "automatic",
]
"""What happens to a submission, as forms-spec.md's submission table says."""

ReplyKind = Literal["incomplete", "misrouted", "unreadable"]
"""Which automatic reply the referrer gets: what is missing, wrong place, or checked by hand."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a submission, as data.

    ``form`` is the form it belongs to (None for the submission as a whole), ``field`` the field key (None
    when a whole form is missing or unreadable), ``label`` the printed label (or the form's name), ``code``
    what is wrong: ``missing_form``, ``missing``, ``invalid_date``, ``nhs_number_check_digit`` …
    """

    form: FormKind | None
    field: str | None
    label: str
    code: str


@dataclass(frozen=True)
class Submission:
    """One email's documents, when it arrived, and whether it was sent by a machine (and why)."""

    documents: tuple[Document, ...]
    received_at: dt.datetime
    automatic: str | None = None


@dataclass(frozen=True)
class Outcome:
    """The decision: its kind, the forms seen, the problems, which reply is due and the team's reasons.

    ``suppressed`` says why a reply that would be due is not sent (the mail was automatic): the team
    replies by hand instead.
    """

    kind: OutcomeKind
    forms: tuple[FormKind, ...]
    problems: tuple[Problem, ...] = ()
    reply: ReplyKind | None = None
    reasons: tuple[str, ...] = ()
    suppressed: str | None = None
