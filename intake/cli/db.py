"""``db``: the database schema."""

from __future__ import annotations

import click

from intake.cli.common import upgraded_app_of


@click.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Create the database or bring it to the newest schema (safe to run again).

    \b
    Example:
        nmss-intake db upgrade
    """
    app = upgraded_app_of(ctx)
    click.echo(f"Database is up to date ({app.engine.url.render_as_string(hide_password=True)}).")
