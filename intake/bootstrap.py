"""The composition root: reads settings and picks the adapters. Nothing else names a concrete class.

Each adapter builds itself from the settings (``from_settings``); here are only the two tables that say which
class serves each ``mailbox.kind`` and ``outgoing.kind``.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from config.forms import load_form_definitions
from config.settings import Settings
from intake.health import MailboxStateStore
from intake.isolation import ParsePool
from intake.lease import HeldLease, Lease, make_lease
from intake.mailbox import DeltaStore, Mailbox
from intake.pipeline import Clock, Services
from intake.store import make_engine, utcnow
from notifier.sender import Sender
from notifier.senders.outbox import FileOutbox
from rules.retention import RetentionPeriods

MAILBOXES: Mapping[str, str] = {
    "maildir": "intake.mailboxes.maildir:MaildirMailbox",
    "imap": "intake.mailboxes.imap:ImapMailbox",
    "graph": "intake.mailboxes.graph:GraphMailbox",
    "ews": "intake.mailboxes.ews:EwsMailbox",
}
"""The class that reads each ``mailbox.kind``, imported only when chosen: msal and exchangelib are slow to
import, and most commands never need them."""

SENDERS: Mapping[str, str] = {
    "outbox": "notifier.senders.outbox:FileOutbox",
    "smtp": "notifier.senders.smtp:SmtpSender",
    "graph": "notifier.senders.graph:GraphSender",
    "ews": "notifier.senders.ews:EwsSender",
}
"""The class that sends for each ``outgoing.kind``, imported only when chosen."""


class MailboxAdapter(Protocol):
    """**Protocol:** a mailbox class, which builds a mailbox from the settings (``MaildirMailbox`` is one)."""

    def from_settings(self, settings: Settings, *, state: DeltaStore, clock: Clock) -> Mailbox: ...


class SenderAdapter(Protocol):
    """**Protocol:** a sender class, which builds a sender from the settings (``FileOutbox`` is one)."""

    def from_settings(self, settings: Settings) -> Sender: ...


if TYPE_CHECKING:  # the tables name their classes as text; mypy still checks that each builds itself alike
    from intake.mailboxes.ews import EwsMailbox
    from intake.mailboxes.graph import GraphMailbox
    from intake.mailboxes.imap import ImapMailbox
    from intake.mailboxes.maildir import MaildirMailbox
    from notifier.senders.ews import EwsSender
    from notifier.senders.graph import GraphSender
    from notifier.senders.smtp import SmtpSender

    _MAILBOX_CLASSES: tuple[MailboxAdapter, ...] = (MaildirMailbox, ImapMailbox, GraphMailbox, EwsMailbox)
    _SENDER_CLASSES: tuple[SenderAdapter, ...] = (FileOutbox, SmtpSender, GraphSender, EwsSender)


@dataclass(frozen=True)
class Poller:
    """One mailbox the service polls, and the lease that lets one poller at a time take its mail."""

    mailbox: Mailbox
    lease: Lease


@dataclass(frozen=True)
class App:
    """Everything a command needs, built once from the settings.

    ``mailbox`` and ``lease`` are the first (or only) mailbox's; ``more`` the others of ``[[mailboxes]]``.
    """

    settings: Settings
    engine: Engine
    mailbox: Mailbox
    sender: Sender
    services: Services
    lease: Lease
    """The right to poll ``mailbox`` (``intake.lease``): a file lock on SQLite, an advisory lock on PostgreSQL."""
    more: tuple[Poller, ...] = ()

    @property
    def pollers(self) -> tuple[Poller, ...]:
        """Every mailbox the service polls, each with its lease, in the order the settings list them."""
        return (Poller(self.mailbox, self.lease), *self.more)

    def poller(self, name: str) -> Poller | None:
        """The mailbox called ``name`` (the ledger's ``source``), or None when no setting names it now."""
        return next((p for p in self.pollers if p.mailbox.name == name), None)

    def mailbox_of(self, name: str) -> Mailbox:
        """The mailbox called ``name`` (the ledger's ``source``), where a message it held is filed; the first
        mailbox when no setting names that one now."""
        poller = self.poller(name)
        return poller.mailbox if poller is not None else self.mailbox

    def reply_location(self, key: str) -> str:
        """Where the email with outbox ``key`` went, in words a person can follow."""
        if isinstance(self.sender, FileOutbox):
            return str(self.sender.path_for(key))
        return key


def bootstrap(settings: Settings, *, clock: Clock = utcnow, pool: ParsePool | None = None) -> App:
    """Build the app from ``settings``. Connects to nothing yet: the engine opens on first use.

    ``clock`` and ``pool`` (the worker pool documents are parsed in; default: the process-wide one) can be
    handed in, so a test injects its faults through the services rather than by patching.
    """
    engine = make_engine(settings.database_url.get_secret_value())
    first, *more = (
        Poller(
            make_mailbox(settings.for_mailbox(mailbox), engine, clock),
            make_lease(
                settings.database_url.get_secret_value(),
                settings.state_dir,
                mailbox.name,
                takeover_seconds=settings.lease.takeover_seconds,
            ),
        )
        for mailbox in settings.polled_mailboxes
    )
    sender = make_sender(settings)
    services = Services(
        engine=engine,
        sender=sender,
        definitions=load_form_definitions(settings.forms_dir),
        service=settings.service,
        limits=settings.limits,
        timezone=ZoneInfo(settings.service.timezone),
        clock=clock,
        outgoing=settings.outgoing,
        pool=pool,
    )
    return App(
        settings=settings,
        engine=engine,
        mailbox=first.mailbox,
        sender=sender,
        services=services,
        lease=first.lease,
        more=tuple(more),
    )


def retention_periods(settings: Settings) -> RetentionPeriods:
    """The retention settings as the rules take them."""
    return RetentionPeriods(copies_days=settings.retention.copies_days, patient_days=settings.retention.patient_days)


def today(app: App) -> dt.date:
    """Today's date where the team works."""
    return app.services.clock().astimezone(app.services.timezone).date()


def poller_lock(app: App) -> HeldLease:
    """``with poller_lock(app):`` holds the mailbox's lease for the block; raises AlreadyRunning if another
    poller has it (``intake.lease``)."""
    return HeldLease(app.lease)


def make_mailbox(settings: Settings, engine: Engine, clock: Clock = utcnow) -> Mailbox:
    """The mailbox ``mailbox.kind`` names, built from the settings. Connects to nothing."""
    adapter = cast(MailboxAdapter, _adapter(MAILBOXES[settings.mailbox.kind]))
    return adapter.from_settings(settings, state=MailboxStateStore(engine, settings.mailbox.name), clock=clock)


def make_sender(settings: Settings) -> Sender:
    """The sender ``outgoing.kind`` names: the file outbox, SMTP, Microsoft Graph or EWS. Connects to nothing."""
    adapter = cast(SenderAdapter, _adapter(SENDERS[settings.outgoing.kind]))
    return adapter.from_settings(settings)


def _adapter(path: str) -> object:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)
