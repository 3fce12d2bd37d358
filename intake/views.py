"""What a person reads, as plain query functions over a unit of work: the CLI and the web pages call these.

Each view reads and returns frozen dataclasses; none writes or commits (cosmicpython's ``views.py``). The
queue, one referral with its forms and history, the team's tasks, the calls due, the service's status and
the digest's content are each one function here.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from intake.store import AuditEvent, FollowUpRecord, FormRecord, MailboxState, ReferralRecord, TaskRecord
from intake.unit_of_work import UnitOfWork
from notifier.digest import (
    Digest,
    DueCall,
    MarRegistration,
    Patient,
    QueuedReferral,
    TaskToDo,
    WaitingSubmission,
)
from rules.calendar import previous_working_day, received_in_hours, working_days_between
from rules.followups import LABELS

PRIORITY_RANK = {"urgent": 0, "soon": 1, "routine": 2}

FORM_ORDER = ("form2", "miat", "form1", "mar")
"""Which form's patient details win when forms disagree: Form 2 first, as the queue does."""


@dataclass(frozen=True)
class QueueItem:
    """One row of the queue as the team sees it."""

    reference: str
    kind: str
    status: str
    priority: str | None
    flags: tuple[str, ...]
    reasons: tuple[str, ...]
    warnings: tuple[str, ...]
    patient: Patient
    created_at: dt.datetime
    purged_at: dt.datetime | None = None

    def as_json(self) -> dict[str, Any]:
        """The item as ``referrals list --json`` prints it."""
        return {
            "reference": self.reference,
            "kind": self.kind,
            "status": self.status,
            "priority": self.priority,
            "flags": list(self.flags),
            "reasons": list(self.reasons),
            "warnings": list(self.warnings),
            "nhs_number": self.patient.nhs_number,
            "surname": self.patient.surname,
            "forenames": self.patient.forenames,
            "date_of_birth": self.patient.date_of_birth.isoformat() if self.patient.date_of_birth else None,
            "created_at": self.created_at.isoformat(),
            "purged": self.purged_at is not None,
        }


@dataclass(frozen=True)
class FormSeen:
    """A document of a submission: what it was and whether it could be read."""

    message_id: int
    filename: str
    kind: str | None
    readable: bool
    problem: str | None


@dataclass(frozen=True)
class Event:
    """One line of a submission's history (codes and ids only)."""

    at: dt.datetime
    message_id: int | None
    event: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class TaskView:
    """A team task: what to do, about which reference, and whether and how it was resolved."""

    id: int
    kind: str
    reference: str | None
    action: str
    created_at: dt.datetime
    resolved_by: str | None
    resolved_at: dt.datetime | None
    note: str | None

    def as_json(self) -> dict[str, Any]:
        """The task as ``tasks list --json`` prints it."""
        return {
            "id": self.id,
            "kind": self.kind,
            "reference": self.reference,
            "action": self.action,
            "created_at": self.created_at.isoformat(),
            "resolved_by": self.resolved_by,
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "note": self.note,
        }


@dataclass(frozen=True)
class ReferralDetail:
    """One referral with the forms of every message of its submission, its history and its tasks."""

    item: QueueItem
    forms: tuple[FormSeen, ...]
    history: tuple[Event, ...]
    tasks: tuple[TaskView, ...]
    assessed_on: dt.date | None
    calls: tuple[DueCall, ...]


@dataclass(frozen=True)
class MailboxHealth:
    """One mailbox's health as ``nmss-intake status`` shows it.

    ``backlog`` counts messages taken from this mailbox but not yet filed (a decision or a move still to
    come); ``quarantined`` counts messages waiting for ``nmss-intake replay``.
    """

    name: str
    last_success_at: dt.datetime | None
    last_error: str | None
    last_error_at: dt.datetime | None
    consecutive_failures: int
    backlog: int
    quarantined: int
    token_expires_at: dt.datetime | None
    alerted: bool

    def as_json(self) -> dict[str, Any]:
        """The fields as JSON values, times in ISO 8601."""
        return {
            "mailbox": self.name,
            "last_success_at": _iso(self.last_success_at),
            "last_error": self.last_error,
            "last_error_at": _iso(self.last_error_at),
            "consecutive_failures": self.consecutive_failures,
            "backlog": self.backlog,
            "quarantined": self.quarantined,
            "token_expires_at": _iso(self.token_expires_at),
            "alerted": self.alerted,
        }


@dataclass(frozen=True)
class Quarantined:
    """A message waiting for ``nmss-intake replay``: ids, codes and times only."""

    id: int
    reference: str
    mailbox: str
    error: str
    at: dt.datetime


@dataclass(frozen=True)
class Status:
    """The service's status: each mailbox's health, the outbox, the quarantined messages, the open tasks."""

    mailboxes: tuple[MailboxHealth, ...]
    outbox_pending: int
    quarantined: tuple[Quarantined, ...]
    open_tasks: int


def queue(uow: UnitOfWork, status: str | None = None) -> list[QueueItem]:
    """The queue, most urgent first, then oldest first; only the rows with ``status`` if given."""
    rows = [referral for referral, _ in uow.queue.all(status)]
    rows.sort(key=lambda r: (PRIORITY_RANK.get(r.priority or "", 3), r.created_at, r.id or 0))
    return [_queue_item(row) for row in rows]


def referral(uow: UnitOfWork, reference: str) -> ReferralDetail | None:
    """Referral ``reference`` with its forms, its history and its tasks; None when nothing is queued under it."""
    row = uow.queue.by_reference(reference)
    if row is None or row.id is None:
        return None
    root = uow.ledger.by_reference(reference)
    messages = uow.ledger.of_submission(root.id) if root is not None and root.id is not None else []
    ids = [m.id for m in messages if m.id is not None]
    forms = tuple(_form_seen(form) for message_id in ids for form in uow.ledger.forms_of(message_id))
    history = tuple(_event(event) for event in uow.audit.of_messages(ids))
    tasks = tuple(_task(task) for task in uow.tasks.list(include_resolved=True) if task.reference == reference)
    assessment = uow.followups.assessment(row.id)
    calls = uow.followups.calls_of(row.id).values()
    return ReferralDetail(
        item=_queue_item(row),
        forms=forms,
        history=history,
        tasks=tasks,
        assessed_on=assessment.assessed_on if assessment else None,
        calls=tuple(sorted((due_call(call, row, call.due) for call in calls), key=lambda c: c.due)),
    )


def tasks(uow: UnitOfWork, *, include_resolved: bool = False) -> list[TaskView]:
    """The team's open tasks (or all of them), oldest first."""
    return [_task(task) for task in uow.tasks.list(include_resolved=include_resolved)]


def calls_due(uow: UnitOfWork, day: dt.date) -> list[DueCall]:
    """Every follow-up call due on or before ``day`` and not yet made, most overdue first."""
    return [due_call(call, referral, day) for call, referral in uow.followups.open_calls(day)]


def status(uow: UnitOfWork, mailboxes: Sequence[str]) -> Status:
    """Each of ``mailboxes`` (configured ones first, then any other with a record), the outbox, the
    quarantined messages and how many tasks are open."""
    states = uow.mailboxes.all()
    backlog = uow.ledger.unfiled_by_mailbox()
    quarantined = uow.ledger.quarantined_by_mailbox()
    names = list(dict.fromkeys([*mailboxes, *sorted(states)]))
    return Status(
        mailboxes=tuple(
            _health(states.get(name) or MailboxState(name=name), backlog.get(name, 0), quarantined.get(name, 0))
            for name in names
        ),
        outbox_pending=uow.outbox.pending(),
        quarantined=tuple(
            Quarantined(message.id or 0, message.reference, message.source, record.error, record.at)
            for message, record in uow.ledger.quarantined()
        ),
        open_tasks=len(uow.tasks.list()),
    )


def digest_content(uow: UnitOfWork, day: dt.date, *, send_at: dt.time, tz: dt.tzinfo, incomplete_days: int) -> Digest:
    """Everything the digest for ``day`` reports.

    The open tasks come first; the queue holds referrals not yet assessed (accepted ones by priority, those
    for review with reasons); incomplete submissions are those no referral came of, received within
    ``incomplete_days`` working days; calls are those due by ``day`` and not made; MAR registrations are
    those since the previous working day's digest time.
    """
    since = dt.datetime.combine(previous_working_day(day), send_at, tzinfo=tz)
    assessed = uow.followups.assessed()
    queued: list[QueuedReferral] = []
    review: list[QueuedReferral] = []
    mar: list[MarRegistration] = []
    for row, message in uow.queue.all():
        received = _received_on(message.received_at, tz)
        patient = patient_of(row)
        if row.kind == "mar_registration":
            if row.created_at >= since:
                mar.append(MarRegistration(row.reference, received, patient))
            continue
        if row.id in assessed:
            continue
        item = QueuedReferral(
            reference=row.reference,
            received_on=received,
            patient=patient,
            priority=row.priority,
            flags=tuple(json.loads(row.flags_json)),
            reasons=tuple(json.loads(row.reasons_json)),
        )
        (review if row.status == "review" else queued).append(item)
    return Digest(
        day=day,
        tasks=tuple(TaskToDo(task.id, task.reference, task.action) for task in tasks(uow)),
        referrals=tuple(queued),
        review=tuple(review),
        waiting=tuple(_waiting(uow, day, tz, incomplete_days)),
        calls=tuple(calls_due(uow, day)),
        mar=tuple(mar),
    )


def patient_of(row: ReferralRecord) -> Patient:
    """The patient identifiers a queue row carries, as the team's mail shows them."""
    return Patient(
        nhs_number=row.nhs_number,
        surname=row.surname,
        forenames=row.forenames,
        date_of_birth=row.date_of_birth,
        purged=row.purged_at is not None,
    )


def follow_up_label(kind: str) -> str:
    """``"6 weeks"`` for ``"6w"`` and so on; an unknown kind reads as itself."""
    return LABELS.get(kind, kind)


def due_call(call: FollowUpRecord, row: ReferralRecord, day: dt.date) -> DueCall:
    """Follow-up ``call`` of referral ``row`` as the team's lists show it on ``day``."""
    assert call.id is not None
    return DueCall(
        followup_id=call.id,
        reference=row.reference,
        kind=call.kind,
        label=follow_up_label(call.kind),
        due=call.due,
        overdue_working_days=working_days_between(call.due, day),
        patient=patient_of(row),
    )


def _queue_item(row: ReferralRecord) -> QueueItem:
    return QueueItem(
        reference=row.reference,
        kind=row.kind,
        status=row.status,
        priority=row.priority,
        flags=tuple(json.loads(row.flags_json)),
        reasons=tuple(json.loads(row.reasons_json)),
        warnings=tuple(json.loads(row.warnings_json)),
        patient=patient_of(row),
        created_at=row.created_at,
        purged_at=row.purged_at,
    )


def _task(task: TaskRecord) -> TaskView:
    assert task.id is not None
    return TaskView(
        id=task.id,
        kind=task.kind,
        reference=task.reference,
        action=task.action,
        created_at=task.created_at,
        resolved_by=task.resolved_by,
        resolved_at=task.resolved_at,
        note=task.note,
    )


def _form_seen(form: FormRecord) -> FormSeen:
    return FormSeen(form.message_id, form.filename, form.kind, form.readable, form.problem)


def _event(event: AuditEvent) -> Event:
    return Event(event.at, event.message_id, event.event, json.loads(event.detail or "{}"))


def _health(state: MailboxState, backlog: int, quarantined: int) -> MailboxHealth:
    return MailboxHealth(
        name=state.name,
        last_success_at=state.last_success_at,
        last_error=state.last_error,
        last_error_at=state.last_error_at,
        consecutive_failures=state.consecutive_failures,
        backlog=int(backlog),
        quarantined=int(quarantined),
        token_expires_at=state.token_expires_at,
        alerted=state.alerted_at is not None,
    )


def _waiting(uow: UnitOfWork, day: dt.date, tz: dt.tzinfo, incomplete_days: int) -> list[WaitingSubmission]:
    referred = uow.queue.references()
    waiting = []
    for message in uow.ledger.incomplete():
        if message.reference in referred or message.id is None:
            continue
        received = _received_on(message.received_at, tz)
        age = working_days_between(received, day)
        if received > day or age > incomplete_days:
            continue
        forms = uow.ledger.forms_of(message.id)
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


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


__all__ = [
    "Event",
    "FormSeen",
    "MailboxHealth",
    "Quarantined",
    "QueueItem",
    "ReferralDetail",
    "Status",
    "TaskView",
    "calls_due",
    "digest_content",
    "due_call",
    "follow_up_label",
    "patient_of",
    "queue",
    "referral",
    "status",
    "tasks",
]
