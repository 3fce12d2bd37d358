"""The workspace's pages: each reads through the query functions and renders one template.

No patient data goes into a URL (a referral is addressed by its reference), a page title or a log line;
every page that shows a patient records who saw which referral, in that referral's history.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from intake import commands
from intake.accounts import Account
from intake.bootstrap import App, today
from intake.commands import (
    FollowUpAlreadyDone,
    InvalidAssessmentDate,
    NotAReferral,
    UnknownFollowUp,
    UnknownReferral,
    record_assessment,
)
from intake.views import calls_due
from intake.views import status as service_status
from intake.web.auth import now_of, page, service_of
from intake.web.documents import document_views
from intake.web.queries import PRIORITIES, STATUSES, Event, queue_page, record_view, referral_detail
from intake.web.render import render
from notifier.digest import DueCall, long_date


@page()
def queue(request: Request, _account: Account, _form: FormData | None) -> Response:
    """Home: referrals not yet assessed, most urgent first, filtered by status and priority, a page at a time."""
    service = service_of(request)
    status = request.query_params.get("status") or None
    priority = request.query_params.get("priority") or None
    status = status if status in STATUSES else None
    priority = priority if priority in PRIORITIES else None
    try:
        number = int(request.query_params.get("page", "1"))
    except ValueError:
        number = 1
    result = queue_page(
        service.engine, status=status, priority=priority, page=number, page_size=service.settings.web.page_size
    )
    return render(request, "queue.jinja", queue=result, status=status, priority=priority)


@page()
def referral(request: Request, _account: Account, _form: FormData | None) -> Response:
    """One referral: patient, referrer, every form's fields, reasons, warnings, flags and its history."""
    return _referral_page(request, request.path_params["reference"])


def _referral_page(
    request: Request,
    reference: str,
    *,
    error: str | None = None,
    values: FormData | None = None,
    status_code: int = 200,
) -> Response:
    """The referral page; every time it is shown, who saw it goes into its history first."""
    service = service_of(request)
    detail = referral_detail(service.engine, reference)
    if detail is None:
        return _no_such_referral(request)
    viewer = request.scope["account"].email
    now = now_of(request)
    record_view(service.engine, detail.message_id, viewer, now=now)
    # The history shows this view too: the newest line, added here rather than by reading the referral again.
    detail = replace(detail, history=(*detail.history, Event(now, detail.message_id, "viewed", {"by": viewer})))
    return render(
        request,
        "referral.jinja",
        status_code,
        referral=detail,
        documents=document_views(request, reference, detail.forms, service.services.definitions),
        error=error,
        values=values or {},
        flash=request.session.pop("flash", None),
    )


def _no_such_referral(request: Request) -> Response:
    return render(
        request,
        "error.jinja",
        404,
        title="No referral has this reference",
        message="Check the reference, or find the referral in the queue.",
        link={"href": "/", "text": "Go to the queue"},
    )


@page(role="admin")
def service_page(request: Request, _account: Account, _form: FormData | None) -> Response:
    """Admins: each mailbox's health, and the quarantined messages."""
    app = service_of(request)
    with app.services.unit_of_work() as uow:
        report = service_status(uow, [app.mailbox.name])
    return render(
        request,
        "service.jinja",
        mailboxes=report.mailboxes,
        quarantined=[(q.id, q.reference, q.error, q.at) for q in report.quarantined],
    )


@page()
def record_assessment_page(request: Request, _account: Account, form: FormData | None) -> Response:
    """POST: record the referral's home assessment on the date given; the follow-up calls are scheduled."""
    service = service_of(request)
    reference = request.path_params["reference"]
    assert form is not None
    day = today(service)
    error = None
    try:
        assessed_on = dt.date(*(int(str(form.get(f"assessed[{part}]", ""))) for part in ("year", "month", "day")))
    except (ValueError, OverflowError):
        assessed_on = None
        blank = not any(str(form.get(f"assessed[{part}]", "")).strip() for part in ("day", "month", "year"))
        error = (
            "Enter the date of the home assessment" if blank else "The date of the home assessment must be a real date"
        )
    if assessed_on is not None:
        try:
            with service.services.unit_of_work() as uow:
                done = record_assessment(uow, reference, assessed_on, today=day, now=now_of(request))
        except UnknownReferral:
            return _no_such_referral(request)
        except NotAReferral:
            error = "A MAR chart registration has no home assessment"
        except InvalidAssessmentDate:
            error = (
                "The date of the home assessment must be today or in the past"
                if assessed_on > day
                else "The date of the home assessment must be on or after the day the referral arrived"
            )
        else:
            calls = ", ".join(f"{call.label} on {long_date(call.due)}" for call in done.calls)
            request.session["flash"] = (
                f"Home assessment recorded on {long_date(done.assessed_on)}. Follow-up calls due: {calls}."
            )
            return RedirectResponse(f"/referrals/{reference}", status_code=303)
    return _referral_page(request, reference, error=error, values=form, status_code=400)


@page()
def follow_up_calls(request: Request, _account: Account, _form: FormData | None) -> Response:
    """Follow-up calls due today or overdue, most overdue first, each with a form for its outcome."""
    service = service_of(request)
    return render(
        request,
        "calls.jinja",
        calls=_calls_due(service),
        errors={},
        flash=request.session.pop("flash", None),
    )


@page()
def record_call(request: Request, _account: Account, form: FormData | None) -> Response:
    """POST: record a follow-up call as made, with its outcome."""
    service = service_of(request)
    assert form is not None
    followup_id = int(request.path_params["followup_id"])
    outcome = str(form.get("outcome", "")).strip()
    if outcome:
        try:
            with service.services.unit_of_work() as uow:
                call = commands.record_call(uow, followup_id, outcome, now=now_of(request))
        except UnknownFollowUp:
            return render(
                request,
                "error.jinja",
                404,
                title="No follow-up call has this number",
                message="It may have been removed. Go back to the list of calls.",
                link={"href": "/follow-up-calls", "text": "Follow-up calls"},
            )
        except FollowUpAlreadyDone:
            request.session["flash"] = "That call was already recorded as made."
        else:
            request.session["flash"] = f"The {call.label} call for {call.reference} is recorded."
        return RedirectResponse("/follow-up-calls", status_code=303)
    return render(
        request,
        "calls.jinja",
        400,
        calls=_calls_due(service),
        errors={followup_id: "Enter what came of the call"},
        flash=None,
    )


def _calls_due(app: App) -> list[DueCall]:
    with app.services.unit_of_work() as uow:
        return calls_due(uow, today(app))
