"""Mail to the team: the working-day digest and follow-up call reminders, built from plain data.

Pure like ``notifier.replies``: the shell gathers the data and passes it in; nothing here reads the clock, the
database or sends anything. Unlike the automatic replies these messages carry patient identifiers (names, NHS
numbers, dates of birth) because the team acts on them, so every builder refuses a recipient whose domain is
not on the secure list (nhs.net and the DCB1596 accredited domains). Subjects never carry patient data: mail
clients and servers show and log them. Headers follow RFC 3834 for machine-generated mail
(``Auto-Submitted: auto-generated``).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

import jinja2

from config.settings import ServiceSettings
from rules.automatic import OWN_MESSAGE_ID_PREFIX
from rules.validate import is_secure_email

PRIORITY_ORDER = ("urgent", "soon", "routine")
"""The order of the queue sections: most urgent first."""


class InsecureRecipient(ValueError):
    """Raised when a digest or reminder is addressed to someone not on a secure domain, or to no one.

    The message names the address (a team address from the settings, never patient data).
    """


@dataclass(frozen=True)
class Patient:
    """Who a row is about, as far as it is known; any part may be missing (an incomplete form)."""

    nhs_number: str | None = None
    surname: str | None = None
    forenames: str | None = None
    date_of_birth: dt.date | None = None
    purged: bool = False  # retention removed the details of a closed referral: nothing is missing by mistake

    @property
    def name(self) -> str:
        """``"SURNAME, Forenames"``, or ``"(name not given)"``, or ``"(details purged)"``."""
        if self.purged:
            return "(details purged)"
        if self.surname and self.forenames:
            return f"{self.surname.upper()}, {self.forenames}"
        return (self.surname or "").upper() or self.forenames or "(name not given)"

    @property
    def nhs_number_spaced(self) -> str:
        """The NHS number as printed, ``999 123 4567``, or ``"-"``."""
        number = self.nhs_number or ""
        if len(number) == 10 and number.isdigit():
            return f"{number[:3]} {number[3:6]} {number[6:]}"
        return number or "-"


@dataclass(frozen=True)
class QueuedReferral:
    """A referral in the queue: an accepted one with its priority and flags, or one for review with reasons."""

    reference: str
    received_on: dt.date
    patient: Patient
    priority: str | None = None
    flags: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class WaitingSubmission:
    """An incomplete submission: the referrer was asked for what is missing and the team waits on them."""

    reference: str
    received_on: dt.date
    age_working_days: int
    forms: tuple[str, ...]
    patient: Patient


@dataclass(frozen=True)
class DueCall:
    """A follow-up call due on or before the digest's day and not yet made."""

    followup_id: int
    reference: str
    kind: str
    label: str
    due: dt.date
    overdue_working_days: int
    patient: Patient


@dataclass(frozen=True)
class MarRegistration:
    """A MAR chart registration received since the previous working day's digest."""

    reference: str
    received_on: dt.date
    patient: Patient


@dataclass(frozen=True)
class TaskToDo:
    """An open team task: its id (for ``nmss-intake tasks done ID``), the reference it is about, what to do."""

    id: int
    reference: str | None
    action: str


@dataclass(frozen=True)
class MissedDay:
    """A working day whose digest was never sent (the service was not running at digest time), with what came in
    for it: the next digest carries it in a section of its own, so nothing of that day goes unreported."""

    day: dt.date
    referrals: tuple[QueuedReferral, ...] = ()
    review: tuple[QueuedReferral, ...] = ()
    mar: tuple[MarRegistration, ...] = ()


@dataclass(frozen=True)
class Digest:
    """Everything in one day's digest. The builder orders the queue by priority, oldest first.

    ``waiting`` names forms as printed ("Form 1"); ``missed`` are the earlier working days it also covers.
    """

    day: dt.date
    tasks: tuple[TaskToDo, ...] = ()
    referrals: tuple[QueuedReferral, ...] = ()
    review: tuple[QueuedReferral, ...] = ()
    waiting: tuple[WaitingSubmission, ...] = ()
    calls: tuple[DueCall, ...] = ()
    mar: tuple[MarRegistration, ...] = ()
    missed: tuple[MissedDay, ...] = ()

    @property
    def by_priority(self) -> list[tuple[str, list[QueuedReferral]]]:
        """The queue in sections: urgent, soon, routine (then any other priority), each oldest first."""
        known = list(PRIORITY_ORDER)
        known += sorted({r.priority or "unprioritised" for r in self.referrals} - set(known))
        return [
            (
                priority,
                sorted(
                    (r for r in self.referrals if (r.priority or "unprioritised") == priority),
                    key=lambda r: (r.received_on, r.reference),
                ),
            )
            for priority in known
        ]

    @property
    def calls_today(self) -> list[DueCall]:
        """Calls due on the digest's day."""
        return [c for c in self.calls if c.due >= self.day]

    @property
    def calls_overdue(self) -> list[DueCall]:
        """Calls due before the digest's day, most overdue first."""
        return sorted((c for c in self.calls if c.due < self.day), key=lambda c: (c.due, c.reference))


def build_digest(
    digest: Digest,
    *,
    recipients: Sequence[str],
    service: ServiceSettings,
    secure_domains: Iterable[str],
    now: dt.datetime,
) -> EmailMessage:
    """The digest for ``digest.day`` as a text and HTML email to ``recipients``.

    Args:
        digest: what to say, gathered by the shell.
        recipients: the team's addresses; each must be on ``secure_domains``.
        service: who sends it (name, address).
        secure_domains: domains patient data may be sent to, matched exactly.
        now: when it is made (aware): dates the message.

    Returns:
        A multipart/alternative ``EmailMessage`` (text/plain, then text/html) with Message-ID
        ``<nmss-intake.digest.{YYYY-MM-DD}@{service.domain}>`` (the same for the same day), a subject that
        carries counts only, ``Auto-Submitted: auto-generated``, ``X-Auto-Response-Suppress: All`` and
        ``X-Loop``.

    Raises:
        InsecureRecipient: no recipients, or one is not on a secure domain.
        ValueError: ``now`` is naive.
    """
    to = _secure_recipients(recipients, secure_domains)
    urgent = sum(1 for r in digest.referrals if r.priority == "urgent")
    calls = len(digest.calls_today) + len(digest.calls_overdue)
    also = f" (and {', '.join(long_date(m.day) for m in digest.missed)}, not sent then)" if digest.missed else ""
    subject = (
        f"{service.name} digest for {long_date(digest.day)}{also}: {len(digest.tasks)} needing your action, "
        f"{len(digest.referrals)} in the queue ({urgent} urgent), {len(digest.review)} to review, {calls} calls due"
    )
    message = _team_message(to, subject, service, now, message_id=f"digest.{digest.day.isoformat()}")
    text, html = render_digest(digest, service)
    message.set_content(text, cte="quoted-printable")
    message.add_alternative(html, subtype="html", cte="quoted-printable")
    return message


def render_digest(digest: Digest, service: ServiceSettings, *, printed: bool = False) -> tuple[str, str]:
    """The digest's text and HTML bodies, for ``build_digest`` and for ``nmss-intake digest --print``.

    ``printed``: for the screen, not an email; its last line then says nothing was sent rather than that it
    was sent automatically.
    """
    context = {
        "printed": printed,
        "service": service,
        "day": long_date(digest.day),
        "tasks": digest.tasks,
        "sections": digest.by_priority,
        "review": sorted(digest.review, key=lambda r: (r.received_on, r.reference)),
        "waiting": sorted(digest.waiting, key=lambda w: (-w.age_working_days, w.reference)),
        "calls_today": digest.calls_today,
        "calls_overdue": digest.calls_overdue,
        "mar": sorted(digest.mar, key=lambda m: (m.received_on, m.reference)),
        "missed": [_missed(m) for m in digest.missed],
    }
    environment = _environment()
    return (
        environment.get_template("digest.txt").render(**context),
        environment.get_template("digest.html").render(**context),
    )


def build_follow_up_reminder(
    call: DueCall,
    *,
    recipients: Sequence[str],
    service: ServiceSettings,
    secure_domains: Iterable[str],
    now: dt.datetime,
) -> EmailMessage:
    """A text email reminding the team of one follow-up call, sent on the day it falls due.

    Returns:
        A text/plain ``EmailMessage`` with Message-ID ``<nmss-intake.followup.{id}@{service.domain}>``, and a
        subject naming the call and the referral's reference only.

    Raises:
        InsecureRecipient: no recipients, or one is not on a secure domain.
        ValueError: ``now`` is naive.
    """
    to = _secure_recipients(recipients, secure_domains)
    subject = f"Follow-up call due ({call.label}) - reference {call.reference}"
    message = _team_message(to, subject, service, now, message_id=f"followup.{call.followup_id}")
    body = _environment().get_template("reminder.txt").render(call=call, due=long_date(call.due), service=service)
    message.set_content(body, cte="quoted-printable")
    return message


def long_date(day: dt.date) -> str:
    """``"Monday 30 November 2026"``: how dates read to the team."""
    return f"{day:%A} {day.day} {day:%B %Y}"


def _secure_recipients(recipients: Sequence[str], secure_domains: Iterable[str]) -> list[str]:
    domains = list(secure_domains)
    if not recipients:
        raise InsecureRecipient("no team addresses are configured (service.team_addresses)")
    for address in recipients:
        if not is_secure_email(address, domains):
            raise InsecureRecipient(f"{address} is not on a secure domain ({', '.join(domains) or 'none listed'})")
    return list(dict.fromkeys(recipients))


def _team_message(
    to: Sequence[str], subject: str, service: ServiceSettings, now: dt.datetime, *, message_id: str
) -> EmailMessage:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    message = EmailMessage()
    message["From"] = formataddr((service.name, service.address))
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = f"<{OWN_MESSAGE_ID_PREFIX}{message_id}@{service.domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message["X-Loop"] = service.address
    return message


def _missed(day: MissedDay) -> dict[str, Any]:
    """A missed day's section as the templates show it: its date in words, each list in order."""
    return {
        "day": long_date(day.day),
        "referrals": sorted(day.referrals, key=_most_urgent_first),
        "review": sorted(day.review, key=lambda r: (r.received_on, r.reference)),
        "mar": sorted(day.mar, key=lambda m: (m.received_on, m.reference)),
    }


def _most_urgent_first(referral: QueuedReferral) -> tuple[int, dt.date, str]:
    priority = referral.priority or "unprioritised"
    rank = PRIORITY_ORDER.index(priority) if priority in PRIORITY_ORDER else len(PRIORITY_ORDER)
    return rank, referral.received_on, referral.reference


def _humanise(code: str) -> str:
    return code.replace("_", " ")


@functools.cache
def _environment() -> jinja2.Environment:
    # HTML autoescaped: names typed into forms reach these templates and may hold <, & or quotes.
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("notifier", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["humanise"] = _humanise
    environment.filters["long_date"] = long_date
    return environment
