"""Mailbox health: the last good poll, the last error, the backlog and the token's expiry, per mailbox.

Each poll records its result in the ``mailbox_state`` row of its mailbox. After ``alert_after`` failures in a
row the team is emailed once for that outage; when a poll succeeds again they get one "recovered" email.
Both go through the outbox table under a key naming the mailbox and the outage's first failure, so a crash or
a second poller never sends either twice. Errors are kept as class names only: exception text can echo a
server's reply, and that can carry message content.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from typing import Any

import structlog
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from config.settings import ServiceSettings, Settings
from intake.errors import MailboxUnavailable
from intake.mailbox import Mailbox
from intake.pipeline import Services, Taken, take_new_mail
from intake.store import AuditEvent, MailboxState, MessageRecord, OutboxRecord, QuarantineRecord
from notifier.replies import LOOP_HEADER

log = structlog.get_logger("intake.health")


@dataclass(frozen=True)
class MailboxHealth:
    """One mailbox's health as ``nmss-intake status`` shows it.

    ``backlog`` counts messages taken from this mailbox but not yet filed (a decision or a move still to
    come); ``quarantined`` counts messages waiting for ``nmss-intake replay``.
    """

    name: str
    last_success_at: dt.datetime | None
    last_error: str | None
    last_error_at: dt.datetime | None
    consecutive_failures: int
    backlog: int
    quarantined: int
    token_expires_at: dt.datetime | None
    alerted: bool

    def as_json(self) -> dict[str, Any]:
        """The fields as JSON values, times in ISO 8601."""

        def iso(value: dt.datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "mailbox": self.name,
            "last_success_at": iso(self.last_success_at),
            "last_error": self.last_error,
            "last_error_at": iso(self.last_error_at),
            "consecutive_failures": self.consecutive_failures,
            "backlog": self.backlog,
            "quarantined": self.quarantined,
            "token_expires_at": iso(self.token_expires_at),
            "alerted": self.alerted,
        }


def take_and_record(
    mailbox: Mailbox, services: Services, settings: Settings, *, stopping: threading.Event | None = None
) -> list[Taken]:
    """``take_new_mail`` (which stops taking messages once ``stopping`` is set), with the poll's success or
    failure recorded in the mailbox's health.

    Raises:
        MailboxUnavailable, OSError: the mailbox could not be read (recorded first, then raised again).
    """
    try:
        taken = take_new_mail(mailbox, services, stopping=stopping)
    except (MailboxUnavailable, OSError) as exc:
        record_failure(
            services.engine,
            mailbox.name,
            exc,
            now=services.clock(),
            service=settings.service,
            alert_after=settings.health.alert_after_failures,
        )
        raise
    expires = getattr(mailbox, "token_expires_at", None)
    record_success(
        services.engine,
        mailbox.name,
        now=services.clock(),
        service=settings.service,
        token_expires_at=expires if isinstance(expires, dt.datetime) else None,
    )
    return taken


def record_success(
    engine: Engine,
    mailbox: str,
    *,
    now: dt.datetime,
    service: ServiceSettings,
    token_expires_at: dt.datetime | None = None,
) -> None:
    """Note a good poll of ``mailbox``; if the team was told it was down, queue one "recovered" email."""
    with Session(engine) as session:
        state = _state(session, mailbox)
        if state.alerted_at is not None and state.failing_since is not None:
            _queue_alert(session, service, mailbox, state, now, recovered=True)
            log.info("mailbox_recovered", mailbox=mailbox)
        state.last_success_at = now
        state.consecutive_failures = 0
        state.failing_since = None
        state.alerted_at = None
        if token_expires_at is not None:
            state.token_expires_at = token_expires_at
        session.add(state)
        session.commit()


def record_failure(
    engine: Engine,
    mailbox: str,
    error: BaseException,
    *,
    now: dt.datetime,
    service: ServiceSettings,
    alert_after: int,
) -> None:
    """Note a failed poll of ``mailbox``; at the ``alert_after``-th failure in a row, queue one alert email."""
    with Session(engine) as session:
        state = _state(session, mailbox)
        state.last_error = type(error).__name__
        state.last_error_at = now
        state.consecutive_failures += 1
        if state.failing_since is None:
            state.failing_since = now
        if state.consecutive_failures >= alert_after and state.alerted_at is None:
            _queue_alert(session, service, mailbox, state, now, recovered=False)
            state.alerted_at = now
            log.warning("mailbox_down_alert", mailbox=mailbox, count=state.consecutive_failures)
        session.add(state)
        session.commit()


def health_report(engine: Engine, mailboxes: list[str]) -> list[MailboxHealth]:
    """The health of each of ``mailboxes`` (configured ones first), then of any other mailbox with a record."""
    with Session(engine) as session:
        states = {state.name: state for state in session.exec(select(MailboxState)).all()}
        backlog = dict(
            session.exec(
                select(MessageRecord.source, func.count())
                .where(col(MessageRecord.state).in_(("received", "decided")))
                .group_by(MessageRecord.source)
            ).all()
        )
        quarantined = dict(
            session.exec(
                select(MessageRecord.source, func.count())
                .join(QuarantineRecord, col(QuarantineRecord.message_id) == col(MessageRecord.id))
                .group_by(MessageRecord.source)
            ).all()
        )
    names = list(dict.fromkeys([*mailboxes, *sorted(states)]))
    report = []
    for name in names:
        state = states.get(name) or MailboxState(name=name)
        report.append(
            MailboxHealth(
                name=name,
                last_success_at=state.last_success_at,
                last_error=state.last_error,
                last_error_at=state.last_error_at,
                consecutive_failures=state.consecutive_failures,
                backlog=int(backlog.get(name, 0)),
                quarantined=int(quarantined.get(name, 0)),
                token_expires_at=state.token_expires_at,
                alerted=state.alerted_at is not None,
            )
        )
    return report


class MailboxStateStore:
    """Keeps a mailbox adapter's cursor (the Graph delta link) in the database, beside the mailbox's health."""

    def __init__(self, engine: Engine, mailbox: str) -> None:
        self.engine = engine
        self.mailbox = mailbox

    def delta_link(self) -> str | None:
        """The link that asks for changes since the last complete round, or None before the first."""
        with Session(self.engine) as session:
            state = session.get(MailboxState, self.mailbox)
            return state.delta_link if state else None

    def save_delta_link(self, link: str | None) -> None:
        """Remember ``link`` for the next round (None starts again with every message in the folder)."""
        with Session(self.engine) as session:
            state = _state(session, self.mailbox)
            state.delta_link = link
            session.add(state)
            session.commit()


def _state(session: Session, mailbox: str) -> MailboxState:
    return session.get(MailboxState, mailbox) or MailboxState(name=mailbox)


def _queue_alert(
    session: Session, service: ServiceSettings, mailbox: str, state: MailboxState, now: dt.datetime, *, recovered: bool
) -> None:
    assert state.failing_since is not None
    outage = state.failing_since.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    kind = "mailbox_recovered" if recovered else "mailbox_down"
    key = f"{kind}-{mailbox}-{outage}"
    session.add(
        AuditEvent(
            at=now,
            event=kind,
            detail=json.dumps({"mailbox": mailbox, "failures": state.consecutive_failures, "error": state.last_error}),
            team_item=not recovered,
        )
    )
    if not service.team_addresses:
        log.warning("no_team_address", mailbox=mailbox, kind=kind)
        return
    if session.exec(select(OutboxRecord).where(OutboxRecord.key == key)).first() is not None:
        return
    message = _alert_message(service, mailbox, state, now, recovered=recovered)
    session.add(OutboxRecord(key=key, kind=kind, recipient=str(message["To"]), raw=message.as_bytes(), created_at=now))


def _alert_message(
    service: ServiceSettings, mailbox: str, state: MailboxState, now: dt.datetime, *, recovered: bool
) -> EmailMessage:
    assert state.failing_since is not None
    since = state.failing_since.astimezone(dt.UTC).strftime("%d %B %Y %H:%M UTC")
    message = EmailMessage()
    message["From"] = formataddr((service.name, service.address))
    message["To"] = ", ".join(service.team_addresses)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=service.domain)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message[LOOP_HEADER] = service.address
    if recovered:
        message["Subject"] = f"NMSS Intake is reading mailbox {mailbox} again"
        message.set_content(
            f"NMSS Intake read mailbox {mailbox} successfully again at {now.astimezone(dt.UTC):%H:%M UTC}.\n"
            f"It could not be read from {since}. Referrals that arrived meanwhile are being processed now.\n"
        )
    else:
        message["Subject"] = f"NMSS Intake cannot read mailbox {mailbox}"
        message.set_content(
            f"NMSS Intake has failed to read mailbox {mailbox} {state.consecutive_failures} times in a row, "
            f"since {since}.\n"
            f"The last error was {state.last_error}.\n\n"
            "New referrals are not being checked or answered until this is fixed. Run `nmss-intake status` on "
            "the server for details. You will get one more email when the mailbox can be read again.\n"
        )
    return message
