"""The repositories a unit of work hands out: the ledger, the queue, the outbox, team tasks and the audit trail.

Each wraps the unit of work's one session and speaks in the store's rows; none commits (the unit of work
does, once, for everything a command changed). Writes that must happen once per event take a key and say
whether they wrote: ``Outbox.enqueue`` and ``TeamTasks.open`` return False when a row with that key exists,
so processing the same event again after a crash is harmless.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from email.message import EmailMessage
from typing import Any

from sqlalchemy import and_, delete, func, or_, update
from sqlmodel import Session, col, select

from intake.mailbox import MailRef
from intake.store import (
    AssessmentRecord,
    AuditEvent,
    FollowUpRecord,
    FormRecord,
    MailboxState,
    MessageRecord,
    OutboxRecord,
    Practice,
    QuarantineRecord,
    ReferralRecord,
    TaskRecord,
)
from parsers.addresses import mailbox_key

REPLY_KINDS_PREFIX = "reply_"
"""Outbox rows whose ``kind`` starts with this are automatic replies: the only ones the reply limits count."""

RATE_WINDOW = dt.timedelta(hours=24)
"""The window of the per-sender reply limit."""


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

    def original_of(self, sha256: str) -> MessageRecord | None:
        """The first message taken with these bytes (not itself a duplicate), or None."""
        return self.session.exec(
            select(MessageRecord)
            .where(MessageRecord.sha256 == sha256, col(MessageRecord.duplicate_of).is_(None))
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
            .values(state="received", attempts=0, outcome=None, error=None, filed_in=None)
        )
        return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]

    def drop_quarantined_copy(self, ledger_id: int) -> None:
        """Delete the stored bytes of a message that has now been decided: its copy of patient data goes."""
        self.session.exec(delete(QuarantineRecord).where(col(QuarantineRecord.message_id) == ledger_id))

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


class Outbox:
    """Every email the service sends, stored before it is sent, once per key."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def enqueue(
        self,
        key: str,
        kind: str,
        message: EmailMessage,
        *,
        now: dt.datetime,
        message_id: int | None = None,
        submission_id: int | None = None,
        recipient: str | None = None,
    ) -> bool:
        """Put ``message`` in the outbox under ``key`` unless a row with that key is there; True if it was put.

        ``recipient`` is who it is sent to (the envelope, never read again from the message's headers; default:
        its To, which the service wrote itself); ``message_id`` the ledger row it answers and ``submission_id``
        the submission (its first ledger id), for the reply limits and to match the referrer's answer to it.
        """
        if self.has(key):
            return False
        self.session.add(
            OutboxRecord(
                key=key,
                message_id=message_id,
                kind=kind,
                recipient=recipient if recipient is not None else str(message["To"]),
                raw=message.as_bytes(),
                created_at=now,
                submission_id=submission_id,
                header_message_id=str(message["Message-ID"]) if message["Message-ID"] else None,
            )
        )
        self.session.flush()
        return True

    def has(self, key: str) -> bool:
        """Whether an email with ``key`` was ever put in the outbox."""
        return self.session.exec(select(OutboxRecord.id).where(OutboxRecord.key == key)).first() is not None

    def due(self, now: dt.datetime) -> list[OutboxRecord]:
        """Pending emails whose next try has come (or was never set), oldest first."""
        return list(
            self.session.exec(
                select(OutboxRecord)
                .where(
                    OutboxRecord.state == "pending",
                    or_(col(OutboxRecord.next_attempt_at).is_(None), col(OutboxRecord.next_attempt_at) <= now),
                )
                .order_by(col(OutboxRecord.id))
            ).all()
        )

    def save(self, item: OutboxRecord) -> None:
        """Keep the changes made to ``item`` (a try, its result)."""
        self.session.add(item)

    def pending(self) -> int:
        """How many emails wait to be sent."""
        return int(
            self.session.exec(
                select(func.count()).select_from(OutboxRecord).where(OutboxRecord.state == "pending")
            ).one()
        )

    def by_header_message_id(self, header_message_id: str) -> OutboxRecord | None:
        """The email we wrote with this ``Message-ID`` header (angle brackets included), or None."""
        return self.session.exec(
            select(OutboxRecord).where(OutboxRecord.header_message_id == header_message_id)
        ).first()

    def replies_to(self, recipient: str, *, since: dt.datetime) -> int:
        """Automatic replies written to ``recipient``'s mailbox since ``since``, however its address was spelt
        (``X+a@NHS.NET`` is ``x@nhs.net``: ``parsers.addresses.mailbox_key``); failed sends do not count."""
        # Compared here rather than in SQL: the day's replies are few, and the mailbox rule stays in one function.
        recent = self.session.exec(
            select(OutboxRecord.recipient).where(
                col(OutboxRecord.kind).startswith(REPLY_KINDS_PREFIX),
                col(OutboxRecord.state) != "failed",
                col(OutboxRecord.created_at) >= since,
            )
        ).all()
        mailbox = mailbox_key(recipient)
        return sum(1 for address in recent if mailbox_key(address) == mailbox)

    def replies_for_submission(self, submission_id: int) -> int:
        """Automatic replies written about submission ``submission_id`` (its first ledger id), ever."""
        # Rows written before submissions were recorded count by the message they answered.
        return int(
            self.session.exec(
                self._replies().where(
                    or_(
                        col(OutboxRecord.submission_id) == submission_id,
                        and_(col(OutboxRecord.submission_id).is_(None), col(OutboxRecord.message_id) == submission_id),
                    )
                )
            ).one()
        )

    def recipients_for_submission(self, submission_id: int) -> frozenset[str]:
        """Every address (lower-cased) we wrote to about submission ``submission_id``."""
        rows = self.session.exec(
            select(OutboxRecord.recipient).where(
                (col(OutboxRecord.submission_id) == submission_id) | (col(OutboxRecord.message_id) == submission_id)
            )
        ).all()
        return frozenset(r.lower() for r in rows)

    @staticmethod
    def _replies() -> Any:
        return (
            select(func.count())
            .select_from(OutboxRecord)
            .where(col(OutboxRecord.kind).startswith(REPLY_KINDS_PREFIX), col(OutboxRecord.state) != "failed")
        )


class TeamTasks:
    """What the team must do by hand, one task per event."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def open(
        self,
        key: str,
        kind: str,
        action: str,
        *,
        now: dt.datetime,
        reference: str | None = None,
        message_id: int | None = None,
    ) -> bool:
        """Give the team a task for the event ``key`` names, unless it has one; True if this call made it."""
        if self.session.exec(select(TaskRecord.id).where(TaskRecord.key == key)).first() is not None:
            return False
        self.session.add(
            TaskRecord(key=key, kind=kind, action=action, reference=reference, message_id=message_id, created_at=now)
        )
        self.session.flush()
        return True

    def get(self, task_id: int) -> TaskRecord | None:
        """Task ``task_id``, or None."""
        return self.session.get(TaskRecord, task_id)

    def by_key(self, key: str) -> TaskRecord | None:
        """The task the event ``key`` made, or None."""
        return self.session.exec(select(TaskRecord).where(TaskRecord.key == key)).first()

    def list(self, *, include_resolved: bool = False) -> Sequence[TaskRecord]:
        """The open tasks (or every task), oldest first."""
        query = select(TaskRecord).order_by(col(TaskRecord.id))
        if not include_resolved:
            query = query.where(col(TaskRecord.resolved_at).is_(None))
        return self.session.exec(query).all()

    def resolve(self, task: TaskRecord, *, by: str, note: str, at: dt.datetime) -> None:
        """Mark ``task`` done by ``by`` at ``at``, with the team's ``note``."""
        task.resolved_by = by
        task.resolved_at = at
        task.note = note
        self.session.add(task)


class Audit:
    """What happened, for audit: codes and ids only, never patient data."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def record(self, event: str, *, at: dt.datetime, message_id: int | None = None, **detail: Any) -> None:
        """Note ``event`` about ledger row ``message_id`` with ``detail`` (JSON values: codes and ids)."""
        self.session.add(AuditEvent(at=at, message_id=message_id, event=event, detail=json.dumps(detail)))

    def of_messages(self, message_ids: Sequence[int]) -> list[AuditEvent]:
        """Every event about these ledger rows, oldest first."""
        if not message_ids:
            return []
        return list(
            self.session.exec(
                select(AuditEvent)
                .where(col(AuditEvent.message_id).in_(list(message_ids)))
                .order_by(col(AuditEvent.at), col(AuditEvent.id))
            ).all()
        )


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
