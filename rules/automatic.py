"""Was this mail sent by a machine? Then it gets no automatic reply (RFC 3834 and what helpdesks learned).

``automatic_reason`` returns a short code saying why a mail is automatic, or None for mail from a person.
The caller turns a code into a visible item for the team ("needs a manual reply"), never a silent drop.
Pure: what counts as "us" (addresses, reply domain, loop names) comes in as arguments.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from parsers.addresses import mailbox_key
from parsers.mail import Mail

OWN_MESSAGE_ID_PREFIX = "nmss-intake."
"""Every Message-ID the service writes starts with this, before ``@`` and its own domain.

The domain alone cannot tell our replies apart: the service's domain is nhs.net, and so are the pharmacies
that write to it. The prefix makes "one of our own messages came back" precise.
"""

SYSTEM_LOCAL_PARTS = frozenset({"mailerdaemon", "postmaster", "noreply", "donotreply", "bounce", "bounces"})
"""Local parts (before ``@``) of senders that are systems, not people, as ``system_local_part`` spells them:
lower-cased, without a ``+tag`` and without ``.``, ``-`` and ``_`` (``No.Reply+x``, ``mailer_daemon``)."""

AUTORESPONDER_HEADERS = ("x-autoreply", "x-autorespond")
"""Headers that older auto-responders set instead of ``Auto-Submitted``; any value but no/false means automatic."""

_NOT_AUTOMATIC = frozenset({"", "no"})
_NOT_AUTORESPONDER = frozenset({"", "no", "false", "0"})
_BULK_PRECEDENCE = frozenset({"bulk", "list", "junk"})
_AUTO_REPLY_PRECEDENCE = frozenset({"auto_reply", "auto-reply"})
_SEPARATORS = re.compile(r"[._-]")
_REPORT_TYPES = frozenset({"multipart/report", "message/delivery-status", "message/disposition-notification"})
_NULL_PATH = re.compile(r"^<\s*>$")
_KEYWORD = re.compile(r"\s*([A-Za-z0-9_-]*)")


def automatic_reason(
    mail: Mail,
    own_addresses: frozenset[str],
    own_domain: str | None = None,
    *,
    loop_names: Iterable[str] | None = None,
) -> str | None:
    """Why ``mail`` must not get an automatic reply, or None when a person sent it.

    Args:
        mail: the message as ``read_mail`` gave it.
        own_addresses: the service's addresses, lower-cased (``ServiceSettings.addresses``).
        own_domain: the domain of the service's own Message-IDs (``ServiceSettings.domain``); None skips
            the own-message check.
        loop_names: what an ``X-Loop`` header naming the service contains; default: ``own_addresses``.

    Returns:
        One of ``"auto-submitted"`` (also ``X-Autoreply``, ``X-Autorespond``, ``Precedence: auto_reply``),
        ``"precedence-bulk"``, ``"list"``, ``"null-return-path"``, ``"delivery-report"`` (also
        ``X-Failed-Recipients``), ``"system-sender"`` (From or Reply-To is a system's: mailer-daemon,
        postmaster, no-reply, bounces, however spelt), ``"own-address"`` (From is one of ours, any case or
        ``+tag``), ``"loop"``, ``"own-message-id"``, or None. ``X-Auto-Response-Suppress`` alone is not a
        reason: Exchange adds it to ordinary mail sent through distribution lists, and helpdesks that
        honoured it silenced real people.
    """
    headers = mail.headers
    own_addresses = frozenset(a.lower() for a in own_addresses)
    if _keyword(headers.get("auto-submitted", "")) not in _NOT_AUTOMATIC:
        return "auto-submitted"
    if any(_keyword(headers.get(name, "")) not in _NOT_AUTORESPONDER for name in AUTORESPONDER_HEADERS):
        return "auto-submitted"
    precedence = _keyword(headers.get("precedence", ""))
    if precedence in _AUTO_REPLY_PRECEDENCE:
        return "auto-submitted"
    if precedence in _BULK_PRECEDENCE:
        return "precedence-bulk"
    if "list-id" in headers or "list-unsubscribe" in headers:
        return "list"
    if any(_NULL_PATH.match(path.strip()) for path in headers.get("return-path", "x").split(",")):
        return "null-return-path"
    if headers.get("content-type", "") in _REPORT_TYPES or "x-failed-recipients" in headers:
        return "delivery-report"
    # Reply-To counts as much as From: it is where the reply would go.
    if any(system_local_part(address) in SYSTEM_LOCAL_PARTS for address in _senders(mail)):
        return "system-sender"
    if mail.sender is not None and mailbox_key(mail.sender) in {mailbox_key(a) for a in own_addresses}:
        return "own-address"
    if _names_us(headers.get("x-loop", ""), own_addresses if loop_names is None else loop_names):
        return "loop"
    if own_domain is not None and mail.message_id is not None and is_own_message_id(mail.message_id, own_domain):
        return "own-message-id"
    return None


def is_own_message_id(message_id: str, domain: str) -> bool:
    """Whether ``message_id`` (with or without angle brackets) is one the service wrote on ``domain``."""
    local, at, right = message_id.strip().strip("<>").rpartition("@")
    return bool(at) and right.lower() == domain.lower() and local.lower().startswith(OWN_MESSAGE_ID_PREFIX)


def system_local_part(address: str) -> str:
    """The part of ``address`` before ``@`` as ``SYSTEM_LOCAL_PARTS`` spells it: lower-cased, no ``+tag``, no
    ``.``, ``-`` or ``_`` (``No.Reply+x@nhs.net`` gives ``noreply``)."""
    return _SEPARATORS.sub("", mailbox_key(address).partition("@")[0])


def _senders(mail: Mail) -> list[str]:
    return [address for address in (mail.sender, mail.reply_to) if address]


def _keyword(value: str) -> str:
    """The leading keyword of a header such as ``Auto-Submitted: auto-replied (vacation); x=1``, lower-cased."""
    match = _KEYWORD.match(value)
    return match.group(1).lower() if match else ""


def _names_us(loop_header: str, names: Iterable[str]) -> bool:
    value = loop_header.lower()
    return bool(value) and any(name.lower() in value for name in names if name)
