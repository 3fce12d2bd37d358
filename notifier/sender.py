"""The one interface every outgoing transport implements (file outbox now; SMTP and Graph later)."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Protocol, runtime_checkable


@runtime_checkable
class Sender(Protocol):
    """**Protocol:** delivers one message.

    ``key`` is an idempotency key (for a reply, e.g. ``reply-{reference}-{kind}``): sending the same key again
    must not deliver a second copy wherever the transport allows it, so a retry after a crash is safe.
    An implementation raises on failure and returns None once the message is handed over.
    """

    def send(self, message: EmailMessage, *, key: str) -> None: ...
