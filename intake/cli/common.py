"""What every command module shares: the settings and app, built when a command first asks for them.

Nothing slow is imported here or at the top of a command module: ``nmss-intake --help`` must not wait for
SQLAlchemy, pdfminer or msal, and ``parse`` needs neither a database nor a mailbox. A command imports what it
uses inside its function.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from config.forms import FormDefinitions
    from config.settings import Settings
    from intake.bootstrap import App
    from intake.outbox import SendReport

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}


class Problems(click.ClickException):
    """Several mistakes, one ``Error:`` line each, exit code 1: how a broken settings file is reported."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)

    def show(self, file: IO[Any] | None = None) -> None:
        for problem in self.problems:
            click.echo(f"Error: {problem}", err=True, file=file)


class Setup:
    """Which settings file the root group was given; the settings and the app are built on first use."""

    def __init__(self, config_file: Path | None, *, dependencies: dict[str, Any] | None = None) -> None:
        self.config_file = config_file
        self.dependencies = dependencies or {}
        self._settings: Settings | None = None
        self._definitions: FormDefinitions | None = None
        self._app: App | None = None

    def settings(self) -> Settings:
        """The settings, read once; a mistake in them ends the command with one line per mistake."""
        if self._settings is None:
            self._settings = read_settings(self.config_file)
            from intake.logs import configure_logging

            configure_logging(self._settings.log_format, self._settings.log_level)
        return self._settings

    def definitions(self) -> FormDefinitions:
        """The form definitions (``forms_dir`` or the packaged ones), checked."""
        if self._definitions is None:
            from config.forms import FormDefinitionError, load_form_definitions

            try:
                self._definitions = load_form_definitions(self.settings().forms_dir)
            except FormDefinitionError as exc:
                raise click.ClickException(f"form definitions: {exc}") from exc
        return self._definitions

    def app(self) -> App:
        """The whole service: database, mailbox and sender, built (not connected) from the settings."""
        if self._app is None:
            from config.triage import TriageRulesError
            from intake.assess import triage_rules
            from intake.bootstrap import bootstrap

            settings = self.settings()
            self.definitions()
            self._app = bootstrap(settings, **self.dependencies)
            try:
                triage_rules(settings.service.triage_file)
            except TriageRulesError as exc:
                raise click.ClickException(f"triage rules: {exc}") from exc
        return self._app


def read_settings(config_file: Path | None) -> Settings:
    """Settings from ``config_file`` (else ``./nmss-intake.toml``) and ``NMSS_…``, or a one-line-per-mistake exit."""
    import pydantic_settings

    from config.settings import ConfigFileMissing, SettingsError, load_settings

    try:
        return load_settings(config_file)
    except ConfigFileMissing as exc:
        raise click.ClickException(str(exc)) from exc
    except SettingsError as exc:
        if isinstance(exc.__cause__, pydantic_settings.SettingsError):
            # An NMSS_ variable that should hold JSON: name it, never echo its value (it may be a secret).
            from intake.cli.failures import settings_variables

            raise click.ClickException(settings_variables(exc.__cause__, os.environ)) from exc
        raise Problems(exc.problems) from exc


def setup_of(ctx: click.Context) -> Setup:
    setup = ctx.find_object(Setup)
    if setup is None:
        raise click.ClickException("internal error: no settings")  # pragma: no cover - set up by the group
    return setup


def app_of(ctx: click.Context) -> App:
    return setup_of(ctx).app()


def upgraded_app_of(ctx: click.Context) -> App:
    """The app, its database brought to the newest schema first: how every command that uses the database
    starts, so that none needs ``db upgrade`` run before it."""
    from intake.migrate import upgrade

    app = app_of(ctx)
    upgrade(app.engine)
    return app


def date_option(function: Any) -> Any:
    return click.option(
        "--today",
        type=click.DateTime(formats=["%Y-%m-%d"]),
        help="Judge dates as of this day, YYYY-MM-DD (default: today in the service's timezone).",
    )(function)


def day_of(settings: Settings, given: dt.datetime | None) -> dt.date:
    """The day to judge dates by: the ``--today`` given, else today where the team works."""
    if given is not None:
        return given.date()
    from zoneinfo import ZoneInfo

    return dt.datetime.now(ZoneInfo(settings.service.timezone)).date()


def sent_line(app: App, report: SendReport) -> str:
    """What the outbox worker did, in words true to the sender: the file outbox writes files, it sends nothing."""
    from notifier.senders.outbox import FileOutbox

    if not isinstance(app.sender, FileOutbox):
        return report.summary()
    line = f"Wrote {report.sent} email(s) to {app.settings.outgoing.outbox_path}; nothing was sent"
    line += ' (outgoing.kind is "outbox")'
    if report.deferred:
        line += f"; {report.deferred} will be retried"
    if report.failed:
        line += f"; {report.failed} could not be written and became team tasks"
    return line + "."
