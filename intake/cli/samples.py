"""``samples``: sample emails and practices with invented patients, for the demo and for trying things out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import click

from intake.cli.common import date_option, day_of, setup_of

if TYPE_CHECKING:
    from config.forms import FormKind
    from parsers.types import Value


@click.group()
def samples() -> None:
    """Sample referral emails with invented patients, for the demo and for trying the service out."""


@samples.command("deliver")
@click.option("--into", type=click.Path(file_okay=False, path_type=Path), help="Maildir (default: the mailbox's).")
@click.option("--seed", type=int, default=0, show_default=True, help="Which invented patients.")
@date_option
@click.pass_context
def samples_deliver(ctx: click.Context, into: Path | None, seed: int, today: dt.datetime | None) -> None:
    """Deliver one email of each kind (accepted, incomplete, misrouted…) into a Maildir.

    \b
    Example:
        nmss-intake samples deliver
    """
    _require_samples_extra()
    from samples.scenarios import all_scenarios, deliver_to_maildir

    settings = setup_of(ctx).settings()
    target = into or settings.mailbox.path
    day = day_of(settings, today)
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
    from notifier.private_files import private_folder, write_private
    from samples.practices import epraccur_csv

    # Public data, but it lands in var/ beside the patients' data, where every file is private.
    write_private(private_folder(file.parent, kind="state", shared=True) / file.name, epraccur_csv().encode())
    click.echo(f"Wrote the sample practices (commissioner 26A is Norfolk) to {file}.")


@samples.command("forms")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", type=int, default=0, show_default=True, help="Which invented patient.")
@date_option
@click.pass_context
def samples_forms(ctx: click.Context, directory: Path, seed: int, today: dt.datetime | None) -> None:
    """Write sample forms for one invented patient into DIRECTORY, to try `parse` on.

    Each of the four forms as a fillable PDF, Form 1 with required fields left empty, and Form 2 as a
    printed (flat) PDF and as a Word file: the kinds of file referrers send.

    \b
    Example:
        nmss-intake samples forms var/forms
        nmss-intake parse var/forms/*.pdf var/forms/*.docx --explain
    """
    _require_samples_extra()
    from notifier.private_files import private_folder, write_private
    from samples.forms import complete_values, fillable_pdf
    from samples.people import patient

    settings = setup_of(ctx).settings()
    day = day_of(settings, today)
    person = patient(seed, today=day)
    kinds: tuple[FormKind, ...] = ("form1", "form2", "miat", "mar")
    values = {kind: complete_values(kind, person, today=day, seed=seed) for kind in kinds}
    unfinished = {key: value for key, value in values["form1"].items() if key not in ("patient.dob", "description")}
    files: list[tuple[str, Callable[[], bytes], str]] = [
        *((f"{_NAMES[kind]}.pdf", partial(fillable_pdf, kind, values[kind]), f"{kind}, complete") for kind in kinds),
        (
            "Form 1 incomplete.pdf",
            partial(fillable_pdf, "form1", unfinished),
            "form1, date of birth and description missing",
        ),
        ("Form 2 printed.pdf", partial(_flat, "form2", values["form2"]), "form2, from the text of a flat PDF"),
        ("Form 2.docx", partial(_word, "form2", values["form2"]), "form2, from a Word document"),
    ]
    # Invented patients, but forms like these hold real ones: they are written as private as the service's own.
    private_folder(directory, kind="state", shared=True)
    click.echo(
        f"Writing {len(files)} sample forms (an invented patient, NHS number {person.nhs_number}) to {directory}:"
    )
    for name, build, expect in files:
        write_private(directory / name, build())
        click.echo(f"  {name:<28} {expect}")


_NAMES = {"form1": "Form 1", "form2": "Form 2", "miat": "MIAT", "mar": "MAR chart registration"}


def _flat(kind: FormKind, values: Mapping[str, Value]) -> bytes:
    from samples.flat import flat_pdf

    return flat_pdf(kind, values)


def _word(kind: FormKind, values: Mapping[str, Value]) -> bytes:
    from samples.wordfile import word_document

    return word_document(kind, values)


def _require_samples_extra() -> None:
    """The sample builders draw PDFs with reportlab and pypdf, which only the ``samples`` extra installs."""
    import importlib.util

    missing = [name for name in ("reportlab", "pypdf") if importlib.util.find_spec(name) is None]
    if missing:
        raise click.ClickException(f"the samples need {' and '.join(missing)}: pip install 'nmss-intake[samples]'")
