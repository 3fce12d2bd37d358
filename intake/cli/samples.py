"""``samples``: sample emails and practices with invented patients, for the demo and for trying things out."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from intake.cli.common import app_of, date_option, day_of


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
    from samples.scenarios import all_scenarios, deliver_to_maildir

    app = app_of(ctx)
    target = into or app.settings.mailbox.path
    day = day_of(app, today)
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
