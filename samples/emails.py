"""Sample emails as raw RFC 5322 bytes, the way the service finds them in its mailbox.

Built with the stdlib ``email`` package. Message-ID and MIME boundaries are derived from the content rather
than drawn at random, so the same arguments always give the same bytes and tests can compare them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from types import MappingProxyType

SERVICE_ADDRESS = "agem.norfolkmedicineservices@nhs.net"
NO_HEADERS: Mapping[str, str] = MappingProxyType({})

DEFAULT_BODY = (
    "Good morning,\n\nPlease find attached a referral to the Norfolk Medicines Support Service.\n\nKind regards\n"
)


def referral_email(
    *,
    attachments: Sequence[tuple[str, bytes]],
    sender: str,
    to: str = SERVICE_ADDRESS,
    subject: str,
    date: dt.datetime,
    message_id: str | None = None,
    body: str = DEFAULT_BODY,
    extra_headers: Mapping[str, str] = NO_HEADERS,
) -> bytes:
    """A multipart/mixed message: a text body, then each ``(filename, pdf bytes)`` as an attachment."""
    message = _message(sender, to, subject, date, message_id, body, extra_headers, attachments)
    for filename, data in attachments:
        message.add_attachment(data, maintype="application", subtype="pdf", filename=filename)
    for part in message.iter_parts():
        # The stdlib stamps every part with MIME-Version; mail clients put it on the message only.
        del part["MIME-Version"]
    if attachments:
        # The stdlib draws boundaries at random; a fixed one keeps the bytes repeatable.
        message.set_boundary(f"=_nmss_sample_{_digest(str(message['Message-ID']), *[n for n, _ in attachments])}")
    return message.as_bytes()


def plain_email(
    *,
    sender: str,
    to: str = SERVICE_ADDRESS,
    subject: str,
    date: dt.datetime,
    body: str,
    message_id: str | None = None,
    extra_headers: Mapping[str, str] = NO_HEADERS,
) -> bytes:
    """A text/plain message with no attachments."""
    return _message(sender, to, subject, date, message_id, body, extra_headers, ()).as_bytes()


def out_of_office_reply(
    *,
    sender: str,
    to: str = SERVICE_ADDRESS,
    original_subject: str,
    date: dt.datetime,
    body: str = "I am out of the office until Monday with limited access to email.\n",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    extra_headers: Mapping[str, str] = NO_HEADERS,
) -> bytes:
    """An automatic reply as Exchange sends one: ``Auto-Submitted: auto-replied`` and an "Automatic reply:"
    subject (RFC 3834)."""
    headers = {"Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All"}
    if in_reply_to:
        headers |= {"In-Reply-To": in_reply_to, "References": in_reply_to}
    return plain_email(
        sender=sender,
        to=to,
        subject=f"Automatic reply: {original_subject}",
        date=date,
        body=body,
        message_id=message_id,
        extra_headers={**headers, **extra_headers},
    )


def _message(
    sender: str,
    to: str,
    subject: str,
    date: dt.datetime,
    message_id: str | None,
    body: str,
    extra_headers: Mapping[str, str],
    attachments: Sequence[tuple[str, bytes]],
) -> EmailMessage:
    message = EmailMessage(policy=SMTP)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(date)
    domain = sender.rpartition("@")[2] or "example.com"
    content = [sender, to, subject, date.isoformat(), body, *(hashlib.sha256(d).hexdigest() for _, d in attachments)]
    message["Message-ID"] = message_id or f"<{_digest(*content)}@{domain}>"
    message["MIME-Version"] = "1.0"
    for name, value in extra_headers.items():
        message[name] = value
    message.set_content(body)
    return message


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:24]
