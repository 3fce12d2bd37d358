"""The service layer: each thing a person can do, as a function that takes a unit of work.

Record a home assessment, record a follow-up call, resolve a team task, purge what retention makes due —
and, in their own modules for their size, replay a quarantined message (``intake.replay.replay``) and import
the practice list (``intake.practices.import_practices``). Each checks what it is asked, changes the store
through the unit of work's repositories and commits once; a refusal raises an ``IntakeError`` whose message
is one line for the person, and changes nothing. The CLI's commands and the web pages call these, never the store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from intake.errors import IntakeError
from intake.practices import import_practices
from intake.replay import replay
from intake.store import AssessmentRecord, FollowUpRecord, ReferralRecord
from intake.unit_of_work import UnitOfWork
from intake.views import TaskView, due_call, tasks
from notifier.digest import DueCall
from rules.calendar import local_day
from rules.followups import FollowUp, schedule_follow_ups
from rules.retention import RetentionPeriods, RetentionPlan, due_for_purge

log = structlog.get_logger("intake.commands")

__all__ = [
    "Assessed",
    "FollowUpAlreadyDone",
    "InvalidAssessmentDate",
    "NotAReferral",
    "TaskAlreadyDone",
    "UnknownFollowUp",
    "UnknownReferral",
    "UnknownTask",
    "import_practices",
    "purge",
    "record_assessment",
    "record_call",
    "replay",
    "resolve_task",
]


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


class UnknownTask(IntakeError):
    """Raised when no team task has the id given."""


class TaskAlreadyDone(IntakeError):
    """Raised when a task that was resolved before is resolved again (its note is kept)."""


@dataclass(frozen=True)
class Assessed:
    """What ``record_assessment`` did: the referral, the date, its calls, and whether an earlier date changed."""

    reference: str
    assessed_on: dt.date
    calls: tuple[FollowUp, ...]
    previous: dt.date | None


def record_assessment(
    uow: UnitOfWork, reference: str, assessed_on: dt.date, *, today: dt.date, now: dt.datetime
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
    referral = uow.queue.by_reference(reference)
    if referral is None or referral.id is None:
        raise UnknownReferral(f"no referral has reference {reference}")
    if referral.kind != "referral":
        raise NotAReferral(f"{reference} is a MAR chart registration: it has no home assessment")
    received = _received_on(uow, referral)
    if assessed_on > today:
        raise InvalidAssessmentDate(f"the assessment date {assessed_on} is in the future")
    if assessed_on < received:
        raise InvalidAssessmentDate(f"the assessment date {assessed_on} is before the referral arrived ({received})")
    assessment = uow.followups.assessment(referral.id)
    previous = assessment.assessed_on if assessment is not None else None
    if previous == assessed_on:
        return Assessed(reference, assessed_on, calls, previous)
    if assessment is None:
        assessment = AssessmentRecord(referral_id=referral.id, assessed_on=assessed_on, recorded_at=now)
    assessment.assessed_on = assessed_on
    assessment.recorded_at = now
    uow.followups.save(assessment)
    existing = uow.followups.calls_of(referral.id)
    for call in calls:
        row = existing.get(call.kind)
        if row is None:
            uow.followups.save(FollowUpRecord(referral_id=referral.id, kind=call.kind, due=call.due))
        elif row.done_at is None:
            row.due = call.due
            row.reminded_at = None
            uow.followups.save(row)
    uow.commit()
    log.info("assessment_recorded", reference=reference, state="moved" if previous else "recorded")
    return Assessed(reference, assessed_on, calls, previous)


def record_call(uow: UnitOfWork, followup_id: int, outcome: str, *, now: dt.datetime) -> DueCall:
    """Record follow-up call ``followup_id`` as made, with the team's note ``outcome``; returns the call.

    Raises:
        UnknownFollowUp: no call has that id.
        FollowUpAlreadyDone: the call was recorded as made before (its note is kept).
        ValueError: ``outcome`` is blank.
    """
    if not outcome.strip():
        raise ValueError("the outcome must not be empty")
    call = uow.followups.call(followup_id)
    if call is None:
        raise UnknownFollowUp(f"no follow-up call has id {followup_id}")
    if call.done_at is not None:
        raise FollowUpAlreadyDone(f"follow-up call {followup_id} was recorded as made on {call.done_at:%Y-%m-%d}")
    referral = uow.queue.get(call.referral_id)
    assert referral is not None  # a foreign key
    call.done_at = now
    call.outcome = outcome.strip()
    uow.followups.save(call)
    uow.commit()
    log.info("followup_done", reference=referral.reference, kind=call.kind)
    return due_call(call, referral, call.due)


def resolve_task(uow: UnitOfWork, task_id: int, *, by: str, note: str, now: dt.datetime) -> TaskView:
    """Mark team task ``task_id`` done by ``by``, with the ``note`` saying what was done; returns the task.

    Raises:
        UnknownTask: no task has that id.
        TaskAlreadyDone: the task was resolved before.
        ValueError: ``note`` is blank.
    """
    if not note.strip():
        raise ValueError("the note must not be empty")
    task = uow.tasks.get(task_id)
    if task is None:
        raise UnknownTask(f"no task has id {task_id}")
    if task.resolved_at is not None:
        raise TaskAlreadyDone(f"task {task_id} was done on {task.resolved_at:%Y-%m-%d} by {task.resolved_by}")
    uow.tasks.resolve(task, by=by, note=note.strip(), at=now)
    uow.commit()
    log.info("task_done", task_id=task_id, kind=task.kind)
    return next(t for t in tasks(uow, include_resolved=True) if t.id == task_id)


PURGE_BATCH = 500
"""Things purged per commit: a first purge of a long-running service (tens of thousands of rows) must not hold
the database's write lock for long, or the daemon's polls would wait behind it."""


def purge(
    uow: UnitOfWork,
    periods: RetentionPeriods,
    *,
    today: dt.date,
    now: dt.datetime,
    tz: dt.tzinfo,
    dry_run: bool = False,
) -> RetentionPlan:
    """Purge what retention makes due on ``today`` (``rules.retention``); returns what was purged, or with
    ``dry_run`` what would be, changing nothing.

    Each thing purged gets an audit row (ids and the period, never what it held) in the same commit, and the
    run one more with the counts. Commits come every ``PURGE_BATCH`` things of a kind, so a purge cut short has
    purged and audited whole batches and the next run takes the rest. Something purged by another instance meanwhile
    is neither purged nor audited twice.
    """
    plan = due_for_purge(
        uow.retention.messages(tz),
        uow.retention.referrals(tz),
        uow.retention.emails(tz),
        today=today,
        periods=periods,
    )
    if dry_run or not plan:
        return plan
    retention, audit = uow.retention, uow.audit
    copies = _in_batches(
        uow,
        plan.copies,
        lambda ids: retention.purge_copies(ids, now),
        lambda i: audit.record("copy_purged", at=now, message_id=i, days=periods.copies_days),
    )
    fields = _in_batches(
        uow,
        plan.fields,
        lambda ids: retention.purge_fields(ids, now),
        lambda i: audit.record("form_fields_purged", at=now, message_id=i, days=periods.patient_days),
    )
    referrals = _in_batches(uow, plan.referrals, lambda ids: _purge_referrals(uow, ids, periods, now), lambda _: None)
    emails = _in_batches(
        uow,
        plan.emails,
        lambda ids: retention.purge_emails(ids, now),
        lambda i: audit.record("sent_email_purged", at=now, outbox_id=i, days=periods.copies_days),
    )
    purged = RetentionPlan(tuple(copies), tuple(fields), tuple(referrals), tuple(emails))
    counts = purged.counts()
    if purged:
        audit.record("retention_purge", at=now, **counts)
        uow.commit()
    log.info(
        "retention_purged",
        message_copies=counts["message_copies"],
        form_fields=counts["form_fields"],
        referral_details=counts["referral_details"],
        sent_emails=counts["sent_emails"],
    )
    return purged


def _in_batches(
    uow: UnitOfWork,
    ids: Sequence[int],
    purge_batch: Callable[[Sequence[int]], list[int]],
    audit: Callable[[int], None],
) -> list[int]:
    """``purge_batch`` on ``ids``, ``PURGE_BATCH`` at a time, each batch committed with an audit row for each
    thing it purged; returns what was purged."""
    done: list[int] = []
    for start in range(0, len(ids), PURGE_BATCH):
        purged = purge_batch(ids[start : start + PURGE_BATCH])
        for item in purged:
            audit(item)
        uow.commit()
        done += purged
    return done


def _purge_referrals(uow: UnitOfWork, ids: Sequence[int], periods: RetentionPeriods, now: dt.datetime) -> list[int]:
    """Purge the patient's details of these referrals, each audited under its reference; returns those purged."""
    purged = []
    for referral_id in ids:
        reference = uow.retention.purge_referral(referral_id, now)
        if reference is None:
            continue  # another purge took it first
        row = uow.queue.get(referral_id)
        uow.audit.record(
            "patient_details_purged",
            at=now,
            message_id=row.message_id if row is not None else None,
            reference=reference,
            days=periods.patient_days,
        )
        purged.append(referral_id)
    return purged


def _received_on(uow: UnitOfWork, referral: ReferralRecord) -> dt.date:
    message = uow.ledger.get(referral.message_id)
    at = message.received_at if message is not None else referral.created_at
    return local_day(at)
