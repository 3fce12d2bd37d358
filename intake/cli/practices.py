"""``practices``: the service's list of GP practices."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from intake.cli.common import upgraded_app_of

_STATUS_NAMES = {"A": "active", "C": "closed", "D": "dormant", "P": "proposed"}


@click.group()
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
    from intake.practices import PracticeFileError, import_practices

    app = upgraded_app_of(ctx)
    codes = list(commissioners) or app.settings.service.eligibility.commissioners
    try:
        with app.services.unit_of_work() as uow:
            report = import_practices(uow, file, codes, app.services.clock())
    except PracticeFileError as exc:
        raise click.ClickException(f"{file.name}: {exc}") from exc
    statuses = ", ".join(f"{report.kept[s]} {name}" for s, name in _STATUS_NAMES.items() if report.kept[s])
    click.echo(
        f"Imported {report.total} practice(s) for {', '.join(sorted(c.upper() for c in codes))} ({statuses}); "
        f"left out {report.other_commissioners} of other commissioners."
    )
