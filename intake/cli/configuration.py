"""``config``: check a settings file before the service runs on it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from intake.cli.common import read_settings, setup_of

if TYPE_CHECKING:
    from config.settings import MailboxSettings, OutgoingSettings, Settings


@click.group()
def config() -> None:
    """The service's settings file."""


@config.command("check")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def config_check(ctx: click.Context, file: Path | None) -> None:
    """Check the settings in FILE (default: --config, else ./nmss-intake.toml) without connecting to anything.

    Every key must be known and every value valid, the mailbox and the sender complete for their kind, the
    database URL readable, and the form definitions and triage rules the file points at valid. Each mistake
    is one line naming the file, the section and the key; the exit status is then 1. NMSS_… variables set
    here apply, as they would to the service.

    \b
    Example:
        nmss-intake config check examples/nhsmail-imap-smtp.toml
    """
    from config.forms import FormDefinitionError, load_form_definitions
    from config.settings import DEFAULT_CONFIG_FILE
    from config.triage import TriageRulesError, load_triage_rules

    path = file or setup_of(ctx).config_file
    if path is None and DEFAULT_CONFIG_FILE.is_file():
        path = DEFAULT_CONFIG_FILE
    settings = read_settings(path)
    problems = []
    database = _database(settings)
    if database is None:
        problems.append(f"{path or 'settings'}: database_url: not a database URL (dialect+driver://…)")
    try:
        load_form_definitions(settings.forms_dir)
    except FormDefinitionError as exc:
        problems.append(f"form definitions: {exc}")
    try:
        load_triage_rules(settings.service.triage_file)
    except TriageRulesError as exc:
        problems.append(f"triage rules: {exc}")
    if problems:
        from intake.cli.common import Problems

        raise Problems(problems)
    click.echo(f"{path or 'The embedded defaults'}: valid.")
    for mailbox in settings.polled_mailboxes:
        named = f" ({mailbox.name})" if settings.mailboxes else ""
        click.echo(f"  mail in    {_mailbox(mailbox)}{named}")
    click.echo(f"  mail out   {_outgoing(settings.outgoing, settings.service.address)}")
    click.echo(f"  database   {database}")
    variables = sorted(name for name in os.environ if name.upper().startswith("NMSS_"))
    if variables:
        click.echo(f"  also from  {', '.join(variables)}")


def _database(settings: Settings) -> str | None:
    """The database URL with its password hidden, or None when it is not a URL SQLAlchemy can read."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(settings.database_url.get_secret_value()).render_as_string(hide_password=True)
    except ArgumentError:
        return None


def _mailbox(mailbox: MailboxSettings) -> str:
    if mailbox.kind == "imap":
        imap = mailbox.imap
        how = f"XOAUTH2 ({imap.oauth.flow})" if imap.auth == "xoauth2" else "password"
        return f"imap {imap.host}:{imap.port} ({imap.security}), {imap.username}, {how}, folder {imap.folder}"
    if mailbox.kind == "graph":
        return f"Microsoft Graph, {mailbox.graph.user}, folder {mailbox.graph.folder}"
    if mailbox.kind == "ews":
        ews = mailbox.ews
        return f"Exchange Web Services {ews.service_endpoint or ews.server}, {ews.address} ({ews.auth})"
    return f"Maildir {mailbox.path}"


def _outgoing(outgoing: OutgoingSettings, service_address: str) -> str:
    if outgoing.kind == "smtp":
        smtp = outgoing.smtp
        who = smtp.username or service_address
        return f"smtp {smtp.host}:{smtp.port} ({smtp.security}), {who}, {smtp.auth}"
    if outgoing.kind == "graph":
        return f"Microsoft Graph sendMail as {outgoing.graph.user or service_address}"
    if outgoing.kind == "ews":
        return f"Exchange Web Services {outgoing.ews.service_endpoint or outgoing.ews.server}"
    return f".eml files written to {outgoing.outbox_path}; nothing is sent"
