"""The ledger of messages taken (with their forms and quarantined bytes) and the queue of submissions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import case, delete, func, update
from sqlmodel import Session, col, select

from intake.mailbox import MailRef
from intake.store import AssessmentRecord, FormRecord, MessageRecord, QuarantineRecord, ReferralRecord

PRIORITIES = ("urgent", "soon", "routine")
"""The queue's order: most urgent first, then rows without a priority (for review, MAR registrations)."""


class Ledger:
    """Every message taken from a mailbox, the forms read from each, and the bytes of those quarantined."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, ledger_id: int) -> MessageRecord | None:
        """The ledger row ``ledger_id``, or None."""
        return self.session.get(MessageRecord, ledger_id)

    def by_mailbox_key(self, ref: MailRef) -> MessageRecord | None:
        """The row of the message the mailbox knows as ``ref``, if it was taken before."""
        return self.session.exec(
            select(MessageRecord).where(
                MessageRecord.source == ref.source,
                MessageRecord.folder == ref.folder,
                MessageRecord.uidvalidity == ref.uidvalidity,
                MessageRecord.uid == ref.uid,
            )
        ).first()

    def original_of(self, fingerprint: str, sha256: str, *, other_than: int | None = None) -> MessageRecord | None:
        """The first message (not itself a duplicate, nor ledger row ``other_than``) taken with this
        ``fingerprint``, or with these exact bytes (``sha256``: rows from before fingerprints were recorded)."""
        return self.session.exec(
            select(MessageRecord)
            .where(
                (col(MessageRecord.fingerprint) == fingerprint) | (col(MessageRecord.sha256) == sha256),
                col(MessageRecord.duplicate_of).is_(None),
                col(MessageRecord.id) != (other_than if other_than is not None else -1),
            )
            .order_by(col(MessageRecord.id))
        ).first()

    def by_reference(self, reference: str) -> MessageRecord | None:
        """The first message (not a duplicate) that was given ``reference``."""
        return self.session.exec(
            select(MessageRecord)
            .where(MessageRecord.reference == reference, col(MessageRecord.duplicate_of).is_(None))
            .order_by(col(MessageRecord.id))
        ).first()

    def latest_of_submission(self, root_id: int) -> int:
        """The newest decided message of submission ``root_id`` (its first ledger id): its forms are the latest set."""
        latest = self.session.exec(
            select(MessageRecord.id)
            .where(
                (col(MessageRecord.id) == root_id) | (col(MessageRecord.submission_of) == root_id),
                col(MessageRecord.state).in_(("decided", "filed")),
            )
            .order_by(col(MessageRecord.id).desc())
        ).first()
        return latest or root_id

    def of_submission(self, root_id: int) -> list[MessageRecord]:
        """The messages of submission ``root_id``: the first and every message that completed it, in order."""
        return list(
            self.session.exec(
                select(MessageRecord)
                .where((col(MessageRecord.id) == root_id) | (col(MessageRecord.submission_of) == root_id))
                .order_by(col(MessageRecord.id))
            ).all()
        )

    def add(self, row: MessageRecord) -> MessageRecord:
        """Add ``row`` and give it its id."""
        self.session.add(row)
        self.session.flush()
        return row

    def save(self, row: MessageRecord) -> None:
        """Keep the changes made to ``row``."""
        self.session.add(row)

    def forms_of(self, ledger_id: int) -> list[FormRecord]:
        """The documents recorded for message ``ledger_id``, in the order they were attached."""
        return list(
            self.session.exec(
                select(FormRecord).where(FormRecord.message_id == ledger_id).order_by(col(FormRecord.position))
            ).all()
        )

    def add_forms(self, forms: Iterable[FormRecord]) -> None:
        """Record the documents read from a message."""
        self.session.add_all(list(forms))

    def quarantine(self, record: QuarantineRecord) -> None:
        """Keep a failed message's bytes for ``nmss-intake replay`` (replacing an earlier copy)."""
        self.session.merge(record)

    def quarantined(self) -> list[tuple[MessageRecord, QuarantineRecord]]:
        """Every message waiting for a replay, oldest first."""
        rows = self.session.exec(
            select(MessageRecord, QuarantineRecord)
            .join(QuarantineRecord, col(QuarantineRecord.message_id) == col(MessageRecord.id))
            .where(MessageRecord.state == "quarantined")
            .order_by(col(MessageRecord.id))
        ).all()
        return [(message, record) for message, record in rows]

    def quarantined_copy(self, ledger_id: int) -> QuarantineRecord | None:
        """The stored bytes of message ``ledger_id``, if it has any."""
        return self.session.get(QuarantineRecord, ledger_id)

    def claim_quarantined(self, ledger_id: int) -> bool:
        """Hand quarantined message ``ledger_id`` back to the pipeline; False when it is not quarantined (any
        more). One conditional UPDATE, so two replays racing cannot both win."""
        claimed = self.session.execute(
            update(MessageRecord)
            .where(col(MessageRecord.id) == ledger_id, col(MessageRecord.state) == "quarantined")
            .values(state="received", attempts=0, solo_crashes=0, outcome=None, error=None, filed_in=None)
        )
        return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]

    def drop_quarantined_copy(self, ledger_id: int) -> None:
        """Delete the stored bytes of a message that has now been decided: its copy of patient data goes."""
        self.session.exec(delete(QuarantineRecord).where(col(QuarantineRecord.message_id) == ledger_id))

    def count_by_outcome(self) -> dict[str, int]:
        """How many messages have each outcome; those still being decided count under ``"undecided"``."""
        rows = self.session.exec(select(MessageRecord.outcome, func.count()).group_by(col(MessageRecord.outcome)))
        return {outcome or "undecided": int(count) for outcome, count in rows.all()}

    def unfiled_by_mailbox(self) -> dict[str, int]:
        """Per mailbox: messages taken but not yet filed (a decision or a move still to come)."""
        return dict(
            self.session.exec(
                select(MessageRecord.source, func.count())
                .where(col(MessageRecord.state).in_(("received", "decided")))
                .group_by(MessageRecord.source)
            ).all()
        )

    def quarantined_by_mailbox(self) -> dict[str, int]:
        """Per mailbox: messages waiting for a replay."""
        return dict(
            self.session.exec(
                select(MessageRecord.source, func.count())
                .join(QuarantineRecord, col(QuarantineRecord.message_id) == col(MessageRecord.id))
                .group_by(MessageRecord.source)
            ).all()
        )

    def arrivals_since(self, since: dt.datetime) -> list[tuple[int, int | None, dt.datetime, str | None]]:
        """``(id, submission_of, received_at, outcome)`` of every message (not a duplicate) received at or after
        ``since``, in the order taken: columns, not rows, as a report reads thousands."""
        rows = self.session.exec(
            select(MessageRecord.id, MessageRecord.submission_of, MessageRecord.received_at, MessageRecord.outcome)
            .where(col(MessageRecord.received_at) >= since, col(MessageRecord.duplicate_of).is_(None))
            .order_by(col(MessageRecord.id))
        ).all()
        return [
            (int(id_ or 0), submission_of, received_at, outcome) for id_, submission_of, received_at, outcome in rows
        ]

    def incomplete(self) -> list[MessageRecord]:
        """Every message decided ``incomplete``."""
        return list(self.session.exec(select(MessageRecord).where(MessageRecord.outcome == "incomplete")).all())


class Queue:
    """Referrals and MAR chart registrations, one row per submission (its reference)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, referral_id: int) -> ReferralRecord | None:
        """Queue row ``referral_id``, or None."""
        return self.session.get(ReferralRecord, referral_id)

    def by_reference(self, reference: str) -> ReferralRecord | None:
        """The queue row of submission ``reference``, or None."""
        return self.session.exec(select(ReferralRecord).where(ReferralRecord.reference == reference)).first()

    def save(self, entry: ReferralRecord) -> ReferralRecord:
        """Queue ``entry``; a submission already queued (a resubmission) has its row brought up to date instead:
        a submission is queued once, under its first reference."""
        existing = self.by_reference(entry.reference)
        if existing is None:
            self.session.add(entry)
            return entry
        for name, value in entry.model_dump(exclude={"id", "reference", "created_at"}).items():
            setattr(existing, name, value)
        self.session.add(existing)
        return existing

    def all(self, status: str | None = None) -> list[tuple[ReferralRecord, MessageRecord]]:
        """Every queue row with the message it came from, optionally only those with ``status``."""
        query = select(ReferralRecord, MessageRecord).join(
            MessageRecord, col(ReferralRecord.message_id) == col(MessageRecord.id)
        )
        if status is not None:
            query = query.where(ReferralRecord.status == status)
        return [(referral, message) for referral, message in self.session.exec(query).all()]

    def listed(
        self,
        *,
        status: str | Sequence[str] | None = None,
        priority: str | None = None,
        kind: str | None = None,
        unassessed: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[ReferralRecord]:
        """Queue rows in the queue's order — urgent, soon, routine, then no priority; oldest first within each —
        only those with ``status`` (or one of several), ``priority`` and ``kind`` when given, and only those
        without a home assessment when ``unassessed``; ``limit`` rows from ``offset``, for a page."""
        rank = case({p: i for i, p in enumerate(PRIORITIES)}, value=col(ReferralRecord.priority), else_=len(PRIORITIES))
        query = (
            select(ReferralRecord)
            .where(*self._filters(status, priority, kind, unassessed))
            .order_by(rank, col(ReferralRecord.created_at), col(ReferralRecord.id))
            .offset(offset)
        )
        if limit is not None:
            query = query.limit(limit)
        return list(self.session.exec(query).all())

    def count(
        self,
        *,
        status: str | Sequence[str] | None = None,
        priority: str | None = None,
        kind: str | None = None,
        unassessed: bool = False,
    ) -> int:
        """How many rows ``listed`` would give with these filters and no limit."""
        query = select(func.count()).select_from(ReferralRecord)
        return int(self.session.exec(query.where(*self._filters(status, priority, kind, unassessed))).one())

    @staticmethod
    def _filters(
        status: str | Sequence[str] | None, priority: str | None, kind: str | None, unassessed: bool
    ) -> list[Any]:
        where: list[Any] = []
        if isinstance(status, str):
            where.append(col(ReferralRecord.status) == status)
        elif status is not None:
            where.append(col(ReferralRecord.status).in_(list(status)))
        if priority is not None:
            where.append(col(ReferralRecord.priority) == priority)
        if kind is not None:
            where.append(col(ReferralRecord.kind) == kind)
        if unassessed:
            where.append(col(ReferralRecord.id).not_in(select(AssessmentRecord.referral_id)))
        return where

    def references(self) -> set[str]:
        """The reference of every queued submission."""
        return set(self.session.exec(select(ReferralRecord.reference)).all())

    def open_nhs_numbers(self) -> frozenset[str]:
        """NHS numbers of patients with a referral still open (new or under review)."""
        numbers = self.session.exec(
            select(ReferralRecord.nhs_number).where(
                ReferralRecord.kind == "referral",
                col(ReferralRecord.status).in_(("new", "review")),
                col(ReferralRecord.nhs_number).is_not(None),
            )
        ).all()
        return frozenset(n for n in numbers if n)
