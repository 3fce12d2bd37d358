"""``run``: poll the mailbox once, or as a daemon."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from typing import TYPE_CHECKING

import click

from intake.cli.common import sent_line, upgraded_app_of
from intake.errors import IntakeError

if TYPE_CHECKING:
    from intake.bootstrap import App
    from intake.pipeline import Taken


@click.command()
@click.option("--once", is_flag=True, help="Process what is waiting, send the outbox, print a report and exit.")
@click.pass_context
def run(ctx: click.Context, once: bool) -> None:
    """Poll the mailbox: once, or as a daemon until SIGTERM or SIGINT.

    \b
    Example:
        nmss-intake run --once
    """
    from intake.daemon import run_daemon
    from intake.health import take_and_record
    from intake.lease import HeldLease
    from intake.pipeline import send_outbox

    app = upgraded_app_of(ctx)
    try:
        if not once:
            run_daemon(app)  # holds the lease itself, or stands by for it (intake.lease)
            return
        with ExitStack() as held:
            for poller in app.pollers:  # every mailbox's lease first: none is taken from half-way
                held.enter_context(HeldLease(poller.lease))
            taken = [
                (poller.mailbox.name, take_and_record(poller.mailbox, app.services, app.settings))
                for poller in app.pollers
            ]
            sent = send_outbox(app.services)
    except IntakeError as exc:
        raise click.ClickException(str(exc)) from exc
    for mailbox, taken_from in taken:
        _report(app, mailbox, taken_from)
    if sent:
        click.echo(sent_line(app, sent))


def _report(app: App, mailbox: str, taken: Sequence[Taken]) -> None:
    if not taken:
        click.echo(f"Nothing new in mailbox {mailbox}.")
    else:
        click.echo(f"Took {len(taken)} message(s) from mailbox {mailbox}:")
        for item in taken:
            forms = ", ".join(item.forms) or "no forms"
            filed = f"filed in {item.folder}" if item.filed else f"to be filed in {item.folder} (the mailbox refused)"
            click.echo(f"  {item.reference}  {item.outcome:<17} {forms:<20} {filed}")
            if item.reply_key:
                click.echo(f"  {'':<{len(item.reference)}}  reply written to {app.reply_location(item.reply_key)}")
    unfiled = sum(not item.filed for item in taken)
    if unfiled:
        click.echo(f"{unfiled} message(s) could not be filed; the next run files them (their decisions stand).")
