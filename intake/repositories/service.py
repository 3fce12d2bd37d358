"""What the service keeps besides messages: the practice list, home assessments and calls, mailbox states."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import delete
from sqlmodel import Session, col, select

from intake.store import AssessmentRecord, FollowUpRecord, MailboxState, MessageRecord, Practice, ReferralRecord


class Practices:
    """The service's list of GP practices."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def active_codes(self) -> frozenset[str] | None:
        """The codes of active practices, or None when no list has been imported (the check is skipped)."""
        rows = self.session.exec(select(Practice.code, Practice.status)).all()
        if not rows:
            return None
        return frozenset(code for code, status in rows if status == "A")

    def all(self) -> list[Practice]:
        """Every practice in the list, by code."""
        return list(self.session.exec(select(Practice).order_by(col(Practice.code))).all())

    def replace(self, practices: Iterable[Practice]) -> None:
        """Replace the whole list with ``practices``."""
        self.session.exec(delete(Practice))
        self.session.add_all(list(practices))


class FollowUps:
    """Home assessments and the follow-up calls after them."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def assessment(self, referral_id: int) -> AssessmentRecord | None:
        """The home assessment of referral ``referral_id``, if recorded."""
        return self.session.get(AssessmentRecord, referral_id)

    def assessed(self) -> set[int]:
        """The ids of referrals with a home assessment."""
        return set(self.session.exec(select(AssessmentRecord.referral_id)).all())

    def calls_of(self, referral_id: int) -> dict[str, FollowUpRecord]:
        """The follow-up calls of referral ``referral_id`` by kind."""
        rows = self.session.exec(select(FollowUpRecord).where(FollowUpRecord.referral_id == referral_id)).all()
        return {row.kind: row for row in rows}

    def call(self, followup_id: int) -> FollowUpRecord | None:
        """Follow-up call ``followup_id``, or None."""
        return self.session.get(FollowUpRecord, followup_id)

    def open_calls(self, by: dt.date, *, unreminded: bool = False) -> list[tuple[FollowUpRecord, ReferralRecord]]:
        """Calls due on or before ``by`` and not made (only those not yet reminded, if asked), most overdue first."""
        query = (
            select(FollowUpRecord, ReferralRecord)
            .join(ReferralRecord, col(FollowUpRecord.referral_id) == col(ReferralRecord.id))
            .where(col(FollowUpRecord.done_at).is_(None), col(FollowUpRecord.due) <= by)
            .order_by(col(FollowUpRecord.due), col(FollowUpRecord.id))
        )
        if unreminded:
            query = query.where(col(FollowUpRecord.reminded_at).is_(None))
        return [(call, referral) for call, referral in self.session.exec(query).all()]

    def assessed_since(self, day: dt.date) -> list[tuple[dt.date, dt.datetime]]:
        """``(assessed_on, received_at)`` of the home assessments on or after ``day``, with when the message
        its referral was queued from arrived (columns, not rows: a report reads thousands)."""
        rows = self.session.exec(
            select(col(AssessmentRecord.assessed_on), col(MessageRecord.received_at))
            .join(ReferralRecord, col(AssessmentRecord.referral_id) == col(ReferralRecord.id))
            .join(MessageRecord, col(ReferralRecord.message_id) == col(MessageRecord.id))
            .where(col(AssessmentRecord.assessed_on) >= day)
        ).all()
        return [(assessed_on, received_at) for assessed_on, received_at in rows]

    def due_between(self, start: dt.date, end: dt.date) -> list[tuple[str, dt.date, dt.datetime | None]]:
        """``(kind, due, done_at)`` of every call due from ``start`` to ``end``, made or not."""
        rows = self.session.exec(
            select(col(FollowUpRecord.kind), col(FollowUpRecord.due), col(FollowUpRecord.done_at)).where(
                col(FollowUpRecord.due) >= start, col(FollowUpRecord.due) <= end
            )
        ).all()
        return [(kind, due, done_at) for kind, due, done_at in rows]

    def save(self, row: AssessmentRecord | FollowUpRecord) -> None:
        """Keep ``row`` (new or changed)."""
        self.session.add(row)


class Mailboxes:
    """What the service knows about each mailbox between polls: its cursor and its health."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def state(self, name: str) -> MailboxState:
        """The state of mailbox ``name`` (a fresh one, not yet saved, if it has none)."""
        return self.session.get(MailboxState, name) or MailboxState(name=name)

    def all(self) -> dict[str, MailboxState]:
        """Every mailbox with a record, by name."""
        return {state.name: state for state in self.session.exec(select(MailboxState)).all()}

    def save(self, state: MailboxState) -> None:
        """Keep ``state``."""
        self.session.add(state)
