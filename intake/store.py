"""The database: a ledger of messages, the forms read from each, the referral queue, the outbox and an audit trail.

Tables are sqlmodel classes; the rules never see them. SQLite runs in WAL mode so that the daemon and a
``referrals list`` in another terminal do not block each other. The schema is created and changed only by
Alembic migrations (``nmss-intake db upgrade``), never by ``create_all``.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Engine, LargeBinary, Text, UniqueConstraint, event
from sqlalchemy.engine import make_url
from sqlmodel import Field, SQLModel, create_engine

from notifier.private_files import private_file, private_folder, tighten

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
    # Decisions started: more than one while ``received`` means the message was in flight when the service died.
    attempts: int = 0
    outcome: str | None = None
    reference: str = Field(index=True)
    filed_in: str | None = None
    duplicate_of: int | None = Field(default=None, foreign_key="message.id")
    error: str | None = None
    # The ledger id of the original submission this message completes (a resubmission); migration 0004.
    submission_of: int | None = Field(default=None, index=True)
    # Migration 0006: who the message is whatever headers a redelivery added (``intake.assess.fingerprint``);
    # a second delivery of it is a duplicate. None on rows written before, which are matched by ``sha256``.
    fingerprint: str | None = Field(default=None, index=True)
    # Migration 0006: solo attempts (``intake.solo``) whose process died: crashes that were this message's own.
    solo_crashes: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


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
    # Migration 0008_form_file: how the fields were read (``acroform``, ``text``, ``docx``) and where each was
    # found: ``[{"key", "page", "label", "place": [left, top, right, bottom, page_width, page_height] | null}]``.
    source: str | None = None
    found_json: str = Field(default="[]", sa_column=Column(Text, nullable=False, server_default="[]"))
    # Migration 0010_form_confidence: for a form read by OCR, how surely each value was read (0 to 1), by key.
    confidence_json: str = Field(default="{}", sa_column=Column(Text, nullable=False, server_default="{}"))
    # Migration 0008_retention: when retention emptied ``fields_json`` (the patient's details in the form).
    purged_at: dt.datetime | None = None


class FormFile(SQLModel, table=True):
    """The original bytes of a document, kept so the team can download it and see its pages (migration
    0008_form_file). ``content`` is None once purged under the retention policy (``purged_at`` says when);
    ``size`` and ``sha256`` stay, so what was received can still be told."""

    __tablename__ = "form_file"

    form_id: int = Field(foreign_key="form.id", primary_key=True)
    content: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    size: int
    sha256: str
    purged_at: dt.datetime | None = None


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
    warnings_json: str = Field(default="[]", sa_column=Column(Text, nullable=False, server_default="[]"))
    nhs_number: str | None = Field(default=None, index=True)
    surname: str | None = None
    forenames: str | None = None
    date_of_birth: dt.date | None = None
    created_at: dt.datetime
    # Migration 0008_retention: when retention removed the patient's details (and its forms' values).
    purged_at: dt.datetime | None = None


class Practice(SQLModel, table=True):
    """A GP practice from NHS England's ODS ``epraccur`` file, for the commissioners the service covers.

    ``status`` is epraccur's status code: A active, C closed, D dormant, P proposed. Only active practices
    count as the service's own in eligibility. The team replaces the list with ``nmss-intake practices import``.
    """

    __tablename__ = "practice"

    code: str = Field(primary_key=True)
    name: str
    commissioner: str = Field(index=True)
    status: str
    imported_at: dt.datetime


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
    # Migration 0004: when the worker may try again; the submission (root ledger id) a reply answers,
    # for the per-submission limit; the email's own Message-ID, to match a referrer's reply to it.
    next_attempt_at: dt.datetime | None = Field(default=None, index=True)
    submission_id: int | None = Field(default=None, index=True)
    header_message_id: str | None = Field(default=None, index=True)
    # Migration 0008_retention: when retention emptied ``raw`` (the email was sent long enough ago).
    purged_at: dt.datetime | None = None


class AuditEvent(SQLModel, table=True):
    """Something that happened, for the team and for audit. ``detail`` carries codes and ids, never patient data."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime
    message_id: int | None = Field(default=None, foreign_key="message.id", index=True)
    event: str
    detail: str = Field(default="", sa_column=Column(Text, nullable=False))
    team_item: bool = False


# -- mailbox health and quarantine (migration 0003) ---------------------------------------------------------


class MailboxState(SQLModel, table=True):
    """What the service knows about one mailbox between polls: its Graph delta link and its health."""

    __tablename__ = "mailbox_state"

    name: str = Field(primary_key=True)
    delta_link: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    last_success_at: dt.datetime | None = None
    last_error: str | None = None  # an exception class name, never its text
    last_error_at: dt.datetime | None = None
    consecutive_failures: int = 0
    failing_since: dt.datetime | None = None  # first failure of the current outage: names the outage's alerts
    token_expires_at: dt.datetime | None = None
    alerted_at: dt.datetime | None = None  # the team was told of the current outage


class QuarantineRecord(SQLModel, table=True):
    """The raw bytes of a message the pipeline failed on, kept so ``nmss-intake replay`` can try it again."""

    __tablename__ = "quarantine"

    message_id: int = Field(foreign_key="message.id", primary_key=True)
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    error: str
    at: dt.datetime
    # Migration 0008_retention: when retention emptied ``raw``; ``replay`` then says the copy is gone.
    purged_at: dt.datetime | None = None


# -- home assessments and follow-up calls (migration 0005) --------------------------------------------------


class AssessmentRecord(SQLModel, table=True):
    """The home assessment of a referral: at most one per referral; it takes the referral off the digest's queue."""

    __tablename__ = "assessment"

    referral_id: int = Field(foreign_key="referral.id", primary_key=True)
    assessed_on: dt.date
    recorded_at: dt.datetime


class FollowUpRecord(SQLModel, table=True):
    """A follow-up call after a home assessment (``kind`` 6w, 6m or 12m), due on a working day.

    ``reminded_at`` is set when the reminder to the team is queued in the outbox, so it is queued once however
    often, or however late, the reminder job runs. ``outcome`` is the team's note, which may name the patient.
    """

    __tablename__ = "followup"
    __table_args__ = (UniqueConstraint("referral_id", "kind", name="uq_followup_referral_kind"),)

    id: int | None = Field(default=None, primary_key=True)
    referral_id: int = Field(foreign_key="referral.id", index=True)
    kind: str
    due: dt.date = Field(index=True)
    done_at: dt.datetime | None = None
    outcome: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    reminded_at: dt.datetime | None = None


# -- the workspace's people (migration 0007) ----------------------------------------------------------------


class UserAccount(SQLModel, table=True):
    """Someone who may sign in to the workspace: ``role`` is ``team`` or ``admin``.

    ``password_hash`` is an argon2 hash for a local account; an account without one signs in only through
    OpenID Connect (NHSmail), matched by its email address, lower-cased.
    """

    __tablename__ = "user_account"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True)
    role: str
    password_hash: str | None = None
    created_at: dt.datetime
    last_signed_in_at: dt.datetime | None = None
    # Migration 0008: an account an admin switched off (it keeps its history), and a password made for someone
    # by an admin, which works for one sign-in only: the person then chooses their own.
    disabled_at: dt.datetime | None = None
    password_must_change: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    # Migration 0011: a session keeps the number its account had when it signed in, and counts only while the
    # account still has it; every change of its password moves it on, which ends whoever is signed in as them.
    session_epoch: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


# -- team tasks (migration 0006_tasks) -------------------------------------------------------------------------


class TaskRecord(SQLModel, table=True):
    """Something the team must do by hand: a reply held back, a send that failed, a form nobody could read.

    ``key`` names the event that made it (``reply-held-12``, ``send-failed-40``), so one event makes one task
    however often it is processed. ``action`` is what to do, in words; ``reference`` the submission's reference
    where there is one. A task is open until someone resolves it with a note (which may name the patient).
    """

    __tablename__ = "task"
    __table_args__ = (UniqueConstraint("key", name="uq_task_key"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str
    kind: str
    reference: str | None = None
    action: str = Field(sa_column=Column(Text, nullable=False))
    message_id: int | None = Field(default=None, foreign_key="message.id")
    created_at: dt.datetime
    resolved_by: str | None = None
    resolved_at: dt.datetime | None = Field(default=None, index=True)
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


# -- what the team writes about a referral (migration 0008_referral_notes) -------------------------------------


class ReferralNote(SQLModel, table=True):
    """Words a person of the team wrote about a referral: a note, or why it was declined (``kind`` ``note`` or
    ``declined_reason``). Kept here, not in the audit trail, because a person's words may name the patient."""

    __tablename__ = "referral_note"

    id: int | None = Field(default=None, primary_key=True)
    referral_id: int = Field(foreign_key="referral.id", index=True)
    kind: str
    text: str = Field(sa_column=Column(Text, nullable=False))
    by: str
    at: dt.datetime


def make_engine(url: str) -> Engine:
    """An engine for ``url``; for SQLite its folder and file are made private on first use, with WAL, foreign keys
    and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    # Another program's lock on the file is waited for 30 s, unless the URL says ?timeout=SECONDS (which the
    # SQLite dialect reads itself).
    engine = create_engine(url, connect_args={} if "timeout" in parsed.query else {"timeout": 30})
    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database)

        # On first connection, not here, so commands that never touch the database leave no trace.
        @event.listens_for(engine, "do_connect")
        def _make_private(*_args: Any) -> None:
            make_private_database(path)

    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
"""The files SQLite keeps beside a database: they hold the same rows as the database itself."""


def make_private_database(path: Path) -> None:
    """Create the SQLite file ``path`` (and its folder, when missing) readable by this user only, before SQLite
    opens it.

    SQLite creates ``-wal`` and ``-shm`` with the database file's own mode, so a 0600 database gives 0600
    companions whatever the umask. Files left too open by an older version are tightened, with a warning.
    """
    try:
        private_folder(path.parent, kind="database", shared=True)
        private_file(path, kind="database")
    except OSError:
        return  # SQLite then fails to open it too, and says why in words the command line turns into one line
    for suffix in SQLITE_COMPANIONS:
        tighten(path.with_name(path.name + suffix), kind="database")


WAL_SWITCH_SECONDS = 30.0
"""How long a connection keeps trying to switch a new database file to WAL while another holds its lock."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    _use_wal(cursor)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _use_wal(cursor: Any) -> None:
    """Switch the file to WAL, once. Changing the journal mode answers "database is locked" at once, without
    SQLite's busy wait, when another connection holds the file: two instances opening a new database together
    (one already migrating inside its transaction) would otherwise fail. The mode is kept in the file, so a
    connection that finds it set does nothing; one that cannot switch yet tries again until the lock is gone."""
    deadline = time.monotonic() + WAL_SWITCH_SECONDS
    pause = 0.01
    while True:
        if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
            return
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(pause)  # waiting for another connection's lock to go, not for a fixed time
        pause = min(pause * 2, 0.25)


metadata = SQLModel.metadata
