"""The pipeline: take each waiting message exactly once, decide, queue, reply, file it away.

Crash safety comes from the order of steps, each a commit:

1. the ledger row is written (state ``received``) before anything else happens;
2. the decision, the forms read, the queue row, the reply in the outbox and the audit events commit together
   (state ``decided``) — or not at all;
3. only then is the message moved in the mailbox (state ``filed``);
4. the outbox is sent separately, each email under an idempotency key.

Killed between 1 and 2, the message is decided again on restart (nothing was done yet); between 2 and 3, it is
only filed; during 4, the same key is sent again, which the sender treats as the same email.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import structlog
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from config.forms import FormDefinitions
from config.settings import LimitSettings, OutgoingSettings, ServiceSettings
from intake.assess import Assessment, assess, fingerprint, read_message, reference_from
from intake.isolation import MailRead
from intake.mailbox import IncomingMail, Mailbox
from intake.outbox import SendReport, manual_reply_item, reply_limit, send_due
from intake.practices import open_referrals, practice_codes
from intake.resubmission import Resubmission, find_resubmission, queue_row, settle, stored_documents
from intake.solo import SoloAttempts, SoloJob, SoloRunner
from intake.store import AuditEvent, FormRecord, MessageRecord, OutboxRecord, QuarantineRecord, ReferralRecord
from notifier.errors import UnsafeMessage
from notifier.replies import NoReplyAddressError, build_reply, reply_recipient
from notifier.sender import Sender
from parsers.mail import Mail
from parsers.types import Document, Form, Value

log = structlog.get_logger("intake.pipeline")

FOLDERS = {
    "accepted": "Accepted",
    "incomplete": "Incomplete",
    "misrouted": "Misrouted",
    "mar_registration": "MAR",
    "review": "Review",
    "not_a_submission": "Other",
    "automatic": "Automatic",
    "duplicate": "Duplicate",
    "quarantined": "Quarantine",
}
"""The mailbox folder each outcome is filed in, where the team sees it in Outlook."""

MAX_ATTEMPTS = 3
"""A message whose solo attempts (``intake.solo``) kill their process this many times is quarantined ("GaveUp")
instead of tried again. Crashes of the service while the message was in flight are not counted: they may have
had nothing to do with it."""

Clock = Callable[[], dt.datetime]


@dataclass(frozen=True)
class Services:
    """What the pipeline needs besides the mailbox: the database, the sender, the forms and the clock."""

    engine: Engine
    sender: Sender
    definitions: FormDefinitions
    service: ServiceSettings
    limits: LimitSettings
    timezone: dt.tzinfo
    clock: Clock
    outgoing: OutgoingSettings = field(default_factory=OutgoingSettings)
    solo: SoloRunner = field(default_factory=SoloAttempts)


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


def take_new_mail(mailbox: Mailbox, services: Services, *, stopping: threading.Event | None = None) -> list[Taken]:
    """Take every message waiting in ``mailbox``; the outbox is sent afterwards by ``send_outbox``.

    Once ``stopping`` is set (the daemon was told to stop), no further message is taken: the one in hand is
    finished, within its parse time limits, and the rest wait in the mailbox for the next start.
    """
    taken = []
    for incoming in mailbox.fetch_new():
        if stopping is not None and stopping.is_set():
            break
        result = take_submission(incoming, mailbox, services)
        if result is not None:
            taken.append(result)
    return taken


def take_submission(incoming: IncomingMail, mailbox: Mailbox, services: Services) -> Taken | None:
    """Take one message; None when the ledger shows it was taken already (it is only filed again)."""
    ref = incoming.ref
    with Session(services.engine, expire_on_commit=False) as session:
        row = session.exec(
            select(MessageRecord).where(
                MessageRecord.source == ref.source,
                MessageRecord.folder == ref.folder,
                MessageRecord.uidvalidity == ref.uidvalidity,
                MessageRecord.uid == ref.uid,
            )
        ).first()
        if row is not None and row.state != "received":
            # Decided before a crash, or listed again before the move landed: finish the move only.
            _file(session, row, mailbox, incoming)
            return None
        if row is None:
            sha256 = hashlib.sha256(_identity(incoming)).hexdigest()
            row = MessageRecord(
                source=ref.source,
                folder=ref.folder,
                uidvalidity=ref.uidvalidity,
                uid=ref.uid,
                sha256=sha256,
                size=incoming.size,
                received_at=incoming.received_at,
                taken_at=services.clock(),
                # Until the message is read and its fingerprint known (a crash may come first).
                reference=reference_from(sha256),
            )
        # Started before and never decided: the service died while this message was in flight.
        in_flight_at_a_crash = row.attempts > 0
        row.attempts += 1
        session.add(row)
        session.commit()
        structlog.contextvars.bind_contextvars(ledger_id=row.id, mailbox=ref.source)
        try:
            if in_flight_at_a_crash and not _survives_alone(session, row, incoming, services):
                raise GaveUp
            started = time.perf_counter()
            deadline = time.monotonic() + services.limits.message_budget_seconds
            mail = _read(incoming, services, deadline)
            original = _identify(session, row, mail, incoming)
            if original is not None:
                _record_duplicate(session, row, original)
            else:
                decided = _decide(session, row, incoming, mail, services, deadline)
        except Exception as exc:  # noqa: BLE001 - one bad message must never stop the queue
            return _quarantine(session, row, exc, mailbox, incoming)
        finally:
            structlog.contextvars.unbind_contextvars("ledger_id", "mailbox")
        assert row.id is not None
        if original is not None:
            log.info("message_duplicate", ledger_id=row.id, reference=row.reference, outcome="duplicate")
            filed = _file(session, row, mailbox, incoming)
            return Taken(row.id, row.reference, "duplicate", row.filed_in or "", (), None, filed)
        assessment, completes, reply_key = decided
        log.info(
            "message_decided",
            ledger_id=row.id,
            reference=row.reference,
            outcome=assessment.outcome.kind,
            forms=list(assessment.outcome.forms),
            codes=sorted({p.code for p in assessment.outcome.problems}),
            reasons=list(assessment.outcome.reasons),
            reply=assessment.outcome.reply,
            suppressed=assessment.outcome.suppressed,
            resubmission_of=completes.root_id if completes else None,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        filed = _file(session, row, mailbox, incoming)
        return Taken(
            ledger_id=row.id,
            reference=completes.reference if completes else row.reference,
            outcome=assessment.outcome.kind,
            folder=row.filed_in or "",
            forms=assessment.outcome.forms,
            reply_key=reply_key,
            filed=filed,
        )


def _identify(
    session: Session, row: MessageRecord, mail: MailRead | None, incoming: IncomingMail
) -> MessageRecord | None:
    """Record who the message is (its fingerprint and the reference that follows from it) and return the first
    ledger row of the same message, if this is another delivery of one taken already.

    The fingerprint is committed before the message is decided, so that a delivery taken while this one waits
    to be tried again after a crash is still known for the same message. Rows from before fingerprints were
    recorded are matched by their exact bytes.
    """
    # A message whose reading ran out of time or memory is known by its bytes: nothing else of it is known.
    row.fingerprint = fingerprint(mail if isinstance(mail, Mail) else None, _identity(incoming))
    row.reference = reference_from(row.fingerprint)
    session.add(row)
    session.commit()
    return session.exec(
        select(MessageRecord)
        .where(
            (col(MessageRecord.fingerprint) == row.fingerprint) | (col(MessageRecord.sha256) == row.sha256),
            col(MessageRecord.duplicate_of).is_(None),
            col(MessageRecord.id) != row.id,
        )
        .order_by(col(MessageRecord.id))
    ).first()


def _decide(
    session: Session,
    row: MessageRecord,
    incoming: IncomingMail,
    mail: MailRead | None,
    services: Services,
    deadline: float,
) -> tuple[Assessment, Resubmission | None, str | None]:
    """Decide the message by ``deadline`` (its time budget, on the monotonic clock) and commit the decision:
    what was decided, the submission it completes, its reply's key."""
    if mail is None:
        raise MessageTooLarge(incoming.size, services.limits.max_message_bytes)
    # A message that could not be read names no thread: it is decided, for the team, on its own.
    claim = find_resubmission(session, mail, services.service) if isinstance(mail, Mail) else None
    # A message not trusted with the submission it names is decided as a submission of its own.
    completes = claim if isinstance(claim, Resubmission) else None
    assessment = _assess(incoming, mail, services, session, completes, deadline)
    assessment = replace(assessment, outcome=settle(assessment.outcome, claim))
    return assessment, completes, _record_decision(session, row, assessment, services, completes)


class GaveUp(Exception):
    """Raised when a message's solo attempts have crashed ``MAX_ATTEMPTS`` times: deciding it kills the process."""


def _survives_alone(session: Session, row: MessageRecord, incoming: IncomingMail, services: Services) -> bool:
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
        today=services.clock().astimezone(services.timezone).date(),
    )
    while row.solo_crashes < MAX_ATTEMPTS:
        try:
            end = services.solo.attempt(job)
        except OSError as exc:
            # No child could be started (out of processes or memory): the service's trouble, not the message's.
            log.warning("solo_attempt_not_started", ledger_id=row.id, error_type=type(exc).__name__)
            return True
        if end != "finished":
            row.solo_crashes += 1
            session.add(row)
            session.commit()
        # Logged once the attempt is over: a kill of the service during it is no event of the message's.
        log.info("solo_attempt", ledger_id=row.id, outcome=end, attempts=row.attempts, solo_crashes=row.solo_crashes)
        if end == "finished":
            return True
    return False


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


def _read(incoming: IncomingMail, services: Services, deadline: float) -> MailRead | None:
    """The message read once, in a parse worker by ``deadline``, for knowing it, finding the submission it
    answers and deciding it; None when it is too large to read (it is quarantined for the team, unread)."""
    if _too_large(incoming, services):
        return None
    return read_message(incoming.raw, services.limits, deadline=deadline)


def _assess(
    incoming: IncomingMail,
    mail: MailRead,
    services: Services,
    session: Session,
    resubmission: Resubmission | None = None,
    deadline: float | None = None,
) -> Assessment:
    today = services.clock().astimezone(services.timezone).date()
    earlier: tuple[Document, ...] = ()
    if resubmission is not None and resubmission.merges:
        earlier = stored_documents(session, resubmission.latest_id, services.definitions)
    # The rules stay pure: the shell reads the practice list and the open referrals and passes plain data.
    return assess(
        incoming.raw,
        definitions=services.definitions,
        service=services.service,
        limits=services.limits,
        received_at=incoming.received_at,
        today=today,
        practices=practice_codes(session),
        open_referrals=open_referrals(session),
        earlier=earlier,
        mail=mail,
        deadline=deadline,
    )


class MessageTooLarge(Exception):
    """Raised when a message is over ``limits.max_message_bytes``: it is quarantined for the team unread."""

    reason = "too_large"

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"message of {size} bytes, over the limit of {limit}")
        self.size = size
        self.limit = limit


def _record_decision(
    session: Session,
    row: MessageRecord,
    assessment: Assessment,
    services: Services,
    resubmission: Resubmission | None = None,
) -> str | None:
    """Commit the decision, the forms, the queue row, the reply and the audit trail in one transaction.

    For a ``resubmission`` the queue row and the reply carry the original submission's reference.
    """
    outcome = assessment.outcome
    now = services.clock()
    assert row.id is not None
    reference = resubmission.reference if resubmission else row.reference
    submission_id = resubmission.root_id if resubmission else row.id
    for position, document in enumerate(assessment.documents):
        form = document if isinstance(document, Form) else None
        session.add(
            FormRecord(
                message_id=row.id,
                position=position,
                filename=document.filename,
                kind=document.kind,
                readable=document.readable,
                problem=None if form else getattr(document, "problem", None),
                fields_json=json.dumps({k: _jsonable(v) for k, v in form.fields.items()} if form else {}),
                invalid_json=json.dumps([[e.key, e.code] for e in form.invalid] if form else []),
            )
        )
    if outcome.kind in ("accepted", "review", "mar_registration") and outcome.forms:
        patient = _patient(assessment)
        referral = ReferralRecord(
            reference=reference,
            message_id=row.id,
            kind="mar_registration" if "mar" in outcome.forms and outcome.kind != "review" else "referral",
            status="review" if outcome.kind == "review" else "new",
            outcome=outcome.kind,
            priority=assessment.triage.priority if assessment.triage else None,
            flags_json=json.dumps(list(assessment.triage.flags) if assessment.triage else []),
            reasons_json=json.dumps(list(outcome.reasons)),
            warnings_json=json.dumps(list(outcome.warnings)),
            nhs_number=_str(patient.get("patient.nhs_number")),
            surname=_str(patient.get("patient.surname")),
            forenames=_str(patient.get("patient.forenames")),
            date_of_birth=_date(patient.get("patient.dob")),
            created_at=now,
        )
        session.add(queue_row(session, referral) if resubmission else referral)
    reply_key = None
    if outcome.reply is not None:
        reply_key = _queue_reply(
            session, row, assessment, services, reference=reference, submission_id=submission_id, now=now
        )
    if resubmission is not None:
        row.submission_of = resubmission.root_id
        session.add(_audit(row.id, now, "resubmission", {"of": resubmission.root_id, "how": resubmission.how}))
    if outcome.suppressed is not None:
        session.add(manual_reply_item(row.id, now, outcome.suppressed, outcome.reply))
    session.add(
        _audit(
            row.id,
            now,
            "decided",
            {
                "outcome": outcome.kind,
                "reasons": list(outcome.reasons),
                "eligibility": list(outcome.eligibility),
                "warnings": list(outcome.warnings),
            },
            team=outcome.kind == "review",
        )
    )
    row.state = "decided"
    row.outcome = outcome.kind
    row.message_id = assessment.mail.message_id
    row.filed_in = FOLDERS[outcome.kind]
    session.add(row)
    session.commit()
    return reply_key


def _queue_reply(
    session: Session,
    row: MessageRecord,
    assessment: Assessment,
    services: Services,
    *,
    reference: str,
    submission_id: int,
    now: dt.datetime,
) -> str | None:
    """Put the reply the outcome asks for in the outbox, or a team item saying why it was held back; the key
    of the outbox row, or None."""
    outcome = assessment.outcome
    assert outcome.reply is not None
    assert row.id is not None
    try:
        recipient = reply_recipient(assessment.mail, services.service).header_form
        reply = build_reply(
            outcome.reply,
            mail=assessment.mail,
            problems=[p for p in outcome.problems if p.field is not None],
            missing_forms=[p.label for p in outcome.problems if p.code == "missing_form"],
            reference=reference,
            service=services.service,
            now=now,
        )
    except (NoReplyAddressError, UnsafeMessage) as exc:
        # Hostile or broken headers hold the reply back for the team; the decision itself stands.
        why = "no-reply-address" if isinstance(exc, NoReplyAddressError) else "unsafe-header"
        session.add(manual_reply_item(row.id, now, why, outcome.reply))
        return None
    limited = reply_limit(
        session, recipient=recipient, submission_id=submission_id, now=now, limits=services.outgoing.reply_limits
    )
    if limited is not None:
        session.add(manual_reply_item(row.id, now, limited, outcome.reply))
        return None
    key = f"reply-{row.reference}-{outcome.reply}"
    session.add(
        OutboxRecord(
            key=key,
            message_id=row.id,
            kind=f"reply_{outcome.reply}",
            recipient=recipient,
            raw=reply.as_bytes(),
            created_at=now,
            submission_id=submission_id,
            header_message_id=str(reply["Message-ID"]),
        )
    )
    return key


def _record_duplicate(session: Session, row: MessageRecord, original: MessageRecord) -> None:
    """Commit the message as another delivery of ``original``: nothing is decided, queued or sent again."""
    row.duplicate_of = original.id
    row.reference = original.reference
    row.state = "decided"
    row.outcome = "duplicate"
    row.filed_in = FOLDERS["duplicate"]
    session.add(row)
    assert row.id is not None
    session.add(_audit(row.id, row.taken_at, "duplicate", {"of": original.id}))
    session.commit()


def _quarantine(
    session: Session, row: MessageRecord, exc: Exception, mailbox: Mailbox, incoming: IncomingMail
) -> Taken:
    session.rollback()
    too_large = exc if isinstance(exc, MessageTooLarge) else None
    row.state = "quarantined"
    row.outcome = "quarantined"
    row.error = MessageTooLarge.reason if too_large else type(exc).__name__
    row.filed_in = FOLDERS["quarantined"]
    session.add(row)
    assert row.id is not None
    detail: dict[str, Any] = {"error": row.error}
    if too_large:
        detail |= {"size": too_large.size, "limit": too_large.limit}
    session.add(_audit(row.id, row.taken_at, "quarantined", detail, team=True))
    # The raw bytes are kept so `nmss-intake replay` can try again once the cause is fixed; never those of a
    # message over the size limit, which the database need not hold (a 1 GB blob is more than SQLite takes).
    raw = b"" if too_large else incoming.raw
    session.merge(QuarantineRecord(message_id=row.id, raw=raw, error=row.error, at=row.taken_at))
    session.commit()
    log.error("message_quarantined", ledger_id=row.id, reference=row.reference, error_type=row.error)
    filed = _file(session, row, mailbox, incoming)
    return Taken(row.id, row.reference, "quarantined", row.filed_in, (), None, filed)


def _file(session: Session, row: MessageRecord, mailbox: Mailbox, incoming: IncomingMail) -> bool:
    """Move the message to its outcome's folder; False when the mailbox refused.

    A refusal never stops the run: the decision is committed already, the ledger keeps the message
    ``decided`` and the next run, listing it again, only files it.
    """
    folder = row.filed_in or FOLDERS.get(row.outcome or "", "Review")
    try:
        mailbox.file(incoming.ref, folder)
    except Exception as exc:  # noqa: BLE001 - whatever the mailbox says, the messages behind this one go on
        log.warning("message_not_filed", ledger_id=row.id, folder=folder, error_type=type(exc).__name__)
        return False
    if row.state != "quarantined":
        row.state = "filed"
    session.add(row)
    session.commit()
    log.debug("message_filed", ledger_id=row.id, folder=folder)
    return True


def send_outbox(services: Services) -> SendReport:
    """Send the emails in the outbox that are due, and say what happened. The daemon's job calls this.

    A failed email is tried again after a back-off, and after too many tries (or a permanent refusal) it
    becomes an item for the team (``intake.outbox.send_due``).
    """
    return send_due(services.engine, services.sender, clock=services.clock, retry=services.outgoing.retry)


def _audit(message_id: int, at: dt.datetime, event: str, detail: dict[str, Any], *, team: bool = False) -> AuditEvent:
    return AuditEvent(at=at, message_id=message_id, event=event, detail=json.dumps(detail), team_item=team)


def _patient(assessment: Assessment) -> dict[str, Value]:
    """The patient's identifiers for the queue, from Form 2 first, then the MIAT, Form 1 and the MAR form."""
    patient: dict[str, Value] = {}
    order = {"form2": 0, "miat": 1, "form1": 2, "mar": 3}
    forms = sorted((d for d in assessment.documents if isinstance(d, Form)), key=lambda f: order[f.kind], reverse=True)
    for form in forms:
        patient.update({k: v for k, v in form.fields.items() if k.startswith("patient.")})
    return patient


def _jsonable(value: Value) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


def _str(value: Value | None) -> str | None:
    return value if isinstance(value, str) else None


def _date(value: Value | None) -> dt.date | None:
    return value if isinstance(value, dt.date) else None
