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
from collections.abc import Callable

import structlog

from intake.assess import MessageTooLarge
from intake.errors import IntakeError
from intake.mailbox import IncomingMail, Mailbox, MailRef
from intake.pipeline import Services, Taken, quarantine_task_key, take_submission
from intake.unit_of_work import UnitOfWork

log = structlog.get_logger("intake.replay")


class NotQuarantined(IntakeError):
    """The ledger has no quarantined message with this id (never quarantined, or replayed already)."""


class NothingToReplay(IntakeError):
    """The quarantined message was over the size limit: it was never read, so no copy of it was kept; or its
    copy was purged by retention."""


def replay(
    uow: UnitOfWork,
    ledger_id: int,
    mailbox_of: Callable[[str], Mailbox],
    services: Services,
    *,
    by: str = "command line",
) -> Taken:
    """Decide quarantined message ``ledger_id`` again from its stored bytes and file it where it now belongs:
    in the mailbox it came from, which ``mailbox_of`` gives by name (with [[mailboxes]], one of several).

    ``uow`` claims the message (committed before the pipeline takes it, so a second replay finds it taken)
    and, once it is decided, drops its stored copy. ``by`` (who asked) goes into the audit trail.

    Raises:
        NotQuarantined: no quarantined message has that id, or it has no stored bytes.
        NothingToReplay: the message was quarantined unread, for being over the size limit, or its copy was
            purged by retention.
    """
    row = uow.ledger.get(ledger_id)
    record = uow.ledger.quarantined_copy(ledger_id)
    if row is None or record is None or row.state != "quarantined":
        raise NotQuarantined(f"message {ledger_id} is not quarantined")
    if record.error == MessageTooLarge.reason:
        raise NothingToReplay(
            f"message {ledger_id} was over the size limit and was never read: handle it from the Quarantine folder"
        )
    if record.purged_at is not None:
        raise NothingToReplay(
            f"message {ledger_id}'s copy was purged on {record.purged_at:%Y-%m-%d} under the retention settings: "
            "handle it from the Quarantine folder"
        )
    if not uow.ledger.claim_quarantined(ledger_id):
        raise NotQuarantined(f"message {ledger_id} is not quarantined")
    uow.audit.record("replayed", at=services.clock(), message_id=ledger_id, error=record.error, by=by)
    uow.commit()
    incoming = IncomingMail(
        ref=MailRef(row.source, row.folder, row.uidvalidity, row.uid),
        raw=record.raw,
        received_at=row.received_at.astimezone(dt.UTC),
    )
    taken = take_submission(incoming, mailbox_of(row.source), services)
    assert taken is not None  # the row is "received" again, so the pipeline decides it
    if taken.outcome != "quarantined":
        uow.ledger.drop_quarantined_copy(ledger_id)  # the message is decided: its copy of the patient's data goes
        task = uow.tasks.by_key(quarantine_task_key(ledger_id))
        if task is not None and task.resolved_at is None:
            uow.tasks.resolve(task, by=by, note=f"replayed: {taken.outcome}", at=services.clock())
        uow.commit()
    log.info("message_replayed", ledger_id=ledger_id, reference=taken.reference, outcome=taken.outcome)
    return taken
