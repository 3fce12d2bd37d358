"""``parse``: read form fields from files and say what is missing or invalid."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from intake.cli.common import Problems, date_option, day_of, setup_of

if TYPE_CHECKING:
    from config.forms import FieldDefinition, FormDefinitions
    from parsers.types import Document, Value

_NO_FORM = {
    "scanned": "a scanned PDF: there is no text to read",
    "encrypted": "protected by a password",
    "corrupt": "cannot be opened (empty or damaged)",
    "too_large": "over the memory limit (limits.parse_memory_mb) while being read",
    "timeout": "took longer to read than limits.parse_timeout_seconds",
}


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

    With --explain, list every field of the form: the page and printed label it was found by (on a fillable
    PDF, the name of the fillable field too), or what was looked for and not found — how to fit the
    configuration (config/forms/) to a real template.

    Exits with status 1, naming each file, when a file holds no form (not a PDF or Word file, none of the
    four forms, scanned, protected or damaged); the other files are still read and printed.

    \b
    Example:
        nmss-intake parse "Form 2.pdf" --json
        nmss-intake parse "Form 2.docx" --explain
    """
    from intake.isolation import default_pool
    from parsers.sniff import DESCRIPTIONS, file_kind
    from parsers.types import Form

    setup = setup_of(ctx)
    settings = setup.settings()
    definitions = setup.definitions()
    day = day_of(settings, today)
    results = []
    no_form = []
    for path in files:
        data = path.read_bytes()
        # In a worker with the time and memory limits, as the service parses: a hostile file cannot hang `parse`.
        document = default_pool(settings.limits).parse(data, path.name, definitions, today=day)
        result = _document_json(str(path), document, definitions, day)
        if explain:
            result["explain"] = _explain(document, definitions)
        results.append(result)
        if not isinstance(document, Form):
            kind = file_kind(data)
            if document.problem in _NO_FORM:
                why = _NO_FORM[document.problem]
            elif kind in ("pdf", "zip"):
                why = "none of the four forms (no form title recognised)"
            else:
                why = f"{DESCRIPTIONS[kind]}: parse reads forms in PDF and Word (.docx) files"
            no_form.append(f"{path}: no form read: {why}")
    if as_json:
        click.echo(json.dumps(results, indent=2, ensure_ascii=False))
    else:
        for result in results:
            _print(result)
    if no_form:
        raise Problems(no_form)


def _print(result: dict[str, Any]) -> None:
    if result["form"] is None or not result["readable"] or result["problem"]:
        click.echo(f"{result['file']}: {result['form'] or 'no form'}, {result['problem']}")
    else:
        counted = result["counts"]
        read = " (read by OCR)" if result["source"] == "ocr" else ""
        click.echo(
            f"{result['file']}: {result['form']}{read}, {counted['filled']} of {counted['fields']} fields filled"
        )
        for key, confidence in result["confidence"].items():
            click.echo(f"  confidence: {key} {confidence:.2f}")
    for key in result["missing"]:
        click.echo(f"  missing: {key}")
    for item in result["invalid"]:
        click.echo(f"  invalid: {item['field']} ({item['code']})")
    for item in result.get("explain", []):
        click.echo(f"  {_explain_line(item)}")


def _explain(document: Document, definitions: FormDefinitions) -> list[dict[str, Any]]:
    """Per field of the form, in printed order: where it was found, and what was looked for but not found.

    A fillable PDF is read by the names of its fields, not by the labels printed beside them, so there the
    printed label is given for the person and the field name for the template.
    """
    from parsers.types import Form

    if not isinstance(document, Form):
        return []
    fillable = document.source == "acroform"
    found = {f.key: f for f in document.found}
    items = []
    for field in definitions[document.kind].fields:
        where = found.get(field.key)
        if where is None:
            place = None
        elif fillable:
            place = {"page": where.page, "label": field.label, "form_field": where.label}
        else:
            place = {"page": where.page, "label": where.label, "form_field": None}
        looked_for = _field_names(field) if fillable else list(field.labels)
        items.append(
            {
                "field": field.key,
                "found": place,
                "has_value": field.key in document.fields,
                "printed_label": field.label,
                "looked_for": [name for name in looked_for if where is None or name != where.label],
            }
        )
    return items


def _field_names(field: FieldDefinition) -> list[str]:
    """The fillable-field names that carry a key (forms-spec.md): ``KEY``, ``KEY.CODE`` per box, ``KEY.yes``/``.no``."""
    if field.type == "checks":
        return [field.key] + [f"{field.key}.{option.code}" for option in field.options]
    if field.type == "yesno":
        return [field.key, f"{field.key}.yes", f"{field.key}.no"]
    return [field.key]


def _explain_line(item: dict[str, Any]) -> str:
    found = item["found"]
    if found is None:
        looked = ", ".join(f'"{name}"' for name in item["looked_for"])
        return f"{item['field']}: not found; looked for {looked}"
    value = "" if item["has_value"] else ", nothing written"
    if found["form_field"] is not None:
        return (
            f'{item["field"]}: page {found["page"]}, fillable field "{found["form_field"]}" '
            f'(printed label "{found["label"]}"){value}'
        )
    return f'{item["field"]}: page {found["page"]}, label "{found["label"]}"{value}'


def _document_json(file: str, document: Document, definitions: FormDefinitions, day: dt.date) -> dict[str, Any]:
    from parsers.types import Form
    from rules.checks import form_problems

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
    definition = definitions[document.kind]
    problems = form_problems(document, definition, day)
    return {
        "file": file,
        "form": document.kind,
        "readable": True,
        "problem": None,
        "fields": {key: _json_value(value) for key, value in document.fields.items()},
        "source": document.source,
        "confidence": dict(document.confidence),
        "counts": {"fields": len(definition.fields), "filled": len(document.fields)},
        "missing": [p.field for p in problems if p.code == "missing"],
        "invalid": [{"field": p.field, "code": p.code} for p in problems if p.code != "missing"],
    }


def _json_value(value: Value) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value
