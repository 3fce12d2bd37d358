"""The one interface every outgoing transport implements: the file outbox, SMTP, Graph and EWS."""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage
from typing import Protocol, runtime_checkable


@runtime_checkable
class Sender(Protocol):
    """**Protocol:** delivers one message to ``recipients`` and nobody else.

    ``key`` is an idempotency key (for a reply, e.g. ``reply-{reference}-{kind}``): sending the same key again
    must not deliver a second copy wherever the transport allows it, so a retry after a crash is safe.
    ``recipients`` are the envelope's addresses, given by the caller (for a reply, the one address it was
    built for): a transport never takes them from the message's headers, and it refuses (``UnsafeMessage``)
    a message that ``notifier.headers.check_message`` does not pass for them. An implementation raises on
    failure and returns None once the message is handed over.
    """

    def send(self, message: EmailMessage, *, key: str, recipients: Sequence[str]) -> None: ...
