"""From raw message bytes to a decision, with no side effects: what ``check`` prints and the pipeline acts on."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass, replace

from config.forms import FormDefinitions
from config.settings import LimitSettings, ServiceSettings
from parsers import parse_document
from parsers.mail import Attachment, Mail, read_mail
from parsers.types import Document, Unreadable
from rules.automatic import automatic_reason
from rules.decide import decide
from rules.triage import Triage, triage
from rules.types import Outcome, Submission


@dataclass(frozen=True)
class Assessment:
    """A message read and judged: the mail, each document found in it, the outcome and, if queued, its triage."""

    mail: Mail
    documents: tuple[Document, ...]
    outcome: Outcome
    triage: Triage | None
    reference: str


def reference_for(raw: bytes) -> str:
    """A short reference the referrer can quote, derived from the message's bytes so it is the same every run."""
    digest = hashlib.sha256(raw).digest()
    return "NMSS-" + base64.b32encode(digest[:5]).decode("ascii")


def read_documents(mail: Mail, definitions: FormDefinitions, today: dt.date) -> tuple[Document, ...]:
    return tuple(_read(attachment, definitions, today) for attachment in mail.attachments)


def _read(attachment: Attachment, definitions: FormDefinitions, today: dt.date) -> Document:
    if attachment.too_large:
        return Unreadable(attachment.filename, "too_large")
    return parse_document(attachment.data, attachment.filename, definitions, today=today)


def assess(
    raw: bytes,
    *,
    definitions: FormDefinitions,
    service: ServiceSettings,
    limits: LimitSettings,
    received_at: dt.datetime,
    today: dt.date,
) -> Assessment:
    """Read ``raw``, parse every document in it and decide what happens, as of ``today``."""
    mail = read_mail(raw, max_attachment_bytes=limits.max_attachment_bytes)
    documents = read_documents(mail, definitions, today)
    automatic = automatic_reason(mail, own_addresses=service.addresses, own_domain=service.domain)
    outcome = decide(Submission(documents, received_at, automatic), definitions, today)
    if outcome.reply is not None and not (mail.reply_to or mail.sender):
        # Nobody to write to: the team sees the item and decides what to do by hand.
        outcome = replace(outcome, reply=None, suppressed="no-reply-address")
    forms = [d for d in documents if not isinstance(d, Unreadable)]
    queued = outcome.kind in ("accepted", "review") and any(f.kind in ("form2", "miat") for f in forms)
    return Assessment(
        mail=mail,
        documents=documents,
        outcome=outcome,
        triage=triage(forms) if queued else None,
        reference=reference_for(raw),
    )
