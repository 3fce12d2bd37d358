"""``web``: the team's workspace, served on the same settings and database as the daemon."""

from __future__ import annotations

import click

from intake.cli.common import upgraded_app_of


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Port to listen on.")
@click.pass_context
def web(ctx: click.Context, host: str, port: int) -> None:
    """Serve the team's workspace until stopped (Ctrl-C or SIGTERM).

    Behind a reverse proxy that ends TLS, listen on 127.0.0.1 and forward to it. Add the first account with
    `nmss-intake users add EMAIL --role admin --password-stdin`.

    \b
    Example:
        nmss-intake web --port 8000
    """
    import uvicorn  # imported here: no other command needs the web server

    from intake.web import create_app

    app = upgraded_app_of(ctx)
    workspace = create_app(app)
    click.echo(f"The workspace is at http://{host}:{port}/ (Ctrl-C stops it).")
    # log_config=None: uvicorn's records go through the service's logging, which keeps their text out.
    uvicorn.run(workspace, host=host, port=port, log_config=None, access_log=False, proxy_headers=True)
