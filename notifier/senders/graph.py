"""A Sender over Microsoft Graph ``sendMail``: the whole MIME message, base64, as a ``text/plain`` body.

``POST {base_url}/users/{sender}/sendMail`` with ``Content-Type: text/plain`` and the RFC 5322 message
base64-encoded is how Graph sends a message given in MIME format; it answers ``202 Accepted`` and saves a
copy in Sent Items. The app needs the ``Mail.Send`` application permission (scoped to the service's mailbox
by an application access policy). Tokens come from a provider callable: ``msal_token_provider`` builds one.

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
from typing import Any
from urllib.parse import quote

import httpx

from notifier.errors import SendDeferred, SendRejected, UnsafeMessage
from notifier.headers import check_message

GRAPH_BASE_URL = "https://graph.microsoft.com/v1.0"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"

TokenProvider = Callable[[], str]
"""Returns a current OAuth 2.0 access token for Graph."""

_RETRYABLE = frozenset({408, 429})


class GraphSender:
    """Sends as ``sender`` (a user id or user principal name) through Graph."""

    def __init__(
        self,
        sender: str,
        token_provider: TokenProvider,
        *,
        base_url: str = GRAPH_BASE_URL,
        timeout: float = 30.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.sender = sender
        self._token_provider = token_provider
        self.base_url = base_url.rstrip("/")
        self._client = client or httpx.Client(timeout=timeout)

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
            response = self._client.post(
                self.url,
                content=body,
                headers={"Authorization": f"Bearer {self._token_provider()}", "Content-Type": "text/plain"},
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


def msal_token_provider(
    tenant_id: str,
    client_id: str,
    client_secret: str,
    scope: str = GRAPH_SCOPE,
    *,
    authority_host: str = "https://login.microsoftonline.com",
) -> TokenProvider:
    """A token provider for an app registration (client credentials flow); msal caches and renews the token.

    The same provider serves SMTP XOAUTH2 with ``scope="https://outlook.office365.com/.default"``.
    Raises ``SendDeferred`` when no token can be had (the identity platform is unreachable or says no).
    """
    apps: list[Any] = []

    def token() -> str:
        # The msal application is made on first use: making it may look the authority up over the network.
        if not apps:
            import msal  # loaded only where Microsoft sends

            apps.append(
                msal.ConfidentialClientApplication(
                    client_id,
                    authority=f"{authority_host.rstrip('/')}/{tenant_id}",
                    client_credential=client_secret,
                )
            )
        result = apps[0].acquire_token_for_client(scopes=[scope])
        access = result.get("access_token") if isinstance(result, dict) else None
        if not isinstance(access, str):
            # msal's error text can name the tenant and app; the code alone says what to fix.
            code = result.get("error", "no_token") if isinstance(result, dict) else "no_token"
            raise SendDeferred(f"token_{code}")
        return access

    return token


def _error_code(response: httpx.Response) -> str:
    """Graph's error code (``ErrorMimeContentInvalid``, ``ErrorAccessDenied`` …), never its message text."""
    try:
        payload = response.json()
    except ValueError:
        return "http_error"
    error = payload.get("error") if isinstance(payload, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) and code.isascii() and len(code) < 80 else "http_error"
