"""The ``nmss-intake`` command line: a thin shell over the pipeline, the parsers and the store.

Every command reads the same settings (``--config PATH``, else ``./nmss-intake.toml`` when present, then
``NMSS_…`` variables, then the embedded defaults). Errors are one line on stderr with exit code 1.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import structlog
from pydantic import ValidationError
from sqlmodel import Session, select

from config.forms import FormDefinitionError
from config.settings import ConfigFileMissing, load_settings
from intake.assess import assess
from intake.bootstrap import App, bootstrap, poller_lock, today
from intake.daemon import run_daemon
from intake.errors import IntakeError
from intake.logs import configure_logging
from intake.migrate import upgrade
from intake.pipeline import Taken, send_outbox, take_new_mail
from intake.store import ReferralRecord
from parsers import parse_document
from parsers.types import Document, Form, Value
from rules.checks import form_problems

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}

log = structlog.get_logger("intake.cli")


def _app(ctx: click.Context) -> App:
    app = ctx.find_object(App)
    if app is None:
        raise click.ClickException("internal error: no app")  # pragma: no cover - set up by the group
    return app


def _date_option(function: Any) -> Any:
    return click.option(
        "--today",
        type=click.DateTime(formats=["%Y-%m-%d"]),
        help="Judge dates as of this day, YYYY-MM-DD (default: today in Europe/London).",
    )(function)


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
    configure_logging(settings.log_format, settings.log_level)
    try:
        ctx.obj = bootstrap(settings)
    except FormDefinitionError as exc:
        raise click.ClickException(f"form definitions: {exc}") from exc


def main() -> None:
    """Entry point of the console script."""
    try:
        cli(standalone_mode=True)
    except IntakeError as exc:  # pragma: no cover - click handles ClickException itself
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)


# -- parse ---------------------------------------------------------------------------------------------------


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array, one object per file.")
@_date_option
@click.pass_context
def parse(ctx: click.Context, files: Sequence[Path], as_json: bool, today: dt.datetime | None) -> None:
    """Read form fields from FILES (PDF) and say what is missing or invalid.

    \b
    Example:
        nmss-intake parse "Form 2.pdf" --json
    """
    app = _app(ctx)
    day = today.date() if today else _today(app)
    results = []
    for path in files:
        document = parse_document(path.read_bytes(), path.name, app.services.definitions, today=day)
        results.append(_document_json(str(path), document, app, day))
    if as_json:
        click.echo(json.dumps(results, indent=2, ensure_ascii=False))
        return
    for result in results:
        form = result["form"] or "no form"
        status = result["problem"] or f"{len(result['fields'])} fields"
        click.echo(f"{result['file']}: {form}, {status}")
        for key in result["missing"]:
            click.echo(f"  missing: {key}")
        for item in result["invalid"]:
            click.echo(f"  invalid: {item['field']} ({item['code']})")


def _today(app: App) -> dt.date:
    return today(app)


def _document_json(file: str, document: Document, app: App, day: dt.date) -> dict[str, Any]:
    if not isinstance(document, Form):
        return {
            "file": file,
            "form": document.kind,
            "readable": document.readable,
            "problem": document.problem,
            "fields": {},
            "missing": [],
            "invalid": [],
        }
    problems = form_problems(document, app.services.definitions[document.kind], day)
    return {
        "file": file,
        "form": document.kind,
        "readable": True,
        "problem": None,
        "fields": {key: _json_value(value) for key, value in document.fields.items()},
        "missing": [p.field for p in problems if p.code == "missing"],
        "invalid": [{"field": p.field, "code": p.code} for p in problems if p.code != "missing"],
    }


def _json_value(value: Value) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


# -- check ---------------------------------------------------------------------------------------------------


@cli.command()
@click.argument("messages", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array, one object per message.")
@_date_option
@click.pass_context
def check(ctx: click.Context, messages: Sequence[Path], as_json: bool, today: dt.datetime | None) -> None:
    """Decide what the service would do with each email in MESSAGES (.eml), with no side effects.

    \b
    Example:
        nmss-intake check referral.eml --json
    """
    app = _app(ctx)
    day = today.date() if today else _today(app)
    results: list[dict[str, Any]] = []
    for path in messages:
        raw = path.read_bytes()
        received = dt.datetime.combine(day, dt.time(12), tzinfo=app.services.timezone)
        assessment = assess(
            raw,
            definitions=app.services.definitions,
            service=app.services.service,
            limits=app.services.limits,
            received_at=received,
            today=day,
        )
        outcome = assessment.outcome
        results.append(
            {
                "file": str(path),
                "message_id": assessment.mail.message_id,
                "outcome": outcome.kind,
                "forms": list(outcome.forms),
                "problems": [
                    {"form": p.form, "field": p.field, "label": p.label, "code": p.code} for p in outcome.problems
                ],
                "reply": outcome.reply is not None,
                "reference": assessment.reference,
                "reasons": list(outcome.reasons),
                "suppressed": outcome.suppressed,
            }
        )
    if as_json:
        click.echo(json.dumps(results, indent=2, ensure_ascii=False))
        return
    for result in results:
        reply = "reply" if result["reply"] else "no reply"
        click.echo(f"{result['file']}: {result['outcome']} ({', '.join(result['forms']) or 'no forms'}; {reply})")
        for problem in result["problems"]:
            click.echo(f"  {problem['form'] or '-'}: {problem['label']} ({problem['code']})")


# -- run -----------------------------------------------------------------------------------------------------


@cli.command()
@click.option("--once", is_flag=True, help="Process what is waiting, send the outbox, print a report and exit.")
@click.pass_context
def run(ctx: click.Context, once: bool) -> None:
    """Poll the mailbox: once, or as a daemon until SIGTERM or SIGINT.

    \b
    Example:
        nmss-intake run --once
    """
    app = _app(ctx)
    upgrade(app.engine)
    try:
        with poller_lock(app):
            if not once:
                run_daemon(app)
                return
            taken = take_new_mail(app.mailbox, app.services)
            sent, failed = send_outbox(app.services)
    except IntakeError as exc:
        raise click.ClickException(str(exc)) from exc
    _report(app, taken, sent, failed)


def _report(app: App, taken: Sequence[Taken], sent: int, failed: int) -> None:
    if not taken:
        click.echo(f"Nothing new in mailbox {app.mailbox.name}.")
    else:
        click.echo(f"Took {len(taken)} message(s) from mailbox {app.mailbox.name}:")
        for item in taken:
            forms = ", ".join(item.forms) or "no forms"
            click.echo(f"  {item.reference}  {item.outcome:<17} {forms:<20} filed in {item.folder}")
            if item.reply_key:
                click.echo(f"  {'':<{len(item.reference)}}  reply written to {app.reply_location(item.reply_key)}")
    if sent or failed:
        click.echo(f"Sent {sent} email(s)" + (f"; {failed} failed and will be retried." if failed else "."))


# -- referrals -----------------------------------------------------------------------------------------------


@cli.group()
def referrals() -> None:
    """The referral queue."""


@referrals.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.option("--status", type=click.Choice(["new", "review"]), help="Only referrals with this status.")
@click.pass_context
def referrals_list(ctx: click.Context, as_json: bool, status: str | None) -> None:
    """List queued referrals and MAR registrations, most urgent first.

    \b
    Example:
        nmss-intake referrals list --json
    """
    app = _app(ctx)
    upgrade(app.engine)
    order = {"urgent": 0, "soon": 1, "routine": 2, None: 3}
    with Session(app.engine) as session:
        query = select(ReferralRecord)
        if status:
            query = query.where(ReferralRecord.status == status)
        rows = sorted(session.exec(query).all(), key=lambda r: (order.get(r.priority, 3), r.created_at, r.id or 0))
    items = [
        {
            "reference": row.reference,
            "kind": row.kind,
            "status": row.status,
            "priority": row.priority,
            "flags": json.loads(row.flags_json),
            "reasons": json.loads(row.reasons_json),
            "nhs_number": row.nhs_number,
            "surname": row.surname,
            "forenames": row.forenames,
            "date_of_birth": row.date_of_birth.isoformat() if row.date_of_birth else None,
            "created_at": row.created_at.isoformat(),
        }
        for row in rows
    ]
    if as_json:
        click.echo(json.dumps(items, indent=2, ensure_ascii=False))
        return
    if not items:
        click.echo("The queue is empty.")
        return
    for item in items:
        detail = ", ".join(item["flags"] or item["reasons"]) or "-"
        click.echo(
            f"{item['reference']}  {item['kind']:<16} {item['status']:<7} {item['priority'] or '-':<8} "
            f"{item['nhs_number'] or '-':<10}  {detail}"
        )


# -- db ------------------------------------------------------------------------------------------------------


@cli.group()
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
    app = _app(ctx)
    upgrade(app.engine)
    click.echo(f"Database is up to date ({app.engine.url.render_as_string(hide_password=True)}).")


# -- samples -------------------------------------------------------------------------------------------------


@cli.group()
def samples() -> None:
    """Sample referral emails with invented patients, for the demo and for trying the service out."""


@samples.command("deliver")
@click.option("--into", type=click.Path(file_okay=False, path_type=Path), help="Maildir (default: the mailbox's).")
@click.option("--seed", type=int, default=0, show_default=True, help="Which invented patients.")
@_date_option
@click.pass_context
def samples_deliver(ctx: click.Context, into: Path | None, seed: int, today: dt.datetime | None) -> None:
    """Deliver one email of each kind (accepted, incomplete, misrouted…) into a Maildir.

    \b
    Example:
        nmss-intake samples deliver
    """
    from samples.scenarios import all_scenarios, deliver_to_maildir

    app = _app(ctx)
    target = into or app.settings.mailbox.path
    day = today.date() if today else _today(app)
    scenarios = all_scenarios(day, seed=seed)
    deliver_to_maildir(target, scenarios)
    click.echo(f"Delivered {len(scenarios)} sample email(s) into {target}:")
    for scenario in scenarios:
        click.echo(f"  {scenario.name:<26} expect {scenario.expected_outcome}")


# Kept for `python -m intake.cli`.
if __name__ == "__main__":  # pragma: no cover
    main()
