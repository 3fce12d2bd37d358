"""``digest``: the team's daily digest, sent now or printed."""

from __future__ import annotations

import datetime as dt

import click

from intake.cli.common import date_option, day_of, sent_line, upgraded_app_of


@click.command()
@click.option("--print", "print_only", is_flag=True, help="Print the digest instead of sending it.")
@click.option("--html", is_flag=True, help="With --print: print the HTML version rather than the text.")
@date_option
@click.pass_context
def digest(ctx: click.Context, print_only: bool, html: bool, today: dt.datetime | None) -> None:
    """Send the team's digest for today now (once a day at most), or print it with --print.

    The daemon sends it by itself on working days at digest.send_at (08:30 Europe/London by default), to
    service.team_addresses only, and only when each is on a secure domain.

    \b
    Example:
        nmss-intake digest --print
    """
    from intake.digest import digest_for, queue_digest
    from intake.pipeline import send_outbox
    from notifier.digest import InsecureRecipient, long_date, render_digest

    app = upgraded_app_of(ctx)
    settings = app.settings
    day = day_of(settings, today)
    tz = app.services.timezone
    if print_only:
        with app.services.unit_of_work() as uow:
            content = digest_for(uow, settings, day=day, tz=tz)
        text, page = render_digest(content, settings.service, printed=True)
        click.echo(page if html else text, nl=False)
        return
    try:
        with app.services.unit_of_work() as uow:
            key = queue_digest(uow, settings, day=day, now=app.services.clock(), tz=tz)
    except InsecureRecipient as exc:
        raise click.ClickException(f"digest not sent: {exc}") from exc
    if key is None:
        click.echo(f"The digest for {long_date(day)} was queued already; nothing sent again.")
        return
    sent = send_outbox(app.services)
    click.echo(f"Digest for {long_date(day)} queued for {', '.join(settings.service.team_addresses)}.")
    click.echo(sent_line(app, sent))
