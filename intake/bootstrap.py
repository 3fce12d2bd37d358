"""The composition root: reads settings and picks the adapters. Nothing else names a concrete class."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from config.forms import load_form_definitions
from config.settings import Settings
from intake.errors import AlreadyRunning
from intake.mailbox import Mailbox
from intake.mailboxes.maildir import MaildirMailbox
from intake.pipeline import Clock, Services
from intake.store import make_engine, utcnow
from notifier.sender import Sender
from notifier.senders.outbox import FileOutbox


@dataclass(frozen=True)
class App:
    """Everything a command needs, built once from the settings."""

    settings: Settings
    engine: Engine
    mailbox: Mailbox
    sender: Sender
    services: Services

    def reply_location(self, key: str) -> str:
        """Where the email with outbox ``key`` went, in words a person can follow."""
        if isinstance(self.sender, FileOutbox):
            return str(self.sender.path_for(key))
        return key


def bootstrap(settings: Settings, *, clock: Clock = utcnow) -> App:
    """Build the app from ``settings``. Connects to nothing yet: the engine opens on first use."""
    engine = make_engine(settings.database_url.get_secret_value())
    mailbox = MaildirMailbox(settings.mailbox.path, name=settings.mailbox.name)
    sender = FileOutbox(settings.outgoing.outbox_path)
    services = Services(
        engine=engine,
        sender=sender,
        definitions=load_form_definitions(settings.forms_dir),
        service=settings.service,
        limits=settings.limits,
        timezone=ZoneInfo(settings.service.timezone),
        clock=clock,
    )
    return App(settings=settings, engine=engine, mailbox=mailbox, sender=sender, services=services)


def today(app: App) -> dt.date:
    """Today's date where the team works."""
    return app.services.clock().astimezone(app.services.timezone).date()


@contextmanager
def poller_lock(app: App) -> Iterator[None]:
    """Hold the one lock that lets a single poller work on this mailbox; raise AlreadyRunning if it is taken."""
    directory: Path = app.settings.state_dir
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"poller-{app.mailbox.name}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise AlreadyRunning(f"another poller is working on mailbox {app.mailbox.name}") from exc
        yield
    finally:
        os.close(fd)
