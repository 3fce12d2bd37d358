"""Reminders of follow-up calls: one email per call on the morning it falls due, queued by the scheduler.

Recording an assessment and a call is the service layer's (``intake.commands``); the lists of calls due are
views (``intake.views.calls_due``). ``queue_reminders`` puts one email per call into the outbox and stamps
``reminded_at`` in the same unit of work, so a call is reminded once, a reminder missed while the service was
down is queued on the next run, and a crash can neither lose nor double one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import structlog

from config.settings import ServiceSettings
from intake.unit_of_work import UnitOfWork
from intake.views import due_call
from notifier.digest import build_follow_up_reminder
from rules.calendar import OPENS

log = structlog.get_logger("intake.followups")


def reminder_key(followup_id: int, due: dt.date) -> str:
    """The outbox key of the reminder of call ``followup_id`` due on ``due``: a moved call is reminded again."""
    return f"reminder-followup-{followup_id}-{due.isoformat()}"


def queue_reminders(
    uow: UnitOfWork,
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
    for call, referral in uow.followups.open_calls(day, unreminded=True):
        if call.due == day and local.time() < OPENS:
            continue
        reminder = build_follow_up_reminder(
            due_call(call, referral, day), recipients=recipients, service=service, secure_domains=domains, now=now
        )
        assert call.id is not None
        if uow.outbox.enqueue(reminder_key(call.id, call.due), "followup_reminder", reminder, now=now):
            queued += 1
        call.reminded_at = now
        uow.followups.save(call)
    uow.commit()
    if queued:
        log.info("reminders_queued", count=queued)
    return queued
