"""Replay: put a quarantined message through the pipeline again, from the raw bytes kept when it failed.

The ledger row is handed back to the pipeline only if it is still quarantined (one conditional UPDATE), so two
replays of the same message, or a replay racing a poll, never decide it twice. The pipeline then runs as for
new mail: a decision, queue rows and any reply commit together and the message is filed in its outcome's
folder as far as the mailbox can find it: Graph, whose ids survive moves, moves it on from ``Quarantine``;
the Maildir and EWS look only in the intake folder, so there it stays in ``Quarantine``. A message that fails again is
quarantined again, with its bytes, and the new error's class. A message over the size limit was never read,
so there is nothing to replay: the team handles it from the ``Quarantine`` folder.
"""

from __future__ import annotations

import datetime as dt
import json

import structlog
from sqlalchemy import update
from sqlmodel import Session, col, select

from intake.errors import IntakeError
from intake.mailbox import IncomingMail, Mailbox, MailRef
from intake.pipeline import MessageTooLarge, Services, Taken, take_submission
from intake.store import AuditEvent, MessageRecord, QuarantineRecord

log = structlog.get_logger("intake.replay")


class NotQuarantined(IntakeError):
    """The ledger has no quarantined message with this id (never quarantined, or replayed already)."""


class NothingToReplay(IntakeError):
    """The quarantined message was over the size limit: it was never read, so no copy of it was kept."""


def quarantined(services: Services) -> list[tuple[MessageRecord, QuarantineRecord]]:
    """Every message waiting for a replay, oldest first, with why it failed (ids and error classes only)."""
    with Session(services.engine) as session:
        rows = session.exec(
            select(MessageRecord, QuarantineRecord)
            .join(QuarantineRecord, col(QuarantineRecord.message_id) == col(MessageRecord.id))
            .where(MessageRecord.state == "quarantined")
            .order_by(col(MessageRecord.id))
        ).all()
        return [(message, record) for message, record in rows]


def replay(ledger_id: int, mailbox: Mailbox, services: Services) -> Taken:
    """Decide quarantined message ``ledger_id`` again from its stored bytes and file it where it now belongs.

    Raises:
        NotQuarantined: no quarantined message has that id, or it has no stored bytes.
        NothingToReplay: the message was quarantined unread, for being over the size limit.
    """
    with Session(services.engine, expire_on_commit=False) as session:
        found = session.exec(
            select(MessageRecord, QuarantineRecord)
            .join(QuarantineRecord, col(QuarantineRecord.message_id) == col(MessageRecord.id))
            .where(MessageRecord.id == ledger_id)
        ).first()
        if found is None or found[0].state != "quarantined":
            raise NotQuarantined(f"message {ledger_id} is not quarantined")
        row, record = found
        if record.error == MessageTooLarge.reason:
            raise NothingToReplay(
                f"message {ledger_id} was over the size limit and was never read: handle it from the Quarantine folder"
            )
        claimed = session.execute(
            update(MessageRecord)
            .where(col(MessageRecord.id) == ledger_id, col(MessageRecord.state) == "quarantined")
            .values(state="received", attempts=0, solo_crashes=0, outcome=None, error=None, filed_in=None)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise NotQuarantined(f"message {ledger_id} is not quarantined")
        session.add(
            AuditEvent(
                at=services.clock(), message_id=ledger_id, event="replayed", detail=json.dumps({"error": record.error})
            )
        )
        session.commit()
        raw = record.raw
    incoming = IncomingMail(
        ref=MailRef(row.source, row.folder, row.uidvalidity, row.uid),
        raw=raw,
        received_at=row.received_at.astimezone(dt.UTC),
    )
    taken = take_submission(incoming, mailbox, services)
    assert taken is not None  # the row is "received" again, so the pipeline decides it
    if taken.outcome != "quarantined":
        with Session(services.engine) as session:
            stored = session.get(QuarantineRecord, ledger_id)
            if stored is not None:
                session.delete(stored)  # the message is decided: its copy of the patient's data goes
                session.commit()
    log.info("message_replayed", ledger_id=ledger_id, reference=taken.reference, outcome=taken.outcome)
    return taken
