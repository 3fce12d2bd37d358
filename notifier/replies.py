"""Mail out: the automatic reply to a referrer, built as an ``EmailMessage`` from plain-text Jinja2 templates.

``build_reply`` is pure: it reads no clock and sends nothing; a ``Sender`` delivers what it returns. Replies
follow RFC 3834 (``Auto-Submitted: auto-replied``, threading headers, no ``Precedence``) and carry no patient
data: no names, NHS numbers or dates of birth, no quoted original, no echoed subject (subjects often name
the patient), no attachment file names. Missing forms and fields are named by their printed labels only.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

import jinja2

from config.forms import load_form_definitions
from config.settings import ServiceSettings
from notifier.headers import check_message, set_header
from parsers.addresses import Address, parse_message_id
from parsers.mail import Mail
from rules.automatic import OWN_MESSAGE_ID_PREFIX
from rules.recipients import reply_address
from rules.types import Problem, ReplyKind
from rules.words import GENERIC_PHRASE, PROBLEM_PHRASES, problem_phrase

LOOP_HEADER = "X-Loop"
"""Names the service on every reply, so a reply that comes back to us is recognised as our own."""

SUBJECTS: Mapping[ReplyKind, str] = {
    "incomplete": "Your referral to the {name} - more information needed - reference {reference}",
    "misrouted": "Your referral to the {name} - Form 1 goes to the patient's pharmacy - reference {reference}",
    "unreadable": "Your referral to the {name} - received, being checked - reference {reference}",
}
"""Subject per reply kind, in plain ASCII so every client shows it as written and a reply keeps the reference.
Never the original subject: it often carries the patient's name."""

# One source of words: the sentences per problem code live in rules/words.py.
__all__ = [
    "GENERIC_PHRASE",
    "LOOP_HEADER",
    "OTHER_DETAILS",
    "PROBLEM_PHRASES",
    "SUBJECTS",
    "NoReplyAddressError",
    "ReplyText",
    "build_hand_reply",
    "build_reply",
    "problem_phrase",
    "reply_message_id",
    "reply_recipient",
    "reply_text",
]

OTHER_DETAILS = "Other details"
"""The heading for problems that belong to no form."""

_MESSAGE_ID_SAFE = re.compile(r"[^A-Za-z0-9-]+")
_MAX_REFERENCES = 20


class NoReplyAddressError(ValueError):
    """Raised by ``build_reply`` when the mail has neither a Reply-To nor a From address to answer."""


@dataclass(frozen=True)
class ReplyText:
    """What an automatic reply says: its subject and its plain-text body (the HTML version says the same)."""

    subject: str
    body: str


@dataclass(frozen=True)
class _Item:
    label: str
    phrase: str


@dataclass(frozen=True)
class _Group:
    name: str
    items: tuple[_Item, ...]


def build_reply(
    kind: ReplyKind,
    *,
    mail: Mail,
    problems: Sequence[Problem],
    missing_forms: Sequence[str],
    reference: str,
    service: ServiceSettings,
    now: dt.datetime,
    form_names: Mapping[str, str] | None = None,
) -> EmailMessage:
    """The automatic reply of ``kind`` to ``mail``, ready for a ``Sender``.

    Args:
        kind: which reply: what is missing, wrong place, or checked by hand.
        mail: the message answered; only its addresses and Message-IDs are used.
        problems: the submission's problems; those with a ``field`` are listed under their form's name
            (an ``incomplete`` reply only), those with ``code == "missing_form"`` join ``missing_forms``.
        missing_forms: printed names of forms that were not attached.
        reference: the submission's reference, quoted in the subject and the body.
        service: who the service is (name, address, telephone, opening hours).
        now: when the reply is made; must be timezone-aware. It dates the reply and is part of its Message-ID.
        form_names: form kind -> printed name for the group headings; default: the packaged form definitions.

    Returns:
        A multipart/alternative ``EmailMessage`` (the text/plain body first, the same words in text/html
        second) with To (``reply_recipient``: one address, nothing else), From, Subject, Date, Message-ID
        (``<nmss-intake.reply.{kind}.{reference}.{UTC yyyymmddThhmmssZ}@{service.domain}>``: the same inputs
        always give the same id, so a retried build is recognisably the same reply, while a later reply for
        the same reference gets a new one), In-Reply-To, References, ``Auto-Submitted: auto-replied``,
        ``X-Auto-Response-Suppress: All`` and ``X-Loop: {service.address}``. No Precedence header. Ids from
        the original that are not strict msg-ids are left out. A recipient whose local part is not ASCII is
        written in UTF-8 (the message's policy has ``utf8=True``): only an SMTPUTF8 transport can send it.

    Raises:
        NoReplyAddressError: the mail has no address to reply to.
        UnsafeMessage: a header would not be one line (``notifier.headers``); nothing may be sent.
        ValueError: ``now`` is naive, or ``reference`` is empty.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    context = _context(problems, missing_forms, reference, service, form_names)
    body = _environment().get_template(f"reply_{kind}.txt").render(**context)
    html = _html_environment().get_template(f"reply_{kind}.html").render(**context)

    to = reply_recipient(mail, service)
    # A local part in UTF-8 has no valid 7-bit form: the message is written as RFC 6532 UTF-8 instead.
    message = EmailMessage(policy=policy.default.clone(utf8=True) if to.needs_smtputf8 else policy.default)
    set_header(message, "From", formataddr((service.name, service.address)))
    set_header(message, "To", to.header_form)
    set_header(message, "Subject", SUBJECTS[kind].format(name=service.name, reference=reference))
    set_header(message, "Date", format_datetime(now))
    set_header(message, "Message-ID", reply_message_id(kind, reference, now, service.domain))
    original = parse_message_id(mail.message_id)
    if original is not None:
        set_header(message, "In-Reply-To", f"<{original}>")
    references = _references(mail, original)
    if references:
        set_header(message, "References", " ".join(f"<{r}>" for r in references))
    set_header(message, "Auto-Submitted", "auto-replied")
    set_header(message, "X-Auto-Response-Suppress", "All")
    set_header(message, LOOP_HEADER, service.address)
    # Plain 7bit keeps the .eml readable and the key sentences unbroken (Python would pick quoted-printable for
    # any line over 78 characters); labels with non-ASCII characters still go quoted-printable.
    message.set_content(body, cte="7bit" if body.isascii() else "quoted-printable")
    # The plain text comes first and says everything; the HTML version says the same for clients that prefer it.
    message.add_alternative(html, subtype="html", cte="7bit" if html.isascii() else "quoted-printable")
    check_message(message, [to.header_form])
    return message


def reply_text(
    kind: ReplyKind,
    *,
    problems: Sequence[Problem],
    missing_forms: Sequence[str],
    reference: str,
    service: ServiceSettings,
    form_names: Mapping[str, str] | None = None,
) -> ReplyText:
    """The subject and plain text ``build_reply`` writes for these arguments, without a mail to answer: what a
    person starts from when an automatic reply was held back and they reply by hand."""
    context = _context(problems, missing_forms, reference, service, form_names)
    return ReplyText(
        subject=SUBJECTS[kind].format(name=service.name, reference=reference),
        body=_environment().get_template(f"reply_{kind}.txt").render(**context),
    )


def build_hand_reply(
    to: Address, *, subject: str, body: str, reference: str, service: ServiceSettings, now: dt.datetime
) -> EmailMessage:
    """A reply a person of the team wrote, to ``to`` (an address that parsed strictly), ready for a ``Sender``.

    From the service's address like the automatic replies, with a Message-ID of the service's own (so an
    answer to it is matched to ``reference``'s submission) and ``X-Loop``; no ``Auto-Submitted``: a person
    wrote it. Plain text only, as typed.

    Raises:
        UnsafeMessage: ``subject`` is not one line (``notifier.headers``); nothing may be sent.
        ValueError: ``now`` is naive, or ``reference`` is empty.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if not reference.strip():
        raise ValueError("reference must not be empty")
    message = EmailMessage(policy=policy.default.clone(utf8=True) if to.needs_smtputf8 else policy.default)
    set_header(message, "From", formataddr((service.name, service.address)))
    set_header(message, "To", to.header_form)
    set_header(message, "Subject", subject)
    set_header(message, "Date", format_datetime(now))
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    safe_reference = _MESSAGE_ID_SAFE.sub("-", reference).strip("-") or "none"
    set_header(message, "Message-ID", f"<{OWN_MESSAGE_ID_PREFIX}hand.{safe_reference}.{stamp}@{service.domain}>")
    set_header(message, LOOP_HEADER, service.address)
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    message.set_content(text, cte="7bit" if text.isascii() and _short_lines(text) else "quoted-printable")
    check_message(message, [to.header_form])
    return message


def reply_message_id(kind: ReplyKind, reference: str, now: dt.datetime, domain: str) -> str:
    """The Message-ID of the reply of ``kind`` for ``reference`` made at ``now``, with angle brackets."""
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    safe_reference = _MESSAGE_ID_SAFE.sub("-", reference).strip("-") or "none"
    return f"<{OWN_MESSAGE_ID_PREFIX}reply.{kind}.{safe_reference}.{stamp}@{domain}>"


def reply_recipient(mail: Mail, service: ServiceSettings) -> Address:
    """The one address the reply to ``mail`` goes to (``rules.recipients.reply_address``): its ``header_form``
    is the reply's To and the envelope's only recipient.

    Raises:
        NoReplyAddressError: no Reply-To or From address parses strictly, or both are the service's own.
    """
    address = reply_address(mail, service.addresses)
    if address is None:
        raise NoReplyAddressError("the mail has no address to reply to")
    return address


def _context(
    problems: Sequence[Problem],
    missing_forms: Sequence[str],
    reference: str,
    service: ServiceSettings,
    form_names: Mapping[str, str] | None,
) -> dict[str, object]:
    if not reference.strip():
        raise ValueError("reference must not be empty")
    names = dict(_default_form_names() if form_names is None else form_names)
    return {
        "service": service,
        "reference": reference,
        "missing_forms": _unique([*missing_forms, *(p.label for p in problems if p.code == "missing_form")]),
        "groups": _groups(problems, names),
    }


def _short_lines(text: str) -> bool:
    # 7bit may carry lines of up to 998 octets; a person may paste a longer one.
    return all(len(line) <= 900 for line in text.split("\n"))


def _groups(problems: Sequence[Problem], names: Mapping[str, str]) -> list[_Group]:
    grouped: dict[str, list[_Item]] = {}
    for problem in problems:
        if problem.field is None:
            continue
        heading = names.get(problem.form, problem.form) if problem.form is not None else OTHER_DETAILS
        item = _Item(label=_one_line(problem.label), phrase=problem_phrase(problem.code))
        items = grouped.setdefault(heading, [])
        if item not in items:
            items.append(item)
    return [_Group(name=name, items=tuple(items)) for name, items in grouped.items()]


def _references(mail: Mail, original: str | None) -> list[str]:
    ids = _unique([i for i in (parse_message_id(r) for r in mail.references) if i is not None])
    if original is not None and original not in ids:
        ids.append(original)
    # RFC 5322 lets a long thread be trimmed; keeping the first id keeps the thread's root for clients.
    if len(ids) > _MAX_REFERENCES:
        ids = [ids[0], *ids[-(_MAX_REFERENCES - 1) :]]
    return ids


def _unique(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _one_line(text: str) -> str:
    return " ".join(text.split())


@functools.cache
def _default_form_names() -> Mapping[str, str]:
    return {definition.kind: definition.name for definition in load_form_definitions()}


@functools.cache
def _html_environment() -> jinja2.Environment:
    # Autoescaped: labels come from the form definitions and must never become markup.
    return jinja2.Environment(
        loader=jinja2.PackageLoader("notifier", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@functools.cache
def _environment() -> jinja2.Environment:
    # Plain text out, so no HTML escaping; nothing from the original mail ever reaches a template.
    return jinja2.Environment(
        loader=jinja2.PackageLoader("notifier", "templates"),
        autoescape=False,  # noqa: S701 - text/plain templates, see the comment above
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
