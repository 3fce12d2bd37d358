"""The service page, for admins: each mailbox's health, the outbox (and sending a failed email again), the
quarantined messages (and processing one again) and the GP practice list (and uploading a new one).

Each action calls the service layer as the CLI does, so "process again" runs the pipeline, whose untrusted
decoding happens in the isolated parse workers, exactly as ``nmss-intake replay`` does. Every action is
audited with the admin's address. An uploaded practice file is hostile: it is capped in size before it is
read, and a file that is not epraccur changes nothing and reads as one line in the error summary.
"""

from __future__ import annotations

import re

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from intake import commands
from intake.accounts import Account
from intake.errors import IntakeError
from intake.practices import PracticeFileError
from intake.replay import NothingToReplay, NotQuarantined
from intake.views import outbox, practice_list, status
from intake.web.auth import now_of, page, service_of
from intake.web.render import OUTCOMES, render

MAX_PRACTICE_FILE_BYTES = 16 * 1024 * 1024
"""NHS England's whole epraccur file is under 3 MB; an upload past this is refused unread."""

_COMMISSIONER = re.compile(r"^[0-9A-Z]{3,5}$")


@page(role="admin")
def service_page(request: Request, _account: Account, _form: FormData | None) -> Response:
    """Admins: the mailboxes, the outbox, the quarantined messages and the practice list."""
    return _service(request)


def _service(
    request: Request, status_code: int = 200, *, errors: dict[str, str] | None = None, commissioners: str = ""
) -> Response:
    app = service_of(request)
    with app.services.unit_of_work() as uow:
        report = status(uow, [poller.mailbox.name for poller in app.pollers])
        emails = outbox(uow)
        practices = practice_list(uow)
    return render(
        request,
        "service.jinja",
        status_code,
        mailboxes=report.mailboxes,
        quarantined=report.quarantined,
        outbox=emails,
        practices=practices,
        commissioners=commissioners or ", ".join(app.settings.service.eligibility.commissioners),
        errors=errors or {},
        flash=request.session.pop("flash", None),
        max_megabytes=MAX_PRACTICE_FILE_BYTES // (1024 * 1024),
    )


@page(role="admin")
def send_again(request: Request, account: Account, _form: FormData | None) -> Response:
    """POST: put an email the outbox gave up on back in the outbox."""
    app = service_of(request)
    outbox_id = int(request.path_params["outbox_id"])
    try:
        with app.services.unit_of_work() as uow:
            commands.send_again(uow, outbox_id, by=account.email, now=now_of(request))
    except commands.UnknownEmail:
        _flash(request, f"Email {outbox_id} is not waiting to be sent again: it may have been sent again already.")
    else:
        _flash(request, f"Email {outbox_id} is back in the outbox: the service sends it within a minute.", True)
    return RedirectResponse("/service", status_code=303)


@page(role="admin")
def process_again(request: Request, account: Account, _form: FormData | None) -> Response:
    """POST: process a quarantined message again from its stored bytes (``nmss-intake replay``)."""
    app = service_of(request)
    ledger_id = int(request.path_params["ledger_id"])
    try:
        with app.services.unit_of_work() as uow:
            taken = commands.replay(uow, ledger_id, app.mailbox_of, app.services, by=account.email)
    except NotQuarantined:
        _flash(request, f"Message {ledger_id} is not quarantined: it may have been processed again already.")
    except NothingToReplay:
        _flash(
            request,
            f"Message {ledger_id} was over the size limit and was never read: handle it from the "
            "Quarantine folder of the mailbox.",
        )
    except IntakeError as exc:  # the mailbox or database unreachable: one line, and the message stays as it was
        _flash(request, f"Message {ledger_id} could not be processed again: {exc}")
    else:
        if taken.outcome == "quarantined":
            _flash(request, f"Message {ledger_id} failed again and is still quarantined.")
        else:
            outcome = OUTCOMES.get(taken.outcome, taken.outcome)
            _flash(
                request,
                f"Message {ledger_id} was processed again: {outcome} ({taken.reference}), filed in {taken.folder}.",
                True,
            )
    return RedirectResponse("/service", status_code=303)


@page(role="admin", max_body=MAX_PRACTICE_FILE_BYTES + 64 * 1024)
def upload_practices(request: Request, account: Account, form: FormData | None) -> Response:
    """POST (multipart): replace the practice list with a new epraccur file's practices of the commissioners
    given; any mistake changes nothing and is one line in the error summary."""
    if form is None or request.scope.get("too_large"):
        return _upload_error(request, f"The file must be smaller than {MAX_PRACTICE_FILE_BYTES // (1024 * 1024)} MB")
    codes_text = str(form.get("commissioners", "")).strip()
    codes = [code for code in re.split(r"[\s,]+", codes_text.upper()) if code]
    upload = form.get("practice-file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _upload_error(request, "Select the epraccur file", commissioners=codes_text)
    if not codes or not all(_COMMISSIONER.match(code) for code in codes):
        return _upload_error(
            request,
            "Enter the commissioners' codes, like 26A, separated by commas",
            field="commissioners",
            commissioners=codes_text,
        )
    data = upload.file.read(MAX_PRACTICE_FILE_BYTES + 1)
    if len(data) > MAX_PRACTICE_FILE_BYTES:
        return _upload_error(request, f"The file must be smaller than {MAX_PRACTICE_FILE_BYTES // (1024 * 1024)} MB")
    app = service_of(request)
    try:
        with app.services.unit_of_work() as uow:
            report = commands.import_practice_list(uow, data, codes, now_of(request), by=account.email)
    except PracticeFileError as exc:
        return _upload_error(request, f"The file is not an epraccur file: {exc}", commissioners=codes_text)
    _flash(
        request,
        f"The practice list now holds {report.total} practices of {', '.join(codes)} "
        f"({report.kept['A']} active); {report.other_commissioners} of other commissioners were left out.",
        True,
    )
    return RedirectResponse("/service", status_code=303)


def _upload_error(request: Request, message: str, *, field: str = "practice-file", commissioners: str = "") -> Response:
    return _service(request, 400, errors={field: message}, commissioners=commissioners)


def _flash(request: Request, text: str, success: bool = False) -> None:
    request.session["flash"] = {"text": text, "success": success}
