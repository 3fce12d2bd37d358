"""The decision the rules make about one submission."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from config.forms import FormKind
from parsers.types import Document
from rules.eligibility import EligibilityPolicy

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
    replies by hand instead, starting from the words of ``held_reply``, the reply held back. For a complete
    referral, ``eligibility`` holds the eligibility reasons (also in ``reasons``, which send it to review) and
    ``warnings`` what the team should see without a review (``miat_score_differs``, ``practice_check_skipped``,
    ``referrer_email_not_secure``).
    """

    kind: OutcomeKind
    forms: tuple[FormKind, ...]
    problems: tuple[Problem, ...] = ()
    reply: ReplyKind | None = None
    reasons: tuple[str, ...] = ()
    suppressed: str | None = None
    held_reply: ReplyKind | None = None
    eligibility: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Context:
    """What the rules need besides the submission, read by the shell and passed in as plain data.

    ``open_referrals`` holds the NHS numbers of patients with a referral still open in the queue;
    ``secure_domains`` the email domains patient data may be sent to (nhs.net and the configured list);
    ``ocr_min_confidence`` the confidence (0 to 1) below which a value read by OCR is the team's to check.
    """

    eligibility: EligibilityPolicy = field(default_factory=EligibilityPolicy)
    open_referrals: frozenset[str] = frozenset()
    secure_domains: frozenset[str] = frozenset({"nhs.net"})
    ocr_min_confidence: float = 0.9
    """How sure the OCR engine must have been of every value on a scanned form for it to be decided alone."""
