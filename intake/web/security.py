"""What every response and every form of the workspace carries for information governance.

- Security headers on every response: a strict Content-Security-Policy (scripts, styles and pictures from
  the workspace itself only, no inline script or style, no framing), and no caching of pages, which show
  patients.
- CSRF: a random token kept in the signed session cookie; every form sends it back in ``csrf_token`` and a
  POST without the same value is refused (the synchroniser-token pattern).
- The key that signs the session cookie: from the settings, else made once and kept in the state folder,
  so sessions outlive a restart.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from intake.errors import StateDirUnwritable
from notifier.private_files import create_private, private_folder, tighten

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "font-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}

STATIC_PREFIXES = ("/assets/", "/static/")
"""Paths whose responses hold no patient data and may be cached."""

CSRF_FIELD = "csrf_token"


class SecurityHeaders:
    """ASGI middleware: adds ``HEADERS`` to every response; ``no-store`` to all but the static files; HSTS when
    the workspace is served over HTTPS (secure cookies on)."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith(STATIC_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    if name == "Content-Security-Policy" and name in headers:
                        continue  # a response with a stricter policy of its own (a download) keeps it
                    headers[name] = value
                if not static:
                    headers["Cache-Control"] = "no-store"
                if self.hsts:
                    headers["Strict-Transport-Security"] = "max-age=31536000"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def csrf_token(request: Request) -> str:
    """This session's CSRF token, made on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def csrf_ok(request: Request, sent: object) -> bool:
    """Whether ``sent`` (the form's ``csrf_token``) is this session's token."""
    expected = request.session.get("csrf")
    return (
        isinstance(sent, str) and isinstance(expected, str) and bool(expected) and hmac.compare_digest(sent, expected)
    )


def session_key(configured: str, state_dir: Path) -> str:
    """The key that signs session cookies: ``configured``, else the one kept in ``state_dir/web-secret``."""
    if configured:
        return configured
    path = state_dir / "web-secret"
    try:
        if path.exists():
            tighten(path, kind="state")  # whoever holds the key can sign in as anyone
            return path.read_text().strip()
        private_folder(state_dir, kind="state", shared=True)
        key = secrets.token_urlsafe(48)
        with os.fdopen(create_private(path), "w") as file:
            file.write(key)
        return key
    except FileExistsError:  # another process made it between our look and our write: use theirs
        return path.read_text().strip()
    except OSError as exc:
        raise StateDirUnwritable(
            f"cannot keep the workspace's session key in {state_dir} ({exc.strerror}): set web.secret_key "
            "(NMSS_WEB__SECRET_KEY) or make state_dir writable"
        ) from exc
