"""What a ``Sender`` raises when a message was not handed over: try again later, or never.

Messages carry codes and class names only, never a recipient, a subject or text the server echoed back:
servers quote addresses and content in their replies, and these errors reach logs and the team's items.
"""

from __future__ import annotations


class SendError(Exception):
    """A message was not handed over. ``code`` is the server's status (SMTP reply code, HTTP status) or None."""

    def __init__(self, reason: str, *, code: int | None = None) -> None:
        super().__init__(reason if code is None else f"{reason} ({code})")
        self.reason = reason
        self.code = code


class SendRejected(SendError):
    """Permanent: the same message will fail again (5xx, refused recipient, bad credentials). Do not retry."""


class SendDeferred(SendError):
    """Temporary: try again later (4xx, throttled, connection lost, timed out)."""


class UnsafeMessage(SendRejected):
    """Permanent: the message must not leave as it is. A header value holds a line break (which would write
    a header or body text of its own: an injected ``Bcc:``), the serialised message has other headers than
    the ones set, its recipient headers do not name exactly the envelope's recipients, or a recipient needs
    an SMTPUTF8 transport this sender cannot offer. ``reason`` says which, never the value."""
