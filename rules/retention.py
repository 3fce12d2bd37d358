"""What retention makes due for purging on a day (UK GDPR storage limitation): pure, from facts the store gives.

Two clocks, both counted in days from the day a thing stopped being needed:

- **copies** (``copies_days``): the raw bytes of incoming mail (a quarantined message's copy, a document's
  original file) and of outgoing mail once sent. The clock of a message starts when its submission is done
  with: the referral it became is closed, or, for a submission that never became a referral, the message was
  filed. The clock of an outgoing email starts when it was sent.
- **patient details** (``patient_days``): the patient's identifiers on a closed referral and the field values
  read from its forms (and those of a submission that never became a referral, from its filing).

Nothing is due while it is still open: a referral not yet assessed or with a follow-up call not yet made (so
not closed), a team task open on any message of the submission, a message not yet filed, an email not yet
sent. A MAR chart registration or a referral left for review has no closing event in the service yet, so
neither is ever closed here: their details are kept until the service can record that they are done.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RetentionPeriods:
    """How long each kind of data is kept after it stops being needed, in days."""

    copies_days: int
    patient_days: int


@dataclass(frozen=True)
class ReferralFacts:
    """A queue row, as far as retention cares: whether it is a referral that can close, and when it did."""

    referral_id: int
    kind: str  # "referral" or "mar_registration"
    assessed: bool
    calls_done_on: tuple[dt.date | None, ...]  # each follow-up call's day made, None while not made
    patient_details_held: bool  # identifiers still on the row (not purged yet)

    def closed_on(self) -> dt.date | None:
        """The day the referral was closed (its last follow-up call made), or None while it is open."""
        if self.kind != "referral" or not self.assessed or not self.calls_done_on:
            return None
        if any(day is None for day in self.calls_done_on):
            return None
        return max(day for day in self.calls_done_on if day is not None)


@dataclass(frozen=True)
class MessageFacts:
    """One message in the ledger: where it belongs, whether it is finished with, and what of it is held."""

    ledger_id: int
    submission: int  # the ledger id of its submission's first message (itself when it is the first)
    filed_on: dt.date | None  # the day it was filed (or quarantined); None while it is still being handled
    open_tasks: int
    copy_held: bool  # a quarantined copy or a document's original bytes, not purged yet
    fields_held: bool  # field values read from its forms, not purged yet


@dataclass(frozen=True)
class EmailFacts:
    """One email in the outbox."""

    outbox_id: int
    sent_on: dt.date | None  # None while it is pending, or failed and not sent
    raw_held: bool


@dataclass(frozen=True)
class RetentionPlan:
    """What is due on the day: ledger ids whose copies go, ledger ids whose form fields go, referral ids whose
    identifiers go, and outbox ids whose raw email goes."""

    copies: tuple[int, ...] = ()
    fields: tuple[int, ...] = ()
    referrals: tuple[int, ...] = ()
    emails: tuple[int, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.copies or self.fields or self.referrals or self.emails)

    def counts(self) -> dict[str, int]:
        """How many of each, the only thing a purge ever says about what it purged."""
        return {
            "message_copies": len(self.copies),
            "form_fields": len(self.fields),
            "referral_details": len(self.referrals),
            "sent_emails": len(self.emails),
        }


def due_for_purge(
    messages: Sequence[MessageFacts],
    referrals: dict[int, ReferralFacts],
    emails: Iterable[EmailFacts],
    *,
    today: dt.date,
    periods: RetentionPeriods,
) -> RetentionPlan:
    """What is due for purging on ``today``.

    ``referrals`` maps a submission (its first message's ledger id) to the referral it became. A submission is
    done with on the day its referral closed, or, without a referral, on the day its last message was filed;
    never while any of its messages is unfiled or has an open task.
    """
    by_submission: dict[int, list[MessageFacts]] = {}
    for message in messages:
        by_submission.setdefault(message.submission, []).append(message)

    copies: list[int] = []
    fields: list[int] = []
    closed_referrals: list[int] = []
    for submission, group in by_submission.items():
        done_on = _done_on(group, referrals.get(submission))
        if done_on is None:
            continue
        if _elapsed(done_on, periods.copies_days, today):
            copies += [m.ledger_id for m in group if m.copy_held]
        if _elapsed(done_on, periods.patient_days, today):
            fields += [m.ledger_id for m in group if m.fields_held]
            referral = referrals.get(submission)
            if referral is not None and referral.patient_details_held:
                closed_referrals.append(referral.referral_id)
    sent = [
        e.outbox_id
        for e in emails
        if e.raw_held and e.sent_on is not None and _elapsed(e.sent_on, periods.copies_days, today)
    ]
    return RetentionPlan(tuple(sorted(copies)), tuple(sorted(fields)), tuple(sorted(closed_referrals)), tuple(sent))


def _done_on(group: Sequence[MessageFacts], referral: ReferralFacts | None) -> dt.date | None:
    if any(m.open_tasks or m.filed_on is None for m in group):
        return None
    if referral is not None:
        return referral.closed_on()
    return max(m.filed_on for m in group if m.filed_on is not None)


def _elapsed(since: dt.date, days: int, today: dt.date) -> bool:
    return since + dt.timedelta(days=days) <= today
