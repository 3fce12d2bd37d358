"""Resubmissions: find the earlier submissions a message names, and their forms, as plain data for the core.

A message names a submission when it answers one of our replies (``In-Reply-To`` or ``References`` holds a
Message-ID in our form), or when its subject quotes a reference (``NMSS-XXXXXXXX``). What the outbox shows
about each named reply (whether we sent it, and to whom) is looked up here; whether to trust the message with
the submission, how the forms merge and what the merged set becomes are the core's to decide
(``rules.decision.claim_of``, ``decide_message``). A reference inside one of our Message-IDs proves nothing:
anyone can write one, so only the outbox's record of the reply counts.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any, Final, cast, get_args

from config.forms import FormDefinitions, FormKind
from config.settings import ServiceSettings
from intake.store import FormRecord, MessageRecord
from intake.unit_of_work import UnitOfWork
from parsers.mail import Mail
from parsers.types import (
    Document,
    FieldError,
    Form,
    FormSource,
    Found,
    Place,
    Unreadable,
    UnreadableProblem,
    Value,
)
from rules.automatic import is_own_message_id
from rules.decision import Answered, How, NamedReply, answers_our_reply

_SOURCES: Final = frozenset(get_args(FormSource))
OCR_UNCERTAIN: Final = "ocr_uncertain"
"""The mark a value read unsurely by OCR carries among a stored form's invalid ones (``intake.record``)."""

__all__ = ["REFERENCE", "answers_our_reply", "named_replies", "quoted_submission", "stored_documents"]

REFERENCE = re.compile(r"\bNMSS-([A-Z2-7]{8})\b", re.IGNORECASE)
"""A reference as ``intake.assess.reference_from`` makes them, quoted anywhere in a subject."""


def named_replies(
    uow: UnitOfWork, mail: Mail, service: ServiceSettings, definitions: FormDefinitions
) -> tuple[NamedReply, ...]:
    """Every Message-ID in our form that ``mail`` names, most direct first, with what the outbox shows about
    it: the address that reply went to and the submission it was about (nothing, when we never sent it)."""
    named = []
    for candidate in (mail.in_reply_to, *reversed(mail.references)):
        if not candidate or not is_own_message_id(candidate, service.domain):
            continue
        reply = uow.outbox.by_header_message_id(f"<{candidate.strip().strip('<>')}>")
        if reply is None:
            named.append(NamedReply())
            continue
        ledger_id = reply.submission_id or reply.message_id
        root = _root(uow, uow.ledger.get(ledger_id)) if ledger_id is not None else None
        named.append(NamedReply(reply.recipient, _answered(uow, root, "thread", definitions) if root else None))
    return tuple(named)


def quoted_submission(uow: UnitOfWork, mail: Mail, definitions: FormDefinitions) -> Answered | None:
    """The first earlier submission whose reference ``mail``'s subject quotes, or None."""
    for match in REFERENCE.finditer(mail.subject or ""):
        root = _root(uow, uow.ledger.by_reference(f"NMSS-{match.group(1).upper()}"))
        if root is not None:
            return _answered(uow, root, "subject", definitions)
    return None


def stored_documents(uow: UnitOfWork, ledger_id: int, definitions: FormDefinitions) -> tuple[Document, ...]:
    """The documents recorded for ledger row ``ledger_id``, typed again as the parser gave them."""
    return tuple(_document(row, definitions) for row in uow.ledger.forms_of(ledger_id))


def _answered(uow: UnitOfWork, root: MessageRecord, how: How, definitions: FormDefinitions) -> Answered:
    assert root.id is not None
    return Answered(
        root_id=root.id,
        reference=root.reference,
        how=how,
        replied_to=uow.outbox.recipients_for_submission(root.id),
        documents=stored_documents(uow, uow.ledger.latest_of_submission(root.id), definitions),
    )


def _root(uow: UnitOfWork, row: MessageRecord | None) -> MessageRecord | None:
    if row is not None and row.submission_of is not None:
        return uow.ledger.get(row.submission_of)
    return row


def _document(row: FormRecord, definitions: FormDefinitions) -> Document:
    kind = cast(FormKind | None, row.kind)
    if not row.readable or row.problem is not None or kind is None:
        return Unreadable(row.filename, cast(UnreadableProblem, row.problem or "unrecognised"), kind)
    definition = definitions[kind]
    fields: dict[str, Value] = {}
    for key, value in json.loads(row.fields_json).items():
        field = definition.field(key)
        fields[key] = _value(value, field.type if field is not None else None)
    # A value OCR read unsurely is marked "ocr_uncertain" among the invalid ones for the team to see; the mark is
    # the rules' own conclusion, drawn again from the kept source and confidences, not a fault of the value.
    invalid = tuple(FieldError(key, code) for key, code in json.loads(row.invalid_json) if code != OCR_UNCERTAIN)
    source = row.source if row.source in _SOURCES else "acroform"
    confidence = {str(k): float(v) for k, v in json.loads(row.confidence_json or "{}").items()}
    return Form(
        kind=kind,
        filename=row.filename,
        fields=fields,
        invalid=invalid,
        found=tuple(_found(found) for found in json.loads(row.found_json or "[]")),
        source=cast(FormSource, source),
        confidence=confidence,
    )


def _found(found: dict[str, Any]) -> Found:
    """Where a value was read, as ``intake.record`` keeps it: so the team still sees it on the resubmission."""
    box = found.get("place")
    place = Place(*(float(v) for v in box)) if isinstance(box, list) and len(box) == 6 else None
    return Found(str(found["key"]), int(found["page"]), str(found["label"]), place)


def _value(value: object, field_type: str | None) -> Value:
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    if field_type == "date" and isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, bool | int | str):
        return value
    return str(value)
