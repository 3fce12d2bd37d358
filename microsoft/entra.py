"""OAuth 2.0 access tokens from Microsoft Entra ID (msal): the one token provider of every Microsoft transport.

It serves IMAP and SMTP XOAUTH2 (scope ``https://outlook.office365.com/.default``) and Microsoft Graph
(``https://graph.microsoft.com/.default``), reading the intake mailbox or sending replies. Two flows.
**Client credentials**: an app registration with a client secret and an application permission
(``IMAP.AccessAsApp``, ``SMTP.SendAsApp``, ``Mail.ReadWrite``, ``Mail.Send``); nothing is stored. **Refresh
token**: a delegated consent made once by a person; its refresh token sits in a file (mode 0600) and, because
Microsoft rotates refresh tokens, every new one it returns is written back before the access token is used.

A token is reused until five minutes before it expires, so a login never races the expiry. Nothing here logs
or raises the token itself, nor Entra ID's error description (it can name the tenant and the app): the error
code (``invalid_client``, ``unauthorized_client``) says what to fix.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import httpx

from config.settings import EntraAppSettings

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
OUTLOOK_SCOPE = "https://outlook.office365.com/.default"
"""IMAP and SMTP on Exchange Online."""

EXPIRY_MARGIN = dt.timedelta(minutes=5)
"""A token this close to its expiry is renewed rather than used."""


class TokenError(Exception):
    """No access token could be had. ``code`` is Entra ID's error code, or ours, safe to show and to log."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


class TokenRefused(TokenError):
    """Raised when Entra ID turns the request down (a wrong secret, no consent, an unknown tenant) or no refresh
    token is stored: retrying will not help until someone fixes the app registration or the consent."""


class TokenUnreachable(TokenError):
    """Raised when Entra ID cannot be reached or does not answer in time: the next try may succeed."""


class AccessTokens(Protocol):
    """**Protocol:** what a transport asks of its token provider (``TokenProvider`` is one)."""

    @property
    def expires_at(self) -> dt.datetime | None: ...

    def token(self) -> str: ...


class MsalApp(Protocol):
    """**Protocol:** the two msal methods the provider calls (msal's ``ClientApplication`` has both)."""

    def acquire_token_for_client(self, scopes: list[str]) -> dict[str, Any]: ...

    def acquire_token_by_refresh_token(self, refresh_token: str, scopes: list[str]) -> dict[str, Any]: ...


def msal_app(settings: EntraAppSettings, *, http_client: Any = None) -> MsalApp:
    """The msal application ``settings`` describe: confidential when there is a client secret, else public.

    ``http_client`` (an ``httpx.Client`` or a ``requests.Session``) carries its requests; msal makes its own
    session when it is None.
    """
    import msal  # imported here: it loads requests and cryptography, which only Microsoft transports need

    authority = f"{settings.authority_host.rstrip('/')}/{settings.tenant_id or 'organizations'}"
    # The authority host is configured, not discovered: msal need not ask Entra ID to vouch for it first.
    options: dict[str, Any] = {
        "authority": authority,
        "http_client": http_client,
        "timeout": 30,
        "instance_discovery": False,
    }
    secret = settings.client_secret.get_secret_value()
    if secret:
        app: MsalApp = msal.ConfidentialClientApplication(settings.client_id, client_credential=secret, **options)
    else:
        app = msal.PublicClientApplication(settings.client_id, **options)
    return app


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class TokenProvider:
    """Gives a valid access token for ``scopes`` on each call of ``token()``, asking Entra ID only when the last
    one is about to expire.

    The client-credentials flow, or with ``refresh_token_path`` the refresh-token flow, its current refresh
    token kept in that file. ``app`` defaults to ``msal_app(settings, http_client=http_client)``, made on first
    use (making it may look the authority up over the network); tests pass a fake. ``clock`` gives the time
    now, timezone-aware.
    """

    def __init__(
        self,
        settings: EntraAppSettings,
        *,
        scopes: Sequence[str],
        refresh_token_path: Path | None = None,
        app: MsalApp | None = None,
        http_client: Any = None,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.settings = settings
        self.scopes = list(scopes)
        self.refresh_token_path = refresh_token_path
        self._app = app
        self._http_client = http_client
        self._clock = clock
        self._lock = threading.Lock()  # an IMAP poller and its IDLE watcher log in from two threads
        self._token: str | None = None
        self._expires_at: dt.datetime | None = None

    @property
    def expires_at(self) -> dt.datetime | None:
        """When the current access token expires; None before the first token."""
        return self._expires_at

    def token(self) -> str:
        """A valid access token.

        Raises:
            TokenRefused: Entra ID refused (its error code is in the message and in ``code``), or the
                refresh-token flow has no stored refresh token.
            TokenUnreachable: Entra ID could not be reached.
        """
        with self._lock:
            now = self._clock()
            if self._token is not None and self._expires_at is not None and now < self._expires_at - EXPIRY_MARGIN:
                return self._token
            try:
                result = self._acquire()
            except ValueError as exc:  # msal's discovery failing on an unknown tenant or a garbled answer
                raise TokenRefused("Microsoft Entra ID did not accept the tenant", code="invalid_tenant") from exc
            except (OSError, httpx.HTTPError) as exc:  # requests' errors are OSErrors
                raise TokenUnreachable("cannot reach Microsoft Entra ID for a token", code="unreachable") from exc
            access = result.get("access_token")
            if not isinstance(access, str) or not access:
                code = str(result.get("error") or "no_access_token")
                raise TokenRefused(f"Microsoft Entra ID refused a token: {code}", code=code)
            self._token = access
            self._expires_at = now + dt.timedelta(seconds=float(result.get("expires_in", 3600)))
            return access

    def _acquire(self) -> dict[str, Any]:
        app = self._app = self._app or msal_app(self.settings, http_client=self._http_client)
        if self.refresh_token_path is None:
            return app.acquire_token_for_client(scopes=self.scopes)
        refresh = self.stored_refresh_token()
        if refresh is None:
            raise TokenRefused(f"no refresh token stored in {self.refresh_token_path}", code="no_refresh_token")
        result = app.acquire_token_by_refresh_token(refresh, scopes=self.scopes)
        rotated = result.get("refresh_token")
        if isinstance(rotated, str) and rotated and rotated != refresh:
            self.store_refresh_token(rotated)
        return result

    def stored_refresh_token(self) -> str | None:
        """The refresh token in ``refresh_token_path``, or None when the file is absent or holds none."""
        if self.refresh_token_path is None:
            return None
        try:
            data = json.loads(self.refresh_token_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        value = data.get("refresh_token") if isinstance(data, dict) else None
        return value if isinstance(value, str) and value else None

    def store_refresh_token(self, refresh_token: str) -> None:
        """Write ``refresh_token`` to ``refresh_token_path`` atomically, readable by this user only."""
        if self.refresh_token_path is None:
            raise ValueError("the client-credentials flow keeps no refresh token")
        path = self.refresh_token_path
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the umask can only take bits off 0700
        handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-token-")  # made 0600
        try:
            with os.fdopen(handle, "w") as temp:
                json.dump({"refresh_token": refresh_token}, temp)
                temp.flush()
                os.fsync(temp.fileno())
            Path(temp_name).replace(path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                Path(temp_name).unlink()
            raise
