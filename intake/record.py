"""Record a decision: carry out what the core decided about one message, in the unit of work it is given.

The forms read, the queue entry, the reply in the outbox, the team's tasks and the audit trail are written
through the unit of work's repositories and commit together, with the ledger row's new state, when the
caller commits — or not at all. Nothing is decided here, except what only writing can find out: a reply
whose headers cannot be written safely is held back for the team.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from config.settings import ServiceSettings
from intake.store import FormRecord, MessageRecord, ReferralRecord
from intake.unit_of_work import UnitOfWork
from notifier.errors import UnsafeMessage
from notifier.replies import NoReplyAddressError, build_reply
from parsers.mail import Mail
from parsers.types import Document, Form, Found, Value
from rules.decision import Decision
from rules.tasks import held_back_task


def record(
    uow: UnitOfWork,
    row: MessageRecord,
    decision: Decision,
    mail: Mail | None,
    service: ServiceSettings,
    *,
    now: dt.datetime,
    originals: Sequence[tuple[Document, bytes | None]] = (),
) -> str | None:
    """Carry ``decision`` about ledger row ``row`` out in ``uow``: the forms (with the originals of the message's
    own documents, ``originals`` as ``Read.with_originals`` gives them), the queue entry, the reply, the team's
    tasks and the audit trail; returns the reply's outbox key, if one was written. Does not commit.

    For a resubmission the queue row and the reply carry the original submission's reference; the earlier
    documents it carries over keep their originals with the earlier message.
    """
    assert row.id is not None
    submission_id = decision.resubmission_of or row.id
    outcome_problems = decision.outcome.problems if decision.outcome else ()
    uncertain = {(str(p.form), p.field) for p in outcome_problems if p.code == "ocr_uncertain" and p.field}
    forms = [form_record(row.id, position, d, uncertain) for position, d in enumerate(decision.documents)]
    uow.ledger.add_forms(forms)
    # Matched by identity, not by position: a resubmission's decision also carries documents of earlier messages.
    content = {id(document): data for document, data in originals if data is not None}
    uow.documents.keep(
        (form, content[id(document)])
        for form, document in zip(forms, decision.documents, strict=True)
        if id(document) in content
    )
    if decision.queue is not None:
        uow.queue.save(_queue_row(decision, row.id, now))
    reply_key = None
    tasks = list(decision.tasks)
    held_back = decision.held_back
    if decision.reply is not None and mail is not None:
        reply = decision.reply
        try:
            email = build_reply(
                reply.kind,
                mail=mail,
                problems=[p for p in reply.problems if p.field is not None],
                missing_forms=[p.label for p in reply.problems if p.code == "missing_form"],
                reference=decision.reference,
                service=service,
                now=now,
            )
        except (NoReplyAddressError, UnsafeMessage) as exc:
            # Headers the reply cannot carry safely hold it back for the team; the rest of the decision stands.
            held_back = "no-reply-address" if isinstance(exc, NoReplyAddressError) else "unsafe-header"
            tasks.append(held_back_task(held_back))
        else:
            reply_key = f"reply-{row.reference}-{reply.kind}"
            uow.outbox.enqueue(
                reply_key,
                f"reply_{reply.kind}",
                email,
                now=now,
                message_id=row.id,
                submission_id=submission_id,
                recipient=reply.to,
            )
    for task in tasks:
        uow.tasks.open(
            f"{task.kind}-{row.id}", task.kind, task.action, now=now, reference=decision.reference, message_id=row.id
        )
    for task in decision.tasks_still_open:
        uow.tasks.follow(decision.reference, task.kind, task.action, message_id=row.id)
    if held_back is not None:
        due = (decision.outcome.reply or decision.outcome.held_reply) if decision.outcome else None
        # What the reply would have said, as printed labels and codes (never values), so a person replying
        # by hand starts from the same words.
        problems = [[p.form, p.field, p.label, p.code] for p in decision.outcome.problems] if decision.outcome else []
        uow.audit.record("reply_suppressed", at=now, message_id=row.id, why=held_back, reply=due, problems=problems)
    if decision.resubmission_of is not None:
        row.submission_of = decision.resubmission_of
        uow.audit.record(
            "resubmission", at=now, message_id=row.id, of=decision.resubmission_of, how=decision.resubmission_how
        )
    if decision.duplicate_of is not None:
        row.duplicate_of = decision.duplicate_of
        uow.audit.record("duplicate", at=now, message_id=row.id, of=decision.duplicate_of)
    elif decision.outcome is not None:
        outcome = decision.outcome
        uow.audit.record(
            "decided",
            at=now,
            message_id=row.id,
            outcome=outcome.kind,
            reasons=list(outcome.reasons),
            eligibility=list(outcome.eligibility),
            warnings=list(outcome.warnings),
        )
    row.state = "decided"
    row.outcome = decision.kind
    row.message_id = mail.message_id if mail is not None else row.message_id
    row.filed_in = decision.folder
    uow.ledger.save(row)
    return reply_key


def _queue_row(decision: Decision, ledger_id: int, now: dt.datetime) -> ReferralRecord:
    entry = decision.queue
    assert entry is not None
    return ReferralRecord(
        reference=decision.reference,
        message_id=ledger_id,
        kind=entry.kind,
        status=entry.status,
        outcome=decision.kind,
        priority=entry.priority,
        flags_json=json.dumps(list(entry.flags)),
        reasons_json=json.dumps(list(entry.reasons)),
        warnings_json=json.dumps(list(entry.warnings)),
        nhs_number=entry.patient.nhs_number,
        surname=entry.patient.surname,
        forenames=entry.patient.forenames,
        date_of_birth=entry.patient.date_of_birth,
        created_at=now,
    )


def form_record(ledger_id: int, position: int, document: Document, uncertain: set[tuple[str, str]]) -> FormRecord:
    """The ``form`` row of one document of ledger message ``ledger_id``: what was read, and where; a field read
    by OCR but not surely is marked ``ocr_uncertain`` among the invalid ones, so the team sees it beside the
    value to check."""
    form = document if isinstance(document, Form) else None
    invalid = [[e.key, e.code] for e in form.invalid] if form else []
    if form is not None:
        marked = {key for key, _ in invalid}
        invalid += [
            [key, "ocr_uncertain"]
            for kind, key in sorted(uncertain, key=str)
            if kind == form.kind and key and key not in marked
        ]
    return FormRecord(
        message_id=ledger_id,
        position=position,
        filename=document.filename,
        kind=document.kind,
        readable=document.readable,
        problem=None if form else getattr(document, "problem", None),
        fields_json=json.dumps({k: _jsonable(v) for k, v in form.fields.items()} if form else {}),
        invalid_json=json.dumps(invalid),
        source=form.source if form else None,
        found_json=json.dumps([_found(f) for f in form.found] if form else []),
        confidence_json=json.dumps(dict(form.confidence) if form else {}),
    )


def _found(found: Found) -> dict[str, Any]:
    place = found.place
    box = None
    if place is not None:
        box = [place.left, place.top, place.right, place.bottom, place.page_width, place.page_height]
    return {"key": found.key, "page": found.page, "label": found.label, "place": box}


def _jsonable(value: Value) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value
