"""The database: a ledger of messages, the forms read from each, the referral queue, the outbox and an audit trail.

Tables are sqlmodel classes; the rules never see them. SQLite runs in WAL mode so that the daemon and a
``referrals list`` in another terminal do not block each other. The schema is created and changed only by
Alembic migrations (``nmss-intake db upgrade``), never by ``create_all``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Engine, LargeBinary, Text, UniqueConstraint, event
from sqlalchemy.engine import make_url
from sqlmodel import Field, SQLModel, create_engine

LEDGER_STATES = ("received", "decided", "filed", "quarantined")
"""A ledger row is ``received`` before anything else happens, ``decided`` once its outcome, queue rows and
outgoing mail are committed, ``filed`` once the message has been moved in the mailbox, and ``quarantined``
when the pipeline failed on it."""


def utcnow() -> dt.datetime:
    """Now, aware, in UTC: sqlmodel's datetime columns refuse naive values and return UTC."""
    return dt.datetime.now(dt.UTC)


class MessageRecord(SQLModel, table=True):
    """One message taken from a mailbox: the ledger that makes "exactly once" true."""

    __tablename__ = "message"
    __table_args__ = (UniqueConstraint("source", "folder", "uidvalidity", "uid", name="uq_message_mailbox_key"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str
    folder: str
    uidvalidity: int = 0
    uid: str
    message_id: str | None = Field(default=None, index=True)
    sha256: str = Field(index=True)
    size: int
    received_at: dt.datetime
    taken_at: dt.datetime
    state: str = "received"
    attempts: int = 0
    outcome: str | None = None
    reference: str = Field(index=True)
    filed_in: str | None = None
    duplicate_of: int | None = Field(default=None, foreign_key="message.id")
    error: str | None = None


class FormRecord(SQLModel, table=True):
    """A document found in a message and what was read from it (field values are JSON)."""

    __tablename__ = "form"

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="message.id", index=True)
    position: int
    filename: str
    kind: str | None = None
    readable: bool
    problem: str | None = None
    fields_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    invalid_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))


class ReferralRecord(SQLModel, table=True):
    """The queue: an accepted referral, one for the team to review, or a MAR chart registration."""

    __tablename__ = "referral"

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(unique=True)
    message_id: int = Field(foreign_key="message.id", index=True)
    kind: str
    status: str
    outcome: str
    priority: str | None = None
    flags_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    reasons_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    nhs_number: str | None = Field(default=None, index=True)
    surname: str | None = None
    forenames: str | None = None
    date_of_birth: dt.date | None = None
    created_at: dt.datetime


class OutboxRecord(SQLModel, table=True):
    """An email the service will send, stored before it is sent; ``key`` makes a resend a no-op."""

    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    message_id: int | None = Field(default=None, foreign_key="message.id", index=True)
    kind: str
    recipient: str
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    state: str = "pending"
    attempts: int = 0
    last_error: str | None = None
    created_at: dt.datetime
    sent_at: dt.datetime | None = None
    delivered_to: str | None = None


class AuditEvent(SQLModel, table=True):
    """Something that happened, for the team and for audit. ``detail`` carries codes and ids, never patient data."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime
    message_id: int | None = Field(default=None, foreign_key="message.id", index=True)
    event: str
    detail: str = Field(default="", sa_column=Column(Text, nullable=False))
    team_item: bool = False


def make_engine(url: str) -> Engine:
    """An engine for ``url``; for SQLite its folder is made on first use, with WAL, foreign keys and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 30})
    database = parsed.database
    if database and database != ":memory:":
        folder = Path(database).parent

        # Created on first connection, not here, so commands that never touch the database leave no trace.
        @event.listens_for(engine, "do_connect")
        def _make_folder(*_args: Any) -> None:
            folder.mkdir(parents=True, exist_ok=True)

    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


metadata = SQLModel.metadata
