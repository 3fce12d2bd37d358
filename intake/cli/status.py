"""``status``: each mailbox's health, the outbox and the quarantined messages."""

from __future__ import annotations

import datetime as dt
import json

import click

from intake.cli.common import upgraded_app_of


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Show each mailbox's health, the outbox and the quarantined messages (ids, codes and times only).

    Per mailbox: the last successful poll, the last error and when, failures in a row, the backlog (messages
    taken but not yet filed) and when the access token expires.

    \b
    Example:
        nmss-intake status --json
    """
    from intake.views import status as view_status

    app = upgraded_app_of(ctx)
    with app.services.unit_of_work() as uow:
        report = view_status(uow, [poller.mailbox.name for poller in app.pollers])
    if as_json:
        quarantined = [
            {"id": q.id, "reference": q.reference, "mailbox": q.mailbox, "error": q.error, "at": q.at.isoformat()}
            for q in report.quarantined
        ]
        click.echo(
            json.dumps(
                {
                    "mailboxes": [m.as_json() for m in report.mailboxes],
                    "outbox_pending": report.outbox_pending,
                    "quarantined": quarantined,
                    "open_tasks": report.open_tasks,
                },
                indent=2,
            )
        )
        return
    tz = app.services.timezone

    def _when(value: dt.datetime | None) -> str:
        return when(value, tz)

    for health in report.mailboxes:
        click.echo(f"Mailbox {health.name}")
        click.echo(f"  last successful poll  {_when(health.last_success_at)}")
        error = f"{health.last_error} at {_when(health.last_error_at)}" if health.last_error else "none"
        click.echo(f"  last error            {error}")
        alerted = " (the team has been emailed)" if health.alerted else ""
        click.echo(f"  failures in a row     {health.consecutive_failures}{alerted}")
        click.echo(f"  backlog               {health.backlog} message(s) taken but not yet filed")
        click.echo(f"  token expires         {_when(health.token_expires_at)}")
    click.echo(f"Outbox: {report.outbox_pending} email(s) waiting to be sent.")
    if report.open_tasks:
        click.echo(f"Tasks: {report.open_tasks} open; see them with `nmss-intake tasks list`.")
    if not report.quarantined:
        click.echo("No message is quarantined.")
        return
    click.echo(f"Quarantined: {len(report.quarantined)} message(s); try one again with `nmss-intake replay ID`:")
    for q in report.quarantined:
        click.echo(f"  {q.id:<6} {q.reference}  {q.mailbox:<12} {q.error:<24} {_when(q.at)}")


def when(value: dt.datetime | None, tz: dt.tzinfo) -> str:
    """A moment as the team reads a clock: local time in the service's timezone, with its name (GMT or BST)."""
    if value is None:
        return "never"
    if value.tzinfo is None:  # SQLite hands back the stored UTC time without its zone
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z")
