"""What the workspace's pages read, as plain query functions over the engine.

Kept to one module of plain functions returning frozen dataclasses, with no session of their own, so that the
service layer's views can take them over: the queue page, one referral with its forms and history, and the
access audit that records who saw a referral.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, case, func, insert, or_, select

from intake.store import AssessmentRecord, AuditEvent, FollowUpRecord, FormRecord, MessageRecord, ReferralRecord
from notifier.digest import Patient

PRIORITIES = ("urgent", "soon", "routine")
STATUSES = ("new", "review")

_referral = ReferralRecord.__table__  # type: ignore[attr-defined]
_message = MessageRecord.__table__  # type: ignore[attr-defined]
_form = FormRecord.__table__  # type: ignore[attr-defined]
_audit = AuditEvent.__table__  # type: ignore[attr-defined]
_assessment = AssessmentRecord.__table__  # type: ignore[attr-defined]
_followup = FollowUpRecord.__table__  # type: ignore[attr-defined]


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


@dataclass(frozen=True)
class QueuePage:
    """One page of the queue: ``total`` rows match the filters, in ``pages`` pages."""

    items: tuple[QueueItem, ...]
    total: int
    page: int
    pages: int


@dataclass(frozen=True)
class FormSeen:
    """A document of a submission: what it was, whether it could be read and what was read from it."""

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
    """One line of a referral's history (codes and ids; ``detail`` never holds patient data)."""

    at: dt.datetime
    message_id: int | None
    event: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class Call:
    """A follow-up call of a referral."""

    id: int
    kind: str
    due: dt.date
    done_at: dt.datetime | None
    outcome: str | None


@dataclass(frozen=True)
class ReferralDetail:
    """One referral with the forms of every message of its submission, its history and its calls."""

    item: QueueItem
    message_id: int
    received_at: dt.datetime
    forms: tuple[FormSeen, ...]
    history: tuple[Event, ...]
    assessed_on: dt.date | None
    calls: tuple[Call, ...]


def queue_page(
    engine: Engine, *, status: str | None = None, priority: str | None = None, page: int = 1, page_size: int = 25
) -> QueuePage:
    """Referrals not yet assessed, urgent first, then soon, routine and unprioritised, oldest first within each."""
    where = [_referral.c.kind == "referral", _referral.c.id.not_in(select(_assessment.c.referral_id))]
    if status:
        where.append(_referral.c.status == status)
    if priority:
        where.append(_referral.c.priority == priority)
    rank = case({p: i for i, p in enumerate(PRIORITIES)}, value=_referral.c.priority, else_=len(PRIORITIES))
    with engine.connect() as connection:
        total = int(connection.execute(select(func.count()).select_from(_referral).where(*where)).scalar_one())
        pages = max(1, -(-total // page_size))
        page = min(max(1, page), pages)
        rows = connection.execute(
            select(_referral)
            .where(*where)
            .order_by(rank, _referral.c.created_at, _referral.c.id)
            .limit(page_size)
            .offset((page - 1) * page_size)
        ).all()
    return QueuePage(tuple(_item(row) for row in rows), total, page, pages)


def referral_detail(engine: Engine, reference: str) -> ReferralDetail | None:
    """The referral queued under ``reference``, or None when there is none."""
    with engine.connect() as connection:
        row = connection.execute(select(_referral).where(_referral.c.reference == reference)).first()
        if row is None:
            return None
        message = connection.execute(select(_message).where(_message.c.id == row.message_id)).one()
        root = message.submission_of or message.id
        ids = [
            m.id
            for m in connection.execute(
                select(_message.c.id).where(or_(_message.c.id == root, _message.c.submission_of == root))
            ).all()
        ]
        forms = connection.execute(
            select(_form).where(_form.c.message_id.in_(ids)).order_by(_form.c.message_id, _form.c.position)
        ).all()
        events = connection.execute(
            select(_audit).where(_audit.c.message_id.in_(ids)).order_by(_audit.c.at, _audit.c.id)
        ).all()
        assessed = connection.execute(
            select(_assessment.c.assessed_on).where(_assessment.c.referral_id == row.id)
        ).scalar_one_or_none()
        calls = connection.execute(
            select(_followup).where(_followup.c.referral_id == row.id).order_by(_followup.c.due)
        ).all()
    return ReferralDetail(
        item=_item(row),
        message_id=row.message_id,
        received_at=message.received_at,
        forms=tuple(_form_seen(form) for form in forms),
        history=tuple(Event(e.at, e.message_id, e.event, _json_object(e.detail)) for e in events),
        assessed_on=assessed,
        calls=tuple(Call(c.id, c.kind, c.due, c.done_at, c.outcome) for c in calls),
    )


def record_view(engine: Engine, message_id: int, viewer: str, *, now: dt.datetime) -> None:
    """Record that ``viewer`` (a staff email address) saw the referral of ledger message ``message_id``."""
    with engine.begin() as connection:
        connection.execute(
            insert(_audit).values(
                at=now, message_id=message_id, event="viewed", detail=json.dumps({"by": viewer}), team_item=False
            )
        )


def _item(row: Any) -> QueueItem:
    return QueueItem(
        reference=row.reference,
        kind=row.kind,
        status=row.status,
        priority=row.priority,
        flags=_codes(row.flags_json),
        reasons=_codes(row.reasons_json),
        warnings=_codes(row.warnings_json),
        patient=Patient(
            nhs_number=row.nhs_number,
            surname=row.surname,
            forenames=row.forenames,
            date_of_birth=row.date_of_birth,
            purged=row.purged_at is not None,
        ),
        created_at=row.created_at,
    )


def _form_seen(row: Any) -> FormSeen:
    invalid = json.loads(row.invalid_json or "[]")
    return FormSeen(
        id=row.id,
        message_id=row.message_id,
        position=row.position,
        filename=row.filename,
        kind=row.kind,
        readable=row.readable,
        problem=row.problem,
        fields=_json_object(row.fields_json),
        invalid=tuple(item for item in invalid if isinstance(item, dict)),
        purged=row.purged_at is not None,
    )


def _codes(text: str | None) -> tuple[str, ...]:
    value = json.loads(text or "[]")
    return tuple(str(code) for code in value) if isinstance(value, list) else ()


def _json_object(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


__all__: Sequence[str] = [
    "PRIORITIES",
    "STATUSES",
    "Call",
    "Event",
    "FormSeen",
    "QueueItem",
    "QueuePage",
    "ReferralDetail",
    "queue_page",
    "record_view",
    "referral_detail",
]
