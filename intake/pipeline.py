"""The pipeline: take each waiting message exactly once — read, assess, decide, record, file.

One message's way, top to bottom: the ledger row is claimed; the message is read once (its documents parsed
in the worker processes); ``intake.assess`` hands it and what the store knows to the pure core, which returns
the whole decision; ``record`` carries the decision out in one unit of work; the message is filed. Crash
safety comes from the order of the commits:

1. the ledger row is written (state ``received``) before anything else happens, and who the message is (its
   fingerprint) as soon as it is read;
2. the decision, the forms read, the queue row, the reply in the outbox, the team's tasks and the audit
   events commit together (state ``decided``) — or not at all;
3. only then is the message moved in the mailbox (state ``filed``);
4. the outbox is sent separately, each email under an idempotency key.

Killed between 1 and 2, the message is decided again on restart (nothing was done yet), first alone in a
child process (``intake.solo``), so that only a crash the message causes itself counts against it; between 2
and 3, it is only filed; during 4, the same key is sent again, which the sender treats as the same email.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import structlog
from sqlalchemy import Engine

from config.forms import FormDefinitions
from config.settings import LimitSettings, OutgoingSettings, ServiceSettings
from intake.assess import (
    Identity,
    MessageTooLarge,
    assess,
    identify,
    original_of,
    read_mail_isolated,
    read_message,
    reference_from,
    triage_rules,
)
from intake.isolation import ParsePool, default_pool
from intake.mailbox import IncomingMail, Mailbox
from intake.migrate import is_ready
from intake.outbox import SendReport, send_due
from intake.record import record
from intake.solo import SoloAttempts, SoloJob, SoloRunner
from intake.store import MessageRecord, QuarantineRecord
from intake.unit_of_work import UnitOfWork
from notifier.sender import Sender
from parsers.mail import Mail
from rules.decision import FOLDERS, Decision, Known, Message, Policy, decide_message
from rules.tasks import quarantined_task

log = structlog.get_logger("intake.pipeline")

__all__ = [
    "FOLDERS",
    "MAX_ATTEMPTS",
    "Checked",
    "Clock",
    "Observer",
    "Services",
    "Taken",
    "Unobserved",
    "check_submission",
    "send_outbox",
    "take_new_mail",
    "take_submission",
]

MAX_ATTEMPTS = 3
"""A message whose solo attempts (``intake.solo``) kill their process this many times is quarantined ("GaveUp")
instead of tried again. Crashes of the service while the message was in flight are not counted: they may have
had nothing to do with it."""

Clock = Callable[[], dt.datetime]


class Observer(Protocol):
    """**Protocol:** what watches the pipeline (``intake.monitoring.Metrics``): told of each message taken,
    how long reading it took, and each round of the outbox."""

    def message_taken(self, mailbox: str, outcome: str) -> None: ...

    def message_read(self, seconds: float) -> None: ...

    def outbox_sent(self, report: SendReport) -> None: ...


class Unobserved:
    """Nobody watches: commands run once (``run --once``, ``replay``) and a daemon without monitoring."""

    def message_taken(self, mailbox: str, outcome: str) -> None:
        pass

    def message_read(self, seconds: float) -> None:
        pass

    def outbox_sent(self, report: SendReport) -> None:
        pass


@dataclass(frozen=True)
class Services:
    """What the pipeline needs besides the mailbox: the database, the sender, the forms, the clock, the
    worker pool that parses documents (default: the process-wide pool for ``limits``), what decides a
    message alone after a crash (``solo``) and what watches (``observer``: the daemon's metrics)."""

    engine: Engine
    sender: Sender
    definitions: FormDefinitions
    service: ServiceSettings
    limits: LimitSettings
    timezone: dt.tzinfo
    clock: Clock
    outgoing: OutgoingSettings = field(default_factory=OutgoingSettings)
    pool: ParsePool | None = None
    solo: SoloRunner = field(default_factory=SoloAttempts)
    observer: Observer = field(default_factory=Unobserved)

    @property
    def parse_pool(self) -> ParsePool:
        """The worker pool documents are parsed in: never this process."""
        return self.pool if self.pool is not None else default_pool(self.limits)

    @property
    def policy(self) -> Policy:
        """The configuration the core decides by."""
        return Policy(
            definitions=self.definitions,
            service=self.service,
            reply_limits=self.outgoing.reply_limits,
            triage=triage_rules(self.service.triage_file),
        )

    def unit_of_work(self) -> UnitOfWork:
        """A new unit of work on the service's database, for one command."""
        return UnitOfWork(self.engine)

    def today(self) -> dt.date:
        """Today where the team works."""
        return self.clock().astimezone(self.timezone).date()


@dataclass(frozen=True)
class Taken:
    """What happened to one message in this run, for the run report (ids and codes only)."""

    ledger_id: int
    reference: str
    outcome: str
    folder: str
    forms: tuple[str, ...]
    reply_key: str | None
    filed: bool = True  # False: decided, but the mailbox refused the move; the next run files it


class Stopping(Protocol):
    """**Protocol:** says when to take no further message (a ``threading.Event`` is one)."""

    def is_set(self) -> bool: ...


def take_new_mail(mailbox: Mailbox, services: Services, *, stopping: Stopping | None = None) -> list[Taken]:
    """Take every message waiting in ``mailbox``; the outbox is sent afterwards by ``send_outbox``.

    Once ``stopping`` is set (the daemon was told to stop, or lost its lease), no further message is taken: the
    one in hand is finished, within its parse time limits, and the rest wait in the mailbox for the next poll.
    """
    taken = []
    for incoming in mailbox.fetch_new():
        if stopping is not None and stopping.is_set():
            break
        result = take_submission(incoming, mailbox, services)
        if result is not None:
            services.observer.message_taken(mailbox.name, result.outcome)
            taken.append(result)
    return taken


def take_submission(incoming: IncomingMail, mailbox: Mailbox, services: Services) -> Taken | None:
    """Take one message; None when the ledger shows it was taken already (it is only filed again)."""
    in_flight_at_a_crash = False
    with services.unit_of_work() as uow:
        row = uow.ledger.by_mailbox_key(incoming.ref)
        # Decided before a crash, or listed again before the move landed: the move is all that is left.
        taken_before = row is not None and row.state != "received"
        if row is None:
            row = uow.ledger.add(_ledger_row(incoming, services.clock()))
        if not taken_before:
            # Started before and never decided: the service died while this message was in flight.
            in_flight_at_a_crash = row.attempts > 0
            row.attempts += 1
            uow.ledger.save(row)
        uow.commit()
    if taken_before:
        # Its decision stands; an earlier move may have been cut off half way, leaving a copy in the folder.
        _file(services, row, mailbox, incoming, again=True)
        return None
    assert row.id is not None
    ledger_id = row.id
    structlog.contextvars.bind_contextvars(ledger_id=ledger_id, mailbox=incoming.ref.source)
    try:
        if in_flight_at_a_crash and not _survives_alone(services, row, incoming):
            raise GaveUp
        started = time.perf_counter()
        deadline = time.monotonic() + services.limits.message_budget_seconds
        today = services.today()
        too_large = _too_large(incoming, services)
        # Read in a parse worker, as the first part of the message's budget: a header can stall the reader.
        pool = services.parse_pool
        reading = time.perf_counter()
        mail = None if too_large else read_mail_isolated(incoming.raw, services.limits, pool=pool, deadline=deadline)
        read_seconds = time.perf_counter() - reading
        # A message whose reading ran out of time or memory is known by its bytes: nothing else of it is known.
        identity = identify(mail if isinstance(mail, Mail) else None, _identity(incoming))
        original = _identify(services, row, identity)
        if original is not None:
            decision = _duplicate(services, row, original, incoming)
            return _done(services, row, decision, mailbox, incoming, None)
        if mail is None:
            raise MessageTooLarge(incoming.size, services.limits.max_message_bytes)
        reading = time.perf_counter()  # the documents' turn: the ledger's look-up between is not reading
        read = read_message(
            incoming.raw,
            received_at=incoming.received_at,
            definitions=services.definitions,
            limits=services.limits,
            today=today,
            pool=pool,
            mail=mail,
            identity=identity,
            deadline=deadline,
        )
        services.observer.message_read(read_seconds + time.perf_counter() - reading)
        with services.unit_of_work() as uow:
            now = services.clock()
            decision = assess(uow, read, services.policy, today=today, now=now)
            reply_key = record(
                uow, row, decision, read.mail, services.service, now=now, originals=read.with_originals()
            )
            uow.commit()
    except Exception as exc:  # noqa: BLE001 - one bad message must never stop the queue
        return _quarantine(services, ledger_id, exc, mailbox, incoming)
    finally:
        structlog.contextvars.unbind_contextvars("ledger_id", "mailbox")
    outcome = decision.outcome
    log.info(
        "message_decided",
        ledger_id=ledger_id,
        reference=row.reference,
        outcome=decision.kind,
        forms=list(decision.forms),
        codes=sorted({p.code for p in outcome.problems}) if outcome else [],
        reasons=list(outcome.reasons) if outcome else [],
        reply=decision.reply.kind if decision.reply else None,
        suppressed=decision.held_back,
        tasks=[task.kind for task in decision.tasks],
        resubmission_of=decision.resubmission_of,
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return _done(services, row, decision, mailbox, incoming, reply_key)


def _identify(services: Services, row: MessageRecord, identity: Identity) -> MessageRecord | None:
    """Record who the message is (its fingerprint and the reference that follows from it) and return the first
    ledger row of the same message, if this is another delivery of one taken already.

    The fingerprint is committed before the message is decided, so that a delivery taken while this one waits
    to be tried again after a crash is still known for the same message.
    """
    with services.unit_of_work() as uow:
        row.fingerprint = identity.fingerprint
        row.reference = identity.reference
        uow.ledger.save(row)
        original = original_of(uow, identity, ledger_id=row.id)
        uow.commit()  # last: the unit of work's closing rollback would expire ``row`` after a later read
        return original


def _duplicate(services: Services, row: MessageRecord, original: MessageRecord, incoming: IncomingMail) -> Decision:
    """Commit the message as another delivery of ``original``: nothing is decided, queued or sent again."""
    assert original.id is not None
    # Another delivery is known by the first one's reference, whatever its own bytes give.
    row.reference = original.reference
    message = Message((), incoming.received_at, original.reference)
    decision = decide_message(message, Known(duplicate_of=original.id), services.policy, services.today())
    with services.unit_of_work() as uow:
        record(uow, row, decision, None, services.service, now=services.clock())
        uow.commit()
    return decision


class GaveUp(Exception):
    """Raised when a message's solo attempts have crashed ``MAX_ATTEMPTS`` times: deciding it kills the process."""


def _survives_alone(services: Services, row: MessageRecord, incoming: IncomingMail) -> bool:
    """Whether a message that was in flight when the service died can be decided without killing the process
    that decides it. It is decided alone in a child (``intake.solo``) until that finishes, or until it has
    crashed ``MAX_ATTEMPTS`` times in all; each crash is committed as the message's own.
    """
    if _too_large(incoming, services):
        return True  # it is quarantined unread, which cannot crash
    job = SoloJob(
        raw=incoming.raw,
        definitions=services.definitions,
        service=services.service,
        limits=services.limits,
        received_at=incoming.received_at,
        today=services.today(),
    )
    while row.solo_crashes < MAX_ATTEMPTS:
        try:
            end = services.solo.attempt(job)
        except OSError as exc:
            # No child could be started (out of processes or memory): the service's trouble, not the message's.
            log.warning("solo_attempt_not_started", ledger_id=row.id, error_type=type(exc).__name__)
            return True
        if end != "finished":
            with services.unit_of_work() as uow:
                row.solo_crashes += 1
                uow.ledger.save(row)
                uow.commit()
        # Logged once the attempt is over: a kill of the service during it is no event of the message's.
        log.info("solo_attempt", ledger_id=row.id, outcome=end, attempts=row.attempts, solo_crashes=row.solo_crashes)
        if end == "finished":
            return True
    return False


@dataclass(frozen=True)
class Checked:
    """What ``check`` shows about one email: the mail as read and the decision ``run`` would make."""

    mail: Mail
    decision: Decision


def check_submission(raw: bytes, services: Services, *, received_at: dt.datetime, today: dt.date) -> Checked:
    """Decide ``raw`` as ``take_submission`` would, from what the store knows now, and change nothing.

    A database that does not exist yet, or is not at the newest migration, reads as an empty store: ``check``
    creates and changes nothing.
    """
    read = read_message(
        raw,
        received_at=received_at,
        definitions=services.definitions,
        limits=services.limits,
        today=today,
        pool=services.parse_pool,
    )
    if not is_ready(services.engine):
        return Checked(read.mail, assess(None, read, services.policy, today=today, now=services.clock()))
    with services.unit_of_work() as uow:
        original = original_of(uow, read.identity)
        if original is not None:
            assert original.id is not None
            message = Message((), received_at, original.reference)
            decision = decide_message(message, Known(duplicate_of=original.id), services.policy, today)
            return Checked(read.mail, decision)
        return Checked(read.mail, assess(uow, read, services.policy, today=today, now=services.clock()))


def _identity(incoming: IncomingMail) -> bytes:
    """What the ledger knows a message by until it is read (and, if it cannot be, for good): its bytes, or, for
    one left unread, where it is and its size.

    An unread message is never taken for a duplicate of another: with no bytes there is nothing to compare.
    """
    if incoming.oversize is None:
        return incoming.raw
    ref = incoming.ref
    return "\0".join(("over-limit", ref.source, ref.folder, str(ref.uidvalidity), ref.uid, str(incoming.size))).encode()


def _too_large(incoming: IncomingMail, services: Services) -> bool:
    return incoming.oversize is not None or len(incoming.raw) > services.limits.max_message_bytes


def _ledger_row(incoming: IncomingMail, now: dt.datetime) -> MessageRecord:
    ref = incoming.ref
    sha256 = hashlib.sha256(_identity(incoming)).hexdigest()
    return MessageRecord(
        source=ref.source,
        folder=ref.folder,
        uidvalidity=ref.uidvalidity,
        uid=ref.uid,
        sha256=sha256,
        size=incoming.size,
        received_at=incoming.received_at,
        taken_at=now,
        # Until the message is read and its fingerprint known (a crash may come first).
        reference=reference_from(sha256),
    )


def _done(
    services: Services,
    row: MessageRecord,
    decision: Decision,
    mailbox: Mailbox,
    incoming: IncomingMail,
    reply_key: str | None,
) -> Taken:
    if decision.duplicate_of is not None:
        log.info("message_duplicate", ledger_id=row.id, reference=row.reference, outcome="duplicate")
    filed = _file(services, row, mailbox, incoming)
    assert row.id is not None
    return Taken(
        ledger_id=row.id,
        reference=decision.reference,
        outcome=decision.kind,
        folder=decision.folder,
        forms=decision.forms,
        reply_key=reply_key,
        filed=filed,
    )


def _quarantine(services: Services, ledger_id: int, exc: Exception, mailbox: Mailbox, incoming: IncomingMail) -> Taken:
    too_large = exc if isinstance(exc, MessageTooLarge) else None
    error = MessageTooLarge.reason if too_large else type(exc).__name__
    with services.unit_of_work() as uow:
        row = uow.ledger.get(ledger_id)
        assert row is not None  # committed before the message was read
        row.state = "quarantined"
        row.outcome = "quarantined"
        row.error = error
        row.filed_in = FOLDERS["quarantined"]
        uow.ledger.save(row)
        sizes = {"size": too_large.size, "limit": too_large.limit} if too_large else {}
        uow.audit.record("quarantined", at=row.taken_at, message_id=ledger_id, error=error, **sizes)
        # The raw bytes are kept so `nmss-intake replay` can try again once the cause is fixed; never those of a
        # message over the size limit, which the database need not hold (a 1 GB blob is more than SQLite takes).
        raw = b"" if too_large else incoming.raw
        uow.ledger.quarantine(QuarantineRecord(message_id=ledger_id, raw=raw, error=error, at=row.taken_at))
        task = quarantined_task(ledger_id, error)
        uow.tasks.open(
            quarantine_task_key(ledger_id), task.kind, task.action, now=services.clock(), reference=row.reference
        )
        uow.commit()
    log.error("message_quarantined", ledger_id=ledger_id, reference=row.reference, error_type=error)
    filed = _file(services, row, mailbox, incoming)
    return Taken(ledger_id, row.reference, "quarantined", row.filed_in or "", (), None, filed)


def quarantine_task_key(ledger_id: int) -> str:
    """The key of the team's task about quarantined message ``ledger_id``: one task however often it fails."""
    return f"quarantined-{ledger_id}"


def _file(
    services: Services, row: MessageRecord, mailbox: Mailbox, incoming: IncomingMail, *, again: bool = False
) -> bool:
    """Move the message to its outcome's folder; False when the mailbox refused.

    A refusal never stops the run: the decision is committed already, the ledger keeps the message
    ``decided`` and the next run, listing it again, only files it (``again``: without a second copy).
    """
    folder = row.filed_in or FOLDERS.get(row.outcome or "", "Review")
    try:
        mailbox.file(incoming.ref, folder, again=again)
    except Exception as exc:  # noqa: BLE001 - whatever the mailbox says, the messages behind this one go on
        log.warning("message_not_filed", ledger_id=row.id, folder=folder, error_type=type(exc).__name__)
        return False
    with services.unit_of_work() as uow:
        stored = uow.ledger.get(row.id or 0)
        if stored is not None and stored.state != "quarantined":
            stored.state = "filed"
            uow.ledger.save(stored)
            uow.commit()
    log.debug("message_filed", ledger_id=row.id, folder=folder)
    return True


def send_outbox(services: Services) -> SendReport:
    """Send the emails in the outbox that are due, and say what happened. The daemon's job calls this.

    A failed email is tried again after a back-off, and after too many tries (or a permanent refusal) it
    becomes a task for the team (``intake.outbox.send_due``).
    """
    return send_due(services.engine, services.sender, clock=services.clock, retry=services.outgoing.retry)
