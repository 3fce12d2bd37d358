"""``tasks``: what the team must do by hand — list the open tasks, mark one done with a note."""

from __future__ import annotations

import json

import click

from intake.cli.common import upgraded_app_of
from intake.errors import IntakeError


@click.group()
def tasks() -> None:
    """Team tasks: replies held back, emails that could not be sent, forms nobody could read, mailbox outages."""


@tasks.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.option("--all", "include_resolved", is_flag=True, help="Include the tasks already done.")
@click.pass_context
def tasks_list(ctx: click.Context, as_json: bool, include_resolved: bool) -> None:
    """List the open team tasks, oldest first: the id, the reference and what to do.

    \b
    Example:
        nmss-intake tasks list --json
    """
    from intake.views import tasks as team_tasks

    app = upgraded_app_of(ctx)
    with app.services.unit_of_work() as uow:
        found = team_tasks(uow, include_resolved=include_resolved)
    if as_json:
        click.echo(json.dumps([task.as_json() for task in found], indent=2, ensure_ascii=False))
        return
    if not found:
        click.echo("No task is open." if not include_resolved else "There are no tasks.")
        return
    for task in found:
        done = f"  (done by {task.resolved_by}: {task.note})" if task.resolved_at else ""
        click.echo(f"{task.id:>5}  {task.reference or '-':<13}  {task.action}{done}")


@tasks.command("done")
@click.argument("task_id", metavar="ID", type=int)
@click.option("--note", required=True, help="What was done (kept with the task).")
@click.option("--by", "by", help="Who did it (default: your login name).")
@click.pass_context
def tasks_done(ctx: click.Context, task_id: int, note: str, by: str | None) -> None:
    """Mark task ID (as `nmss-intake tasks list` shows it) done, with a note saying what was done.

    \b
    Example:
        nmss-intake tasks done 3 --note "Replied by hand to the pharmacy"
    """
    import getpass

    from intake.commands import resolve_task

    if not note.strip():
        raise click.BadParameter("must not be empty", param_hint="--note")
    app = upgraded_app_of(ctx)
    try:
        with app.services.unit_of_work() as uow:
            task = resolve_task(uow, task_id, by=by or getpass.getuser(), note=note, now=app.services.clock())
    except IntakeError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Task {task.id} ({task.reference or 'no reference'}) done: {task.action}.")
