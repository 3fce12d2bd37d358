"""``users``: who may sign in to the workspace."""

from __future__ import annotations

import sys

import click

from intake.cli.common import app_of, upgraded_app_of

ROLES = ("team", "admin")
"""As ``intake.accounts.ROLES``, repeated here so that ``--help`` does not import the database layer."""


@click.group()
def users() -> None:
    """The workspace's accounts."""


@users.command("add")
@click.argument("email")
@click.option(
    "--role", type=click.Choice(ROLES), required=True, help="team: patients' referrals; admin: also the service."
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read a password from standard input (first line) for a local account; without it the account signs "
    "in with OpenID Connect only.",
)
@click.pass_context
def users_add(ctx: click.Context, email: str, role: str, password_stdin: bool) -> None:
    """Let EMAIL sign in to the workspace with ROLE (or change the role and password of that account).

    \b
    Example:
        nmss-intake users add pharmacist@nhs.net --role team
        printf '%s\\n' "$PASSWORD" | nmss-intake users add admin@example.org --role admin --password-stdin
    """
    from intake.commands import AccountError, add_account
    from intake.migrate import upgrade

    app = app_of(ctx)
    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.ClickException("no password on standard input")
    upgrade(app.engine)
    try:
        with app.services.unit_of_work() as uow:
            created = add_account(uow, email, role, password, by="command line", now=app.services.clock())
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    how = "a password" if password is not None else "OpenID Connect"
    click.echo(f"{'Added' if created else 'Updated'} {email.strip().lower()} ({role}, signs in with {how}).")


@users.command("reset-password")
@click.argument("email")
@click.pass_context
def users_reset_password(ctx: click.Context, email: str) -> None:
    """Give EMAIL, who forgot their password, a new one-time password: printed once, on standard output.

    It works for one sign-in, after which they choose their own; anyone signed in as EMAIL is signed out.
    Accounts that sign in with NHSmail have no password here to reset.

    \b
    Example:
        nmss-intake users reset-password technician@example.org
    """
    from intake.commands import AccountError, reset_password

    app = upgraded_app_of(ctx)
    try:
        with app.services.unit_of_work() as uow:
            reset = reset_password(uow, email, by="command line", now=app.services.clock())
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    # The password alone on standard output, so that it can be piped; what it is for goes to standard error.
    click.echo(
        f"A one-time password for {reset.account.email}, shown only now; it works for one sign-in, "
        "after which they choose their own:",
        err=True,
    )
    click.echo(reset.one_time_password)


@users.command("list")
@click.pass_context
def users_list(ctx: click.Context) -> None:
    """List the accounts, their roles and how each signs in.

    \b
    Example:
        nmss-intake users list
    """
    from intake.views import accounts

    app = upgraded_app_of(ctx)
    with app.services.unit_of_work() as uow:
        found = accounts(uow)
    if not found:
        click.echo("No accounts yet: add one with `nmss-intake users add EMAIL --role admin --password-stdin`.")
    for item in found:
        how = "password" if item.has_password else "OpenID Connect"
        click.echo(f"{item.email:<40} {item.role:<6} {how}{' (disabled)' if item.disabled else ''}")
