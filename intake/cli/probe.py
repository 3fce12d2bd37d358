"""``probe``: ask a running daemon (or workspace) whether it is alive or ready, for a container's health check."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import click

from intake.cli.common import setup_of

PROBE_TIMEOUT_SECONDS = 10.0


@click.command()
@click.option("--ready", is_flag=True, help="Ask /readyz (database and mailbox) instead of /healthz (alive).")
@click.option("--port", type=click.IntRange(1, 65535), help="Ask this local port (default: [monitoring] port).")
@click.pass_context
def probe(ctx: click.Context, ready: bool, port: int | None) -> None:
    """Exit 0 when the daemon's /healthz (or /readyz) on this machine answers 200; else one line and exit 1.

    The container image's health check.

    \b
    Example:
        nmss-intake probe --ready
    """
    monitoring = setup_of(ctx).settings().monitoring
    if port is None and not monitoring.enabled:
        raise click.ClickException("monitoring is off ([monitoring] enabled = false): there is nothing to probe")
    path = "/readyz" if ready else "/healthz"
    url = f"http://127.0.0.1:{port or monitoring.port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_SECONDS) as response:
            body = response.read().decode()
    except urllib.error.HTTPError as exc:
        raise click.ClickException(f"{path} answered {exc.code}: {_checks(exc.read().decode())}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise click.ClickException(f"nothing answers on {url} ({reason})") from exc
    click.echo(f"{path}: {_checks(body)}")


def _checks(body: str) -> str:
    """The probe's answer in a line: each check and its result (names of checks and codes, no patient data)."""
    try:
        answer = json.loads(body)
    except ValueError:
        return "not the service's answer"
    checks = answer.get("checks") if isinstance(answer, dict) else None
    if isinstance(checks, dict):
        return ", ".join(f"{name} {result}" for name, result in checks.items())
    return "alive" if isinstance(answer, dict) and answer.get("alive") else "not alive"
