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
from config.triage import TriageRulesError
from intake.assess import assess, triage_rules
from intake.bootstrap import App, bootstrap, poller_lock, today
from intake.daemon import run_daemon
from intake.digest import gather_digest, queue_digest
from intake.errors import IntakeError
from intake.followups import due_calls, mark_done, record_assessment
from intake.health import health_report, take_and_record
from intake.isolation import default_pool
from intake.logs import configure_logging
from intake.migrate import upgrade
from intake.outbox import SendReport
from intake.pipeline import Taken, send_outbox
from intake.practices import PracticeFileError, import_practices, known_for_check
from intake.replay import quarantined
from intake.replay import replay as replay_message
from intake.store import OutboxRecord, ReferralRecord
from notifier.digest import InsecureRecipient, long_date, render_digest
from parsers.types import Document, Form, Value
from rules.checks import form_problems
from rules.words import team_sentence

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
    try:
        triage_rules(settings.service.triage_file)
    except TriageRulesError as exc:
        raise click.ClickException(f"triage rules: {exc}") from exc


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
@click.option(
    "--explain",
    is_flag=True,
    help="For each field, say where it was found (page, label matched) and which labels were looked for.",
)
@_date_option
@click.pass_context
def parse(ctx: click.Context, files: Sequence[Path], as_json: bool, explain: bool, today: dt.datetime | None) -> None:
    """Read form fields from FILES (PDF or Word .docx) and say what is missing or invalid.

    With --explain, list every field of the form: the page and label it was found by, or the labels (from
    config/forms/) that were looked for and not found — how to fit the configuration to a real template.

    \b
    Example:
        nmss-intake parse "Form 2.pdf" --json
        nmss-intake parse "Form 2.docx" --explain
    """
    app = _app(ctx)
    day = today.date() if today else _today(app)
    results = []
    for path in files:
        # In a worker with the time and memory limits, as the service parses: a hostile file cannot hang `parse`.
        document = default_pool(app.services.limits).parse(
            path.read_bytes(), path.name, app.services.definitions, today=day
        )
        result = _document_json(str(path), document, app, day)
        if explain:
            result["explain"] = _explain(document, app)
        results.append(result)
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
        for item in result.get("explain", []):
            click.echo(f"  {_explain_line(item)}")


def _explain(document: Document, app: App) -> list[dict[str, Any]]:
    """Per field of the form, in printed order: where it was found, and the labels looked for but not found."""
    if not isinstance(document, Form):
        return []
    found = {f.key: f for f in document.found}
    items = []
    for field in app.services.definitions[document.kind].fields:
        where = found.get(field.key)
        items.append(
            {
                "field": field.key,
                "found": {"page": where.page, "label": where.label} if where else None,
                "has_value": field.key in document.fields,
                "looked_for": [label for label in field.labels if where is None or label != where.label],
            }
        )
    return items


def _explain_line(item: dict[str, Any]) -> str:
    found = item["found"]
    if found is None:
        return f"{item['field']}: not found; looked for " + ", ".join(f'"{label}"' for label in item["looked_for"])
    value = "" if item["has_value"] else ", nothing written"
    return f'{item["field"]}: page {found["page"]}, label "{found["label"]}"{value}'


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
    practices, open_referrals = known_for_check(app.engine)
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
            practices=practices,
            open_referrals=open_referrals,
        )
        outcome = assessment.outcome
        queued = outcome.kind in ("accepted", "review")
        triaged = assessment.triage
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
                "triage": {"priority": triaged.priority, "flags": list(triaged.flags)} if triaged else None,
                "eligibility": list(outcome.eligibility) if queued else [],
                "warnings": list(outcome.warnings),
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
        if result["triage"]:
            click.echo(f"  priority {result['triage']['priority']}")
        for code in [*(result["triage"] or {}).get("flags", []), *result["reasons"], *result["warnings"]]:
            click.echo(f"  {code}: {team_sentence(code)}")


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
            taken = take_and_record(app.mailbox, app.services, app.settings)
            sent = send_outbox(app.services)
    except IntakeError as exc:
        raise click.ClickException(str(exc)) from exc
    _report(app, taken, sent)


def _report(app: App, taken: Sequence[Taken], sent: SendReport) -> None:
    if not taken:
        click.echo(f"Nothing new in mailbox {app.mailbox.name}.")
    else:
        click.echo(f"Took {len(taken)} message(s) from mailbox {app.mailbox.name}:")
        for item in taken:
            forms = ", ".join(item.forms) or "no forms"
            click.echo(f"  {item.reference}  {item.outcome:<17} {forms:<20} filed in {item.folder}")
            if item.reply_key:
                click.echo(f"  {'':<{len(item.reference)}}  reply written to {app.reply_location(item.reply_key)}")
    if sent:
        click.echo(sent.summary())


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
            "warnings": json.loads(row.warnings_json),
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
        detail = ", ".join(item["flags"] + item["reasons"] + item["warnings"]) or "-"
        click.echo(
            f"{item['reference']}  {item['kind']:<16} {item['status']:<7} {item['priority'] or '-':<8} "
            f"{item['nhs_number'] or '-':<10}  {detail}"
        )


# -- practices -----------------------------------------------------------------------------------------------


@cli.group()
def practices() -> None:
    """The service's list of GP practices, from NHS England's ODS epraccur file."""


@practices.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--commissioner",
    "commissioners",
    multiple=True,
    help="Sub-ICB location code whose practices to keep, e.g. 26A; repeat for more "
    "(default: the settings' service.eligibility.commissioners).",
)
@click.pass_context
def practices_import(ctx: click.Context, file: Path, commissioners: Sequence[str]) -> None:
    """Replace the practice list with the practices in FILE (epraccur CSV) of the given commissioners.

    Until a list is imported the GP practice check is skipped, with a warning on every referral.

    \b
    Example:
        nmss-intake practices import epraccur.csv --commissioner 26A
    """
    app = _app(ctx)
    upgrade(app.engine)
    codes = list(commissioners) or app.settings.service.eligibility.commissioners
    try:
        report = import_practices(app.engine, file, codes, app.services.clock())
    except PracticeFileError as exc:
        raise click.ClickException(f"{file.name}: {exc}") from exc
    statuses = ", ".join(f"{report.kept[s]} {name}" for s, name in _STATUS_NAMES.items() if report.kept[s])
    click.echo(
        f"Imported {report.total} practice(s) for {', '.join(sorted(c.upper() for c in codes))} ({statuses}); "
        f"left out {report.other_commissioners} of other commissioners."
    )


_STATUS_NAMES = {"A": "active", "C": "closed", "D": "dormant", "P": "proposed"}


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


@samples.command("practices")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def samples_practices(file: Path) -> None:
    """Write the sample GP practices as an NHS ODS epraccur file, ready for `practices import`.

    \b
    Example:
        nmss-intake samples practices var/epraccur.csv
        nmss-intake practices import var/epraccur.csv --commissioner 26A
    """
    from samples.practices import epraccur_csv

    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(epraccur_csv(), encoding="utf-8", newline="")
    click.echo(f"Wrote the sample practices (commissioner 26A is Norfolk) to {file}.")


# -- status and replay (issue 5) -----------------------------------------------------------------------------


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Show each mailbox's health, the outbox and the quarantined messages (ids, codes and times only).

    Per mailbox: the last successful poll, the last error and when, failures in a row, the backlog (messages
    taken but not yet filed) and when the access token expires.

    \b
    Example:
        nmss-intake status --json
    """
    app = _app(ctx)
    upgrade(app.engine)
    mailboxes = health_report(app.engine, [app.mailbox.name])
    waiting = quarantined(app.services)
    with Session(app.engine) as session:
        pending = len(session.exec(select(OutboxRecord.id).where(OutboxRecord.state == "pending")).all())
    if as_json:
        click.echo(
            json.dumps(
                {
                    "mailboxes": [m.as_json() for m in mailboxes],
                    "outbox_pending": pending,
                    "quarantined": [
                        {
                            "id": message.id,
                            "reference": message.reference,
                            "mailbox": message.source,
                            "error": record.error,
                            "at": record.at.isoformat(),
                        }
                        for message, record in waiting
                    ],
                },
                indent=2,
            )
        )
        return
    for health in mailboxes:
        click.echo(f"Mailbox {health.name}")
        click.echo(f"  last successful poll  {_when(health.last_success_at)}")
        error = f"{health.last_error} at {_when(health.last_error_at)}" if health.last_error else "none"
        click.echo(f"  last error            {error}")
        alerted = " (the team has been emailed)" if health.alerted else ""
        click.echo(f"  failures in a row     {health.consecutive_failures}{alerted}")
        click.echo(f"  backlog               {health.backlog} message(s) taken but not yet filed")
        click.echo(f"  token expires         {_when(health.token_expires_at)}")
    click.echo(f"Outbox: {pending} email(s) waiting to be sent.")
    if not waiting:
        click.echo("No message is quarantined.")
        return
    click.echo(f"Quarantined: {len(waiting)} message(s); try one again with `nmss-intake replay ID`:")
    for message, record in waiting:
        click.echo(f"  {message.id:<6} {message.reference}  {message.source:<12} {record.error:<24} {_when(record.at)}")


def _when(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "never"


@cli.command()
@click.argument("ledger_id", metavar="ID", type=int)
@click.pass_context
def replay(ctx: click.Context, ledger_id: int) -> None:
    """Process quarantined message ID again from its stored bytes (ID as `nmss-intake status` lists it).

    Safe beside a running daemon: only a message still quarantined is taken, and only once.

    \b
    Example:
        nmss-intake replay 12
    """
    app = _app(ctx)
    upgrade(app.engine)
    try:
        taken = replay_message(ledger_id, app.mailbox, app.services)
        sent = send_outbox(app.services)
    except IntakeError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Replayed message {ledger_id}: {taken.outcome}, filed in {taken.folder}.")
    if taken.reply_key:
        click.echo(f"  reply written to {app.reply_location(taken.reply_key)}")
    if sent:
        click.echo(sent.summary())


# -- home assessments, follow-up calls and the digest (issue 6B) ----------------------------------------------


@referrals.command("assessed")
@click.argument("reference")
@click.option(
    "--date",
    "assessed_on",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Day of the home assessment, YYYY-MM-DD (default: today in Europe/London).",
)
@click.pass_context
def referrals_assessed(ctx: click.Context, reference: str, assessed_on: dt.datetime | None) -> None:
    """Record the home assessment of referral REFERENCE and schedule its follow-up calls.

    The calls fall due 6 weeks, 6 months and 12 months later, moved off weekends and bank holidays.
    Recording a different date moves the calls not yet made; the referral leaves the digest's queue.

    \b
    Example:
        nmss-intake referrals assessed NMSS-7K3QX9PA --date 2026-11-30
    """
    app = _app(ctx)
    upgrade(app.engine)
    day = _today(app)
    try:
        done = record_assessment(
            app.engine, reference, assessed_on.date() if assessed_on else day, today=day, now=app.services.clock()
        )
    except IntakeError as exc:
        raise click.ClickException(str(exc)) from exc
    if done.previous == done.assessed_on:
        click.echo(f"{done.reference}: the home assessment on {long_date(done.assessed_on)} was recorded already.")
    elif done.previous is not None:
        moved = f"from {long_date(done.previous)} to {long_date(done.assessed_on)}"
        click.echo(f"{done.reference}: home assessment moved {moved}.")
    else:
        click.echo(f"{done.reference}: home assessment recorded on {long_date(done.assessed_on)}.")
    click.echo("Follow-up calls due:")
    for call in done.calls:
        click.echo(f"  {call.label:<10} {long_date(call.due)}")


@cli.group()
def followups() -> None:
    """Follow-up calls at 6 weeks, 6 months and 12 months after a home assessment."""


@followups.command("due")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@_date_option
@click.pass_context
def followups_due(ctx: click.Context, as_json: bool, today: dt.datetime | None) -> None:
    """List the follow-up calls due today or overdue and not yet made, most overdue first.

    \b
    Example:
        nmss-intake followups due --json
    """
    app = _app(ctx)
    upgrade(app.engine)
    day = today.date() if today else _today(app)
    calls = due_calls(app.engine, day)
    items = [
        {
            "id": call.followup_id,
            "reference": call.reference,
            "kind": call.kind,
            "call": call.label,
            "due": call.due.isoformat(),
            "overdue_working_days": call.overdue_working_days,
            "nhs_number": call.patient.nhs_number,
            "surname": call.patient.surname,
            "forenames": call.patient.forenames,
        }
        for call in calls
    ]
    if as_json:
        click.echo(json.dumps(items, indent=2, ensure_ascii=False))
        return
    if not calls:
        click.echo(f"No follow-up calls are due on {long_date(day)}.")
        return
    for call in calls:
        late = f"{call.overdue_working_days} working day(s) overdue" if call.overdue_working_days else "due today"
        click.echo(
            f"{call.followup_id:>5}  {call.label:<10} {call.reference}  {call.patient.name}  "
            f"NHS {call.patient.nhs_number_spaced}  due {call.due.isoformat()}, {late}"
        )


@followups.command("done")
@click.argument("followup_id", metavar="ID", type=int)
@click.option("--outcome", required=True, help="What the call found or agreed (kept with the call).")
@click.pass_context
def followups_done(ctx: click.Context, followup_id: int, outcome: str) -> None:
    """Record follow-up call ID (as `nmss-intake followups due` lists it) as made, with its outcome.

    \b
    Example:
        nmss-intake followups done 12 --outcome "Managing well with the reminder chart"
    """
    app = _app(ctx)
    upgrade(app.engine)
    if not outcome.strip():
        raise click.BadParameter("must not be empty", param_hint="--outcome")
    try:
        call = mark_done(app.engine, followup_id, outcome, now=app.services.clock())
    except IntakeError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Follow-up call {call.followup_id} ({call.label}, {call.reference}) recorded as made.")


@cli.command()
@click.option("--print", "print_only", is_flag=True, help="Print the digest instead of sending it.")
@click.option("--html", is_flag=True, help="With --print: print the HTML version rather than the text.")
@_date_option
@click.pass_context
def digest(ctx: click.Context, print_only: bool, html: bool, today: dt.datetime | None) -> None:
    """Send the team's digest for today now (once a day at most), or print it with --print.

    The daemon sends it by itself on working days at digest.send_at (08:30 Europe/London by default), to
    service.team_addresses only, and only when each is on a secure domain.

    \b
    Example:
        nmss-intake digest --print
    """
    app = _app(ctx)
    upgrade(app.engine)
    settings = app.settings
    day = today.date() if today else _today(app)
    tz = app.services.timezone
    if print_only:
        gathered = gather_digest(
            app.engine, day, send_at=settings.digest.send_at, tz=tz, incomplete_days=settings.digest.incomplete_days
        )
        text, page = render_digest(gathered, settings.service)
        click.echo(page if html else text, nl=False)
        return
    try:
        key = queue_digest(app.engine, settings, day=day, now=app.services.clock(), tz=tz)
    except InsecureRecipient as exc:
        raise click.ClickException(f"digest not sent: {exc}") from exc
    if key is None:
        click.echo(f"The digest for {long_date(day)} was queued already; nothing sent again.")
        return
    sent = send_outbox(app.services)
    click.echo(f"Digest for {long_date(day)} queued for {', '.join(settings.service.team_addresses)}.")
    click.echo(sent.summary())


# Kept for `python -m intake.cli`.
if __name__ == "__main__":  # pragma: no cover
    main()
