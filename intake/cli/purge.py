"""``purge``: remove what the retention settings say is kept long enough (UK GDPR storage limitation)."""

from __future__ import annotations

import click

from intake.cli.common import upgraded_app_of

LABELS = {
    "message_copies": "copies of incoming messages",
    "form_fields": "forms' patient details",
    "referral_details": "referrals' patient details",
    "sent_emails": "sent emails",
}


@click.command()
@click.option("--dry-run", is_flag=True, help="Print what would be purged (counts only) and change nothing.")
@click.pass_context
def purge(ctx: click.Context, dry_run: bool) -> None:
    """Purge what the [retention] settings make due today; the daemon does this once a day by itself.

    Only what is no longer open goes: never a referral not yet closed, a message with a team task open or an
    email not yet sent. Prints counts only; each purge is an audit row.

    \b
    Example:
        nmss-intake purge --dry-run
    """
    from intake.bootstrap import retention_periods
    from intake.commands import purge as purge_due

    app = upgraded_app_of(ctx)
    retention = app.settings.retention
    with app.services.unit_of_work() as uow:
        plan = purge_due(
            uow,
            retention_periods(app.settings),
            today=app.services.today(),
            now=app.services.clock(),
            tz=app.services.timezone,
            dry_run=dry_run,
        )
    counts = plan.counts()
    if not plan:
        click.echo(
            f"Nothing is due for purging (copies after {retention.copies_days} days, "
            f"patient details after {retention.patient_days} days)."
        )
        return
    click.echo("Would purge:" if dry_run else "Purged:")
    for key, count in counts.items():
        click.echo(f"  {count:>6}  {LABELS[key]}")
    if dry_run:
        click.echo("Nothing was changed (--dry-run).")
