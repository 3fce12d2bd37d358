"""The last gate before a header is written or a message leaves: every header is one line, and the message
goes to exactly the recipients it was built for.

``set_header`` refuses a value with a line break before it is written, and again after Python's email package
has parsed it (that parse decodes RFC 2047 encoded-words, where an encoded CR/LF hides). ``check_message``
checks a whole message the same way just before a ``Sender`` hands it over, then serialises it and reads the
header block back: a header added on the way (CVE-2024-6923: the email package in Python 3.11.7 writes a
decoded CR/LF as it is) or a blank line that pushed headers into the body is caught there, whatever its cause.
Both raise ``UnsafeMessage``; a reply refused here becomes an item for the team, never a send.
"""

from __future__ import annotations

import email.parser
import email.policy
import re
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import getaddresses

from notifier.errors import UnsafeMessage
from parsers.addresses import parse_address

__all__ = ["check_message", "serialise", "set_header"]

LINE_BREAKS = frozenset("\r\n\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
"""Characters that end a line for some reader: CR, LF, NUL and what ``str.splitlines`` also splits on."""

OTHER_RECIPIENT_HEADERS = ("cc", "bcc", "resent-to", "resent-cc", "resent-bcc", "resent-from", "resent-sender")
"""Headers a transport may read recipients from; an outgoing message of ours never has them."""

_FOLD = re.compile(r"\r?\n(?=[ \t])")


def set_header(message: EmailMessage, name: str, value: str) -> None:
    """Add header ``name: value`` to ``message``, or raise ``UnsafeMessage`` when either, as given or as
    parsed, holds a line break."""
    _refuse_breaks(name, value)
    message[name] = value
    written = message.get_all(name) or []
    _refuse_breaks(name, str(written[-1]) if written else "")


def check_message(message: EmailMessage, recipients: Sequence[str]) -> None:
    """Raise ``UnsafeMessage`` unless ``message`` is safe to hand to a transport for ``recipients``.

    Safe means: every header value is one line (raw, apart from folding, and decoded); To names exactly
    ``recipients`` (each a strict addr-spec) and no other recipient header is present; and the serialised
    message has exactly the headers the object has.
    """
    if not recipients or any(parse_address(r) is None for r in recipients):
        raise UnsafeMessage("bad_recipient")
    for name, raw in message.raw_items():
        _refuse_breaks(name, _FOLD.sub(" ", str(raw)))
    try:
        for name, value in message.items():
            _refuse_breaks(name, str(value))
        to = [address for _name, address in getaddresses([str(v) for v in message.get_all("To", [])])]
    except UnsafeMessage:
        raise
    except Exception:  # noqa: BLE001 - a header the email package cannot parse cannot be checked: not sent
        raise UnsafeMessage("unparseable_header") from None
    if any(name.lower() in OTHER_RECIPIENT_HEADERS for name in message):
        raise UnsafeMessage("other_recipient_header")
    if sorted(a.lower() for a in to) != sorted(r.lower() for r in recipients):
        raise UnsafeMessage("recipients_differ")
    written = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(
        serialise(message, recipients), headersonly=True
    )
    if [k.lower() for k in written] != [k.lower() for k in message]:
        raise UnsafeMessage("headers_changed_when_written")


def serialise(message: EmailMessage, recipients: Sequence[str]) -> bytes:
    """``message`` as bytes: UTF-8 headers (RFC 6532) when a recipient's local part is not ASCII, since no
    7-bit encoding of such an address is valid; otherwise the usual 7-bit form."""
    international = any(not r.partition("@")[0].isascii() for r in recipients)
    if international and isinstance(message.policy, email.policy.EmailPolicy):
        return message.as_bytes(policy=message.policy.clone(utf8=True))
    return message.as_bytes()


def _refuse_breaks(name: str, value: str) -> None:
    if any(ch in LINE_BREAKS for ch in name) or any(ch in LINE_BREAKS for ch in value):
        raise UnsafeMessage("line_break_in_header")
