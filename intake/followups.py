"""Home assessments and the follow-up calls after them: record, list what is due, mark done, remind the team.

The due dates come from ``rules.followups``; this module keeps them in the ``assessment`` and ``followup``
tables. Reminders are rows too: ``queue_reminders`` puts one email per call into the outbox on the morning it
falls due and stamps ``reminded_at`` in the same commit, so a call is reminded once, a reminder missed while the
service was down is queued on the next run, and a crash can neither lose nor double one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from config.settings import ServiceSettings
from intake.errors import IntakeError
from intake.store import AssessmentRecord, FollowUpRecord, MessageRecord, OutboxRecord, ReferralRecord
from notifier.digest import DueCall, Patient, build_follow_up_reminder
from rules.calendar import OPENS, local_day, working_days_between
from rules.followups import LABELS, FollowUp, schedule_follow_ups

log = structlog.get_logger("intake.followups")


class UnknownReferral(IntakeError):
    """Raised when no referral in the queue has the reference given."""


class NotAReferral(IntakeError):
    """Raised when a home assessment is recorded against a MAR chart registration, which has none."""


class InvalidAssessmentDate(IntakeError):
    """Raised when an assessment date is in the future or before the referral was received."""


class UnknownFollowUp(IntakeError):
    """Raised when no follow-up call has the id given."""


class FollowUpAlreadyDone(IntakeError):
    """Raised when a follow-up call that was already recorded as made is marked done again."""


@dataclass(frozen=True)
class Assessed:
    """What ``record_assessment`` did: the referral, the date, its calls, and whether an earlier date changed."""

    reference: str
    assessed_on: dt.date
    calls: tuple[FollowUp, ...]
    previous: dt.date | None


def record_assessment(
    engine: Engine, reference: str, assessed_on: dt.date, *, today: dt.date, now: dt.datetime
) -> Assessed:
    """Record the home assessment of referral ``reference`` on ``assessed_on`` and schedule its three calls.

    Recording the same date again changes nothing. A different date moves the calls not yet made (and lets
    each be reminded again on its new date); calls already made keep their record.

    Raises:
        UnknownReferral: no referral has ``reference``.
        NotAReferral: ``reference`` is a MAR chart registration.
        InvalidAssessmentDate: ``assessed_on`` is after ``today`` or before the referral was received.
    """
    calls = schedule_follow_ups(assessed_on)
    with Session(engine) as session:
        referral = session.exec(select(ReferralRecord).where(ReferralRecord.reference == reference)).first()
        if referral is None or referral.id is None:
            raise UnknownReferral(f"no referral has reference {reference}")
        if referral.kind != "referral":
            raise NotAReferral(f"{reference} is a MAR chart registration: it has no home assessment")
        received = _received_on(session, referral)
        if assessed_on > today:
            raise InvalidAssessmentDate(f"the assessment date {assessed_on} is in the future")
        if assessed_on < received:
            raise InvalidAssessmentDate(
                f"the assessment date {assessed_on} is before the referral arrived ({received})"
            )
        assessment = session.get(AssessmentRecord, referral.id)
        previous = assessment.assessed_on if assessment is not None else None
        if previous == assessed_on:
            return Assessed(reference, assessed_on, calls, previous)
        if assessment is None:
            assessment = AssessmentRecord(referral_id=referral.id, assessed_on=assessed_on, recorded_at=now)
        assessment.assessed_on = assessed_on
        assessment.recorded_at = now
        session.add(assessment)
        existing = {
            row.kind: row
            for row in session.exec(select(FollowUpRecord).where(FollowUpRecord.referral_id == referral.id)).all()
        }
        for call in calls:
            row = existing.get(call.kind)
            if row is None:
                session.add(FollowUpRecord(referral_id=referral.id, kind=call.kind, due=call.due))
            elif row.done_at is None:
                row.due = call.due
                row.reminded_at = None
                session.add(row)
        session.commit()
        log.info("assessment_recorded", reference=reference, state="moved" if previous else "recorded")
    return Assessed(reference, assessed_on, calls, previous)


def due_calls(engine: Engine, day: dt.date) -> list[DueCall]:
    """Every follow-up call due on or before ``day`` and not yet made, most overdue first."""
    with Session(engine) as session:
        rows = session.exec(
            select(FollowUpRecord, ReferralRecord)
            .join(ReferralRecord, col(FollowUpRecord.referral_id) == col(ReferralRecord.id))
            .where(col(FollowUpRecord.done_at).is_(None), col(FollowUpRecord.due) <= day)
            .order_by(col(FollowUpRecord.due), col(FollowUpRecord.id))
        ).all()
        return [_due_call(call, referral, day) for call, referral in rows]


def mark_done(engine: Engine, followup_id: int, outcome: str, *, now: dt.datetime) -> DueCall:
    """Record follow-up call ``followup_id`` as made, with the team's note ``outcome``; returns the call.

    Raises:
        UnknownFollowUp: no call has that id.
        FollowUpAlreadyDone: the call was recorded as made before (its note is kept).
        ValueError: ``outcome`` is blank.
    """
    if not outcome.strip():
        raise ValueError("the outcome must not be empty")
    with Session(engine) as session:
        call = session.get(FollowUpRecord, followup_id)
        if call is None:
            raise UnknownFollowUp(f"no follow-up call has id {followup_id}")
        if call.done_at is not None:
            raise FollowUpAlreadyDone(f"follow-up call {followup_id} was recorded as made on {call.done_at:%Y-%m-%d}")
        referral = session.get(ReferralRecord, call.referral_id)
        assert referral is not None  # a foreign key
        call.done_at = now
        call.outcome = outcome.strip()
        session.add(call)
        session.commit()
        log.info("followup_done", reference=referral.reference, kind=call.kind)
        return _due_call(call, referral, call.due)


def queue_reminders(
    engine: Engine,
    *,
    now: dt.datetime,
    tz: dt.tzinfo,
    service: ServiceSettings,
    recipients: Sequence[str],
    secure_domains: Iterable[str],
) -> int:
    """Queue a reminder email for every call due by now (09:00 on its due date) and not yet reminded or made.

    Returns how many were queued. Raises ``notifier.digest.InsecureRecipient`` when the team's addresses are
    missing or not on secure domains: nothing is queued or stamped then, so the reminders wait for the fix.
    """
    local = now.astimezone(tz)
    day = local.date()
    domains = list(secure_domains)
    queued = 0
    with Session(engine) as session:
        query = (
            select(FollowUpRecord, ReferralRecord)
            .join(ReferralRecord, col(FollowUpRecord.referral_id) == col(ReferralRecord.id))
            .where(
                col(FollowUpRecord.done_at).is_(None),
                col(FollowUpRecord.reminded_at).is_(None),
                col(FollowUpRecord.due) <= day,
            )
            .order_by(col(FollowUpRecord.due), col(FollowUpRecord.id))
        )
        for call, referral in session.exec(query).all():
            if call.due == day and local.time() < OPENS:
                continue
            reminder = build_follow_up_reminder(
                _due_call(call, referral, day),
                recipients=recipients,
                service=service,
                secure_domains=domains,
                now=now,
            )
            key = f"reminder-followup-{call.id}-{call.due.isoformat()}"
            if session.exec(select(OutboxRecord.id).where(OutboxRecord.key == key)).first() is None:
                session.add(
                    OutboxRecord(
                        key=key,
                        kind="followup_reminder",
                        recipient=str(reminder["To"]),
                        raw=reminder.as_bytes(),
                        created_at=now,
                    )
                )
                queued += 1
            call.reminded_at = now
            session.add(call)
        session.commit()
    if queued:
        log.info("reminders_queued", count=queued)
    return queued


def follow_up_label(kind: str) -> str:
    """``"6 weeks"`` for ``"6w"`` and so on; an unknown kind reads as itself."""
    return LABELS.get(kind, kind)


def patient_of(referral: ReferralRecord) -> Patient:
    """The patient identifiers a queue row carries, as the team's mail shows them."""
    return Patient(
        nhs_number=referral.nhs_number,
        surname=referral.surname,
        forenames=referral.forenames,
        date_of_birth=referral.date_of_birth,
    )


def _due_call(call: FollowUpRecord, referral: ReferralRecord, day: dt.date) -> DueCall:
    assert call.id is not None
    return DueCall(
        followup_id=call.id,
        reference=referral.reference,
        kind=call.kind,
        label=follow_up_label(call.kind),
        due=call.due,
        overdue_working_days=working_days_between(call.due, day),
        patient=patient_of(referral),
    )


def _received_on(session: Session, referral: ReferralRecord) -> dt.date:
    message = session.get(MessageRecord, referral.message_id)
    at = message.received_at if message is not None else referral.created_at
    return local_day(at)
