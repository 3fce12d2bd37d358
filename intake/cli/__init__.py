"""The ``nmss-intake`` command line: a thin shell over the pipeline, the parsers and the store.

Every command reads the same settings (``--config PATH``, else ``./nmss-intake.toml`` when present, then
``NMSS_…`` variables, then the embedded defaults). Errors are one line on stderr with exit code 1.

One module per command group; this one holds the root group, which hands every command a ``Setup`` that
reads the settings and builds the app when the command first asks.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from intake.cli.check import check
from intake.cli.common import CONTEXT_SETTINGS, Setup
from intake.cli.configuration import config
from intake.cli.db import db
from intake.cli.digest import digest
from intake.cli.followups import followups
from intake.cli.parse import parse
from intake.cli.practices import practices
from intake.cli.probe import probe
from intake.cli.purge import purge
from intake.cli.referrals import referrals
from intake.cli.replay import replay
from intake.cli.run import run
from intake.cli.samples import samples
from intake.cli.status import status
from intake.cli.tasks import tasks
from intake.cli.users import users
from intake.cli.web import web
from intake.errors import IntakeError

__all__ = ["cli", "main"]


@click.group(context_settings=CONTEXT_SETTINGS)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Settings file (default: ./nmss-intake.toml when present).",
)
@click.version_option(package_name="nmss-intake")
@click.pass_context
def cli(ctx: click.Context, config_file: Path | None) -> None:
    """NMSS Intake: reads referral forms from the team's mailbox, checks them, replies and queues referrals."""
    # The settings are read when a command first needs them, not here: `config check` must be able to name
    # the mistakes in a broken file, and `--help` should not wait for the database layer to import.
    # A caller (a test) may hand over dependencies to build the app with, as bootstrap's keywords.
    ctx.obj = Setup(config_file, dependencies=ctx.obj if isinstance(ctx.obj, dict) else None)


for command in (
    parse,
    check,
    run,
    referrals,
    practices,
    db,
    samples,
    status,
    replay,
    purge,
    probe,
    followups,
    digest,
    tasks,
    config,
    users,
    web,
):
    cli.add_command(command)


def main() -> None:
    """Entry point of the console script: what goes wrong around the service (the database, the disk, a
    worker that cannot start) is one line on stderr and exit code 1; a bug keeps its traceback."""
    try:
        cli(standalone_mode=True)
    except IntakeError as exc:
        _fail(str(exc))
    except Exception as exc:
        from intake.cli.failures import describe  # only once something failed: it imports SQLAlchemy

        line = describe(exc)
        if line is None:
            raise
        _fail(line)


def _fail(line: str) -> NoReturn:
    click.echo(f"Error: {line}", err=True)
    sys.exit(1)
