"""``check``: what the service would do with each email, with no side effects."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from intake.cli.common import Problems, app_of, date_option, day_of


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
    from intake.assess import assess
    from intake.practices import known_for_check
    from rules.words import team_sentence

    app = app_of(ctx)
    day = day_of(app.settings, today)
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


def _head(path: Path) -> bytes:
    with path.open("rb") as stream:
        return stream.read(64 * 1024)
