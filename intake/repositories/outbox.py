"""The outbox: every email the service sends, stored once per key before it is sent, and the replies counted."""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from typing import Any

from sqlalchemy import and_, func, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from intake.store import OutboxRecord, metadata
from parsers.addresses import mailbox_key

REPLY_KINDS_PREFIX = "reply_"
"""Outbox rows whose ``kind`` starts with this are automatic replies: the only ones the reply limits count."""

RATE_WINDOW = dt.timedelta(hours=24)
"""The window of the per-sender reply limit."""


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

        Two instances putting the same key at once (the digest, a reminder) make one row: the insert does
        nothing on a conflict, rather than failing the second instance's whole transaction.

        ``recipient`` is who it is sent to (the envelope, never read again from the message's headers; default:
        its To, which the service wrote itself); ``message_id`` the ledger row it answers and ``submission_id``
        the submission (its first ledger id), for the reply limits and to match the referrer's answer to it.
        """
        if self.has(key):
            return False
        row = OutboxRecord(
            key=key,
            message_id=message_id,
            kind=kind,
            recipient=recipient if recipient is not None else str(message["To"]),
            raw=message.as_bytes(),
            created_at=now,
            submission_id=submission_id,
            header_message_id=str(message["Message-ID"]) if message["Message-ID"] else None,
        )
        self.session.flush()  # what this transaction added before goes first (the ledger row it answers)
        insert = postgresql.insert if self.session.get_bind().dialect.name == "postgresql" else sqlite.insert
        table = metadata.tables[OutboxRecord.__tablename__]
        statement = (
            insert(table)
            .values(**row.model_dump(exclude={"id"}))
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(table.c.id)  # a row back only when it was inserted (rowcount is not told with RETURNING)
        )
        return self.session.connection().execute(statement).first() is not None

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

    def claim_next_due(self, now: dt.datetime, *, after: int = 0) -> OutboxRecord | None:
        """The oldest pending email due by ``now`` with an id above ``after``, locked for this transaction.

        On PostgreSQL the row is locked ``FOR UPDATE SKIP LOCKED``: another instance sending at the same time
        skips it and takes the next, so two instances never send one row together. (SQLite has one writer at a
        time and no row locks; the clause is left out there.)
        """
        return self.session.exec(
            select(OutboxRecord)
            .where(
                OutboxRecord.state == "pending",
                col(OutboxRecord.id) > after,
                or_(col(OutboxRecord.next_attempt_at).is_(None), col(OutboxRecord.next_attempt_at) <= now),
            )
            .order_by(col(OutboxRecord.id))
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()

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

    def get(self, outbox_id: int) -> OutboxRecord | None:
        """Outbox row ``outbox_id``, or None."""
        return self.session.get(OutboxRecord, outbox_id)

    def failed(self) -> list[OutboxRecord]:
        """The emails the outbox gave up on, newest first."""
        return list(
            self.session.exec(
                select(OutboxRecord).where(OutboxRecord.state == "failed").order_by(col(OutboxRecord.id).desc())
            ).all()
        )

    def count_by_state(self) -> dict[str, int]:
        """How many emails are in each state: ``pending``, ``sent``, ``failed`` (given up on)."""
        rows = self.session.exec(select(OutboxRecord.state, func.count()).group_by(col(OutboxRecord.state)))
        return {state: int(count) for state, count in rows.all()}

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

    def reply_kinds_for_submission(self, submission_id: int) -> frozenset[str]:
        """The kinds (``incomplete``, ``unreadable``…) of the automatic replies written about submission
        ``submission_id``, counted as ``replies_for_submission`` counts them."""
        rows = self.session.exec(
            select(OutboxRecord.kind).where(
                col(OutboxRecord.kind).startswith(REPLY_KINDS_PREFIX),
                col(OutboxRecord.state) != "failed",
                or_(
                    col(OutboxRecord.submission_id) == submission_id,
                    and_(col(OutboxRecord.submission_id).is_(None), col(OutboxRecord.message_id) == submission_id),
                ),
            )
        ).all()
        return frozenset(kind.removeprefix(REPLY_KINDS_PREFIX) for kind in rows)

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
