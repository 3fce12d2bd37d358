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
    mailbox: Mailbox = MaildirMailbox(
        settings.mailbox.path, name=settings.mailbox.name, max_message_bytes=settings.limits.max_message_bytes
    )
    if settings.mailbox.kind == "imap":
        mailbox = _imap_mailbox(settings)
    elif settings.mailbox.kind in ("graph", "ews"):
        mailbox = _exchange_mailbox(settings, engine, clock)
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


def _imap_mailbox(settings: Settings) -> Mailbox:
    from intake.mailboxes.imap import ImapMailbox
    from intake.oauth import TokenProvider

    imap = settings.mailbox.imap
    token = TokenProvider(imap.oauth).token if imap.auth == "xoauth2" else None
    return ImapMailbox(
        imap, name=settings.mailbox.name, max_message_bytes=settings.limits.max_message_bytes, token=token
    )


def _exchange_mailbox(settings: Settings, engine: Engine, clock: Clock) -> Mailbox:
    # Imported here: msal and exchangelib are slow to import and most commands never need them.
    if settings.mailbox.kind == "graph":
        from intake.health import MailboxStateStore
        from intake.mailboxes.graph import GraphMailbox

        state = MailboxStateStore(engine, settings.mailbox.name)
        return GraphMailbox(
            settings.mailbox.graph,
            name=settings.mailbox.name,
            state=state,
            clock=clock,
            max_message_bytes=settings.limits.max_message_bytes,
        )
    from intake.mailboxes.ews import EwsMailbox

    return EwsMailbox(
        settings.mailbox.ews, name=settings.mailbox.name, max_message_bytes=settings.limits.max_message_bytes
    )


# -- issue 6: outgoing mail ---------------------------------------------------------------------------------


def make_sender(settings: Settings) -> Sender:
    """The sender ``outgoing.kind`` names: the file outbox, SMTP, Microsoft Graph or EWS. Connects to nothing."""
    outgoing = settings.outgoing
    if outgoing.kind == "smtp":
        return _smtp_sender(settings)
    if outgoing.kind == "graph":
        from notifier.senders.graph import GraphSender, msal_token_provider

        graph = outgoing.graph
        token = msal_token_provider(
            graph.tenant_id,
            graph.client_id,
            graph.client_secret.get_secret_value(),
            authority_host=graph.authority_host,
        )
        return GraphSender(
            graph.user or settings.service.address, token, base_url=graph.graph_url, timeout=graph.timeout_seconds
        )
    if outgoing.kind == "ews":
        from intake.mailboxes.ews import account_for
        from notifier.senders.ews import EwsSender

        ews = outgoing.ews
        return EwsSender(lambda: account_for(ews))
    return FileOutbox(outgoing.outbox_path)


def _smtp_sender(settings: Settings) -> Sender:
    import ssl

    from notifier.senders.smtp import SmtpSender

    smtp = settings.outgoing.smtp
    token = None
    if smtp.auth == "xoauth2":
        from notifier.senders.graph import msal_token_provider

        token = msal_token_provider(
            smtp.oauth.tenant_id, smtp.oauth.client_id, smtp.oauth.client_secret.get_secret_value(), smtp.oauth.scope
        )
    context = ssl.create_default_context(cafile=str(smtp.ca_file) if smtp.ca_file else None)
    return SmtpSender(
        smtp.host,
        smtp.port,
        security=smtp.security,
        auth=smtp.auth,
        username=smtp.username or settings.service.address,
        password=smtp.password.get_secret_value() if smtp.auth == "password" else None,
        token_provider=token,
        timeout=smtp.timeout_seconds,
        ssl_context=context,
    )
