"""The workspace's pages: each reads through the query functions and renders one template.

No patient data goes into a URL (a referral is addressed by its reference), a page title or a log line;
every page that shows a patient records who saw which referral, in that referral's history.
"""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from intake.accounts import Account
from intake.health import health_report
from intake.replay import quarantined
from intake.web.auth import now_of, page, service_of
from intake.web.queries import PRIORITIES, STATUSES, queue_page, record_view, referral_detail
from intake.web.render import render


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
def referral(request: Request, signed_in: Account, _form: FormData | None) -> Response:
    """One referral: patient, referrer, every form's fields, reasons, warnings, flags and its history."""
    service = service_of(request)
    reference = request.path_params["reference"]
    detail = referral_detail(service.engine, reference)
    if detail is None:
        return render(
            request,
            "error.jinja",
            404,
            title="No referral has this reference",
            message="Check the reference, or find the referral in the queue.",
            link={"href": "/", "text": "Go to the queue"},
        )
    record_view(service.engine, detail.message_id, signed_in.email, now=now_of(request))
    detail = referral_detail(service.engine, reference) or detail  # the history shows this view too
    return render(request, "referral.jinja", referral=detail)


@page(role="admin")
def service_page(request: Request, _account: Account, _form: FormData | None) -> Response:
    """Admins: each mailbox's health, and the quarantined messages."""
    app = service_of(request)
    return render(
        request,
        "service.jinja",
        mailboxes=health_report(app.engine, [app.mailbox.name]),
        quarantined=[
            (message.id, message.reference, record.error, record.at) for message, record in quarantined(app.services)
        ],
    )
