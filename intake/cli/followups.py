"""``followups``: the follow-up calls after a home assessment."""

from __future__ import annotations

import datetime as dt
import json

import click

from intake.cli.common import date_option, day_of, upgraded_app_of
from intake.errors import IntakeError


@click.group()
def followups() -> None:
    """Follow-up calls at 6 weeks, 6 months and 12 months after a home assessment."""


@followups.command("due")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@date_option
@click.pass_context
def followups_due(ctx: click.Context, as_json: bool, today: dt.datetime | None) -> None:
    """List the follow-up calls due today or overdue and not yet made, most overdue first.

    \b
    Example:
        nmss-intake followups due --json
    """
    from intake.views import calls_due
    from notifier.digest import long_date

    app = upgraded_app_of(ctx)
    day = day_of(app.settings, today)
    with app.services.unit_of_work() as uow:
        calls = calls_due(uow, day)
    items = [
        {
            "id": call.followup_id,
            "reference": call.reference,
            "kind": call.kind,
            "call": call.label,
            "due": call.due.isoformat(),
            "overdue_working_days": call.overdue_working_days,
            "nhs_number": call.patient.nhs_number,
            "surname": call.patient.surname,
            "forenames": call.patient.forenames,
        }
        for call in calls
    ]
    if as_json:
        click.echo(json.dumps(items, indent=2, ensure_ascii=False))
        return
    if not calls:
        click.echo(f"No follow-up calls are due on {long_date(day)}.")
        return
    for call in calls:
        late = f"{call.overdue_working_days} working day(s) overdue" if call.overdue_working_days else "due today"
        click.echo(
            f"{call.followup_id:>5}  {call.label:<10} {call.reference}  {call.patient.name}  "
            f"NHS {call.patient.nhs_number_spaced}  due {call.due.isoformat()}, {late}"
        )


@followups.command("done")
@click.argument("followup_id", metavar="ID", type=int)
@click.option("--outcome", required=True, help="What the call found or agreed (kept with the call).")
@click.pass_context
def followups_done(ctx: click.Context, followup_id: int, outcome: str) -> None:
    """Record follow-up call ID (as `nmss-intake followups due` lists it) as made, with its outcome.

    \b
    Example:
        nmss-intake followups done 12 --outcome "Managing well with the reminder chart"
    """
    from intake.commands import record_call

    app = upgraded_app_of(ctx)
    if not outcome.strip():
        raise click.BadParameter("must not be empty", param_hint="--outcome")
    try:
        with app.services.unit_of_work() as uow:
            call = record_call(uow, followup_id, outcome, now=app.services.clock())
    except IntakeError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Follow-up call {call.followup_id} ({call.label}, {call.reference}) recorded as made.")
