"""OAuth 2.0 access tokens from Microsoft Entra ID (msal), for XOAUTH2 logins to Exchange Online / NHSmail.

Two flows. **Client credentials**: an app registration with a client secret and the ``IMAP.AccessAsApp``
application permission (scope ``https://outlook.office365.com/.default``); nothing is stored. **Refresh
token**: a delegated consent made once by a person; its refresh token sits in a file (mode 0600) and, because
Microsoft rotates refresh tokens, every new one it returns is written back before the access token is used.

A token is reused until five minutes before it expires. Nothing here logs or raises the token itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from config.settings import ImapOAuthSettings
from intake.errors import MailboxAuthError

EXPIRY_MARGIN_SECONDS = 300
"""A token this close to its expiry is renewed rather than used: a login must not race the expiry."""


class MsalApp(Protocol):
    """**Protocol:** the two msal methods the provider calls (msal's ``ClientApplication`` has both)."""

    def acquire_token_for_client(self, scopes: list[str]) -> dict[str, Any]: ...

    def acquire_token_by_refresh_token(self, refresh_token: str, scopes: list[str]) -> dict[str, Any]: ...


class TokenUnavailable(MailboxAuthError):
    """Raised when Entra ID turns the request down or no refresh token is stored; says which error code."""


def msal_app(settings: ImapOAuthSettings) -> MsalApp:
    """The msal application ``settings`` describe: confidential when there is a client secret, else public."""
    import msal  # imported here: it loads requests and cryptography, which only XOAUTH2 needs

    authority = f"{settings.authority_host.rstrip('/')}/{settings.tenant_id or 'organizations'}"
    secret = settings.client_secret.get_secret_value()
    if secret:
        app: MsalApp = msal.ConfidentialClientApplication(
            settings.client_id, client_credential=secret, authority=authority, timeout=30
        )
    else:
        app = msal.PublicClientApplication(settings.client_id, authority=authority, timeout=30)
    return app


class TokenProvider:
    """Gives a valid access token on each call of ``token()``, asking Entra ID only when the last one is old.

    ``app`` defaults to ``msal_app(settings)``, made on first use; tests pass a fake. ``clock`` is
    ``time.time``.
    """

    def __init__(
        self,
        settings: ImapOAuthSettings,
        *,
        app: MsalApp | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._app = app
        self._clock = clock
        self._lock = threading.Lock()  # the poller and the IDLE watcher log in from two threads
        self._token: str | None = None
        self._expires_at = 0.0

    @property
    def expires_at(self) -> float:
        """When the current access token expires (seconds since the epoch); 0 before the first token."""
        return self._expires_at

    def token(self) -> str:
        """A valid access token.

        Raises:
            TokenUnavailable: Entra ID refused (the error code is in the message), or the refresh-token flow
                has no stored refresh token.
        """
        with self._lock:
            if self._token is not None and self._clock() < self._expires_at - EXPIRY_MARGIN_SECONDS:
                return self._token
            app = self._app = self._app or msal_app(self.settings)
            scopes = list(self.settings.scopes)
            if self.settings.flow == "client_credentials":
                result = app.acquire_token_for_client(scopes=scopes)
            else:
                refresh = self.stored_refresh_token()
                if refresh is None:
                    raise TokenUnavailable(f"no refresh token stored in {self.settings.token_cache_path}")
                result = app.acquire_token_by_refresh_token(refresh, scopes=scopes)
                rotated = result.get("refresh_token")
                if isinstance(rotated, str) and rotated and rotated != refresh:
                    self.store_refresh_token(rotated)
            access = result.get("access_token")
            if not isinstance(access, str) or not access:
                # error codes like invalid_client or AADSTS700082 carry no secrets; the description might.
                raise TokenUnavailable(f"token request refused: {result.get('error', 'no access_token')}")
            self._token = access
            self._expires_at = self._clock() + float(result.get("expires_in", 3600))
            return access

    def stored_refresh_token(self) -> str | None:
        """The refresh token in ``token_cache_path``, or None when the file is absent or holds none."""
        try:
            data = json.loads(self.settings.token_cache_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        value = data.get("refresh_token") if isinstance(data, dict) else None
        return value if isinstance(value, str) and value else None

    def store_refresh_token(self, refresh_token: str) -> None:
        """Write ``refresh_token`` to ``token_cache_path`` atomically, readable by this user only."""
        path: Path = self.settings.token_cache_path
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-token-")
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
