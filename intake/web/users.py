"""The users page, for admins: every account, adding one, changing a role, disabling and enabling, giving a
new one-time password to someone who forgot theirs; and the page where someone who signed in with a one-time
password chooses their own.

Every change goes through ``intake.accounts`` in a unit of work and is audited with the admin's address; the
newest changes are listed on the page. A one-time password is shown once, in the answer to the form that
made it, and never stored but as its argon2 hash. Email addresses travel in form bodies, never in URLs.
"""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from intake import commands
from intake.accounts import (
    MIN_PASSWORD_LENGTH,
    ROLES,
    Account,
    AccountError,
    AccountExists,
    LastAdmin,
    NoPassword,
    UnknownAccount,
    new_one_time_password,
    normalise_email,
)
from intake.views import account_changes, accounts
from intake.web.auth import keep_session, now_of, page, service_of
from intake.web.render import error_page, render

SIGN_IN_WAYS = ("nhsmail", "one-time", "password")


@page(role="admin")
def users_page(request: Request, _account: Account, _form: FormData | None) -> Response:
    """Admins: the accounts, a form to add one, and the newest changes."""
    return _users(request)


def _users(
    request: Request,
    status_code: int = 200,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    added: dict[str, str] | None = None,
) -> Response:
    app = service_of(request)
    with app.services.unit_of_work() as uow:
        found = accounts(uow)
        changes = account_changes(uow)
    return render(
        request,
        "users.jinja",
        status_code,
        accounts=found,
        changes=changes,
        roles=ROLES,
        errors=errors or {},
        values=values or {"role": "team", "signin": "nhsmail"},
        added=added,
        flash=request.session.pop("flash", None),
        min_password=MIN_PASSWORD_LENGTH,
    )


@page(role="admin")
def add_user(request: Request, account: Account, form: FormData | None) -> Response:
    """POST: add an account that signs in with NHSmail, a one-time password made now, or a password set here."""
    assert form is not None
    values = {name: str(form.get(name, "")).strip() for name in ("email", "role", "signin")}
    password = str(form.get("password", ""))
    errors: dict[str, str] = {}
    if not values["email"]:
        errors["email"] = "Enter their email address"
    else:
        try:
            normalise_email(values["email"])
        except AccountError:
            errors["email"] = "Enter an email address in the correct format, like name@nhs.net"
    if values["role"] not in ROLES:
        errors["role"] = "Select a role"
    if values["signin"] not in SIGN_IN_WAYS:
        errors["signin"] = "Select how they will sign in"
    elif values["signin"] == "password" and len(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = f"Enter a password of at least {MIN_PASSWORD_LENGTH} characters"
    if errors:
        return _users(request, 400, errors=errors, values=values)
    one_time = values["signin"] == "one-time"
    chosen = new_one_time_password() if one_time else password if values["signin"] == "password" else None
    app = service_of(request)
    try:
        with app.services.unit_of_work() as uow:
            commands.add_account(
                uow,
                values["email"],
                values["role"],
                chosen,
                by=account.email,
                now=now_of(request),
                one_time=one_time,
                replace=False,
            )
    except AccountExists:
        return _users(request, 400, errors={"email": "This email address has an account already"}, values=values)
    address = normalise_email(values["email"])
    added = {"heading": f"Account added for {address}", "password": chosen if one_time and chosen else ""}
    # Answered here rather than redirected: the one-time password is shown in this answer only.
    return _users(request, added=added)


@page(role="admin")
def change_user(request: Request, account: Account, form: FormData | None) -> Response:
    """POST: change an account's role (``role``), disable or enable it, or give it a new one-time password
    (``action``)."""
    assert form is not None
    email = str(form.get("email", ""))
    action = str(form.get("action", ""))
    if action == "reset-password":
        return _reset_password(request, account, email)
    app = service_of(request)
    by, now = account.email, now_of(request)
    try:
        with app.services.unit_of_work() as uow:
            if action == "role":
                changed = commands.change_role(uow, email, str(form.get("role", "")), by=by, now=now)
                message = f"{changed.email} is now {'an admin' if changed.is_admin else 'a team member'}."
            elif action == "disable":
                changed = commands.disable_account(uow, email, by=by, now=now)
                message = f"{changed.email} can no longer sign in."
            elif action == "enable":
                changed = commands.enable_account(uow, email, by=by, now=now)
                message = f"{changed.email} can sign in again."
            else:
                return _users(request, 400, errors={"accounts": "Choose what to change"})
    except LastAdmin as exc:
        return _users(request, 400, errors={"accounts": _sentence(str(exc))})
    except UnknownAccount:
        return _users(request, 400, errors={"accounts": "That account no longer exists"})
    except AccountError:
        return _users(request, 400, errors={"accounts": "Choose a role: team or admin"})
    request.session["flash"] = message
    if changed.email == account.email and (changed.disabled or not changed.is_admin):
        return RedirectResponse("/", status_code=303)  # the users page is no longer theirs to see
    return RedirectResponse("/users", status_code=303)


def _reset_password(request: Request, account: Account, email: str) -> Response:
    """Answered here rather than redirected, as adding an account is: the one-time password is shown once."""
    app = service_of(request)
    try:
        with app.services.unit_of_work() as uow:
            reset = commands.reset_password(uow, email, by=account.email, now=now_of(request))
    except NoPassword as exc:
        return _users(request, 400, errors={"accounts": _sentence(str(exc))})
    except AccountError:
        return _users(request, 400, errors={"accounts": "That account no longer exists"})
    yours = reset.account.email == account.email
    if yours:
        keep_session(request, reset.account)  # their other sessions end; here they go on to choose their own
    added = {
        "heading": f"New one-time password for {reset.account.email}",
        "password": reset.one_time_password,
        "reset": "yours" if yours else "theirs",
    }
    return _users(request, added=added)


@page(password_page=True)
def choose_password_page(request: Request, account: Account, form: FormData | None) -> Response:
    """GET: the form; POST: replace a one-time password (or one's own) with a password one chooses."""
    if not account.has_password:
        return error_page(
            request,
            403,
            "Your account has no password",
            "You sign in with NHSmail: your password is the one you use for NHSmail.",
        )
    if form is None:
        return render(request, "password.jinja", errors={}, forced=account.must_change_password)
    password = str(form.get("password", ""))
    again = str(form.get("password-again", ""))
    errors: dict[str, str] = {}
    if len(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = f"Enter a password of at least {MIN_PASSWORD_LENGTH} characters"
    elif password != again:
        errors["password-again"] = "Enter the same password twice"
    if errors:
        return render(request, "password.jinja", 400, errors=errors, forced=account.must_change_password)
    app = service_of(request)
    with app.services.unit_of_work() as uow:
        chosen = commands.choose_password(uow, account.email, password, now=now_of(request))
    keep_session(request, chosen)  # the account's other sessions end; this one goes on
    return RedirectResponse("/", status_code=303)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]
