"""``replay``: process a quarantined message again from its stored bytes."""

from __future__ import annotations

import click

from intake.cli.common import sent_line, upgraded_app_of
from intake.errors import IntakeError


@click.command()
@click.argument("ledger_id", metavar="ID", type=int)
@click.pass_context
def replay(ctx: click.Context, ledger_id: int) -> None:
    """Process quarantined message ID again from its stored bytes (ID as `nmss-intake status` lists it).

    Safe beside a running daemon: only a message still quarantined is taken, and only once.

    \b
    Example:
        nmss-intake replay 12
    """
    from intake.commands import replay as replay_message
    from intake.pipeline import send_outbox

    app = upgraded_app_of(ctx)
    try:
        with app.services.unit_of_work() as uow:
            taken = replay_message(uow, ledger_id, app.mailbox_of, app.services)
        sent = send_outbox(app.services)
    except IntakeError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Replayed message {ledger_id}: {taken.outcome}, filed in {taken.folder}.")
    if taken.reply_key:
        click.echo(f"  reply written to {app.reply_location(taken.reply_key)}")
    if sent:
        click.echo(sent_line(app, sent))
