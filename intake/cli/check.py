"""``check``: what the service would do with each email, with no side effects."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from intake.cli.common import Problems, app_of, date_option, day_of

if TYPE_CHECKING:
    from intake.pipeline import Checked


@click.command()
@click.argument("messages", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array, one object per message.")
@date_option
@click.pass_context
def check(ctx: click.Context, messages: Sequence[Path], as_json: bool, today: dt.datetime | None) -> None:
    """Decide what the service would do with each email in MESSAGES (.eml), with no side effects.

    \b
    Example:
        nmss-intake check referral.eml --json
    """
    from parsers.sniff import DESCRIPTIONS, file_kind

    kinds = {path: file_kind(_head(path)) for path in messages}
    # A form given where an email is wanted would be decided as a message with no text and one attachment,
    # which answers a question nobody asked; say what the file is instead, before deciding anything.
    wrong = [path for path, kind in kinds.items() if kind != "email"]
    if wrong:
        raise Problems(
            [
                f"{path} is {DESCRIPTIONS[kinds[path]]}, not an email: check takes saved emails (.eml)"
                + (f"; to read a form, use `nmss-intake parse {path}`" if kinds[path] in ("pdf", "zip") else "")
                for path in wrong
            ]
        )
    from intake.pipeline import check_submission
    from rules.words import team_sentence

    app = app_of(ctx)
    day = day_of(app.settings, today)
    received = dt.datetime.combine(day, dt.time(12), tzinfo=app.services.timezone)
    results = [
        checked_json(str(path), check_submission(path.read_bytes(), app.services, received_at=received, today=day))
        for path in messages
    ]
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
        for action in result["tasks"]:
            click.echo(f"  for the team: {action}")


def checked_json(file: str, checked: Checked) -> dict[str, Any]:
    """What ``check --json`` prints for one email: the decision ``run`` would make, as JSON values."""
    decision = checked.decision
    outcome = decision.outcome
    entry = decision.queue
    return {
        "file": file,
        "message_id": checked.mail.message_id,
        "outcome": decision.kind,
        "forms": list(decision.forms),
        "problems": [
            {"form": p.form, "field": p.field, "label": p.label, "code": p.code}
            for p in (outcome.problems if outcome else ())
        ],
        "reply": decision.reply is not None,
        "reference": decision.reference,
        "reasons": list(outcome.reasons) if outcome else [],
        "suppressed": decision.held_back,
        "triage": {"priority": entry.priority, "flags": list(entry.flags)} if entry and entry.priority else None,
        "eligibility": list(outcome.eligibility) if outcome and entry else [],
        "warnings": list(outcome.warnings) if outcome else [],
        "tasks": [task.action for task in decision.tasks],
    }


def _head(path: Path) -> bytes:
    with path.open("rb") as stream:
        return stream.read(64 * 1024)
