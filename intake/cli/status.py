"""``status``: each mailbox's health, the outbox and the quarantined messages."""

from __future__ import annotations

import datetime as dt
import json

import click

from intake.cli.common import app_of


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
    from sqlmodel import Session, select

    from intake.health import health_report
    from intake.migrate import upgrade
    from intake.replay import quarantined
    from intake.store import OutboxRecord

    app = app_of(ctx)
    upgrade(app.engine)
    mailboxes = health_report(app.engine, [app.mailbox.name])
    waiting = quarantined(app.services)
    with Session(app.engine) as session:
        pending = len(session.exec(select(OutboxRecord.id).where(OutboxRecord.state == "pending")).all())
    if as_json:
        click.echo(
            json.dumps(
                {
                    "mailboxes": [m.as_json() for m in mailboxes],
                    "outbox_pending": pending,
                    "quarantined": [
                        {
                            "id": message.id,
                            "reference": message.reference,
                            "mailbox": message.source,
                            "error": record.error,
                            "at": record.at.isoformat(),
                        }
                        for message, record in waiting
                    ],
                },
                indent=2,
            )
        )
        return
    tz = app.services.timezone

    def _when(value: dt.datetime | None) -> str:
        return when(value, tz)

    for health in mailboxes:
        click.echo(f"Mailbox {health.name}")
        click.echo(f"  last successful poll  {_when(health.last_success_at)}")
        error = f"{health.last_error} at {_when(health.last_error_at)}" if health.last_error else "none"
        click.echo(f"  last error            {error}")
        alerted = " (the team has been emailed)" if health.alerted else ""
        click.echo(f"  failures in a row     {health.consecutive_failures}{alerted}")
        click.echo(f"  backlog               {health.backlog} message(s) taken but not yet filed")
        click.echo(f"  token expires         {_when(health.token_expires_at)}")
    click.echo(f"Outbox: {pending} email(s) waiting to be sent.")
    if not waiting:
        click.echo("No message is quarantined.")
        return
    click.echo(f"Quarantined: {len(waiting)} message(s); try one again with `nmss-intake replay ID`:")
    for message, record in waiting:
        click.echo(f"  {message.id:<6} {message.reference}  {message.source:<12} {record.error:<24} {_when(record.at)}")


def when(value: dt.datetime | None, tz: dt.tzinfo) -> str:
    """A moment as the team reads a clock: local time in the service's timezone, with its name (GMT or BST)."""
    if value is None:
        return "never"
    if value.tzinfo is None:  # SQLite hands back the stored UTC time without its zone
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z")
