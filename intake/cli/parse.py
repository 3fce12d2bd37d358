"""``parse``: read form fields from files and say what is missing or invalid."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from intake.bootstrap import App
from intake.cli.common import app_of, date_option, day_of
from intake.isolation import default_pool
from parsers.types import Document, Form, Value
from rules.checks import form_problems


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array, one object per file.")
@click.option(
    "--explain",
    is_flag=True,
    help="For each field, say where it was found (page, label matched) and which labels were looked for.",
)
@date_option
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
    app = app_of(ctx)
    day = day_of(app, today)
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
