"""What the team sees: tasks to do by hand, one per event, the audit trail of what happened, and what the team
wrote about referrals."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, select

from intake.store import AuditEvent, ReferralNote, TaskRecord


class TeamTasks:
    """What the team must do by hand, one task per event."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def open(
        self,
        key: str,
        kind: str,
        action: str,
        *,
        now: dt.datetime,
        reference: str | None = None,
        message_id: int | None = None,
    ) -> bool:
        """Give the team a task for the event ``key`` names, unless it has one; True if this call made it."""
        if self.session.exec(select(TaskRecord.id).where(TaskRecord.key == key)).first() is not None:
            return False
        self.session.add(
            TaskRecord(key=key, kind=kind, action=action, reference=reference, message_id=message_id, created_at=now)
        )
        self.session.flush()
        return True

    def open_kinds(self, reference: str) -> frozenset[str]:
        """The kinds of the open tasks about submission ``reference``."""
        return frozenset(
            self.session.exec(
                select(TaskRecord.kind).where(TaskRecord.reference == reference, col(TaskRecord.resolved_at).is_(None))
            ).all()
        )

    def follow(self, reference: str, kind: str, action: str, *, message_id: int) -> None:
        """Point the open ``kind`` task about ``reference`` at ledger message ``message_id``, the newest that
        needs it, with that message's ``action``: what the team opens from the task (the forms to check, the
        reply by hand held back) is then the submission as it now stands."""
        for task in self.session.exec(
            select(TaskRecord).where(
                TaskRecord.reference == reference, TaskRecord.kind == kind, col(TaskRecord.resolved_at).is_(None)
            )
        ).all():
            task.message_id = message_id
            task.action = action
            self.session.add(task)

    def get(self, task_id: int) -> TaskRecord | None:
        """Task ``task_id``, or None."""
        return self.session.get(TaskRecord, task_id)

    def by_key(self, key: str) -> TaskRecord | None:
        """The task the event ``key`` made, or None."""
        return self.session.exec(select(TaskRecord).where(TaskRecord.key == key)).first()

    def list(self, *, include_resolved: bool = False) -> Sequence[TaskRecord]:
        """The open tasks (or every task), oldest first."""
        query = select(TaskRecord).order_by(col(TaskRecord.id))
        if not include_resolved:
            query = query.where(col(TaskRecord.resolved_at).is_(None))
        return self.session.exec(query).all()

    def of_reference(self, reference: str) -> Sequence[TaskRecord]:
        """Every task (open or resolved) about submission ``reference``, oldest first."""
        return self.session.exec(
            select(TaskRecord).where(TaskRecord.reference == reference).order_by(col(TaskRecord.id))
        ).all()

    def resolve(self, task: TaskRecord, *, by: str, note: str, at: dt.datetime) -> None:
        """Mark ``task`` done by ``by`` at ``at``, with the team's ``note``."""
        task.resolved_by = by
        task.resolved_at = at
        task.note = note
        self.session.add(task)


class Audit:
    """What happened, for audit: codes and ids only, never patient data."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def record(self, event: str, *, at: dt.datetime, message_id: int | None = None, **detail: Any) -> None:
        """Note ``event`` about ledger row ``message_id`` with ``detail`` (JSON values: codes and ids)."""
        self.session.add(AuditEvent(at=at, message_id=message_id, event=event, detail=json.dumps(detail)))

    def of_messages(self, message_ids: Sequence[int]) -> list[AuditEvent]:
        """Every event about these ledger rows, oldest first."""
        if not message_ids:
            return []
        return list(
            self.session.exec(
                select(AuditEvent)
                .where(col(AuditEvent.message_id).in_(list(message_ids)))
                .order_by(col(AuditEvent.at), col(AuditEvent.id))
            ).all()
        )

    def recent(self, events: Sequence[str], *, limit: int) -> list[AuditEvent]:
        """The newest ``limit`` events named in ``events``, newest first."""
        return list(
            self.session.exec(
                select(AuditEvent)
                .where(col(AuditEvent.event).in_(list(events)))
                .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
                .limit(limit)
            ).all()
        )


class Notes:
    """What people of the team wrote about referrals: notes and reasons for declining."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, note: ReferralNote) -> None:
        """Keep ``note``."""
        self.session.add(note)

    def of_referral(self, referral_id: int) -> list[ReferralNote]:
        """Everything written about referral ``referral_id``, oldest first."""
        return list(
            self.session.exec(
                select(ReferralNote)
                .where(ReferralNote.referral_id == referral_id)
                .order_by(col(ReferralNote.at), col(ReferralNote.id))
            ).all()
        )
