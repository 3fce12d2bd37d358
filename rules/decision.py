"""The whole decision about one message, as data: what the shell records, sends, shows the team and files.

``decide_message`` is the service's functional core (cosmicpython's ``determine_actions``). It takes the
message as read (its documents, who can be answered, whether a machine sent it), what the store knows about
it as plain data (``Known``: the submission it answers, the replies already written, the open referrals, the
practice list) and ``today``, and returns a ``Decision``: the outcome, the queue entry, the reply or why it is
held back, the team's tasks and the folder. ``check`` prints it; the pipeline carries it out. Nothing here
reads the clock, the database or the network.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from config.forms import FormDefinitions
from config.settings import ReplyLimitSettings, ServiceSettings
from config.triage import TriageRules
from parsers.addresses import mailbox_key
from parsers.types import Document, Form, Value
from rules.decide import decide, decide_unread
from rules.eligibility import EligibilityPolicy
from rules.tasks import (
    Task,
    held_back_task,
    ocr_uncertain_task,
    reply_without_forms_task,
    unread_message_task,
    unreadable_form_task,
    untrusted_claim_task,
)
from rules.triage import triage
from rules.types import Context, Outcome, Problem, ReplyKind, Submission

FOLDERS: Mapping[str, str] = {
    "accepted": "Accepted",
    "incomplete": "Incomplete",
    "misrouted": "Misrouted",
    "mar_registration": "MAR",
    "review": "Review",
    "not_a_submission": "Other",
    "automatic": "Automatic",
    "duplicate": "Duplicate",
    "quarantined": "Quarantine",
}
"""The mailbox folder each outcome is filed in, where the team sees it in Outlook."""

QUEUED_OUTCOMES = frozenset({"accepted", "review", "mar_registration"})
"""Outcomes that put a submission in the queue, when it holds at least one recognised form."""

PATIENT_FORM_ORDER = ("form2", "miat", "form1", "mar")
"""Which form's patient details win when forms disagree: Form 2 first."""

ACKNOWLEDGMENTS: frozenset[str] = frozenset({"unreadable"})
"""Automatic replies whose words do not depend on what the message held ("a member of the team will check it
by hand"): once one was written about a submission, the same reply held back later tells the referrer
nothing new, so nobody need send it by hand."""

How = Literal["thread", "subject"]

UntrustedReason = Literal["reference_from_unknown_sender", "reply_from_unknown_sender", "reply_to_unknown_message"]
"""Why a message that claims a place in a submission is not given it: a subject reference from an address we
never wrote to about it; a reply to one of our replies from an address that reply did not go to; a
Message-ID of ours that the outbox shows we never sent. Message-IDs and subjects are easy to copy or guess,
so such a message goes to the team instead of being merged into another person's referral."""


@dataclass(frozen=True)
class Answered:
    """An earlier submission a message names, as the store knows it.

    ``root_id`` is its first ledger id and ``reference`` its reference; ``how`` says whether the message
    answers one of our replies (``thread``) or quotes the reference in its subject (``subject``);
    ``replied_to`` holds every address we wrote to about it; ``documents`` its latest forms.
    """

    root_id: int
    reference: str
    how: How
    replied_to: frozenset[str] = frozenset()
    documents: tuple[Document, ...] = ()


@dataclass(frozen=True)
class NamedReply:
    """A Message-ID in our form that a message names in ``In-Reply-To`` or ``References``, and what the outbox
    shows about it: ``sent_to``, the address that reply of ours went to (None: the outbox has no such reply,
    so we never sent it), and ``submission``, the submission it was about (None when that is gone)."""

    sent_to: str | None = None
    submission: Answered | None = None


@dataclass(frozen=True)
class Known:
    """What the store knows that bears on a message, read by the shell and passed in as plain data.

    ``duplicate_of``: the ledger id of the same message taken before. ``replies_named``: every Message-ID in
    our form the message names, most direct first (``In-Reply-To``, then ``References`` newest first), with
    what the outbox shows about it; ``answers``: the first submission whose reference its subject quotes.
    Neither is trusted yet: ``claim_of`` decides. ``replies_to_sender``: automatic replies written in the last
    24 hours to the address this message would be answered at; ``replies_for_submission``: those written
    about the submission it is trusted with, ever, and ``reply_kinds_for_submission`` their kinds
    (``incomplete``, ``unreadable``…); ``open_tasks``: the kinds of the team's open tasks about that
    submission. ``open_referrals``: NHS numbers with a referral open in the queue. ``practices``: the active
    GP practice codes, None when no list is imported.
    """

    duplicate_of: int | None = None
    answers: Answered | None = None
    replies_named: tuple[NamedReply, ...] = ()
    replies_to_sender: int = 0
    replies_for_submission: int = 0
    reply_kinds_for_submission: frozenset[str] = frozenset()
    open_tasks: frozenset[str] = frozenset()
    open_referrals: frozenset[str] = frozenset()
    practices: frozenset[str] | None = None


@dataclass(frozen=True)
class Claim:
    """What a message is trusted with: the submission it completes (``answers``), or why the submission it
    names is not given it (``untrusted``, with ``named`` the submission, if one is known)."""

    answers: Answered | None = None
    untrusted: UntrustedReason | None = None
    named: Answered | None = None


@dataclass(frozen=True)
class Message:
    """One message as read: its documents, when it arrived, its reference, and who sent it.

    ``automatic`` says why a machine sent it (``rules.automatic``), or None; ``reply_address`` is where an
    automatic reply would go (None when there is nowhere to write); ``senders`` its From and Reply-To
    addresses, lower-cased; ``sender`` its From address alone (the only one that may answer a reply of ours).
    ``unread`` says why the message itself could not be read (``timeout``, ``too_large``), or None: such a
    message has no documents, no sender and names nothing.
    """

    documents: tuple[Document, ...]
    received_at: dt.datetime
    reference: str
    automatic: str | None = None
    reply_address: str | None = None
    senders: frozenset[str] = frozenset()
    sender: str | None = None
    unread: str | None = None


@dataclass(frozen=True)
class Patient:
    """Who a queue entry is about, as far as the forms say."""

    nhs_number: str | None = None
    surname: str | None = None
    forenames: str | None = None
    date_of_birth: dt.date | None = None


@dataclass(frozen=True)
class QueueEntry:
    """The queue row a decision makes: a referral or MAR registration, ``new`` or for ``review``."""

    kind: Literal["referral", "mar_registration"]
    status: Literal["new", "review"]
    priority: str | None
    flags: tuple[str, ...]
    reasons: tuple[str, ...]
    warnings: tuple[str, ...]
    patient: Patient


@dataclass(frozen=True)
class Reply:
    """The automatic reply to write: its kind, its recipient and the problems it names."""

    kind: ReplyKind
    to: str
    problems: tuple[Problem, ...]


@dataclass(frozen=True)
class Decision:
    """Everything that happens to one message.

    ``kind`` is the outcome's kind, or ``duplicate``; ``outcome`` the rules' judgement of the forms (None for
    a duplicate); ``reference`` the submission's reference (the first message's, for a resubmission);
    ``documents`` the forms decided (with the earlier ones, for a resubmission); ``resubmission_of`` the first
    ledger id of the submission the message completes. ``queue`` is None when nothing is queued. ``reply``
    is the reply to write, or None; ``held_back`` says why a due reply is not written. ``tasks`` are the new
    tasks for the team; ``tasks_still_open`` those the message needs that the team has open already about the
    same submission (the shell points them at this message, the newest, instead of adding a second one);
    ``folder`` is where the message is filed.
    """

    kind: str
    reference: str
    folder: str
    outcome: Outcome | None = None
    documents: tuple[Document, ...] = ()
    queue: QueueEntry | None = None
    reply: Reply | None = None
    held_back: str | None = None
    tasks: tuple[Task, ...] = ()
    tasks_still_open: tuple[Task, ...] = ()
    resubmission_of: int | None = None
    resubmission_how: str | None = None
    duplicate_of: int | None = None

    @property
    def forms(self) -> tuple[str, ...]:
        """The kinds of form seen, in the order they came."""
        return tuple(self.outcome.forms) if self.outcome else ()


@dataclass(frozen=True)
class Policy:
    """The configuration the decision uses: the form definitions, the service, the reply limits, the triage."""

    definitions: FormDefinitions
    service: ServiceSettings
    reply_limits: ReplyLimitSettings
    triage: TriageRules


def decide_message(message: Message, known: Known, policy: Policy, today: dt.date) -> Decision:
    """What happens to ``message``, given what the store ``known``s, judged as of ``today``.

    A message taken before is a duplicate and nothing else happens. A message that answers an earlier
    submission from an address we wrote to about it is decided together with that submission's forms,
    under its reference; one that quotes a reference from anyone else goes to the team. A reply that is
    due but may not be written (a machine sent the message, there is no address, a reply limit is reached)
    is held back and becomes a task, as do a reply without forms and a form that could not be read. A
    resubmission needs at most one open task of each kind (``split_open_tasks``), and a held-back reply
    that only repeats the acknowledgment the referrer already has is no task at all.
    """
    if known.duplicate_of is not None:
        return Decision(
            kind="duplicate", reference=message.reference, folder=FOLDERS["duplicate"], duplicate_of=known.duplicate_of
        )
    claim = claim_of(message, known)
    answers = claim.answers
    documents = message.documents
    if answers is not None and documents:
        # A message that brings no document at all (a question, a winmail.dat of pictures) is decided alone.
        documents = merge_documents(answers.documents, documents)
    context = Context(
        eligibility=EligibilityPolicy(min_age=policy.service.eligibility.min_age, practices=known.practices),
        open_referrals=known.open_referrals,
        secure_domains=frozenset(d.lower() for d in policy.service.secure_domains),
        ocr_min_confidence=policy.service.ocr_min_confidence,
    )
    if message.unread is not None:
        outcome = decide_unread(message.unread)
    else:
        submission = Submission(documents, message.received_at, message.automatic)
        outcome = decide(submission, policy.definitions, today, context)
    if outcome.reply is not None and message.reply_address is None:
        # Nobody to write to: the team decides what to do by hand.
        outcome = replace(outcome, reply=None, suppressed="no-reply-address", held_reply=outcome.reply)
    tasks: list[Task] = []
    if outcome.kind != "automatic":
        if claim.untrusted is not None:
            outcome = replace(
                outcome,
                kind="review",
                reply=None,
                suppressed=None,
                held_reply=None,
                reasons=(*outcome.reasons, claim.untrusted),
            )
            tasks.append(untrusted_claim_task(claim.untrusted, claim.named.reference if claim.named else None))
        elif answers is not None and outcome.kind == "not_a_submission":
            outcome = replace(outcome, kind="review", reply=None, reasons=(*outcome.reasons, "reply_without_forms"))
            tasks.append(reply_without_forms_task())
    reference = answers.reference if answers is not None else message.reference
    reply, held_back = _reply(outcome, message, known, policy.reply_limits)
    if held_back is not None and not _already_acknowledged(outcome, known):
        tasks.append(held_back_task(held_back))
    if "unreadable_form" in outcome.reasons:
        tasks.append(unreadable_form_task())
    if "ocr_uncertain" in outcome.reasons:
        tasks.append(ocr_uncertain_task())
    if message.unread is not None:
        tasks.append(unread_message_task(outcome.reasons[0]))
    new, still_open = split_open_tasks(tasks, known.open_tasks if answers is not None else frozenset())
    return Decision(
        kind=outcome.kind,
        reference=reference,
        folder=FOLDERS[outcome.kind],
        outcome=outcome,
        documents=documents,
        queue=queue_entry(outcome, documents, policy.triage),
        reply=reply,
        held_back=held_back,
        tasks=new,
        tasks_still_open=still_open,
        resubmission_of=answers.root_id if answers is not None else None,
        resubmission_how=answers.how if answers is not None else claim.untrusted,
    )


def split_open_tasks(tasks: Sequence[Task], open_kinds: frozenset[str]) -> tuple[tuple[Task, ...], tuple[Task, ...]]:
    """``tasks`` for a submission as (new, still open): one open task per submission and kind.

    A resubmission that still needs the same thing done (the scan still to check, a reply still to send by
    hand) is the same task for the team, not a second line in "Needing your action"; once the team has closed
    it, the need is new and so is the task. ``open_kinds`` are the kinds open about the submission.
    """
    new: dict[str, Task] = {}
    still_open: dict[str, Task] = {}
    for task in tasks:
        (still_open if task.kind in open_kinds else new).setdefault(task.kind, task)
    return tuple(new.values()), tuple(still_open.values())


def _already_acknowledged(outcome: Outcome, known: Known) -> bool:
    # The referrer already has these very words about this submission: holding them back loses nothing.
    due = outcome.reply or outcome.held_reply
    return due in ACKNOWLEDGMENTS and due in known.reply_kinds_for_submission


def claim_of(message: Message, known: Known) -> Claim:
    """Which submission ``message`` may complete, of those it names.

    A reply to one of our replies counts only when the outbox shows we sent that reply and the message comes
    from the address it went to; once a message names a Message-ID of ours, nothing else it says is trusted
    instead. A subject reference counts only from an address we wrote to about that submission (its From or
    Reply-To). Anything else that names a submission is not given it.
    """
    sent_to_someone_else: Answered | None = None
    someone_else = False
    for reply in known.replies_named:
        if reply.sent_to is None:
            continue
        if not answers_our_reply(message.sender, reply.sent_to):
            someone_else = True
            sent_to_someone_else = sent_to_someone_else or reply.submission
            continue
        if reply.submission is not None:
            return Claim(answers=reply.submission)
    if known.replies_named:
        if someone_else:
            return Claim(untrusted="reply_from_unknown_sender", named=sent_to_someone_else)
        return Claim(untrusted="reply_to_unknown_message")
    quoted = known.answers
    if quoted is None:
        return Claim()
    if any(answers_our_reply(a, r) for a in message.senders for r in quoted.replied_to):
        return Claim(answers=quoted)
    return Claim(untrusted="reference_from_unknown_sender", named=quoted)


def answers_our_reply(sender: str | None, sent_to: str) -> bool:
    """Whether a message from ``sender`` may answer a message of ours that was sent to ``sent_to``.

    Only the address we wrote to may: anyone can copy a Message-ID or a reference into a message of their own.
    Addresses are compared as mailboxes (``parsers.addresses.mailbox_key``): the address part only, its case
    and a ``+tag`` ignored.
    """
    if sender is None:
        return False
    mailbox = _mailbox(sender)
    return mailbox != "" and mailbox == _mailbox(sent_to)


def _mailbox(address: str) -> str:
    # Older outbox rows may hold a To header with a display name; a message's sender is already a bare address.
    return mailbox_key(email.utils.parseaddr(address)[1].strip())


def queue_entry(outcome: Outcome, documents: Sequence[Document], rules: TriageRules) -> QueueEntry | None:
    """The queue entry for ``outcome``, or None: the one definition of "queued".

    Accepted referrals, complete MAR registrations and submissions for review are queued when they hold at
    least one recognised form; a referral's priority and flags come from its Form 2 and MIAT.
    """
    if outcome.kind not in QUEUED_OUTCOMES or not outcome.forms:
        return None
    forms = [d for d in documents if isinstance(d, Form)]
    mar = outcome.kind == "mar_registration"
    triaged = triage(forms, rules) if not mar and any(f.kind in ("form2", "miat") for f in forms) else None
    return QueueEntry(
        kind="mar_registration" if mar else "referral",
        status="review" if outcome.kind == "review" else "new",
        priority=triaged.priority if triaged else None,
        flags=triaged.flags if triaged else (),
        reasons=outcome.reasons,
        warnings=outcome.warnings,
        patient=patient_of(forms),
    )


def patient_of(forms: Sequence[Form]) -> Patient:
    """The patient's identifiers from Form 2 first, then the MIAT, Form 1 and the MAR form."""
    fields: dict[str, Value] = {}
    ranked = sorted((f for f in forms if f.kind in PATIENT_FORM_ORDER), key=lambda f: PATIENT_FORM_ORDER.index(f.kind))
    for form in reversed(ranked):
        fields.update({k: v for k, v in form.fields.items() if k.startswith("patient.")})
    number, surname, forenames, dob = (
        fields.get(f"patient.{key}") for key in ("nhs_number", "surname", "forenames", "dob")
    )
    return Patient(
        nhs_number=number if isinstance(number, str) else None,
        surname=surname if isinstance(surname, str) else None,
        forenames=forenames if isinstance(forenames, str) else None,
        date_of_birth=dob if isinstance(dob, dt.date) else None,
    )


def merge_documents(earlier: Sequence[Document], newer: Sequence[Document]) -> tuple[Document, ...]:
    """A submission's documents once ``newer`` arrived: every new document, and each earlier one whose form
    kind the new ones do not bring. Earlier documents of no known kind are dropped (the team has seen them)."""
    replaced = {d.kind for d in newer if d.kind is not None}
    kept = [d for d in earlier if d.kind is not None and d.kind not in replaced]
    return (*kept, *newer)


def limit_reason(*, replies_to_sender: int, replies_for_submission: int, limits: ReplyLimitSettings) -> str | None:
    """Which reply limit one more automatic reply would break, or None.

    Returns ``"rate-limit-submission"``, ``"rate-limit-sender"`` or None (the submission limit is checked
    first: it is the one the team can explain to the referrer).
    """
    if replies_for_submission >= limits.per_submission:
        return "rate-limit-submission"
    if replies_to_sender >= limits.per_sender_per_day:
        return "rate-limit-sender"
    return None


def _reply(
    outcome: Outcome, message: Message, known: Known, limits: ReplyLimitSettings
) -> tuple[Reply | None, str | None]:
    if outcome.suppressed is not None:
        return None, outcome.suppressed
    if outcome.reply is None or message.reply_address is None:
        return None, None
    limited = limit_reason(
        replies_to_sender=known.replies_to_sender, replies_for_submission=known.replies_for_submission, limits=limits
    )
    if limited is not None:
        return None, limited
    return Reply(kind=outcome.reply, to=message.reply_address, problems=outcome.problems), None


__all__ = [
    "ACKNOWLEDGMENTS",
    "FOLDERS",
    "Answered",
    "Claim",
    "Decision",
    "Known",
    "Message",
    "NamedReply",
    "Patient",
    "Policy",
    "QueueEntry",
    "Reply",
    "Task",
    "UntrustedReason",
    "answers_our_reply",
    "claim_of",
    "decide_message",
    "limit_reason",
    "merge_documents",
    "patient_of",
    "queue_entry",
    "split_open_tasks",
]
