"""Resubmissions: the referrer answers our automatic reply with the missing forms, and the submission is
completed and decided again.

A message is a resubmission when it answers one of our replies (``In-Reply-To`` or ``References`` holds the
Message-ID of a reply we wrote, as recorded in the outbox, and the message comes from the address that reply
went to), or when its subject quotes a reference (``NMSS-XXXXXXXX``) and it comes from an address we replied to
about that submission. Anything else that claims a place in a submission is not trusted: a Message-ID of ours
that we never sent, or sent to someone else, and a subject reference from anyone else. Message-IDs and
subjects are easy to copy or guess, so such a message goes to the team instead of being merged into another
person's referral.

The forms of the submission so far and the new ones are merged: a newer form of a kind replaces the older
one; everything else is kept. The merged set is decided as one submission under the original reference.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal, cast

from sqlmodel import Session, col, select

from config.forms import FormDefinitions, FormKind
from config.settings import ServiceSettings
from intake.store import FormRecord, MessageRecord, OutboxRecord, ReferralRecord
from parsers.addresses import mailbox_key
from parsers.mail import Mail
from parsers.types import Document, FieldError, Form, Unreadable, UnreadableProblem, Value
from rules.automatic import is_own_message_id
from rules.types import Outcome

REFERENCE = re.compile(r"\bNMSS-([A-Z2-7]{8})\b", re.IGNORECASE)
"""A reference as ``intake.assess.reference_from`` makes them, quoted anywhere in a subject."""

How = Literal["thread", "subject"]

UntrustedReason = Literal["reference_from_unknown_sender", "reply_from_unknown_sender", "reply_to_unknown_message"]
"""Why a message that claims a place in a submission is not given it: a subject reference from an address we
never replied to about it; a reply to one of our replies from an address that reply did not go to; a
Message-ID in our form that is not one we sent."""


@dataclass(frozen=True)
class Resubmission:
    """The submission a message completes: its first ledger row (``root_id``) and reference, the ledger row
    whose forms are the submission's latest set (``latest_id``), how the match was made, and whether the
    message has any attachment that may be a form."""

    root_id: int
    reference: str
    latest_id: int
    how: How
    with_attachments: bool = True

    @property
    def merges(self) -> bool:
        """Whether the message's documents are decided together with the submission's earlier forms."""
        return self.with_attachments


@dataclass(frozen=True)
class Untrusted:
    """A message that claims a place in a submission and is not given it: it is decided as a message of its
    own and goes to the team, and the submission it names is left as it was."""

    reason: UntrustedReason


def find_resubmission(session: Session, mail: Mail, service: ServiceSettings) -> Resubmission | Untrusted | None:
    """The earlier submission ``mail`` answers, why it may not answer the one it names, or None when it is a
    message of its own."""
    claimed = [c for c in (mail.in_reply_to, *reversed(mail.references)) if c and is_own_message_id(c, service.domain)]
    sent_to_someone_else = False
    for candidate in claimed:
        reply = _sent_reply(session, candidate)
        if reply is None:
            continue
        if not answers_our_reply(mail.sender, reply.recipient):
            sent_to_someone_else = True
            continue
        root = _root_of_reply(session, reply)
        if root is not None:
            return _resubmission(session, root, "thread", mail)
    if claimed:
        return Untrusted("reply_from_unknown_sender" if sent_to_someone_else else "reply_to_unknown_message")
    for match in REFERENCE.finditer(mail.subject or ""):
        root = _root_by_reference(session, f"NMSS-{match.group(1).upper()}")
        if root is None:
            continue
        assert root.id is not None
        replied_to = _replied_to(session, root.id)
        if not any(answers_our_reply(a, r) for a in (mail.sender, mail.reply_to) for r in replied_to):
            return Untrusted("reference_from_unknown_sender")
        return _resubmission(session, root, "subject", mail)
    return None


def answers_our_reply(sender: str | None, sent_to: str) -> bool:
    """Whether a message from ``sender`` may answer a reply of ours that was sent to ``sent_to``.

    Only the address we wrote to may: anyone can copy a Message-ID or a reference into a message of their own.
    Addresses are compared as mailboxes (``parsers.addresses.mailbox_key``): the address part only, its case
    and a ``+tag`` ignored.
    """
    return sender is not None and _mailbox(sender) != "" and _mailbox(sender) == _mailbox(sent_to)


def stored_documents(session: Session, ledger_id: int, definitions: FormDefinitions) -> tuple[Document, ...]:
    """The documents recorded for ledger row ``ledger_id``, typed again as the parser gave them."""
    rows = session.exec(
        select(FormRecord).where(FormRecord.message_id == ledger_id).order_by(col(FormRecord.position))
    ).all()
    return tuple(_document(row, definitions) for row in rows)


def merge_documents(earlier: Sequence[Document], newer: Sequence[Document]) -> tuple[Document, ...]:
    """The submission's documents once ``newer`` arrived: every new document, and each earlier one whose form
    kind the new ones do not bring. Earlier documents of no known kind are dropped (the team has seen them)."""
    replaced = {d.kind for d in newer if d.kind is not None}
    kept = [d for d in earlier if d.kind is not None and d.kind not in replaced]
    return (*kept, *newer)


def settle(outcome: Outcome, resubmission: Resubmission | Untrusted | None) -> Outcome:
    """The outcome once it is known what the message answers.

    A trusted reply that brings no form (and was not sent by a machine) is for the team to read: ``review``
    with the reason ``reply_without_forms``. That covers an attachment found to hold none only once it was
    opened, such as a ``winmail.dat`` of pictures. A message that claims a submission it is not trusted with
    goes to the team too (the ``Untrusted`` reason), with no automatic reply. Anything else is unchanged.
    """
    if resubmission is None or outcome.kind == "automatic":
        return outcome
    if isinstance(resubmission, Untrusted):
        return replace(
            outcome,
            kind="review",
            reply=None,
            suppressed=None,
            reasons=(*outcome.reasons, resubmission.reason),
        )
    if outcome.kind == "not_a_submission":
        return replace(outcome, kind="review", reply=None, reasons=(*outcome.reasons, "reply_without_forms"))
    return outcome


def queue_row(session: Session, referral: ReferralRecord) -> ReferralRecord:
    """The queue row to save for a resubmission: the existing row of the same reference brought up to date
    (a submission is queued once), or ``referral`` itself when there is none."""
    existing = session.exec(select(ReferralRecord).where(ReferralRecord.reference == referral.reference)).first()
    if existing is None:
        return referral
    for name, value in referral.model_dump(exclude={"id", "reference", "created_at"}).items():
        setattr(existing, name, value)
    return existing


def _resubmission(session: Session, root: MessageRecord, how: How, mail: Mail) -> Resubmission:
    assert root.id is not None
    latest = session.exec(
        select(MessageRecord.id)
        .where(
            (col(MessageRecord.id) == root.id) | (col(MessageRecord.submission_of) == root.id),
            col(MessageRecord.state).in_(("decided", "filed")),
        )
        .order_by(col(MessageRecord.id).desc())
    ).first()
    return Resubmission(
        root_id=root.id,
        reference=root.reference,
        latest_id=latest or root.id,
        how=how,
        with_attachments=bool(mail.attachments),
    )


def _sent_reply(session: Session, message_id: str) -> OutboxRecord | None:
    """Our reply with that Message-ID, as the outbox recorded it: the only proof that we sent it, and to whom.
    (A reference inside the Message-ID proves nothing: anyone can write one.)"""
    bracketed = f"<{message_id.strip().strip('<>')}>"
    return session.exec(select(OutboxRecord).where(OutboxRecord.header_message_id == bracketed)).first()


def _root_of_reply(session: Session, reply: OutboxRecord) -> MessageRecord | None:
    ledger_id = reply.submission_id or reply.message_id
    return _root(session, session.get(MessageRecord, ledger_id)) if ledger_id is not None else None


def _root_by_reference(session: Session, reference: str) -> MessageRecord | None:
    row = session.exec(
        select(MessageRecord)
        .where(MessageRecord.reference == reference, col(MessageRecord.duplicate_of).is_(None))
        .order_by(col(MessageRecord.id))
    ).first()
    return _root(session, row)


def _root(session: Session, row: MessageRecord | None) -> MessageRecord | None:
    if row is not None and row.submission_of is not None:
        return session.get(MessageRecord, row.submission_of)
    return row


def _replied_to(session: Session, root_id: int) -> set[str]:
    rows = session.exec(
        select(OutboxRecord.recipient).where(
            (col(OutboxRecord.submission_id) == root_id) | (col(OutboxRecord.message_id) == root_id)
        )
    ).all()
    return set(rows)


def _mailbox(address: str) -> str:
    # Older outbox rows may hold a To header with a display name; a message's sender is already a bare address.
    return mailbox_key(email.utils.parseaddr(address)[1].strip())


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
