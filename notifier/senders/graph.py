"""A Sender over Microsoft Graph ``sendMail``: the whole MIME message, base64, as a ``text/plain`` body.

``POST {base_url}/users/{sender}/sendMail`` with ``Content-Type: text/plain`` and the RFC 5322 message
base64-encoded is how Graph sends a message given in MIME format; it answers ``202 Accepted`` and saves a
copy in Sent Items. The app needs the ``Mail.Send`` application permission (scoped to the service's mailbox
by an application access policy). Tokens come from a callable: ``from_settings`` gives it Entra ID's
(``microsoft.entra.TokenProvider``), and a token Entra ID will not give is a failure to retry.

Failures: 429 and 5xx, 408, connection errors and timeouts are ``SendDeferred``; other 4xx (bad MIME, no
permission, unknown mailbox) are ``SendRejected``. Graph has no idempotency key for sendMail: the worker's
outbox row is what keeps a message from being sent twice.

In MIME mode Graph takes the recipients from the message's To, Cc and Bcc headers: so a message goes only
when ``check_message`` finds To naming exactly the given recipients and no other recipient header. A
recipient whose local part is not ASCII is refused (``UnsafeMessage``, for the team): sendMail's MIME mode
gives no SMTPUTF8 guarantee, and a 7-bit encoding of such an address is invalid.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from urllib.parse import quote

import httpx

from config.settings import Settings
from microsoft.entra import GRAPH_SCOPE, TokenError, TokenProvider
from notifier.errors import SendDeferred, SendRejected, UnsafeMessage
from notifier.headers import check_message

GRAPH_BASE_URL = "https://graph.microsoft.com/v1.0"

TokenSource = Callable[[], str]
"""Returns a current OAuth 2.0 access token for Graph."""

_RETRYABLE = frozenset({408, 429})


class GraphSender:
    """Sends as ``sender`` (a user id or user principal name) through Graph."""

    def __init__(
        self,
        sender: str,
        token_provider: TokenSource,
        *,
        base_url: str = GRAPH_BASE_URL,
        timeout: float = 30.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.sender = sender
        self._token_provider = token_provider
        self.base_url = base_url.rstrip("/")
        self._client = client or httpx.Client(timeout=timeout)

    @classmethod
    def from_settings(cls, settings: Settings) -> GraphSender:
        """Sends as ``[outgoing.graph] user`` (default: the service's address), with that app's tokens."""
        graph = settings.outgoing.graph
        client = httpx.Client(timeout=graph.timeout_seconds)
        tokens = TokenProvider(graph, scopes=[GRAPH_SCOPE], http_client=client)
        return cls(graph.user or settings.service.address, tokens.token, base_url=graph.graph_url, client=client)

    @property
    def url(self) -> str:
        """Where the message is posted."""
        return f"{self.base_url}/users/{quote(self.sender, safe='@')}/sendMail"

    def send(self, message: EmailMessage, *, key: str, recipients: Sequence[str]) -> None:  # noqa: ARG002 - Graph sendMail has no key
        """Post ``message`` to Graph for ``recipients``; returns once Graph has accepted it (202).

        Raises:
            UnsafeMessage: the message fails ``check_message`` for ``recipients``, or a recipient's local part
                is not ASCII. Nothing is posted.
            SendRejected: a 4xx other than 408/429 (MIME refused, no permission, mailbox unknown).
            SendDeferred: 408, 429, 5xx, a connection error or a timeout.
        """
        check_message(message, recipients)
        if any(not r.partition("@")[0].isascii() for r in recipients):
            raise UnsafeMessage("smtputf8_not_offered")
        body = base64.b64encode(message.as_bytes())
        try:
            token = self._token_provider()
        except TokenError as exc:
            raise SendDeferred(f"token_{exc.code}") from None
        try:
            response = self._client.post(
                self.url,
                content=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "text/plain"},
            )
        except httpx.TimeoutException:
            raise SendDeferred("timeout") from None
        except httpx.TransportError as exc:
            raise SendDeferred(type(exc).__name__) from None
        status = response.status_code
        if 200 <= status < 300:
            return
        reason = _error_code(response)
        if status in _RETRYABLE or status >= 500:
            raise SendDeferred(reason, code=status)
        raise SendRejected(reason, code=status)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()


def _error_code(response: httpx.Response) -> str:
    """Graph's error code (``ErrorMimeContentInvalid``, ``ErrorAccessDenied`` …), never its message text."""
    try:
        payload = response.json()
    except ValueError:
        return "http_error"
    error = payload.get("error") if isinstance(payload, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) and code.isascii() and len(code) < 80 else "http_error"
