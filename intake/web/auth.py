"""Who is signed in: local accounts (argon2) and OpenID Connect (NHSmail through Microsoft Entra ID, authlib).

A session is a signed cookie holding the account's address, its session epoch when it signed in, when it
was last used and a CSRF token. Every page goes through ``page()``, which turns away a signed-out request (to
the sign-in page), a session idle for longer than ``web.idle_minutes`` (ended, then to the sign-in page), an
account whose role may not see the page (403) and a form without its CSRF token (403). The account is read
again on every request, so a changed role, a disabled account or a changed password counts at once: a session
whose epoch is no longer its account's (its password changed since it signed in) is ended.
"""

from __future__ import annotations

import datetime as dt
import functools
import warnings
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import structlog
from authlib.deprecate import AuthlibDeprecationWarning
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import Message

from intake import commands, views
from intake.accounts import Account
from intake.bootstrap import App
from intake.web.render import Link, error_page, render
from intake.web.security import CSRF_FIELD, csrf_ok

with warnings.catch_warnings():
    # authlib 1.9 announces, on import, a move of its httpx client to httpx2; the service uses httpx throughout.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.starlette_client import OAuth, OAuthError

log = structlog.get_logger(__name__)

DRAIN_FACTOR = 8
"""How far past an upload's limit its bytes are still read (and dropped) so the browser gets the answer."""

Handler = Callable[[Request, Account, FormData | None], Response]
Endpoint = Callable[[Request], Awaitable[Response]]


def service_of(request: Request) -> App:
    app: App = request.app.state.service
    return app


def now_of(request: Request) -> dt.datetime:
    return service_of(request).services.clock()


def page(
    role: str = "team", *, max_body: int | None = None, password_page: bool = False
) -> Callable[[Handler], Endpoint]:
    """Make ``handler(request, account, form)`` an endpoint that only a signed-in ``role`` reaches.

    The handler runs in a worker thread (it reads the database); ``form`` is the posted form, CSRF-checked.
    ``max_body`` caps a POST's size in bytes (an upload): a bigger one is refused before it is parsed or
    stored. Someone signed in with a one-time password reaches only the page where they choose their own
    (``password_page``).
    """

    def decorate(handler: Handler) -> Endpoint:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            signed_in = await run_in_threadpool(_signed_in, request)
            if signed_in is None:
                return _to_sign_in(request)
            if signed_in.must_change_password and not password_page:
                return RedirectResponse("/account/password", status_code=303)
            if role == "admin" and not signed_in.is_admin:
                return error_page(
                    request, 403, "You cannot see this page", "This page is for the service's administrators."
                )
            form = None
            if request.method == "POST":
                if max_body is not None:
                    capped = await _within(request, max_body)
                    if capped is None:
                        request.scope["account"] = signed_in
                        request.scope["too_large"] = True
                        return await run_in_threadpool(handler, request, signed_in, None)
                    request = capped
                form = await request.form()
                if not csrf_ok(request, form.get(CSRF_FIELD)):
                    return _expired_form(request)
            request.scope["account"] = signed_in
            return await run_in_threadpool(handler, request, signed_in, form)

        return endpoint

    return decorate


async def _within(request: Request, limit: int) -> Request | None:
    """``request`` with its body read into memory, or None once the body passes ``limit`` bytes.

    Past the limit the rest is read and dropped, up to ``DRAIN_FACTOR`` times the limit, so that a browser
    still sending sees the page that says why (a browser cut off mid-upload shows a network error instead);
    a body bigger still is left unread and its connection closed. Nothing past the limit is kept.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit * DRAIN_FACTOR:
        return None
    body = bytearray()
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit * DRAIN_FACTOR:
            return None
        if seen <= limit:
            body += chunk
    if seen > limit:
        return None
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": bytes(body), "more_body": False}

    return Request(request.scope, receive)


def _signed_in(request: Request) -> Account | None:
    """The signed-in account, after moving the session's idle clock on; None (and the session ended) otherwise."""
    email = request.session.get("user")
    if not isinstance(email, str):
        return None
    service = service_of(request)
    now = service.services.clock().timestamp()
    seen = request.session.get("seen")
    idle = service.settings.web.idle_minutes * 60
    if not isinstance(seen, int | float) or now - seen > idle:
        _end_session(request, notice="idle")
        return None
    with service.services.unit_of_work() as uow:
        found = views.account(uow, email)
    if found is None:
        _end_session(request, notice=None)
        return None
    # A cookie from before sessions kept an epoch counts as 0, as every account began: it goes on.
    if request.session.get("epoch", 0) != found.session_epoch:
        _end_session(request, notice="password_changed")
        return None
    request.session["seen"] = now
    return found


def keep_session(request: Request, account: Account) -> None:
    """Let this session go on as ``account`` after a change that ends the account's other sessions (the person
    changed or reset their own password): it takes the account's new epoch."""
    request.session["epoch"] = account.session_epoch


def _end_session(request: Request, *, notice: str | None) -> None:
    request.session.clear()
    if notice:
        request.session["notice"] = notice


def _to_sign_in(request: Request) -> Response:
    target = "/sign-in"
    if request.method == "GET" and request.url.path != "/":
        target += "?" + urlencode({"next": request.url.path})
    return RedirectResponse(target, status_code=303)


def _expired_form(request: Request) -> Response:
    return error_page(
        request, 403, "This form has expired", "Nothing was changed. Go back, reload the page and try again."
    )


def _safe_next(value: object) -> str:
    """Where to go after signing in: a path on this site only (never ``//host`` or a full address)."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/"


def start_session(request: Request, found: Account, *, next_path: str = "/") -> Response:
    """Sign ``found`` in: a fresh session (nothing carried over from before), then on to ``next_path``."""
    request.session.clear()
    request.session.update({"user": found.email, "epoch": found.session_epoch, "seen": now_of(request).timestamp()})
    log.info("signed_in", role=found.role)
    return RedirectResponse(_safe_next(next_path), status_code=303)


# -- pages ---------------------------------------------------------------------------------------------------


async def sign_in_page(request: Request) -> Response:
    """GET: the sign-in page; POST: check the email address and password."""
    notice = request.session.pop("notice", None)
    next_path = _safe_next(request.query_params.get("next"))
    openid = request.app.state.openid is not None
    if request.method == "GET":
        return render(request, "sign_in.jinja", notice=notice, next_path=next_path, openid=openid, errors={}, email="")
    form = await request.form()
    if not csrf_ok(request, form.get(CSRF_FIELD)):
        return _expired_form(request)
    email = str(form.get("email", "")).strip()
    password = str(form.get("password", ""))
    errors: dict[str, str] = {}
    if not email:
        errors["email"] = "Enter your email address"
    if not password:
        errors["password"] = "Enter your password"  # noqa: S105 - an error message, not a password
    if not errors:
        found = await run_in_threadpool(_sign_in, request, email, password)
        if found is not None:
            return start_session(request, found, next_path=str(form.get("next", "/")))
        log.info("sign_in_refused")
        errors["email"] = "The email address or password is not right"
    return render(
        request,
        "sign_in.jinja",
        400,
        notice=None,
        next_path=_safe_next(form.get("next")),
        openid=openid,
        errors=errors,
        email=email,
    )


async def sign_out(request: Request) -> Response:
    """POST only: end the session (a CSRF token is needed, so another site cannot sign the team out)."""
    form = await request.form()
    if not csrf_ok(request, form.get(CSRF_FIELD)):
        return _expired_form(request)
    _end_session(request, notice="signed_out")
    return RedirectResponse("/sign-in", status_code=303)


def make_openid(app: App) -> OAuth | None:
    """The OpenID Connect client for ``web.openid``, or None when no issuer is configured."""
    settings = app.settings.web.openid
    if not settings.issuer:
        return None
    oauth = OAuth()
    oauth.register(
        name="openid",
        client_id=settings.client_id,
        client_secret=settings.client_secret.get_secret_value(),
        server_metadata_url=settings.issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": " ".join(settings.scopes), "code_challenge_method": "S256"},
    )
    return oauth


async def openid_start(request: Request) -> Response:
    """Send the browser to the OpenID provider; it comes back to ``openid_callback``."""
    oauth: OAuth | None = request.app.state.openid
    if oauth is None:
        return RedirectResponse("/sign-in", status_code=303)
    request.session["next"] = _safe_next(request.query_params.get("next"))
    try:
        response: Response = await oauth.openid.authorize_redirect(request, str(request.url_for("openid_callback")))
    except Exception as exc:  # noqa: BLE001 - the provider unreachable or its metadata unusable: one clear page
        log.warning("openid_unavailable", error_type=type(exc).__name__)
        return _openid_failed(request, "The NHSmail sign-in service cannot be reached just now. Try again later.")
    return response


async def openid_callback(request: Request) -> Response:
    """The provider's answer: a signed ID token whose email address must have an account here."""
    oauth: OAuth | None = request.app.state.openid
    if oauth is None:
        return RedirectResponse("/sign-in", status_code=303)
    try:
        token: dict[str, Any] = await oauth.openid.authorize_access_token(request)
    except OAuthError as exc:
        log.info("openid_refused", error_type=type(exc).__name__)
        return _openid_failed(request, "Signing in with NHSmail did not finish. Try again.")
    claims = token.get("userinfo") or {}
    email = claims.get("email") or claims.get("preferred_username") or ""
    found = await run_in_threadpool(_sign_in_verified, request, str(email)) if email else None
    if found is None:
        log.info("openid_no_account")
        return _openid_failed(
            request, "Your NHSmail account is not set up for this workspace. Ask an administrator to add you."
        )
    return start_session(request, found, next_path=str(request.session.get("next", "/")))


def _sign_in(request: Request, email: str, password: str) -> Account | None:
    with service_of(request).services.unit_of_work() as uow:
        return commands.sign_in(uow, email, password, now=now_of(request))


def _sign_in_verified(request: Request, email: str) -> Account | None:
    with service_of(request).services.unit_of_work() as uow:
        return commands.sign_in_verified(uow, email, now=now_of(request))


def _openid_failed(request: Request, message: str) -> Response:
    return error_page(request, 403, "You are not signed in", message, Link("/sign-in", "Go to the sign-in page"))
