"""From raw message bytes to a decision, with no side effects: what ``check`` prints and the pipeline acts on."""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from config.forms import FormDefinitions
from config.settings import LimitSettings, ServiceSettings
from config.triage import TriageRules, load_triage_rules
from intake.isolation import MailRead, Opened, ParsePool, default_pool
from intake.resubmission import merge_documents
from parsers.mail import DEFAULT_MAX_ATTACHMENT_BYTES, Attachment, Mail, read_mail
from parsers.types import Document, Unreadable
from rules.automatic import automatic_reason
from rules.decide import decide, decide_unread
from rules.eligibility import EligibilityPolicy
from rules.recipients import reply_address
from rules.triage import Triage, triage
from rules.types import Context, Outcome, Submission


@dataclass(frozen=True)
class Assessment:
    """A message read and judged: the mail, each document found in it, the outcome and, if queued, its triage."""

    mail: Mail
    documents: tuple[Document, ...]
    outcome: Outcome
    triage: Triage | None
    reference: str


def fingerprint(mail: Mail | None, identity: bytes) -> str:
    """Who a message is, for telling a second delivery of it from a new message (SHA-256, hex).

    A mail server that delivers a message again adds a ``Received:`` line or two, so the bytes differ while
    the message does not: the fingerprint is the Message-ID with the digest of what the sender wrote (every
    part's decoded content), and no header a server adds on the way. A message that names another's
    Message-ID with different content is a different message. A message without a Message-ID is known by its
    content and the headers its sender wrote (From, Date, Subject), so that two short notes with no body are
    not taken for one. ``mail`` None (a message left unread: too large) or with no content digest (it could not
    all be read) is known by ``identity``: its exact bytes, or for one left unread, where it is.
    """
    if mail is None or not mail.content_digest:
        basis = ["bytes", hashlib.sha256(identity).hexdigest()]
    elif mail.message_id:
        basis = ["message", mail.message_id, mail.content_digest]
    else:
        date = mail.date.isoformat() if mail.date else ""
        basis = ["content", mail.sender or "", date, mail.subject, mail.content_digest]
    return hashlib.sha256(json.dumps(basis).encode("utf-8", "surrogatepass")).hexdigest()


def reference_from(fingerprint: str) -> str:
    """A short reference the referrer can quote, derived from the message's ``fingerprint`` (hex) so that it is
    the same every run, and for every delivery of the message."""
    return "NMSS-" + base64.b32encode(bytes.fromhex(fingerprint)[:5]).decode("ascii")


def reference_for(raw: bytes) -> str:
    """The reference of the message ``raw``, for a caller that has only its bytes (the pipeline, which has read
    the message already, uses ``reference_from``). It reads ``raw`` in this process, outside a parse worker's
    limits: for mail the caller wrote itself (tests, samples), never for mail from outside."""
    return reference_from(fingerprint(read_mail(raw), raw))


def read_message(
    raw: bytes, limits: LimitSettings, *, pool: ParsePool | None = None, deadline: float | None = None
) -> MailRead:
    """``raw`` read in one of ``pool``'s workers (by default the process-wide pool for ``limits``), never in this
    process: the ``email`` package can spend minutes on one hostile header. The reading is the first part of
    the message's budget (``deadline``, ``time.monotonic()``) and has a document's time limit and memory cap;
    past them the message is ``Unreadable`` ``timeout`` or ``too_large``."""
    return (pool or default_pool(limits)).read(raw, max_attachment_bytes=limits.max_attachment_bytes, deadline=deadline)


def read_documents(
    mail: Mail,
    definitions: FormDefinitions,
    today: dt.date,
    *,
    pool: ParsePool,
    deadline: float | None = None,
    max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
) -> tuple[Document, ...]:
    """Each attachment's form, or why there is none, with every untrusted decoder run in ``pool``'s workers.

    Outlook items and ``winmail.dat`` files are opened in a worker first and the files inside take their
    place, in order. An attachment over the size limit is "too_large", one past the nesting or part limits
    "too_deep" or "too_many_parts", and a container that could not be opened "corrupt", without a parse; a
    file or container that runs a worker past its time limit or memory cap is "timeout" or "too_large", and
    so is every one still unread at ``deadline`` (``time.monotonic()``).
    """
    is_container = [a.kind in ("msg", "tnef") and a.skipped is None for a in mail.attachments]
    containers = [a for a, container in zip(mail.attachments, is_container, strict=True) if container]
    opened = iter(pool.open_all(containers, max_bytes=max_attachment_bytes, deadline=deadline))
    files: list[Attachment | Unreadable] = []
    for attachment, container in zip(mail.attachments, is_container, strict=True):
        found: Opened = next(opened) if container else (attachment,)
        files.extend([found] if isinstance(found, Unreadable) else found)
    documents: list[Document | None] = [f if isinstance(f, Unreadable) else _unparsed(f) for f in files]
    wanted = [(i, f) for i, f in enumerate(files) if documents[i] is None and isinstance(f, Attachment)]
    parsed = pool.parse_all([(f.data, f.filename) for _, f in wanted], definitions, today=today, deadline=deadline)
    for (index, _), document in zip(wanted, parsed, strict=True):
        documents[index] = document
    return tuple(d for d in documents if d is not None)


def _unparsed(attachment: Attachment) -> Document | None:
    """What an attachment is without parsing it, when that is already known."""
    if attachment.skipped is not None:
        return Unreadable(attachment.filename, attachment.skipped)
    if attachment.kind in ("msg", "tnef"):
        # A container still here after opening could not be opened (or is not what its name says).
        return Unreadable(attachment.filename, "corrupt")
    return None


def assess(
    raw: bytes,
    *,
    definitions: FormDefinitions,
    service: ServiceSettings,
    limits: LimitSettings,
    received_at: dt.datetime,
    today: dt.date,
    practices: frozenset[str] | None = None,
    open_referrals: frozenset[str] = frozenset(),
    pool: ParsePool | None = None,
    earlier: Sequence[Document] = (),
    mail: MailRead | None = None,
    deadline: float | None = None,
) -> Assessment:
    """Read ``raw``, parse every document in it and decide what happens, as of ``today``.

    ``practices`` (active GP practice codes; None when no list is imported) and ``open_referrals`` (NHS
    numbers with an open referral) are what the shell read from the store for the eligibility and duplicate
    checks; the eligibility and triage rules come from ``service``. Documents are parsed in ``pool``, by
    default the process-wide pool for ``limits`` (``check`` and the pipeline alike: hostile files are as
    likely in either), never in this process. ``earlier`` holds the documents of the submission this message
    completes: the new forms replace earlier ones of the same kind and the whole set is decided (a message that
    brings no document at all, a ``winmail.dat`` of pictures say, is decided on its own). ``mail`` is
    ``raw`` already read (``read_message``), where the caller has it; otherwise it is read here, in a worker.
    ``deadline`` (``time.monotonic()``) is when the message's time is up, by default
    ``limits.message_budget_seconds`` from now: documents unread by then are "timeout". A message that could
    not itself be read in its time goes to the team, with no reply (``rules.decide.decide_unread``).
    """
    if deadline is None:
        deadline = time.monotonic() + limits.message_budget_seconds
    if mail is None:
        mail = read_message(raw, limits, pool=pool, deadline=deadline)
    if isinstance(mail, Unreadable):
        # Nothing is known of it: no sender to answer, no documents, no thread.
        return Assessment(
            mail=Mail(),
            documents=(),
            outcome=decide_unread(mail.problem),
            triage=None,
            reference=reference_from(fingerprint(None, raw)),
        )
    documents = read_documents(
        mail,
        definitions,
        today,
        pool=pool or default_pool(limits),
        deadline=deadline,
        max_attachment_bytes=limits.max_attachment_bytes,
    )
    if earlier and documents:
        # A resubmission: decided together with the forms the submission already has (see intake/resubmission.py).
        documents = merge_documents(earlier, documents)
    automatic = automatic_reason(mail, own_addresses=service.addresses, own_domain=service.domain)
    context = Context(
        eligibility=EligibilityPolicy(min_age=service.eligibility.min_age, practices=practices),
        open_referrals=open_referrals,
        secure_domains=frozenset(d.lower() for d in service.secure_domains),
    )
    outcome = decide(Submission(documents, received_at, automatic), definitions, today, context)
    if outcome.reply is not None and reply_address(mail, service.addresses) is None:
        # Nobody to write to (no address, or none that parses strictly): the team decides what to do by hand.
        outcome = replace(outcome, reply=None, suppressed="no-reply-address")
    forms = [d for d in documents if not isinstance(d, Unreadable)]
    queued = outcome.kind in ("accepted", "review") and any(f.kind in ("form2", "miat") for f in forms)
    return Assessment(
        mail=mail,
        documents=documents,
        outcome=outcome,
        triage=triage(forms, triage_rules(service.triage_file)) if queued else None,
        reference=reference_from(fingerprint(mail, raw)),
    )


@functools.cache
def triage_rules(path: Path | None) -> TriageRules:
    """The triage rules in ``path`` (default: the packaged file), read once per process."""
    return load_triage_rules(path)
