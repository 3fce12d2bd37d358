"""The workspace as an ASGI application (Starlette), built on the same ``App`` as every command."""

from __future__ import annotations

from pathlib import Path

import structlog
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from intake.bootstrap import App
from intake.errors import IntakeError
from intake.monitoring import readiness
from intake.web import admin, auth, documents, pages, reports, tasks, users
from intake.web.render import environment
from intake.web.security import SecurityHeaders, session_key

STATIC = Path(__file__).parent / "static"
FRONTEND = STATIC / "nhsuk"
"""NHS.UK frontend's files, put there by ``scripts/install-web-assets`` (``make install``)."""

SESSION_COOKIE = "nmss_session"

log = structlog.get_logger(__name__)


class AssetsMissing(IntakeError):
    """NHS.UK frontend's files were never installed next to the package."""


def create_app(app: App) -> Starlette:
    """The workspace for ``app``: its pages, static files, sessions and security headers."""
    if not (FRONTEND / "workspace.css").is_file():
        raise AssetsMissing(
            f"the workspace's NHS.UK frontend files are missing from {FRONTEND}: run scripts/install-web-assets "
            "(make install does)"
        )
    web = app.settings.web
    routes = [
        Route("/", pages.queue, name="queue"),
        Route("/referrals/{reference}", pages.referral, name="referral"),
        Route("/referrals/{reference}/assessment", pages.record_assessment_page, methods=["POST"], name="assessment"),
        Route("/referrals/{reference}/accept", pages.accept, methods=["POST"], name="accept"),
        Route("/referrals/{reference}/decline", pages.decline, methods=["POST"], name="decline"),
        Route("/referrals/{reference}/notes", pages.add_note, methods=["POST"], name="note"),
        Route("/tasks", tasks.needing_action, name="tasks"),
        Route("/tasks/{task_id:int}/done", tasks.resolve, methods=["POST"], name="resolve_task"),
        Route("/tasks/{task_id:int}/reply", tasks.hand_reply, methods=["GET", "POST"], name="hand_reply"),
        Route("/waiting-on-referrers", pages.waiting, name="waiting"),
        Route("/mar-registrations", pages.mar_registrations, name="mar"),
        Route("/referrals/{reference}/documents/{number:int}", documents.download, name="document"),
        Route("/referrals/{reference}/documents/{number:int}/pages/{page:int}", documents.page_picture, name="picture"),
        Route("/follow-up-calls", pages.follow_up_calls, name="calls"),
        Route("/follow-up-calls/{followup_id:int}", pages.record_call, methods=["POST"], name="record_call"),
        Route("/service", admin.service_page, name="service"),
        Route("/service/outbox/{outbox_id:int}/send-again", admin.send_again, methods=["POST"], name="send_again"),
        Route(
            "/service/quarantine/{ledger_id:int}/process-again",
            admin.process_again,
            methods=["POST"],
            name="process_again",
        ),
        Route("/service/practices", admin.upload_practices, methods=["POST"], name="practices"),
        Route("/users", users.users_page, name="users"),
        Route("/users", users.add_user, methods=["POST"], name="add_user"),
        Route("/users/change", users.change_user, methods=["POST"], name="change_user"),
        Route("/account/password", users.choose_password_page, methods=["GET", "POST"], name="password"),
        Route("/reports", reports.reports_page, name="reports"),
        Route("/reports/referrals.csv", reports.referrals_csv, name="referrals_csv"),
        Route("/reports/days-to-assessment.csv", reports.waits_csv, name="waits_csv"),
        Route("/reports/calls.csv", reports.calls_csv, name="calls_csv"),
        Route("/sign-in", auth.sign_in_page, methods=["GET", "POST"], name="sign_in"),
        Route("/sign-in/openid", auth.openid_start, name="openid_start"),
        Route("/sign-in/callback", auth.openid_callback, name="openid_callback"),
        Route("/sign-out", auth.sign_out, methods=["POST"], name="sign_out"),
        # For the container's health check: no sign-in, and nothing about patients.
        Route("/healthz", healthz, name="healthz"),
        Route("/readyz", readyz, name="readyz"),
        Mount("/assets", StaticFiles(directory=FRONTEND), name="assets"),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [
        Middleware(SecurityHeaders, hsts=web.secure_cookies),
        Middleware(
            SessionMiddleware,
            secret_key=session_key(web.secret_key.get_secret_value(), app.settings.state_dir),
            session_cookie=SESSION_COOKIE,
            max_age=web.idle_minutes * 60,
            same_site="lax",  # "strict" would drop the cookie on the way back from the OpenID provider
            https_only=web.secure_cookies,
        ),
    ]
    workspace = Starlette(routes=routes, middleware=middleware)
    workspace.state.service = app
    workspace.state.templates = environment(app.settings.service.timezone, app.services.definitions)
    workspace.state.openid = auth.make_openid(app)
    workspace.state.pictures = documents.PictureCache()
    return workspace


async def healthz(_request: Request) -> JSONResponse:
    """Liveness: the workspace answers."""
    return JSONResponse({"alive": True}, headers={"Cache-Control": "no-store"})


async def readyz(request: Request) -> JSONResponse:
    """Readiness: the database answers and the daemon read the mailbox lately (from the health it records)."""
    from starlette.concurrency import run_in_threadpool

    app: App = request.app.state.service
    result = await run_in_threadpool(
        readiness,
        app.engine,
        [poller.mailbox.name for poller in app.pollers],
        now=app.services.clock(),
        stale_after_seconds=app.settings.monitoring.stale_after_seconds,
        alert_after_failures=app.settings.health.alert_after_failures,
    )
    status = 200 if result.ready else 503
    return JSONResponse(result.as_json(), status_code=status, headers={"Cache-Control": "no-store"})
