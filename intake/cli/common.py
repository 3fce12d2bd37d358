"""What every command module shares: the app the root group built, and the ``--today`` option."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from intake.bootstrap import App, today

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}


def app_of(ctx: click.Context) -> App:
    app = ctx.find_object(App)
    if app is None:
        raise click.ClickException("internal error: no app")  # pragma: no cover - set up by the group
    return app


def date_option(function: Any) -> Any:
    return click.option(
        "--today",
        type=click.DateTime(formats=["%Y-%m-%d"]),
        help="Judge dates as of this day, YYYY-MM-DD (default: today in Europe/London).",
    )(function)


def day_of(app: App, given: dt.datetime | None) -> dt.date:
    """The day to judge dates by: the ``--today`` given, else today in the service's timezone."""
    return given.date() if given else today(app)
