"""Pages from Jinja2 templates and NHS.UK frontend's components (``nhsuk-frontend-jinja``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from jinja2 import ChainableUndefined, ChoiceLoader, Environment, FileSystemLoader, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from config.forms import FormDefinitions
from intake.web.security import csrf_token
from notifier.digest import long_date
from rules.followups import LABELS
from rules.words import team_sentence

TEMPLATES = Path(__file__).parent / "templates"

PRIORITY_TAGS = {"urgent": "nhsuk-tag--red", "soon": "nhsuk-tag--orange", "routine": "nhsuk-tag--blue"}


OUTCOMES = {
    "accepted": "Accepted and queued",
    "review": "Sent to the team for review",
    "incomplete": "Incomplete: the referrer was asked for what is missing",
    "misrouted": "Misrouted: Form 1 belongs with the patient's pharmacy",
    "mar_registration": "MAR chart registration queued",
    "not_a_submission": "No form attached",
    "automatic": "Sent by a machine",
    "duplicate": "A copy of an earlier email",
    "quarantined": "Quarantined",
}

EVENTS = {
    "resubmission": "More forms arrived for this submission",
    "reply_suppressed": "The automatic reply was held back: reply by hand",
    "send_failed": "An email could not be sent",
    "replayed": "Processed again",
    "quarantined": "The service failed on this email: quarantined",
    "duplicate": "The same email arrived again",
    "sent_again": "An email that could not be sent was put back in the outbox",
}

STAFF_EVENTS = {
    "viewed": "Viewed by {by}",
    "accepted": "Accepted from review by {by}, priority {priority}",
    "declined": "Declined by {by}",
    "replied_by_hand": "Replied to by hand by {by}",
    "note": "Note by {by}: {text}",
    "declined_reason": "Why it was declined ({by}): {text}",
    "listed": "Seen in the {page} list by {by}",
    "downloaded": "Document {document} downloaded by {by}",
}
"""What a person of the team did, by event: ``{by}`` is their address, ``{text}`` what they wrote."""


def account_change(change: Any) -> str:
    """One change to the accounts in words: staff addresses and roles only."""
    role = {"team": "a team member", "admin": "an admin"}.get(change.role or "", change.role or "")
    words = {
        "account_added": f"Added {change.email} as {role}",
        "account_changed": f"Changed {change.email}: {role}, sign-in replaced",
        "account_role_changed": f"Made {change.email} {role}",
        "account_disabled": f"Disabled {change.email}",
        "account_enabled": f"Enabled {change.email}",
        "password_chosen": f"{change.email} chose a new password",
        "password_reset": f"Gave {change.email} a new one-time password",
    }
    return words.get(str(change.event), str(change.event))


def event_text(event: Any) -> str:
    """One line of a referral's history in words: codes and staff addresses only, never patient data."""
    detail = event.detail
    if event.event == "decided":
        return OUTCOMES.get(str(detail.get("outcome")), f"Decided: {detail.get('outcome')}")
    name = str(event.event)
    if name in STAFF_EVENTS:
        return STAFF_EVENTS[name].format(
            by=detail.get("by", "someone"),
            priority=detail.get("priority"),
            page=detail.get("page", "workspace"),
            document=detail.get("document", ""),
            text=event.text,
        )
    return EVENTS.get(name, name.replace("_", " ").capitalize())


def environment(timezone: str, definitions: FormDefinitions) -> Environment:
    """Our templates first, then NHS.UK frontend's (``ChainableUndefined``, as nhsuk-frontend-jinja needs)."""
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(TEMPLATES), PackageLoader("nhsuk_frontend_jinja")]),
        undefined=ChainableUndefined,
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    zone = ZoneInfo(timezone)

    def local_time(value: dt.datetime | None) -> str:
        if value is None:
            return ""
        local = value.astimezone(zone)
        return f"{long_date(local.date())} at {local:%H:%M}"

    def short_date(value: dt.date | dt.datetime | None) -> str:
        if value is None:
            return ""
        day = value.astimezone(zone).date() if isinstance(value, dt.datetime) else value
        return f"{day.day} {day:%b %Y}"

    env.filters["local_time"] = local_time
    env.filters["short_date"] = short_date
    env.filters["long_date"] = lambda day: long_date(day) if day else ""
    env.filters["sentence"] = team_sentence
    env.filters["priority_tag"] = lambda priority: PRIORITY_TAGS.get(priority or "", "nhsuk-tag--grey")
    env.filters["error_link"] = error_link
    env.filters["nhs_number"] = lambda n: f"{n[:3]} {n[3:6]} {n[6:]}" if n and len(n) == 10 else (n or "")
    env.filters["event_text"] = event_text
    env.filters["account_change"] = account_change

    def form_title(kind: str | None) -> str:
        if kind and kind in definitions.forms:
            return definitions.forms[kind].title  # type: ignore[index]
        return "A document that is not one of the forms"

    def call_rows(calls: Any) -> list[dict[str, Any]]:
        return [
            {
                "key": {"text": f"{LABELS.get(call.kind, call.kind)} call"},
                "value": {
                    "text": f"Made {local_time(call.done_at)}: {call.outcome}"
                    if call.done_at
                    else f"Due {long_date(call.due)}"
                },
            }
            for call in calls
        ]

    env.filters["call_rows"] = call_rows
    env.filters["form_title"] = form_title
    env.filters["form_name"] = lambda kind: definitions.forms[kind].name if kind in definitions.forms else kind
    env.globals["page_items"] = page_items
    return env


def error_link(item: tuple[object, str], prefix: str = "") -> dict[str, str]:
    """An error summary's link to its field: ``(field id, message)``, the id after ``prefix`` where one page
    holds a form for each of several things (``"outcome-"`` and a call's id)."""
    field, message = item
    return {"text": message, "href": f"#{prefix}{field}"}


def value_text(value: Any, field: Any) -> str:
    """A field's value as the team reads it: options by their printed text, dates in words, "Not given"."""
    if value is None or value == "" or value == []:
        return "Not given"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    options = {option.code: option.text for option in field.options} if field is not None else {}
    if isinstance(value, list):
        return "; ".join(options.get(str(code), str(code)) for code in value)
    if isinstance(value, str) and field is not None and field.type == "date":
        try:
            return long_date(dt.date.fromisoformat(value))
        except ValueError:
            return str(value)
    return str(options.get(str(value), value))


def page_items(current: int, pages: int, base: str) -> list[dict[str, Any]]:
    """NHS.UK pagination's numbered items: the first, the last and two either side of ``current``."""
    shown = sorted({1, pages, *range(max(1, current - 2), min(pages, current + 2) + 1)})
    items: list[dict[str, Any]] = []
    for number in shown:
        if items and number - items[-1]["number"] > 1:
            items.append({"ellipsis": True, "number": number - 1})
        items.append({"number": number, "href": f"{base}{number}", "current": number == current})
    return items


class Link(NamedTuple):
    """Where an error page sends someone next."""

    href: str
    text: str


def error_page(request: Request, status_code: int, title: str, message: str, link: Link | None = None) -> HTMLResponse:
    """A request the workspace cannot serve, as one page: what is wrong in a title and a line, and where to go."""
    return render(request, "error.jinja", status_code, title=title, message=message, link=link)


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """``template`` with ``context``, the signed-in account, the CSRF token and the navigation."""
    env: Environment = request.app.state.templates
    account = request.scope.get("account")
    page = env.get_template(template).render(
        request=request,
        account=account,
        csrf_token=csrf_token(request),
        path=request.url.path,
        **context,
    )
    return HTMLResponse(page, status_code=status_code)
