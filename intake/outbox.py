"""The outbox worker and the limits on automatic replies.

Every email is a row in the ``outbox`` table before it is sent, under a unique key. ``send_due`` sends the
rows that are due, one at a time: a row is marked sent only after the sender returned, so a crash mid-send
sends the same row again (the file outbox rewrites the same file; SMTP and Graph deliver the same
Message-ID). A temporary failure is retried after an exponential back-off with a cap; a permanent failure,
or ``max_attempts`` temporary ones, marks the row ``failed`` and gives the team an item to send it by hand.

Replies are limited per recipient mailbox (``per_sender_per_day`` in any 24 hours: ``X+a@NHS.NET`` and
``x@nhs.net`` are one mailbox, see ``parsers.addresses.mailbox_key``) and per submission (``per_submission``),
counted from outbox rows; a reply over a limit is never written, and the team gets a "needs a manual reply"
item instead.

The envelope recipients are the row's ``recipient`` column, written when the row was (for a reply, the one
address ``rules.recipients.reply_address`` chose), never read from the message's own headers.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses

import structlog
from sqlalchemy import Engine, and_, func, or_
from sqlmodel import Session, col, select

from config.settings import ReplyLimitSettings, RetrySettings
from intake.store import AuditEvent, OutboxRecord
from notifier.errors import SendRejected, UnsafeMessage
from notifier.sender import Sender
from parsers.addresses import mailbox_key, parse_address

log = structlog.get_logger("intake.outbox")

REPLY_KINDS_PREFIX = "reply_"
"""Outbox rows whose ``kind`` starts with this are automatic replies: the only ones the limits count."""

MANUAL_REPLY = "needs a manual reply"
SEND_BY_HAND = "could not be sent: send it by hand"

RATE_WINDOW = dt.timedelta(hours=24)

Clock = Callable[[], dt.datetime]


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


def send_due(engine: Engine, sender: Sender, *, clock: Clock, retry: RetrySettings) -> SendReport:
    """Send every pending row whose ``next_attempt_at`` has come (or was never set), oldest first."""
    sent = deferred = failed = 0
    now = clock()
    with Session(engine) as session:
        due = session.exec(
            select(OutboxRecord)
            .where(
                OutboxRecord.state == "pending",
                or_(col(OutboxRecord.next_attempt_at).is_(None), col(OutboxRecord.next_attempt_at) <= now),
            )
            .order_by(col(OutboxRecord.id))
        ).all()
        for item in due:
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
                    session.add(_send_failed(item, clock(), permanent=permanent))
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
            session.add(item)
            session.commit()
    return SendReport(sent=sent, deferred=deferred, failed=failed)


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


def limit_reason(*, replies_to_sender: int, replies_for_submission: int, limits: ReplyLimitSettings) -> str | None:
    """Which limit one more automatic reply would break, or None.

    Args:
        replies_to_sender: automatic replies written to this address in the last 24 hours.
        replies_for_submission: automatic replies written for this submission, ever.
        limits: the configured limits.

    Returns:
        ``"rate-limit-submission"``, ``"rate-limit-sender"`` or None (the submission limit is checked first:
        it is the one the team can explain to the referrer).
    """
    if replies_for_submission >= limits.per_submission:
        return "rate-limit-submission"
    if replies_to_sender >= limits.per_sender_per_day:
        return "rate-limit-sender"
    return None


def reply_limit(
    session: Session, *, recipient: str, submission_id: int, now: dt.datetime, limits: ReplyLimitSettings
) -> str | None:
    """``limit_reason`` for one more reply to ``recipient`` about submission ``submission_id`` (its first
    ledger id), counted from the outbox rows already written (failed sends do not count: nothing arrived).
    Replies count against the recipient's mailbox, however its address was spelt."""
    replies = (
        select(func.count())
        .select_from(OutboxRecord)
        .where(col(OutboxRecord.kind).startswith(REPLY_KINDS_PREFIX), col(OutboxRecord.state) != "failed")
    )
    # Compared here rather than in SQL: the day's replies are few, and the mailbox rule stays in one function.
    recent = session.exec(
        select(OutboxRecord.recipient).where(
            col(OutboxRecord.kind).startswith(REPLY_KINDS_PREFIX),
            col(OutboxRecord.state) != "failed",
            col(OutboxRecord.created_at) >= now - RATE_WINDOW,
        )
    ).all()
    mailbox = mailbox_key(recipient)
    to_sender = sum(1 for address in recent if mailbox_key(address) == mailbox)
    # Rows written before submissions were recorded count by the message they answered.
    for_submission = session.exec(
        replies.where(
            or_(
                col(OutboxRecord.submission_id) == submission_id,
                and_(col(OutboxRecord.submission_id).is_(None), col(OutboxRecord.message_id) == submission_id),
            )
        )
    ).one()
    return limit_reason(replies_to_sender=to_sender, replies_for_submission=for_submission, limits=limits)


def manual_reply_item(message_id: int, at: dt.datetime, why: str, reply: str | None) -> AuditEvent:
    """The team item for a reply that was due but not sent: ``why`` is a code, ``reply`` the reply kind."""
    detail = {"why": why, "reply": reply, "action": MANUAL_REPLY}
    return AuditEvent(at=at, message_id=message_id, event="reply_suppressed", detail=json.dumps(detail), team_item=True)


def _send_failed(item: OutboxRecord, at: dt.datetime, *, permanent: bool) -> AuditEvent:
    detail = {
        "outbox_id": item.id,
        "kind": item.kind,
        "error": item.last_error,
        "attempts": item.attempts,
        "permanent": permanent,
        "action": SEND_BY_HAND,
    }
    return AuditEvent(at=at, message_id=item.message_id, event="send_failed", detail=json.dumps(detail), team_item=True)
