"""The workspace's pages: each reads a view (``intake.views``), calls a command (``intake.commands``) for
what it changes, and renders one template; none touches the store.

No patient data goes into a URL (a referral is addressed by its reference), a page title or a log line;
every page that shows a patient records who saw which referral, in that referral's history.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from intake import commands, views
from intake.accounts import Account
from intake.bootstrap import today
from intake.commands import (
    FollowUpAlreadyDone,
    InvalidAssessmentDate,
    NotAReferral,
    NotForReview,
    ReferralClosed,
    UnknownFollowUp,
    UnknownReferral,
    record_assessment,
)
from intake.errors import IntakeError
from intake.views import PRIORITIES, STATUSES, calls_due, queue_page
from intake.views import referral as referral_detail
from intake.web.auth import now_of, page, service_of
from intake.web.documents import document_views
from intake.web.render import Link, error_page, render
from notifier.digest import long_date


@page()
def queue(request: Request, _account: Account, _form: FormData | None) -> Response:
    """Home: referrals not yet assessed, most urgent first, filtered by status and priority, a page at a time."""
    service = service_of(request)
    status = request.query_params.get("status") or None
    priority = request.query_params.get("priority") or None
    status = status if status in STATUSES else None
    priority = priority if priority in PRIORITIES else None
    number = _page_number(request)
    with service.services.unit_of_work() as uow:
        result = queue_page(
            uow, status=status, priority=priority, page=number, page_size=service.settings.web.page_size
        )
    _listed(request, [item.reference for item in result.items], "queue")
    return render(request, "queue.jinja", queue=result, status=status, priority=priority)


@page()
def referral(request: Request, _account: Account, _form: FormData | None) -> Response:
    """One referral: patient, referrer, every form's fields, reasons, warnings, flags and its history."""
    return _referral_page(request, request.path_params["reference"])


def _referral_page(
    request: Request,
    reference: str,
    *,
    errors: dict[str, str] | None = None,
    values: FormData | None = None,
    status_code: int = 200,
) -> Response:
    """The referral page; every time it is shown, who saw it goes into its history first, so the history
    shown includes this view."""
    service = service_of(request)
    viewer = request.scope["account"].email
    with service.services.unit_of_work() as uow:
        try:
            commands.record_view(uow, reference, viewer, now=now_of(request))
        except UnknownReferral:
            return _no_such_referral(request)
        detail = referral_detail(uow, reference)
    if detail is None:  # removed between the two
        return _no_such_referral(request)
    return render(
        request,
        "referral.jinja",
        status_code,
        referral=detail,
        errors=errors or {},
        priorities=PRIORITIES,
        documents=document_views(request, reference, detail.forms, service.services.definitions),
        values=values or {},
        flash=request.session.pop("flash", None),
    )


def _no_such_referral(request: Request) -> Response:
    return error_page(
        request,
        404,
        "No referral has this reference",
        "Check the reference, or find the referral in the queue.",
        Link("/", "Go to the queue"),
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
        except ReferralClosed:
            error = "This referral was declined: it has no home assessment"
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
    return _referral_page(request, reference, errors={"assessed-day": error or ""}, values=form, status_code=400)


@page()
def accept(request: Request, account: Account, form: FormData | None) -> Response:
    """POST: accept a referral from review into the queue, with the priority the team gives it."""
    assert form is not None
    reference = request.path_params["reference"]
    priority = str(form.get("priority", ""))
    if priority not in PRIORITIES:
        errors = {"priority": "Choose how soon the patient should be seen"}
        return _referral_page(request, reference, errors=errors, values=form, status_code=400)
    return _change_referral(
        request,
        account,
        form,
        commands.accept_referral,
        priority,
        done=f"Accepted into the queue as {priority}.",
        refused={NotForReview: "This referral is not waiting for review: nothing was changed."},
    )


@page()
def decline(request: Request, account: Account, form: FormData | None) -> Response:
    """POST: decline a referral, with the reason: it leaves the queue and the digest."""
    assert form is not None
    reason = str(form.get("reason", ""))
    return _change_referral(
        request,
        account,
        form,
        commands.decline_referral,
        reason,
        done="The referral is declined and has left the queue.",
        refused={(NotAReferral, ReferralClosed): "This referral is no longer open: nothing was changed."},
        invalid={"reason": "Enter why the referral is declined" if not reason.strip() else "The reason is too long"},
    )


@page()
def add_note(request: Request, account: Account, form: FormData | None) -> Response:
    """POST: add a note to the referral's history."""
    assert form is not None
    note = str(form.get("note", ""))
    return _change_referral(
        request,
        account,
        form,
        commands.add_note,
        note,
        done="Your note is in the referral's history.",
        invalid={"note": "Enter the note" if not note.strip() else "The note is too long"},
    )


class ReferralCommand(Protocol):
    """A command on one referral with one value from its form: ``accept_referral``, ``decline_referral``,
    ``add_note``. (The unit of work is the page's to open, not to name: see the architecture test.)"""

    def __call__(self, uow: Any, reference: str, value: str, /, *, by: str, now: dt.datetime) -> None: ...


def _change_referral(
    request: Request,
    account: Account,
    form: FormData,
    command: ReferralCommand,
    value: str,
    *,
    done: str,
    refused: Mapping[type[IntakeError] | tuple[type[IntakeError], ...], str] | None = None,
    invalid: dict[str, str] | None = None,
) -> Response:
    """A button on the referral page: ``command(uow, reference, value, by=, now=)`` in a unit of work of its
    own, then back to the page, which says what was ``done`` or, for an error in ``refused``, why nothing was.
    An unknown reference is the 404 page; a value the command refuses (``ValueError``) shows the form again
    with the ``invalid`` errors."""
    reference = request.path_params["reference"]
    try:
        with service_of(request).services.unit_of_work() as uow:
            command(uow, reference, value, by=account.email, now=now_of(request))
    except UnknownReferral:
        return _no_such_referral(request)
    except IntakeError as exc:
        flash = next((text for kinds, text in (refused or {}).items() if isinstance(exc, kinds)), None)
        if flash is None:
            raise
        request.session["flash"] = flash
    except ValueError:
        if invalid is None:
            raise
        return _referral_page(request, reference, errors=invalid, values=form, status_code=400)
    else:
        request.session["flash"] = done
    return RedirectResponse(f"/referrals/{reference}", status_code=303)


@page()
def waiting(request: Request, _account: Account, _form: FormData | None) -> Response:
    """Waiting on referrers: incomplete submissions, longest waiting first, with their age in working days."""
    app = service_of(request)
    with app.services.unit_of_work() as uow:
        found = views.waiting(uow, today(app), app.services.timezone)
    _listed(request, [item.reference for item in found], "waiting on referrers")
    return render(request, "waiting.jinja", waiting=found)


@page()
def mar_registrations(request: Request, _account: Account, _form: FormData | None) -> Response:
    """The MAR chart registrations in the queue, a page at a time."""
    app = service_of(request)
    with app.services.unit_of_work() as uow:
        result = views.mar_registrations(uow, page=_page_number(request), page_size=app.settings.web.page_size)
    _listed(request, [item.reference for item in result.items], "MAR registrations")
    return render(request, "mar.jinja", registrations=result)


def _page_number(request: Request) -> int:
    try:
        return int(request.query_params.get("page", "1"))
    except ValueError:
        return 1


@page()
def follow_up_calls(request: Request, _account: Account, _form: FormData | None) -> Response:
    """Follow-up calls due today or overdue, most overdue first, each with a form for its outcome."""
    return _calls_page(request)


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
            return error_page(
                request,
                404,
                "No follow-up call has this number",
                "It may have been removed. Go back to the list of calls.",
                Link("/follow-up-calls", "Follow-up calls"),
            )
        except FollowUpAlreadyDone:
            request.session["flash"] = "That call was already recorded as made."
        else:
            request.session["flash"] = f"The {call.label} call for {call.reference} is recorded."
        return RedirectResponse("/follow-up-calls", status_code=303)
    return _calls_page(request, errors={followup_id: "Enter what came of the call"}, status_code=400)


def _calls_page(request: Request, *, errors: dict[int, str] | None = None, status_code: int = 200) -> Response:
    """The calls due, each with its form; the flash of the last button goes with the list, not with an error."""
    app = service_of(request)
    with app.services.unit_of_work() as uow:
        due = calls_due(uow, today(app))
    _listed(request, [call.reference for call in due], "follow-up calls")
    return render(
        request,
        "calls.jinja",
        status_code,
        calls=due,
        errors=errors or {},
        flash=request.session.pop("flash", None) if status_code == 200 else None,
    )


def _listed(request: Request, references: Sequence[str], name: str) -> None:
    """A list shows patients' names: who saw them goes into each one's history, as for the referral page."""
    with service_of(request).services.unit_of_work() as uow:
        commands.record_listing(uow, references, request.scope["account"].email, page=name, now=now_of(request))
