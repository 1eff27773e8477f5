"""``feedsvc serve``: waitress in front of the app, migrations first, clean stop on a signal."""

from __future__ import annotations

import signal
from types import FrameType

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from . import db, site


@click.command("serve", help="Serve feedsvc with waitress (migrates the database first).")
@with_appcontext
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256))
def serve_command(host: str, port: int, threads: int) -> None:
    from waitress import create_server

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    engine = db.get_engine(app)
    db.upgrade(engine)
    site.authority(app)  # records the id authority at first start
    server = create_server(app, host=host, port=port, threads=threads,
                           ident="feedsvc", clear_untrusted_proxy_headers=True)

    def stop(signum: int, frame: FrameType | None) -> None:
        # waitress's run() treats SystemExit as "finish the running requests and stop".
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(f"feedsvc serving on http://{server.effective_host}:{server.effective_port}/"
               f" with {threads} threads", err=True)
    try:
        server.run()  # closes the server itself on SystemExit
    finally:
        engine.dispose()
        click.echo("feedsvc stopped", err=True)


def init_app(app: Flask) -> None:
    app.cli.add_command(serve_command)
