"""What retention needs from the store: the facts ``rules.retention`` decides by, and the purges it orders.

Each purge is a conditional update (``WHERE purged_at IS NULL``) that returns the rows it changed, so two
instances purging at once purge, and audit, each thing once.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from intake.store import (
    AssessmentRecord,
    FollowUpRecord,
    FormFile,
    FormRecord,
    MessageRecord,
    OutboxRecord,
    QuarantineRecord,
    ReferralNote,
    ReferralRecord,
    TaskRecord,
)
from rules.retention import EmailFacts, MessageFacts, ReferralFacts

FILED_STATES = ("filed", "quarantined")
"""Ledger states of a message the service has finished handling (moved to its folder, or quarantined)."""

EMPTY_FIELDS = "{}"

PURGED_NOTE = "(purged under the retention settings)"
"""What a team's note on a purged referral's call or task reads as: every list shows it as it would the note."""


class Retention:
    """Facts for the retention rules, and the purges they order."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # -- facts -------------------------------------------------------------------------------------------------

    def messages(self, tz: dt.tzinfo) -> list[MessageFacts]:
        """Every message in the ledger, with its submission, filing day, open tasks and what of it is held."""
        rows = self.session.exec(
            select(MessageRecord.id, MessageRecord.submission_of, MessageRecord.state, MessageRecord.taken_at)
        ).all()
        copies = set(
            self.session.exec(
                select(QuarantineRecord.message_id).where(
                    col(QuarantineRecord.purged_at).is_(None), func.length(QuarantineRecord.raw) > 0
                )
            ).all()
        )
        # A document's original bytes are a copy of the message too.
        copies |= set(
            self.session.exec(
                select(FormRecord.message_id)
                .join(FormFile, col(FormFile.form_id) == col(FormRecord.id))
                .where(col(FormFile.content).is_not(None))
            ).all()
        )
        with_fields = set(
            self.session.exec(
                select(FormRecord.message_id).where(
                    col(FormRecord.purged_at).is_(None), FormRecord.fields_json != EMPTY_FIELDS
                )
            ).all()
        )
        open_tasks = self._open_tasks()
        facts = []
        for ledger_id, submission_of, state, taken_at in rows:
            assert ledger_id is not None
            facts.append(
                MessageFacts(
                    ledger_id=ledger_id,
                    submission=submission_of or ledger_id,
                    filed_on=taken_at.astimezone(tz).date() if state in FILED_STATES else None,
                    open_tasks=open_tasks[ledger_id],
                    copy_held=ledger_id in copies,
                    fields_held=ledger_id in with_fields,
                )
            )
        return facts

    def referrals(self, tz: dt.tzinfo) -> dict[int, ReferralFacts]:
        """Each referral by its submission (the ledger id of the submission's first message)."""
        submission_of = dict(self.session.exec(select(MessageRecord.id, MessageRecord.submission_of)).all())
        assessed = set(self.session.exec(select(AssessmentRecord.referral_id)).all())
        calls: dict[int, list[dt.date | None]] = {}
        for referral_id, done_at in self.session.exec(select(FollowUpRecord.referral_id, FollowUpRecord.done_at)):
            calls.setdefault(referral_id, []).append(done_at.astimezone(tz).date() if done_at else None)
        facts = {}
        for row in self.session.exec(select(ReferralRecord)).all():
            assert row.id is not None
            facts[submission_of.get(row.message_id) or row.message_id] = ReferralFacts(
                referral_id=row.id,
                kind=row.kind,
                assessed=row.id in assessed,
                calls_done_on=tuple(calls.get(row.id, ())),
                patient_details_held=row.purged_at is None,
            )
        return facts

    def emails(self, tz: dt.tzinfo) -> list[EmailFacts]:
        """Every email in the outbox whose raw bytes are still held."""
        rows = self.session.exec(
            select(OutboxRecord.id, OutboxRecord.state, OutboxRecord.sent_at).where(
                col(OutboxRecord.purged_at).is_(None)
            )
        ).all()
        return [
            EmailFacts(
                outbox_id=outbox_id,
                sent_on=sent_at.astimezone(tz).date() if state == "sent" and sent_at is not None else None,
                raw_held=True,
            )
            for outbox_id, state, sent_at in rows
            if outbox_id is not None
        ]

    def _open_tasks(self) -> Counter[int]:
        """Open tasks per ledger id: a task names its message, or only its submission's reference."""
        by_reference = {
            reference: ledger_id
            for ledger_id, reference in self.session.exec(select(MessageRecord.id, MessageRecord.reference)).all()
            if ledger_id is not None
        }
        counts: Counter[int] = Counter()
        for message_id, reference in self.session.exec(
            select(TaskRecord.message_id, TaskRecord.reference).where(col(TaskRecord.resolved_at).is_(None))
        ):
            ledger_id = message_id or by_reference.get(reference or "")
            if ledger_id is not None:
                counts[ledger_id] += 1
        return counts

    # -- purges: each returns whether it changed anything --------------------------------------------------------

    def purge_copies(self, ledger_ids: Sequence[int], now: dt.datetime) -> list[int]:
        """Empty the raw bytes kept of these messages (their quarantined copies and their documents' originals,
        whose size and digest stay); returns those emptied now."""
        forms = dict(
            self.session.exec(
                select(FormRecord.id, FormRecord.message_id).where(col(FormRecord.message_id).in_(ledger_ids))
            ).all()
        )
        originals = self.session.execute(
            update(FormFile)
            .where(col(FormFile.form_id).in_(list(forms)), col(FormFile.content).is_not(None))
            .values(content=None, purged_at=now)
            .returning(col(FormFile.form_id))
            .execution_options(synchronize_session=False)
        )
        emptied = {forms[row[0]] for row in originals}
        changed = self.session.execute(
            update(QuarantineRecord)
            .where(col(QuarantineRecord.message_id).in_(ledger_ids), col(QuarantineRecord.purged_at).is_(None))
            .values(raw=b"", purged_at=now)
            .returning(col(QuarantineRecord.message_id))
            .execution_options(synchronize_session=False)
        )
        return sorted(emptied | {row[0] for row in changed})

    def purge_fields(self, ledger_ids: Sequence[int], now: dt.datetime) -> list[int]:
        """Empty the values read from the forms of these messages (what was read and how stays); returns the
        messages whose forms were emptied now."""
        changed = self.session.execute(
            update(FormRecord)
            .where(col(FormRecord.message_id).in_(ledger_ids), col(FormRecord.purged_at).is_(None))
            .values(fields_json=EMPTY_FIELDS, purged_at=now)
            .returning(col(FormRecord.message_id))
            .execution_options(synchronize_session=False)
        )
        return sorted({row[0] for row in changed})

    def purge_referral(self, referral_id: int, now: dt.datetime) -> str | None:
        """Remove the patient's details from referral ``referral_id``, the team's notes on its calls and the
        notes of its resolved tasks (which may name the patient); returns its reference, or None if done before."""
        result = self.session.execute(
            update(ReferralRecord)
            .where(col(ReferralRecord.id) == referral_id, col(ReferralRecord.purged_at).is_(None))
            .values(nhs_number=None, surname=None, forenames=None, date_of_birth=None, purged_at=now)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return None
        reference = self.session.exec(select(ReferralRecord.reference).where(ReferralRecord.id == referral_id)).one()
        self.session.execute(
            update(FollowUpRecord)
            .where(col(FollowUpRecord.referral_id) == referral_id, col(FollowUpRecord.outcome).is_not(None))
            .values(outcome=PURGED_NOTE)
        )
        self.session.execute(
            update(TaskRecord)
            .where(col(TaskRecord.reference) == reference, col(TaskRecord.note).is_not(None))
            .values(note=PURGED_NOTE)
        )
        self.session.execute(
            update(ReferralNote).where(col(ReferralNote.referral_id) == referral_id).values(text=PURGED_NOTE)
        )
        return reference

    def purge_emails(self, outbox_ids: Sequence[int], now: dt.datetime) -> list[int]:
        """Empty the raw bytes of these sent emails (their key, kind and when they went stay); returns those
        emptied now."""
        changed = self.session.execute(
            update(OutboxRecord)
            .where(
                col(OutboxRecord.id).in_(outbox_ids),
                col(OutboxRecord.state) == "sent",
                col(OutboxRecord.purged_at).is_(None),
            )
            .values(raw=b"", purged_at=now)
            .returning(col(OutboxRecord.id))
            .execution_options(synchronize_session=False)
        )
        return sorted({row[0] for row in changed})
