"""The team's working-day digest: gather it from the store, and queue it in the outbox once a day.

``queue_digest_if_due`` is what the scheduler calls, as often as it likes: on a working day, from the
configured time (08:30 Europe/London by default), it queues that day's digest under the key
``digest-YYYY-MM-DD`` unless a row with that key exists. The database, not the scheduler, says whether it went,
so a missed tick or a restart sends it late rather than never, and a second tick never sends it twice.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from config.settings import Settings
from intake.followups import due_calls, patient_of
from intake.store import AssessmentRecord, FormRecord, MessageRecord, OutboxRecord, ReferralRecord
from notifier.digest import Digest, MarRegistration, Patient, QueuedReferral, WaitingSubmission, build_digest
from rules.calendar import is_working_day, previous_working_day, received_in_hours, working_days_between

log = structlog.get_logger("intake.digest")

FORM_ORDER = ("form2", "miat", "form1", "mar")
"""Which form's patient details win when forms disagree: Form 2 first, as the queue does."""


def digest_key(day: dt.date) -> str:
    """The outbox key of the digest for ``day``: ``digest-2026-11-30``."""
    return f"digest-{day.isoformat()}"


def digest_day(now: dt.datetime, send_at: dt.time, tz: dt.tzinfo) -> dt.date | None:
    """The day whose digest is due at ``now``: today where the team works, if it is a working day and ``send_at``
    has passed there; else None."""
    local = now.astimezone(tz)
    if is_working_day(local.date()) and local.time() >= send_at:
        return local.date()
    return None


def gather_digest(engine: Engine, day: dt.date, *, send_at: dt.time, tz: dt.tzinfo, incomplete_days: int) -> Digest:
    """Everything the digest for ``day`` reports, read from the store.

    The queue holds referrals not yet assessed (accepted ones by priority, those for review with reasons);
    incomplete submissions are those no referral came of, received within ``incomplete_days`` working days;
    calls are those due by ``day`` and not made; MAR registrations are those since the previous working day's
    digest time.
    """
    since = dt.datetime.combine(previous_working_day(day), send_at, tzinfo=tz)
    with Session(engine) as session:
        assessed = set(session.exec(select(AssessmentRecord.referral_id)).all())
        rows = session.exec(
            select(ReferralRecord, MessageRecord).join(
                MessageRecord, col(ReferralRecord.message_id) == col(MessageRecord.id)
            )
        ).all()
        queued: list[QueuedReferral] = []
        review: list[QueuedReferral] = []
        mar: list[MarRegistration] = []
        for referral, message in rows:
            received = _received_on(message.received_at, tz)
            patient = patient_of(referral)
            if referral.kind == "mar_registration":
                if referral.created_at >= since:
                    mar.append(MarRegistration(referral.reference, received, patient))
                continue
            if referral.id in assessed:
                continue
            item = QueuedReferral(
                reference=referral.reference,
                received_on=received,
                patient=patient,
                priority=referral.priority,
                flags=tuple(json.loads(referral.flags_json)),
                reasons=tuple(json.loads(referral.reasons_json)),
            )
            (review if referral.status == "review" else queued).append(item)
        waiting = _waiting(session, day, tz, incomplete_days)
    return Digest(
        day=day,
        referrals=tuple(queued),
        review=tuple(review),
        waiting=tuple(waiting),
        calls=tuple(due_calls(engine, day)),
        mar=tuple(mar),
    )


def queue_digest_if_due(engine: Engine, settings: Settings, *, now: dt.datetime, tz: dt.tzinfo) -> str | None:
    """Queue today's digest in the outbox if it is due at ``now`` and not queued yet; returns its key if queued.

    Raises ``notifier.digest.InsecureRecipient`` when the team's addresses are missing or not on secure
    domains: nothing is queued, so the next tick tries again once the settings are fixed.
    """
    day = digest_day(now, settings.digest.send_at, tz)
    if day is None:
        return None
    return queue_digest(engine, settings, day=day, now=now, tz=tz)


def queue_digest(engine: Engine, settings: Settings, *, day: dt.date, now: dt.datetime, tz: dt.tzinfo) -> str | None:
    """Queue the digest for ``day`` unless it is queued already; returns its key if this call queued it."""
    key = digest_key(day)
    with Session(engine) as session:
        if session.exec(select(OutboxRecord.id).where(OutboxRecord.key == key)).first() is not None:
            return None
    digest = gather_digest(
        engine, day, send_at=settings.digest.send_at, tz=tz, incomplete_days=settings.digest.incomplete_days
    )
    message = build_digest(
        digest,
        recipients=settings.service.team_addresses,
        service=settings.service,
        secure_domains=settings.service.secure_domains,
        now=now,
    )
    with Session(engine) as session:
        session.add(
            OutboxRecord(key=key, kind="digest", recipient=str(message["To"]), raw=message.as_bytes(), created_at=now)
        )
        try:
            session.commit()
        except IntegrityError:
            # Another process queued the same day's digest between our check and our insert: theirs stands.
            session.rollback()
            return None
    # Counts only (the log's safe keys): the digest itself names patients.
    log.info("digest_queued", kind="digest", count=len(digest.referrals) + len(digest.review) + len(digest.calls))
    return key


def _waiting(session: Session, day: dt.date, tz: dt.tzinfo, incomplete_days: int) -> list[WaitingSubmission]:
    referred = set(session.exec(select(ReferralRecord.reference)).all())
    messages = session.exec(select(MessageRecord).where(MessageRecord.outcome == "incomplete")).all()
    waiting = []
    for message in messages:
        if message.reference in referred or message.id is None:
            continue
        received = _received_on(message.received_at, tz)
        age = working_days_between(received, day)
        if received > day or age > incomplete_days:
            continue
        forms = session.exec(select(FormRecord).where(FormRecord.message_id == message.id)).all()
        kinds = tuple(dict.fromkeys(f.kind for f in forms if f.kind))
        waiting.append(WaitingSubmission(message.reference, received, age, kinds, _patient_from_forms(forms)))
    return waiting


def _patient_from_forms(forms: Sequence[FormRecord]) -> Patient:
    fields: dict[str, Any] = {}
    ranked = sorted((f for f in forms if f.kind in FORM_ORDER), key=lambda f: FORM_ORDER.index(f.kind or ""))
    for form in reversed(ranked):
        fields.update({k: v for k, v in json.loads(form.fields_json).items() if k.startswith("patient.") and v})
    return Patient(
        nhs_number=_text(fields.get("patient.nhs_number")),
        surname=_text(fields.get("patient.surname")),
        forenames=_text(fields.get("patient.forenames")),
        date_of_birth=_iso_date(fields.get("patient.dob")),
    )


def _received_on(at: dt.datetime, tz: dt.tzinfo) -> dt.date:
    return received_in_hours(at, tz).date()


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _iso_date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
