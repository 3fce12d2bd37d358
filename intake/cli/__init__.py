"""The ``nmss-intake`` command line: a thin shell over the pipeline, the parsers and the store.

Every command reads the same settings (``--config PATH``, else ``./nmss-intake.toml`` when present, then
``NMSS_…`` variables, then the embedded defaults). Errors are one line on stderr with exit code 1.

One module per command group; this one holds the root group, which loads the settings and builds the app
every command is given.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

import click
from pydantic import ValidationError
from pydantic_settings import SettingsError

from config.forms import FormDefinitionError
from config.settings import ConfigFileMissing, load_settings
from config.triage import TriageRulesError
from intake.assess import triage_rules
from intake.bootstrap import bootstrap
from intake.cli.check import check
from intake.cli.common import CONTEXT_SETTINGS
from intake.cli.db import db
from intake.cli.digest import digest
from intake.cli.failures import describe, settings_variables
from intake.cli.followups import followups
from intake.cli.parse import parse
from intake.cli.practices import practices
from intake.cli.referrals import referrals
from intake.cli.replay import replay
from intake.cli.run import run
from intake.cli.samples import samples
from intake.cli.status import status
from intake.errors import IntakeError
from intake.logs import configure_logging

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
    try:
        settings = load_settings(config_file)
    except ConfigFileMissing as exc:
        raise click.ClickException(str(exc)) from exc
    except ValidationError as exc:
        raise click.ClickException(
            f"invalid settings: {exc.error_count()} error(s): "
            + "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        ) from exc
    except SettingsError as exc:  # an NMSS_ variable that should hold JSON and does not
        raise click.ClickException(settings_variables(exc, os.environ)) from exc
    configure_logging(settings.log_format, settings.log_level)
    try:
        ctx.obj = bootstrap(settings)
    except FormDefinitionError as exc:
        raise click.ClickException(f"form definitions: {exc}") from exc
    try:
        triage_rules(settings.service.triage_file)
    except TriageRulesError as exc:
        raise click.ClickException(f"triage rules: {exc}") from exc


for command in (parse, check, run, referrals, practices, db, samples, status, replay, followups, digest):
    cli.add_command(command)


def main() -> None:
    """Entry point of the console script: what goes wrong around the service (the database, the disk, a
    worker that cannot start) is one line on stderr and exit code 1; a bug keeps its traceback."""
    try:
        cli(standalone_mode=True)
    except IntakeError as exc:
        _fail(str(exc))
    except Exception as exc:
        line = describe(exc)
        if line is None:
            raise
        _fail(line)


def _fail(line: str) -> NoReturn:
    click.echo(f"Error: {line}", err=True)
    sys.exit(1)
