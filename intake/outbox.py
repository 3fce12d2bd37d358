"""The outbox worker and the limits on automatic replies.

Every email is a row in the ``outbox`` table before it is sent, under a unique key. ``send_due`` sends the
rows that are due, one at a time: a row is marked sent only after the sender returned, so a crash mid-send
sends the same row again (the file outbox rewrites the same file; SMTP and Graph deliver the same
Message-ID). A temporary failure is retried after an exponential back-off with a cap; a permanent failure,
or ``max_attempts`` temporary ones, marks the row ``failed`` and gives the team an item to send it by hand.

Emails are put in the outbox through ``UnitOfWork.outbox.enqueue(key, …)``, with the rest of what a command
changes; this module only sends them. The envelope recipients are the row's ``recipient`` column, written when
the row was (for a reply, the one address ``rules.recipients.reply_address`` chose), never read from the
message's own headers.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses

import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from config.settings import RetrySettings
from intake.store import OutboxRecord
from intake.unit_of_work import UnitOfWork
from notifier.errors import SendRejected, UnsafeMessage
from notifier.sender import Sender
from parsers.addresses import parse_address
from rules.tasks import send_failed_task

log = structlog.get_logger("intake.outbox")

Clock = Callable[[], dt.datetime]

_RECORD_WAITS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0, 15.0)
"""Seconds between tries to record a send whose commit was lost: about a minute, a PostgreSQL restart's time."""


@dataclass(frozen=True)
class SendReport:
    """What one ``send_due`` call did: sent, to be retried later, and given up on (now team items)."""

    sent: int = 0
    deferred: int = 0
    failed: int = 0

    def __bool__(self) -> bool:
        return bool(self.sent or self.deferred or self.failed)

    def summary(self) -> str:
        """One line for a person: ``Sent 2 email(s); 1 will be retried; 1 could not be sent (a team item).``"""
        parts = [f"Sent {self.sent} email(s)"]
        if self.deferred:
            parts.append(f"{self.deferred} will be retried")
        if self.failed:
            parts.append(f"{self.failed} could not be sent and became team items")
        return "; ".join(parts) + "."


def backoff(attempts: int, retry: RetrySettings) -> dt.timedelta:
    """How long to wait after the ``attempts``-th failed try: ``base_seconds`` doubled each time, at most
    ``max_seconds``."""
    exponent = max(attempts - 1, 0)
    # Capped before the power is taken so that a long outage cannot overflow the float.
    seconds = retry.base_seconds * 2 ** min(exponent, 32)
    return dt.timedelta(seconds=min(seconds, retry.max_seconds))


def send_due(
    engine: Engine,
    sender: Sender,
    *,
    clock: Clock,
    retry: RetrySettings,
    sleep: Callable[[float], None] = time.sleep,
) -> SendReport:
    """Send every pending row whose ``next_attempt_at`` has come (or was never set), oldest first.

    Each row is taken in a transaction of its own, locked while it is sent (``Outbox.claim_next_due``) and
    committed with its result: other instances sending at the same time take other rows, and a crash repeats
    at most the email being sent. When the database goes away between the server taking an email and the
    commit (a PostgreSQL restart), the row is marked sent as soon as it is back rather than sent again. An
    email given up on becomes a task for the team ("send it by hand"), in the same commit.
    """
    sent = deferred = failed = 0
    last = 0
    while True:
        delivered: tuple[int, dt.datetime, int] | None = None
        lost: tuple[int, dt.datetime, int] | None = None  # delivered, but its commit failed
        with UnitOfWork(engine) as uow:
            item = uow.outbox.claim_next_due(clock(), after=last)
            if item is None:
                break
            assert item.id is not None
            last = item.id  # each row at most once per call, even one deferred with no wait
            message = message_from_bytes(item.raw, _class=EmailMessage, policy=policy.default)
            assert isinstance(message, EmailMessage)
            item.attempts += 1
            try:
                sender.send(message, key=item.key, recipients=envelope_recipients(item.recipient))
            except Exception as exc:  # noqa: BLE001 - a sender failure is recorded and retried, never fatal
                item.last_error = type(exc).__name__
                permanent = isinstance(exc, SendRejected)
                if permanent or item.attempts >= retry.max_attempts:
                    item.state = "failed"
                    item.next_attempt_at = None
                    _give_up(uow, item, clock(), permanent=permanent)
                    failed += 1
                    log.error(
                        "send_failed",
                        outbox_id=item.id,
                        kind=item.kind,
                        error_type=item.last_error,
                        attempts=item.attempts,
                        permanent=permanent,
                    )
                else:
                    wait = backoff(item.attempts, retry)
                    item.next_attempt_at = clock() + wait
                    deferred += 1
                    log.warning(
                        "send_deferred",
                        outbox_id=item.id,
                        kind=item.kind,
                        error_type=item.last_error,
                        attempts=item.attempts,
                        retry_in_seconds=wait.total_seconds(),
                    )
            else:
                item.state = "sent"
                item.sent_at = clock()
                item.next_attempt_at = None
                sent += 1
                log.info("sent", outbox_id=item.id, kind=item.kind, attempts=item.attempts)
                delivered = (item.id, item.sent_at, item.attempts)
            uow.outbox.save(item)
            try:
                uow.commit()
            except DBAPIError:
                if delivered is None:
                    raise  # nothing left the building: the row is tried again as it was
                lost = delivered
        if lost is not None:
            _record_sent(engine, *lost, sleep=sleep)
    return SendReport(sent=sent, deferred=deferred, failed=failed)


def _record_sent(
    engine: Engine, outbox_id: int, at: dt.datetime, attempts: int, *, sleep: Callable[[float], None]
) -> None:
    """Mark a row sent whose "sent" was lost with the database connection (a restart, a fail-over) after the
    server had taken the email: retried while the database comes back, as otherwise the row, pending again,
    would be sent a second time.

    Raises:
        sqlalchemy.exc.DBAPIError: the database stayed away for all of ``_RECORD_WAITS`` (the row is sent again).
    """
    for wait in (*_RECORD_WAITS, None):
        try:
            with UnitOfWork(engine) as uow:
                row = uow.outbox.get(outbox_id)
                if row is not None and row.state != "sent":  # else the commit did land, its answer was lost
                    row.state, row.sent_at, row.next_attempt_at, row.attempts = "sent", at, None, attempts
                    uow.outbox.save(row)
                    uow.commit()
                    log.warning("sent_recorded_late", outbox_id=outbox_id)
            return
        except DBAPIError:
            if wait is None:
                raise
            sleep(wait)


def envelope_recipients(recipient: str) -> list[str]:
    """The addresses an outbox row is sent to, from its ``recipient`` column (one address, or a comma-separated
    list for the team's digest), each in its header form.

    Raises:
        UnsafeMessage: an address does not parse strictly, or there is none (the row is then failed, for the team).
    """
    found = [parse_address(address) for _name, address in getaddresses([recipient])]
    if not found or any(address is None for address in found):
        raise UnsafeMessage("bad_recipient")
    return list(dict.fromkeys(address.header_form for address in found if address is not None))


def _give_up(uow: UnitOfWork, item: OutboxRecord, at: dt.datetime, *, permanent: bool) -> None:
    """The team's task (and the audit event) for an email the outbox gave up on."""
    task = send_failed_task(item.kind)
    answered = uow.ledger.get(item.message_id) if item.message_id is not None else None
    # An email sent again from the service page that fails again needs a task again: the first give-up's
    # task was resolved when it was sent again, so each later give-up gets a key of its own.
    key, round_ = f"send_failed-{item.id}", 1
    while (earlier := uow.tasks.by_key(key)) is not None and earlier.resolved_at is not None:
        round_ += 1
        key = f"send_failed-{item.id}-{round_}"
    uow.tasks.open(
        key,
        task.kind,
        task.action,
        now=at,
        reference=answered.reference if answered is not None else None,
        message_id=item.message_id,
    )
    uow.audit.record(
        "send_failed",
        at=at,
        message_id=item.message_id,
        outbox_id=item.id,
        kind=item.kind,
        error=item.last_error,
        attempts=item.attempts,
        permanent=permanent,
    )
