"""What a person reads, as plain query functions over a unit of work: the CLI and the web pages call these.

Each view reads and returns frozen dataclasses; none writes or commits (cosmicpython's ``views.py``). The
queue, one referral with its forms and history, the team's tasks, the calls due, the service's status and
the digest's content are each one function here.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, get_args

from config.settings import ServiceSettings
from intake.accounts import Account, account_of, normalise_email
from intake.errors import IntakeError
from intake.repositories.messages import PRIORITIES
from intake.store import AuditEvent, FollowUpRecord, FormRecord, MailboxState, ReferralRecord, TaskRecord
from intake.unit_of_work import UnitOfWork
from notifier.digest import (
    Digest,
    DueCall,
    MarRegistration,
    MissedDay,
    Patient,
    QueuedReferral,
    TaskToDo,
    WaitingSubmission,
)
from notifier.replies import reply_text
from parsers.types import Place
from rules.calendar import local_day, previous_working_day, received_in_hours, working_days_between
from rules.followups import LABELS
from rules.reports import (
    Arrival,
    Assessed,
    CallDue,
    StageCalls,
    WaitTimes,
    WeekOutcomes,
    assessment_times,
    calls_on_time,
    referrals_per_week,
    weeks_up_to,
)
from rules.types import Problem, ReplyKind

REPLY_KINDS = frozenset(get_args(ReplyKind))

STATUSES = ("new", "review")
"""The statuses of a referral still in the queue: accepted, or for the team to review (``declined`` ones have
left it)."""

HAND_REPLY_TASKS = frozenset({"reply_held_back"})
"""Tasks the team answers with a reply by hand, written in the workspace and sent through the outbox."""

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
class QueuePage:
    """One page of the queue: ``total`` rows match the filters, in ``pages`` pages; ``page`` is this one."""

    items: tuple[QueueItem, ...]
    total: int
    page: int
    pages: int


@dataclass(frozen=True)
class FormSeen:
    """A document of a submission: what it was, whether it could be read and what was read from it.

    ``fields`` are the values read, by the form definition's keys; ``invalid`` the values that failed their
    checks (each a JSON object with at least the field's key and a code).
    """

    id: int
    message_id: int
    position: int
    filename: str
    kind: str | None
    readable: bool
    problem: str | None
    fields: dict[str, Any]
    invalid: tuple[dict[str, Any], ...]
    purged: bool = False  # retention emptied ``fields``


@dataclass(frozen=True)
class Event:
    """One line of a submission's history: codes and ids in ``detail``; ``text`` is what a person of the team
    wrote (a note, why a referral was declined), the only part that may name the patient."""

    at: dt.datetime
    message_id: int | None
    event: str
    detail: dict[str, Any]
    text: str | None = None


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
class Call:
    """A follow-up call of a referral, made or still to make."""

    id: int
    kind: str
    label: str
    due: dt.date
    done_at: dt.datetime | None
    outcome: str | None


@dataclass(frozen=True)
class ReferralDetail:
    """One referral with the forms of every message of its submission, its history, tasks and calls.

    ``message_id`` is the ledger row of the message it was queued from, ``received_at`` when that arrived.
    """

    item: QueueItem
    message_id: int
    received_at: dt.datetime
    forms: tuple[FormSeen, ...]
    history: tuple[Event, ...]
    tasks: tuple[TaskView, ...]
    assessed_on: dt.date | None
    calls: tuple[Call, ...]


@dataclass(frozen=True)
class HandReplyDraft:
    """A reply by hand for ``task``, as the workspace first shows it: to the referrer (their address on the
    forms; empty when they gave none), with the subject and text of the automatic reply that was held back."""

    task: TaskView
    to: str
    subject: str
    body: str


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


@dataclass(frozen=True)
class FailedEmail:
    """An email the outbox gave up on: what kind it was, the error's class name, never its text or recipient."""

    id: int
    kind: str
    reference: str | None
    error: str | None
    attempts: int
    created_at: dt.datetime


@dataclass(frozen=True)
class OutboxView:
    """The outbox as the service page shows it."""

    pending: int
    failed: tuple[FailedEmail, ...]


@dataclass(frozen=True)
class PracticeList:
    """The practice list in numbers: practices by status code, their commissioners, when it was imported."""

    total: int
    active: int
    commissioners: tuple[str, ...]
    imported_at: dt.datetime | None


@dataclass(frozen=True)
class AccountChange:
    """One change to the workspace's accounts, from the audit trail: staff addresses and roles only."""

    at: dt.datetime
    event: str
    by: str
    email: str
    role: str | None


ACCOUNT_EVENTS = (
    "account_added",
    "account_changed",
    "account_role_changed",
    "account_disabled",
    "account_enabled",
    "password_chosen",
    "password_reset",
)


@dataclass(frozen=True)
class Reports:
    """The team's three reports over the same weeks (Mondays, oldest first)."""

    weeks: tuple[dt.date, ...]
    referrals: tuple[WeekOutcomes, ...]
    waits: tuple[WaitTimes, ...]
    calls: tuple[StageCalls, ...]


def queue(uow: UnitOfWork, status: str | None = None) -> list[QueueItem]:
    """Everything queued, referrals and MAR registrations, in the queue's order (most urgent first, then
    oldest first); only the rows with ``status`` if given."""
    return [_queue_item(row) for row in uow.queue.listed(status=status)]


def queue_page(
    uow: UnitOfWork,
    *,
    status: str | None = None,
    priority: str | None = None,
    page: int = 1,
    page_size: int = 25,
) -> QueuePage:
    """The referrals still to assess, in the queue's order, ``page_size`` to a page: page ``page`` (moved into
    range), only those with ``status`` and ``priority`` when given."""
    return _page(uow, status=status or STATUSES, priority=priority, kind="referral", page=page, page_size=page_size)


def mar_registrations(uow: UnitOfWork, *, page: int = 1, page_size: int = 25) -> QueuePage:
    """The MAR chart registrations in the queue, oldest first, ``page_size`` to a page."""
    return _page(uow, status=None, priority=None, kind="mar_registration", page=page, page_size=page_size)


def _page(
    uow: UnitOfWork,
    *,
    status: str | Sequence[str] | None,
    priority: str | None,
    kind: str,
    page: int,
    page_size: int,
) -> QueuePage:
    unassessed = kind == "referral"
    total = uow.queue.count(status=status, priority=priority, kind=kind, unassessed=unassessed)
    pages = max(1, -(-total // page_size))
    page = min(max(1, page), pages)
    rows = uow.queue.listed(
        status=status,
        priority=priority,
        kind=kind,
        unassessed=unassessed,
        limit=page_size,
        offset=(page - 1) * page_size,
    )
    return QueuePage(tuple(_queue_item(row) for row in rows), total, page, pages)


def referral(uow: UnitOfWork, reference: str) -> ReferralDetail | None:
    """Referral ``reference`` with the forms and history of every message of its submission, its tasks and its
    calls; None when nothing is queued under it."""
    row = uow.queue.by_reference(reference)
    if row is None or row.id is None:
        return None
    message = uow.ledger.get(row.message_id)
    if message is None:  # a foreign key: only a damaged database gets here
        raise IntakeError(f"the message referral {reference} came from is missing from the ledger")
    messages = uow.ledger.of_submission(message.submission_of or row.message_id)
    ids = [m.id for m in messages if m.id is not None]
    forms = tuple(_form_seen(form) for message_id in ids for form in uow.ledger.forms_of(message_id))
    notes = [Event(n.at, None, n.kind, {"by": n.by}, n.text) for n in uow.notes.of_referral(row.id)]
    events = [_event(event) for event in uow.audit.of_messages(ids)]
    history = tuple(sorted([*events, *notes], key=lambda event: event.at))
    tasks = tuple(_task(task) for task in uow.tasks.of_reference(reference))
    assessment = uow.followups.assessment(row.id)
    calls = sorted(uow.followups.calls_of(row.id).values(), key=lambda call: (call.due, call.id or 0))
    return ReferralDetail(
        item=_queue_item(row),
        message_id=row.message_id,
        received_at=message.received_at,
        forms=forms,
        history=history,
        tasks=tasks,
        assessed_on=assessment.assessed_on if assessment else None,
        calls=tuple(_call(call) for call in calls),
    )


def tasks(uow: UnitOfWork, *, include_resolved: bool = False) -> list[TaskView]:
    """The team's open tasks (or all of them), oldest first."""
    return [_task(task) for task in uow.tasks.list(include_resolved=include_resolved)]


def hand_reply_draft(
    uow: UnitOfWork, task_id: int, service: ServiceSettings, form_names: Mapping[str, str] | None = None
) -> HandReplyDraft | None:
    """The reply by hand that team task ``task_id`` asks for, prefilled; None when there is no such task or it
    is not one answered by a reply.

    The words are the automatic reply's (``notifier.replies.reply_text``) with the problems the decision
    recorded when it held the reply back; the address is the referrer's from the forms, Form 2's first.
    """
    task = uow.tasks.get(task_id)
    if task is None or task.kind not in HAND_REPLY_TASKS:
        return None
    message = uow.ledger.get(task.message_id) if task.message_id is not None else None
    events = uow.audit.of_messages([message.id]) if message is not None and message.id is not None else []
    held = [event for event in events if event.event == "reply_suppressed"]
    detail = _json_object(held[-1].detail) if held else {}
    kind: ReplyKind = detail["reply"] if detail.get("reply") in REPLY_KINDS else "incomplete"
    problems = [
        Problem(form=item[0], field=item[1], label=str(item[2]), code=str(item[3]))
        for item in detail.get("problems", [])
        if isinstance(item, list) and len(item) == 4
    ]
    reference = task.reference or (message.reference if message else "")
    text = reply_text(
        kind, problems=problems, missing_forms=[], reference=reference, service=service, form_names=form_names
    )
    forms = uow.ledger.forms_of(message.id) if message is not None and message.id is not None else []
    return HandReplyDraft(_task(task), _referrer_address(forms), text.subject, text.body)


def waiting(
    uow: UnitOfWork, day: dt.date, tz: dt.tzinfo, form_names: Mapping[str, str] | None = None
) -> list[WaitingSubmission]:
    """Incomplete submissions no referral came of yet, longest waiting first, each with its age in working
    days on ``day`` (England and Wales bank holidays are not working days) and its forms by ``form_names``."""
    found = _waiting(uow, day, tz, None, form_names or {})
    return sorted(found, key=lambda w: (-w.age_working_days, w.received_on, w.reference))


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


def outbox(uow: UnitOfWork) -> OutboxView:
    """How many emails wait to be sent, and those the outbox gave up on, newest first."""
    failed = []
    for item in uow.outbox.failed():
        assert item.id is not None
        answered = uow.ledger.get(item.message_id) if item.message_id is not None else None
        reference = answered.reference if answered is not None else None
        failed.append(FailedEmail(item.id, item.kind, reference, item.last_error, item.attempts, item.created_at))
    return OutboxView(pending=uow.outbox.pending(), failed=tuple(failed))


def practice_list(uow: UnitOfWork) -> PracticeList:
    """The practice list in numbers (all zero before the first import)."""
    practices = uow.practices.all()
    return PracticeList(
        total=len(practices),
        active=sum(1 for p in practices if p.status == "A"),
        commissioners=tuple(sorted({p.commissioner for p in practices})),
        imported_at=max((p.imported_at for p in practices), default=None),
    )


def account_changes(uow: UnitOfWork, *, limit: int = 20) -> list[AccountChange]:
    """The newest ``limit`` changes to the accounts, newest first."""
    changes = []
    for event in uow.audit.recent(ACCOUNT_EVENTS, limit=limit):
        detail = json.loads(event.detail or "{}")
        role = detail.get("role")
        changes.append(
            AccountChange(
                event.at, event.event, str(detail.get("by", "")), str(detail.get("email", "")), role and str(role)
            )
        )
    return changes


def reports(uow: UnitOfWork, today: dt.date, tz: dt.tzinfo) -> Reports:
    """The reports for the ``rules.reports.WEEKS`` weeks up to ``today`` (in the team's time zone ``tz``):
    submissions per week by their outcome, working days from arrival to assessment, calls made on time."""
    weeks = weeks_up_to(today)
    start = dt.datetime.combine(weeks[0], dt.time(), tzinfo=tz)
    messages = uow.ledger.arrivals_since(start)
    received = {id_: at for id_, submission_of, at, _ in messages if submission_of is None}
    latest: dict[int, str] = {}
    for id_, submission_of, _, outcome in messages:  # in the order taken: the last message says how it ended
        root = submission_of or id_
        if root in received and outcome:
            latest[root] = outcome
    # By the day the email arrived (the week it is in), whereas the wait for an assessment starts when the
    # team's working day does.
    arrivals = [Arrival(local_day(received[root], tz), outcome) for root, outcome in latest.items()]
    assessed = [
        Assessed(_received_on(arrived, tz), assessed_on)
        for assessed_on, arrived in uow.followups.assessed_since(weeks[0])
    ]
    calls = [
        CallDue(kind, due, local_day(done_at, tz) if done_at else None)
        for kind, due, done_at in uow.followups.due_between(weeks[0], today)
    ]
    return Reports(
        weeks=weeks,
        referrals=referrals_per_week(arrivals, weeks),
        waits=assessment_times(assessed, weeks),
        calls=calls_on_time(calls, weeks, today),
    )


def digest_content(
    uow: UnitOfWork,
    day: dt.date,
    *,
    send_at: dt.time,
    tz: dt.tzinfo,
    incomplete_days: int,
    form_names: Mapping[str, str] | None = None,
    missed: Sequence[dt.date] = (),
) -> Digest:
    """Everything the digest for ``day`` reports.

    The open tasks come first; the queue holds referrals not yet assessed (accepted ones by priority, those
    for review with reasons); incomplete submissions are those no referral came of, received within
    ``incomplete_days`` working days, with their forms by ``form_names`` (their printed names, by kind); calls
    are those due by ``day`` and not made; MAR registrations are those since the previous working day's
    digest time.

    ``missed`` are earlier working days whose digest was never sent, oldest first (``intake.digest``): each gets
    a section of what came in for it (decided between its previous working day's digest time and its own),
    and the registrations before ``day``'s window go there, so that each is reported once.
    """
    windows = [*missed, day]
    starts = [dt.datetime.combine(previous_working_day(d), send_at, tzinfo=tz) for d in windows]
    since = starts[-1]
    assessed = uow.followups.assessed()
    queued: list[QueuedReferral] = []
    review: list[QueuedReferral] = []
    mar: list[MarRegistration] = []
    earlier: dict[dt.date, list[tuple[str, QueuedReferral | MarRegistration]]] = {d: [] for d in missed}
    for row, message in uow.queue.all():
        received = _received_on(message.received_at, tz)
        patient = patient_of(row)
        item = QueuedReferral(
            reference=row.reference,
            received_on=received,
            patient=patient,
            priority=row.priority,
            flags=tuple(json.loads(row.flags_json)),
            reasons=tuple(json.loads(row.reasons_json)),
        )
        registration = MarRegistration(row.reference, received, patient)
        section = "mar" if row.kind == "mar_registration" else "review" if row.status == "review" else "queue"
        window = _window(row.created_at, starts)
        if window is not None and window < len(missed):
            earlier[missed[window]].append((section, registration if section == "mar" else item))
        if row.kind == "mar_registration":
            if row.created_at >= since:
                mar.append(registration)
            continue
        if row.id in assessed or row.status not in STATUSES:
            continue
        (review if section == "review" else queued).append(item)
    return Digest(
        day=day,
        tasks=tuple(TaskToDo(task.id, task.reference, task.action) for task in tasks(uow)),
        referrals=tuple(queued),
        review=tuple(review),
        waiting=tuple(_waiting(uow, day, tz, incomplete_days, form_names or {})),
        calls=tuple(calls_due(uow, day)),
        mar=tuple(mar),
        missed=tuple(_missed_day(d, earlier[d]) for d in missed),
    )


def _window(at: dt.datetime, starts: Sequence[dt.datetime]) -> int | None:
    """Which window ``at`` falls in: the last whose start it is at or after; None before the first."""
    found = None
    for index, start in enumerate(starts):
        if at >= start:
            found = index
    return found


def _missed_day(day: dt.date, items: Sequence[tuple[str, QueuedReferral | MarRegistration]]) -> MissedDay:
    return MissedDay(
        day=day,
        referrals=tuple(i for section, i in items if section == "queue" and isinstance(i, QueuedReferral)),
        review=tuple(i for section, i in items if section == "review" and isinstance(i, QueuedReferral)),
        mar=tuple(i for section, i in items if section == "mar" and isinstance(i, MarRegistration)),
    )


def account(uow: UnitOfWork, email: str) -> Account | None:
    """The account that signs in as ``email`` (however it is capitalised), or None (none, or disabled)."""
    try:
        address = normalise_email(email)
    except IntakeError:
        return None
    row = uow.users.by_email(address)
    return account_of(row) if row is not None and row.disabled_at is None else None


def accounts(uow: UnitOfWork) -> list[Account]:
    """Every account, disabled ones too, by address."""
    return [account_of(row) for row in uow.users.all()]


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


def _call(call: FollowUpRecord) -> Call:
    assert call.id is not None
    return Call(call.id, call.kind, follow_up_label(call.kind), call.due, call.done_at, call.outcome)


def _form_seen(form: FormRecord) -> FormSeen:
    assert form.id is not None
    invalid = _json_list(form.invalid_json)
    return FormSeen(
        id=form.id,
        message_id=form.message_id,
        position=form.position,
        filename=form.filename,
        kind=form.kind,
        readable=form.readable,
        problem=form.problem,
        fields=_json_object(form.fields_json),
        invalid=tuple(item for item in invalid if isinstance(item, dict)),
        purged=form.purged_at is not None,
    )


def _event(event: AuditEvent) -> Event:
    return Event(event.at, event.message_id, event.event, _json_object(event.detail))


def _json_object(text: str | None) -> dict[str, Any]:
    """``text`` read as a JSON object; empty when it is blank, unreadable or something else."""
    value = _json(text)
    return value if isinstance(value, dict) else {}


def _json_list(text: str | None) -> list[Any]:
    """``text`` read as a JSON array; empty when it is blank, unreadable or something else."""
    value = _json(text)
    return value if isinstance(value, list) else []


def _json(text: str | None) -> Any:
    try:
        return json.loads(text or "null")
    except ValueError:
        return None


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


def _waiting(
    uow: UnitOfWork, day: dt.date, tz: dt.tzinfo, incomplete_days: int | None, form_names: Mapping[str, str]
) -> list[WaitingSubmission]:
    referred = uow.queue.references()
    waiting = []
    for message in uow.ledger.incomplete():
        if message.reference in referred or message.id is None:
            continue
        received = _received_on(message.received_at, tz)
        age = working_days_between(received, day)
        if received > day or (incomplete_days is not None and age > incomplete_days):
            continue
        forms = uow.ledger.forms_of(message.id)
        names = tuple(dict.fromkeys(form_names.get(f.kind, f.kind) for f in forms if f.kind))
        waiting.append(WaitingSubmission(message.reference, received, age, names, _patient_from_forms(forms)))
    return waiting


def _in_form_order(forms: Sequence[FormRecord]) -> list[FormRecord]:
    """The forms of ``FORM_ORDER``'s kinds, in that order: the first says best who the referrer and patient are."""
    return sorted((f for f in forms if f.kind in FORM_ORDER), key=lambda f: FORM_ORDER.index(f.kind or ""))


def _referrer_address(forms: Sequence[FormRecord]) -> str:
    for form in _in_form_order(forms):
        value = _json_object(form.fields_json).get("referrer.email")
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _patient_from_forms(forms: Sequence[FormRecord]) -> Patient:
    fields: dict[str, Any] = {}
    for form in reversed(_in_form_order(forms)):
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
    "ACCOUNT_EVENTS",
    "HAND_REPLY_TASKS",
    "PRIORITIES",
    "STATUSES",
    "AccountChange",
    "Call",
    "Event",
    "FailedEmail",
    "FormSeen",
    "HandReplyDraft",
    "MailboxHealth",
    "OutboxView",
    "PracticeList",
    "Quarantined",
    "QueueItem",
    "QueuePage",
    "ReferralDetail",
    "Reports",
    "Status",
    "TaskView",
    "account",
    "account_changes",
    "accounts",
    "calls_due",
    "digest_content",
    "due_call",
    "follow_up_label",
    "hand_reply_draft",
    "mar_registrations",
    "outbox",
    "patient_of",
    "practice_list",
    "queue",
    "queue_page",
    "referral",
    "reports",
    "status",
    "tasks",
    "waiting",
]


# -- the documents themselves: where each value was read, and the originals --------------------------------


@dataclass(frozen=True)
class FieldPlace:
    """Where a field's value was read: its page, the label (or fillable field) matched, and its box on the page's
    picture (None where the file does not say: a Word document, or a form recorded before places were kept)."""

    key: str
    page: int
    label: str
    place: Place | None


@dataclass(frozen=True)
class DocumentFacts:
    """What the referral page says of one document besides its fields: how it was read, where each value was,
    and its original: kept (``size`` bytes), purged (``purged_at``), or never kept (``size`` None).

    ``same_as`` is the form whose original and places these are, when the document is an earlier one that a
    resubmission carried over (the same form, file name and values), kept once with the earlier email.
    """

    form_id: int
    source: str | None
    places: dict[str, FieldPlace]
    size: int | None
    sha256: str | None
    purged: bool
    purged_at: dt.datetime | None
    same_as: int | None = None

    @property
    def downloadable(self) -> bool:
        """Whether the original can be downloaded (kept and not purged)."""
        return self.size is not None and not self.purged


@dataclass(frozen=True)
class Original:
    """Document ``number`` (1-based, in the referral page's order) of referral ``reference``, with its bytes.

    ``content`` is None when the original was never kept or was purged (``purged_at``); ``message_id`` is the
    referral's ledger row, whose history records who downloaded it.
    """

    reference: str
    number: int
    message_id: int
    form_id: int
    filename: str
    kind: str | None
    content: bytes | None
    sha256: str | None
    purged_at: dt.datetime | None
    kept: bool


def documents(uow: UnitOfWork, form_ids: Sequence[int]) -> dict[int, DocumentFacts]:
    """Forms ``form_ids`` (by id; in the referral page's order) with where each value was read and what is
    known of the original. A document a resubmission carried over is given the earlier copy's facts."""
    out: dict[int, DocumentFacts] = {}
    found = {form.id: (form, facts) for form, facts in uow.documents.facts(form_ids)}
    originals: dict[tuple[str | None, str, str], int] = {}
    for form_id in form_ids:
        if form_id not in found:
            continue
        form, facts = found[form_id]
        same = (form.kind, form.filename, form.fields_json)
        earlier = originals.get(same)
        if facts is None and earlier is not None:
            out[form_id] = replace(out[earlier], form_id=form_id, same_as=earlier)
            continue
        if facts is not None:
            originals.setdefault(same, form_id)
        out[form_id] = DocumentFacts(
            form_id=form_id,
            source=form.source,
            places={p.key: p for p in _places(form.found_json)},
            size=facts.size if facts else None,
            sha256=facts.sha256 if facts else None,
            purged=facts.purged if facts else False,
            purged_at=facts.purged_at if facts else None,
        )
    return out


def original(uow: UnitOfWork, reference: str, number: int) -> Original | None:
    """Document ``number`` of referral ``reference``, or None when the referral or the document does not exist."""
    row = uow.queue.by_reference(reference)
    root = uow.ledger.by_reference(reference)
    if row is None or root is None or root.id is None or number < 1:
        return None
    ids = [m.id for m in uow.ledger.of_submission(root.id) if m.id is not None]
    forms = uow.documents.of_submission(ids)
    if number > len(forms):
        return None
    form = forms[number - 1]
    assert form.id is not None
    file = uow.documents.file_of(form.id)
    return Original(
        reference=reference,
        number=number,
        message_id=row.message_id,
        form_id=form.id,
        filename=form.filename,
        kind=form.kind,
        content=file.content if file else None,
        sha256=file.sha256 if file else None,
        purged_at=file.purged_at if file else None,
        kept=file is not None,
    )


def _places(text: str | None) -> list[FieldPlace]:
    places = []
    for item in _json_list(text):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            continue
        box = item.get("place")
        place = Place(*(float(v) for v in box)) if isinstance(box, list) and len(box) == 6 else None
        places.append(FieldPlace(item["key"], int(item.get("page") or 1), str(item.get("label") or ""), place))
    return places
