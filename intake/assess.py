"""Read a message and decide it: the step ``check`` and the pipeline share, so ``check`` says what ``run`` does.

``identify`` says who a message is (the fingerprint that finds another delivery of it, and the reference it
gets); ``read_message`` reads the bytes once (the mail, every document parsed in the worker processes).
``known_about`` reads what the store knows about it, as plain data. ``assess`` hands both to the pure core
(``rules.decision.decide_message``) and returns its decision. Nothing here writes.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

from config.forms import FormDefinitions
from config.settings import LimitSettings, ServiceSettings
from config.triage import TriageRules, load_triage_rules
from intake.isolation import MailRead, Opened, ParsePool, default_pool
from intake.repositories import RATE_WINDOW
from intake.resubmission import named_replies, quoted_submission
from intake.store import MessageRecord
from intake.unit_of_work import UnitOfWork
from parsers.mail import DEFAULT_MAX_ATTACHMENT_BYTES, Attachment, Mail, read_mail
from parsers.types import Document, Form, PagesRead, Unreadable
from rules.automatic import automatic_reason
from rules.decision import Decision, Known, Message, Policy, claim_of, decide_message
from rules.recipients import reply_address


class MessageTooLarge(Exception):
    """Raised when a message is over ``limits.max_message_bytes``: it is quarantined for the team unread."""

    reason = "too_large"

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"message of {size} bytes, over the limit of {limit}")
        self.size = size
        self.limit = limit


@dataclass(frozen=True)
class Identity:
    """Who a message is: ``sha256`` (hex) of its exact bytes, which rows from before fingerprints were recorded
    are matched by; its ``fingerprint`` (``fingerprint``), which finds another delivery of it; and the
    ``reference`` the referrer can quote, which follows from the fingerprint."""

    sha256: str
    fingerprint: str
    reference: str


@dataclass(frozen=True)
class Read:
    """A message read: the mail, its documents, who it is and when it arrived.

    ``originals`` holds each document's bytes, in the order of ``documents`` (None for one that has none of its
    own: a container that could not be opened, a file skipped before reading), for the store to keep.
    """

    mail: Mail
    documents: tuple[Document, ...]
    identity: Identity
    received_at: dt.datetime
    unread: str | None = None  # why the message itself could not be read (``Unreadable`` problem), if it could not
    originals: tuple[bytes | None, ...] = ()

    def with_originals(self) -> tuple[tuple[Document, bytes | None], ...]:
        """Each document with its bytes, as ``intake.record.record`` keeps them."""
        return tuple(zip(self.documents, self.originals, strict=True)) if self.originals else ()


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


def identify(mail: Mail | None, identity: bytes) -> Identity:
    """Who the message with bytes (or, unread, location) ``identity`` is, ``mail`` being those bytes read."""
    prints = fingerprint(mail, identity)
    return Identity(sha256=hashlib.sha256(identity).hexdigest(), fingerprint=prints, reference=reference_from(prints))


def reference_for(raw: bytes) -> str:
    """The reference of the message ``raw``, for a caller that has only its bytes (the pipeline, which has read
    the message already, uses ``identify``). It reads ``raw`` in this process, outside a parse worker's limits:
    for mail the caller wrote itself (tests, samples), never for mail from outside."""
    return reference_from(fingerprint(read_mail(raw), raw))


def read_message(
    raw: bytes,
    *,
    received_at: dt.datetime,
    definitions: FormDefinitions,
    limits: LimitSettings,
    today: dt.date,
    pool: ParsePool,
    mail: MailRead | None = None,
    identity: Identity | None = None,
    deadline: float | None = None,
) -> Read:
    """Read ``raw`` (unless ``mail`` is it read already, by ``read_mail_isolated``) and parse every document in
    it, all in ``pool``'s worker processes. ``identity`` is who the message is, where the caller knows it.

    ``deadline`` (``time.monotonic()``) is when the message's time is up, by default
    ``limits.message_budget_seconds`` from now: documents unread by then are "timeout". A message that could
    not itself be read in its time or memory is read as nothing at all, with ``Read.unread`` saying why.

    Raises:
        MessageTooLarge: the message is over ``limits.max_message_bytes``.
    """
    if deadline is None:
        deadline = time.monotonic() + limits.message_budget_seconds
    if len(raw) > limits.max_message_bytes:
        raise MessageTooLarge(len(raw), limits.max_message_bytes)
    if mail is None:
        mail = read_mail_isolated(raw, limits, pool=pool, deadline=deadline)
    if isinstance(mail, Unreadable):
        # Nothing is known of it: no sender to answer, no documents, no thread; it is known by its bytes.
        return Read(Mail(), (), identity or identify(None, raw), received_at, unread=mail.problem)
    files, documents = _read_files(
        mail, definitions, today, pool=pool, deadline=deadline, max_attachment_bytes=limits.max_attachment_bytes
    )
    originals = tuple(f.data if isinstance(f, Attachment) and f.skipped is None else None for f in files)
    return Read(mail, documents, identity or identify(mail, raw), received_at, originals=originals)


def read_mail_isolated(
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
    return _read_files(
        mail, definitions, today, pool=pool, deadline=deadline, max_attachment_bytes=max_attachment_bytes
    )[1]


def _read_files(
    mail: Mail,
    definitions: FormDefinitions,
    today: dt.date,
    *,
    pool: ParsePool,
    deadline: float | None,
    max_attachment_bytes: int,
) -> tuple[list[Attachment | Unreadable], tuple[Document, ...]]:
    """The files of ``mail`` (containers opened) and each one's document, in the same order."""
    is_container = [a.kind in ("msg", "tnef") and a.skipped is None for a in mail.attachments]
    containers = [a for a, container in zip(mail.attachments, is_container, strict=True) if container]
    opened = iter(pool.open_all(containers, max_bytes=max_attachment_bytes, deadline=deadline))
    files: list[Attachment | Unreadable] = []
    for attachment, container in zip(mail.attachments, is_container, strict=True):
        found: Opened = next(opened) if container else (attachment,)
        files.extend([found] if isinstance(found, Unreadable) else found)
    documents: list[Document | None] = [f if isinstance(f, Unreadable) else _unparsed(f) for f in files]
    wanted = [(i, f) for i, f in enumerate(files) if documents[i] is None and isinstance(f, Attachment)]
    # The same bytes twice (a picture Outlook keeps both as an attachment and inside the rich text, a form
    # attached twice) are parsed once: a photo costs seconds of OCR. Each copy still counts as a document.
    first: dict[bytes, Attachment] = {}
    for _, f in wanted:
        first.setdefault(f.data, f)
    unique = list(first.values())
    parsed = pool.parse_all([(f.data, f.filename) for f in unique], definitions, today=today, deadline=deadline)
    by_data = dict(zip((f.data for f in unique), parsed, strict=True))
    for index, f in wanted:
        document = by_data[f.data]
        documents[index] = document if document.filename == f.filename else replace(document, filename=f.filename)
    _join_pages(files, documents, definitions, today, pool=pool, deadline=deadline)
    kept = [(f, d) for f, d in zip(files, documents, strict=True) if d is not None and not _not_a_form(f, d)]
    return [f for f, _ in kept], tuple(d for _, d in kept)


def _join_pages(
    files: list[Attachment | Unreadable],
    documents: list[Document | None],
    definitions: FormDefinitions,
    today: dt.date,
    *,
    pool: ParsePool,
    deadline: float | None,
) -> None:
    """Read a form photographed page by page as one document, in place.

    A phone photographs a form a page at a time; only the first page has the form's title, so each later page
    alone holds no form and would be left out. The pictures holding no form that follow a picture read as a
    form (in the order they were attached) are read again with it, as the pages of one document, in a worker.
    When that gives the same form, it takes the first picture's place, its original becomes a PDF of the pages,
    and the following pictures are no documents of their own. Only pictures already read and left out are
    candidates, and only when a form's picture comes before them: other messages cost nothing more."""
    done: dict[tuple[bytes, ...], PagesRead] = {}
    index = 0
    while index < len(files):
        first, document = files[index], documents[index]
        end = index + 1
        if isinstance(first, Attachment) and first.kind == "image" and _read_by_ocr(document):
            while end < len(files) and (following := documents[end]) is not None and _not_a_form(files[end], following):
                end += 1
        if end - index < 2 or not isinstance(first, Attachment) or not isinstance(document, Form):
            index = end
            continue
        pictures = tuple(f.data for f in files[index:end] if isinstance(f, Attachment))
        if pictures not in done:
            done[pictures] = pool.read_pages(pictures, first.filename, definitions, today=today, deadline=deadline)
        pages = done[pictures].document
        if isinstance(pages, Form) and pages.kind == document.kind:
            documents[index] = replace(pages, filename=first.filename)
            pdf = done[pictures].pdf
            files[index] = replace(first, data=pdf) if pdf is not None else first
            for page in range(index + 1, end):
                documents[page] = None
        index = end


def _read_by_ocr(document: Document | None) -> bool:
    return isinstance(document, Form) and document.source == "ocr"


def _not_a_form(file: Attachment | Unreadable, document: Document) -> bool:
    """Whether ``file`` is a picture that holds no form: a logo, a signature's picture, an inline image of the
    email's text or a photo of something else. It is left out, as pictures were before they were read, so it
    adds nothing to the decision, the reply, the tasks or the referral's documents."""
    return (
        isinstance(file, Attachment)
        and file.kind == "image"
        and isinstance(document, Unreadable)
        and document.problem == "unrecognised"
    )


def _unparsed(attachment: Attachment) -> Document | None:
    """What an attachment is without parsing it, when that is already known."""
    if attachment.skipped is not None:
        return Unreadable(attachment.filename, attachment.skipped)
    if attachment.kind in ("msg", "tnef"):
        # A container still here after opening could not be opened (or is not what its name says).
        return Unreadable(attachment.filename, "corrupt")
    return None


def message_of(read: Read, service: ServiceSettings) -> Message:
    """The message as the core sees it: documents, arrival, reference, and who sent it (and why, if a machine)."""
    mail = read.mail
    # Parsed strictly (rules.recipients): an address that does not parse is no address to reply to.
    address = reply_address(mail, service.addresses)
    return Message(
        documents=read.documents,
        received_at=read.received_at,
        reference=read.identity.reference,
        automatic=automatic_reason(mail, own_addresses=service.addresses, own_domain=service.domain),
        reply_address=address.header_form if address is not None else None,
        senders=frozenset(a.lower() for a in (mail.sender, mail.reply_to) if a),
        sender=mail.sender,
        unread=read.unread,
    )


def original_of(uow: UnitOfWork, identity: Identity, *, ledger_id: int | None = None) -> MessageRecord | None:
    """The ledger row of the first delivery of the same message (other than ``ledger_id``), or None."""
    return uow.ledger.original_of(identity.fingerprint, identity.sha256, other_than=ledger_id)


def known_about(
    uow: UnitOfWork,
    read: Read,
    message: Message,
    *,
    service: ServiceSettings,
    definitions: FormDefinitions,
    now: dt.datetime,
) -> Known:
    """What the store knows that bears on the message: the submissions it names, the replies already written
    to its sender and about the submission it is trusted with, that submission's open tasks, the open
    referrals and the practice list."""
    known = Known(
        answers=quoted_submission(uow, read.mail, definitions),
        replies_named=named_replies(uow, read.mail, service, definitions),
        open_referrals=uow.queue.open_nhs_numbers(),
        practices=uow.practices.active_codes(),
    )
    to_sender = 0
    if message.reply_address is not None:
        to_sender = uow.outbox.replies_to(message.reply_address, since=now - RATE_WINDOW)
    # Which submission the message is trusted with is the core's to say; the shell only counts its replies.
    trusted = claim_of(message, known).answers
    if trusted is None:
        return replace(known, replies_to_sender=to_sender)
    return replace(
        known,
        replies_to_sender=to_sender,
        replies_for_submission=uow.outbox.replies_for_submission(trusted.root_id),
        reply_kinds_for_submission=uow.outbox.reply_kinds_for_submission(trusted.root_id),
        open_tasks=uow.tasks.open_kinds(trusted.reference),
    )


def assess(uow: UnitOfWork | None, read: Read, policy: Policy, *, today: dt.date, now: dt.datetime) -> Decision:
    """The core's decision about ``read`` at ``now``, given what ``uow``'s store knows (None: an empty store)."""
    message = message_of(read, policy.service)
    if uow is None:
        return decide_message(message, Known(), policy, today)
    known = known_about(uow, read, message, service=policy.service, definitions=policy.definitions, now=now)
    return decide_message(message, known, policy, today)


@functools.cache
def triage_rules(path: Path | None) -> TriageRules:
    """The triage rules in ``path`` (default: the packaged file), read once per process."""
    return load_triage_rules(path)
