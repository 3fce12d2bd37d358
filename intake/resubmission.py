"""Resubmissions: find the earlier submission a message answers, and its forms, as plain data for the core.

A message answers a submission when it answers one of our replies (``In-Reply-To`` or ``References`` holds the
Message-ID of a reply we wrote), or when its subject quotes a reference (``NMSS-XXXXXXXX``). Whether to trust
it (a subject reference counts only from an address we wrote to about that submission), how the forms merge
and what the merged set becomes are the core's to decide (``rules.decision``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import cast

from config.forms import FormDefinitions, FormKind
from config.settings import ServiceSettings
from intake.store import FormRecord, MessageRecord
from intake.unit_of_work import UnitOfWork
from parsers.mail import Mail
from parsers.types import Document, FieldError, Form, Unreadable, UnreadableProblem, Value
from rules.automatic import OWN_MESSAGE_ID_PREFIX, is_own_message_id
from rules.decision import Answered, How

REFERENCE = re.compile(r"\bNMSS-([A-Z2-7]{8})\b", re.IGNORECASE)
"""A reference as ``intake.assess.fingerprint`` makes them, quoted anywhere in a subject."""

_REPLY_ID = re.compile(rf"^{re.escape(OWN_MESSAGE_ID_PREFIX)}reply\.[a-z]+\.(NMSS-[A-Z2-7]{{8}})\.", re.IGNORECASE)


def answered_by(uow: UnitOfWork, mail: Mail, service: ServiceSettings, definitions: FormDefinitions) -> Answered | None:
    """The earlier submission ``mail`` answers, with its latest forms and the addresses we wrote to about it;
    None when it is a message of its own."""
    for candidate in (mail.in_reply_to, *reversed(mail.references)):
        if candidate and is_own_message_id(candidate, service.domain):
            root = _root_by_reply_id(uow, candidate)
            if root is not None:
                return _answered(uow, root, "thread", definitions)
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


def _root_by_reply_id(uow: UnitOfWork, message_id: str) -> MessageRecord | None:
    outbox = uow.outbox.by_header_message_id(f"<{message_id.strip().strip('<>')}>")
    if outbox is not None:
        ledger_id = outbox.submission_id or outbox.message_id
        if ledger_id is not None:
            return _root(uow, uow.ledger.get(ledger_id))
    # A reply written before Message-IDs were recorded still names its reference in its Message-ID.
    match = _REPLY_ID.match(message_id.strip().strip("<>"))
    return _root(uow, uow.ledger.by_reference(match.group(1).upper())) if match else None


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
    invalid = tuple(FieldError(key, code) for key, code in json.loads(row.invalid_json))
    return Form(kind=kind, filename=row.filename, fields=fields, invalid=invalid)


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
