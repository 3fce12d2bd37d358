"""The unit of work: one database transaction and the repositories that share it, rolled back unless committed.

Every write path goes through one (cosmicpython's ``AbstractUnitOfWork``): open it with ``with``, change what
the command changes through its repositories, and call ``commit()`` once at the end. Leaving the block
without a commit, by an exception or by forgetting, rolls everything back, so a command either happened
whole or not at all. Rows read through a unit of work stay readable after the commit (no expiry), so a
command can report what it did.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy import Engine
from sqlmodel import Session

from intake.repositories import (
    Audit,
    Documents,
    FollowUps,
    Ledger,
    Mailboxes,
    Notes,
    Outbox,
    Practices,
    Queue,
    Retention,
    TeamTasks,
    Users,
)


class UnitOfWork:
    """A transaction on ``engine`` with the ledger, queue, outbox, team tasks, audit trail, practices,
    follow-up calls, mailbox states, notes, accounts, the documents' originals and retention as repositories.

    Use once per command: ``with UnitOfWork(engine) as uow``."""

    ledger: Ledger
    queue: Queue
    outbox: Outbox
    tasks: TeamTasks
    audit: Audit
    practices: Practices
    followups: FollowUps
    mailboxes: Mailboxes
    users: Users
    notes: Notes
    documents: Documents
    retention: Retention

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._session: Session | None = None

    def __enter__(self) -> Self:
        session = Session(self.engine, expire_on_commit=False)
        self._session = session
        self.ledger = Ledger(session)
        self.queue = Queue(session)
        self.outbox = Outbox(session)
        self.tasks = TeamTasks(session)
        self.audit = Audit(session)
        self.practices = Practices(session)
        self.followups = FollowUps(session)
        self.mailboxes = Mailboxes(session)
        self.users = Users(session)
        self.notes = Notes(session)
        self.documents = Documents(session)
        self.retention = Retention(session)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        # Always roll back: after a commit there is nothing left to undo, and without one nothing may stay.
        self.rollback()
        self.session.close()
        self._session = None

    @property
    def session(self) -> Session:
        """The transaction's session, for the repositories (commands use the repositories, not this)."""
        if self._session is None:
            raise RuntimeError("the unit of work is used outside its `with` block")
        return self._session

    def commit(self) -> None:
        """Make everything done so far in this unit of work permanent, at once."""
        self.session.commit()

    def rollback(self) -> None:
        """Undo everything done since the last commit."""
        self.session.rollback()
