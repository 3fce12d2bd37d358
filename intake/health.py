"""Mailbox health: the last good poll, the last error, the backlog and the token's expiry, per mailbox.

Each poll records its result in the ``mailbox_state`` row of its mailbox. After ``alert_after`` failures in a
row the team gets one task and is emailed once for that outage; when a poll succeeds again they get one
"recovered" email. Each is keyed by the mailbox and the outage's first failure, so a crash or a second poller
never makes either twice. What ``status`` shows is ``intake.views.status``. Errors are kept as class names
only: exception text can echo a server's reply, and that can carry message content.
"""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid

import structlog
from sqlalchemy import Engine

from config.settings import ServiceSettings, Settings
from intake.errors import MailboxUnavailable
from intake.mailbox import Mailbox
from intake.pipeline import Services, Stopping, Taken, take_new_mail
from intake.store import MailboxState
from intake.unit_of_work import UnitOfWork
from notifier.replies import LOOP_HEADER
from rules.tasks import mailbox_down_task

log = structlog.get_logger("intake.health")


def take_and_record(
    mailbox: Mailbox, services: Services, settings: Settings, *, stopping: Stopping | None = None
) -> list[Taken]:
    """``take_new_mail`` (which stops taking messages once ``stopping`` is set), with the poll's success or
    failure recorded in the mailbox's health.

    Raises:
        MailboxUnavailable, OSError: the mailbox could not be read (recorded first, then raised again).
    """
    try:
        taken = take_new_mail(mailbox, services, stopping=stopping)
    except (MailboxUnavailable, OSError) as exc:
        with services.unit_of_work() as uow:
            record_failure(
                uow,
                mailbox.name,
                exc,
                now=services.clock(),
                service=settings.service,
                alert_after=settings.health.alert_after_failures,
            )
        raise
    expires = getattr(mailbox, "token_expires_at", None)
    with services.unit_of_work() as uow:
        record_success(
            uow,
            mailbox.name,
            now=services.clock(),
            service=settings.service,
            token_expires_at=expires if isinstance(expires, dt.datetime) else None,
        )
    return taken


def record_success(
    uow: UnitOfWork,
    mailbox: str,
    *,
    now: dt.datetime,
    service: ServiceSettings,
    token_expires_at: dt.datetime | None = None,
) -> None:
    """Note a good poll of ``mailbox``; if the team was told it was down, queue one "recovered" email."""
    state = uow.mailboxes.state(mailbox)
    if state.alerted_at is not None and state.failing_since is not None:
        _queue_alert(uow, service, mailbox, state, now, recovered=True)
        log.info("mailbox_recovered", mailbox=mailbox)
    state.last_success_at = now
    state.consecutive_failures = 0
    state.failing_since = None
    state.alerted_at = None
    if token_expires_at is not None:
        state.token_expires_at = token_expires_at
    uow.mailboxes.save(state)
    uow.commit()


def record_failure(
    uow: UnitOfWork,
    mailbox: str,
    error: BaseException,
    *,
    now: dt.datetime,
    service: ServiceSettings,
    alert_after: int,
) -> None:
    """Note a failed poll of ``mailbox``; at the ``alert_after``-th failure in a row, give the team a task and
    queue one alert email."""
    state = uow.mailboxes.state(mailbox)
    state.last_error = type(error).__name__
    state.last_error_at = now
    state.consecutive_failures += 1
    if state.failing_since is None:
        state.failing_since = now
    if state.consecutive_failures >= alert_after and state.alerted_at is None:
        _queue_alert(uow, service, mailbox, state, now, recovered=False)
        state.alerted_at = now
        log.warning("mailbox_down_alert", mailbox=mailbox, count=state.consecutive_failures)
    uow.mailboxes.save(state)
    uow.commit()


class MailboxStateStore:
    """Keeps a mailbox adapter's cursor (the Graph delta link) in the database, beside the mailbox's health."""

    def __init__(self, engine: Engine, mailbox: str) -> None:
        self.engine = engine
        self.mailbox = mailbox

    def delta_link(self) -> str | None:
        """The link that asks for changes since the last complete round, or None before the first."""
        with UnitOfWork(self.engine) as uow:
            return uow.mailboxes.state(self.mailbox).delta_link

    def save_delta_link(self, link: str | None) -> None:
        """Remember ``link`` for the next round (None starts again with every message in the folder)."""
        with UnitOfWork(self.engine) as uow:
            state = uow.mailboxes.state(self.mailbox)
            state.delta_link = link
            uow.mailboxes.save(state)
            uow.commit()


def _outage(state: MailboxState) -> str:
    assert state.failing_since is not None
    return state.failing_since.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def _queue_alert(
    uow: UnitOfWork, service: ServiceSettings, mailbox: str, state: MailboxState, now: dt.datetime, *, recovered: bool
) -> None:
    kind = "mailbox_recovered" if recovered else "mailbox_down"
    key = f"{kind}-{mailbox}-{_outage(state)}"
    uow.audit.record(kind, at=now, mailbox=mailbox, failures=state.consecutive_failures, error=state.last_error)
    if not recovered:
        # The task stands whether or not anyone can be emailed: the digest and `tasks list` show it.
        task = mailbox_down_task(mailbox, state.consecutive_failures)
        uow.tasks.open(key, task.kind, task.action, now=now)
    if not service.team_addresses:
        log.warning("no_team_address", mailbox=mailbox, kind=kind)
        return
    uow.outbox.enqueue(key, kind, _alert_message(service, mailbox, state, now, recovered=recovered), now=now)


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
