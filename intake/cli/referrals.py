"""``referrals``: the referral queue, and what the team does to a referral: accept it from review, decline
it, note something, record its home assessment."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Any

import click

from intake.cli.common import day_of, upgraded_app_of
from intake.errors import IntakeError


@click.group()
def referrals() -> None:
    """The referral queue."""


@referrals.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.option("--status", type=click.Choice(["new", "review"]), help="Only referrals with this status.")
@click.pass_context
def referrals_list(ctx: click.Context, as_json: bool, status: str | None) -> None:
    """List queued referrals and MAR registrations, most urgent first.

    \b
    Example:
        nmss-intake referrals list --json
    """
    from intake.views import queue

    app = upgraded_app_of(ctx)
    with app.services.unit_of_work() as uow:
        items = [item.as_json() for item in queue(uow, status)]
    if as_json:
        click.echo(json.dumps(items, indent=2, ensure_ascii=False))
        return
    if not items:
        click.echo("The queue is empty.")
        return
    _print_table(items, app.services.timezone)


_HEADINGS = ("Reference", "Kind", "Status", "Priority", "Received", "NHS number", "Patient", "Flags and reasons")


def _print_table(items: Sequence[dict[str, Any]], tz: dt.tzinfo) -> None:
    """The queue as a table with headings, columns as wide as their widest cell; names as the digest has them."""
    from notifier.digest import Patient

    rows = []
    for item in items:
        patient = Patient(item["nhs_number"], item["surname"], item["forenames"], purged=item["purged"])
        received = dt.datetime.fromisoformat(item["created_at"])
        if received.tzinfo is None:  # SQLite hands back the stored UTC time without its zone
            received = received.replace(tzinfo=dt.UTC)
        rows.append(
            (
                item["reference"],
                item["kind"],
                item["status"],
                item["priority"] or "-",
                received.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                patient.nhs_number_spaced,
                patient.name,
                ", ".join(item["flags"] + item["reasons"] + item["warnings"]) or "-",
            )
        )
    widths = [max(len(row[i]) for row in [_HEADINGS, *rows]) for i in range(len(_HEADINGS) - 1)]
    for row in [_HEADINGS, *rows]:
        click.echo("  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]))


@referrals.command("assessed")
@click.argument("reference")
@click.option(
    "--date",
    "assessed_on",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Day of the home assessment, YYYY-MM-DD (default: today in Europe/London).",
)
@click.pass_context
def referrals_assessed(ctx: click.Context, reference: str, assessed_on: dt.datetime | None) -> None:
    """Record the home assessment of referral REFERENCE and schedule its follow-up calls.

    The calls fall due 6 weeks, 6 months and 12 months later, moved off weekends and bank holidays.
    Recording a different date moves the calls not yet made; the referral leaves the digest's queue.

    \b
    Example:
        nmss-intake referrals assessed NMSS-7K3QX9PA --date 2026-11-30
    """
    from intake.commands import record_assessment
    from notifier.digest import long_date

    app = upgraded_app_of(ctx)
    day = day_of(app.settings, None)
    try:
        with app.services.unit_of_work() as uow:
            done = record_assessment(
                uow, reference, assessed_on.date() if assessed_on else day, today=day, now=app.services.clock()
            )
    except IntakeError as exc:
        raise click.ClickException(str(exc)) from exc
    if done.previous == done.assessed_on:
        click.echo(f"{done.reference}: the home assessment on {long_date(done.assessed_on)} was recorded already.")
    elif done.previous is not None:
        moved = f"from {long_date(done.previous)} to {long_date(done.assessed_on)}"
        click.echo(f"{done.reference}: home assessment moved {moved}.")
    else:
        click.echo(f"{done.reference}: home assessment recorded on {long_date(done.assessed_on)}.")
    click.echo("Follow-up calls due:")
    for call in done.calls:
        click.echo(f"  {call.label:<10} {long_date(call.due)}")


_BY = click.option("--by", "by", help="Who did it (default: your login name).")


@referrals.command("accept")
@click.argument("reference")
@click.option("--priority", type=click.Choice(["urgent", "soon", "routine"]), required=True, help="How soon.")
@_BY
@click.pass_context
def referrals_accept(ctx: click.Context, reference: str, priority: str, by: str | None) -> None:
    """Accept referral REFERENCE from review into the queue with PRIORITY.

    \b
    Example:
        nmss-intake referrals accept NMSS-7K3QX9PA --priority soon
    """
    from intake.commands import accept_referral

    _act(ctx, lambda uow, who, now: accept_referral(uow, reference, priority, by=who, now=now), by)
    click.echo(f"{reference}: accepted into the queue as {priority}.")


@referrals.command("decline")
@click.argument("reference")
@click.option("--reason", required=True, help="Why (kept in the referral's history).")
@_BY
@click.pass_context
def referrals_decline(ctx: click.Context, reference: str, reason: str, by: str | None) -> None:
    """Decline referral REFERENCE: it leaves the queue and the digest; the reason joins its history.

    \b
    Example:
        nmss-intake referrals decline NMSS-7K3QX9PA --reason "Moved out of Norfolk"
    """
    from intake.commands import decline_referral

    if not reason.strip():
        raise click.BadParameter("must not be empty", param_hint="--reason")
    _act(ctx, lambda uow, who, now: decline_referral(uow, reference, reason, by=who, now=now), by)
    click.echo(f"{reference}: declined.")


@referrals.command("note")
@click.argument("reference")
@click.argument("text")
@_BY
@click.pass_context
def referrals_note(ctx: click.Context, reference: str, text: str, by: str | None) -> None:
    """Add TEXT to the history of referral REFERENCE.

    \b
    Example:
        nmss-intake referrals note NMSS-7K3QX9PA "Daughter prefers a call after 3pm"
    """
    from intake.commands import add_note

    if not text.strip():
        raise click.BadParameter("must not be empty", param_hint="TEXT")
    _act(ctx, lambda uow, who, now: add_note(uow, reference, text, by=who, now=now), by)
    click.echo(f"{reference}: note added.")


def _act(ctx: click.Context, command: Callable[[Any, str, dt.datetime], None], by: str | None) -> None:
    """Run ``command(uow, who, now)`` in a unit of work on an up-to-date database; a refusal is one line."""
    import getpass

    app = upgraded_app_of(ctx)
    try:
        with app.services.unit_of_work() as uow:
            command(uow, by or getpass.getuser(), app.services.clock())
    except (IntakeError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
