"""``feedsvc serve``: waitress in front of the app, migrations first, clean stop on a signal."""

from __future__ import annotations

import json
import logging
import resource
import signal
from types import FrameType
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from waitress import create_server
from waitress.channel import HTTPChannel
from waitress.task import ErrorTask, WSGITask

from . import cache, db, site, worker


@click.command("serve", help="Serve feedsvc with waitress (migrates the database first).")
@with_appcontext
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256))
@click.option("--no-worker", is_flag=True,
              help="Run no WebSub delivery worker in this process (run `feedsvc worker`).")
def serve_command(host: str, port: int, threads: int, no_worker: bool) -> None:

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    engine = db.get_engine(app)
    db.upgrade(engine)
    site.authority(app)  # records the id authority at first start
    server = make_server(app, host, port, threads)

    def stop(signum: int, frame: FrameType | None) -> None:
        # waitress's run() treats SystemExit as "finish the running requests and stop".
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if app.config["BASE_URL"] is None:
        click.echo("feedsvc: BASE_URL is not set, so links follow each request's Host header and "
                   "every Host name gets documents and validators of its own; set it in production",
                   err=True)
    running = None if no_worker else worker.Running(app)
    click.echo(f"feedsvc serving on http://{server.effective_host}:{server.effective_port}/"
               f" with {threads} threads" + ("" if no_worker else " and a WebSub worker"), err=True)
    try:
        server.run()  # closes the server itself on SystemExit
    finally:
        if running is not None:
            running.stop()
        cache.get_cache(app).close()
        engine.dispose()
        click.echo("feedsvc stopped", err=True)


class KeepAliveTask(WSGITask):  # type: ignore[misc]
    """waitress's task, except that a 304, 204 or 1xx keeps an HTTP/1.1 connection open.

    waitress 3.0 closes the connection after every response without a Content-Length, and a
    304 never has one (RFC 9110 8.6 forbids it a body), so every revalidating poller paid for
    a new TCP connection. Such a response needs no length to be delimited (RFC 9112 6.3), so
    closing is only right when the client asked for it.
    """

    def build_response_header(self) -> bytes:
        closing: bool = self.close_on_finish  # type: ignore[has-type]
        keep = (not self.has_body and self.version == "1.1" and not closing
                and self.request.headers.get("CONNECTION", "").lower() != "close")
        if keep:
            self.close_on_finish = True  # makes waitress skip adding "Connection: close"
        try:
            return super().build_response_header()  # type: ignore[no-any-return]
        finally:
            if keep:
                self.close_on_finish = False


class ProblemErrorTask(ErrorTask):  # type: ignore[misc]
    """waitress's own refusals (a body over MAX_BODY, a malformed request) as problem+json."""

    def execute(self) -> None:
        error = self.request.error
        body = json.dumps({"type": "about:blank", "title": error.reason, "status": error.code,
                           "detail": str(error.body)}).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.extend([("Content-Type", "application/problem+json"),
                                      ("X-Content-Type-Options", "nosniff")])
        self.set_close_on_finish()  # the rest of a refused body is never read
        self.content_length = len(body)
        self.write(body)


class KeepAliveChannel(HTTPChannel):  # type: ignore[misc]
    task_class = KeepAliveTask
    error_task_class = ProblemErrorTask


def make_server(app: Flask, host: str, port: int, threads: int) -> Any:
    """A waitress server for ``app`` with feedsvc's settings and keep-alive after a 304.

    waitress refuses a body over MAX_BODY itself, from its Content-Length before reading it
    (or as soon as a chunked body passes the limit), so no thread is held by an upload.
    """
    proxy = app.config["TRUSTED_PROXY"]  # its X-Forwarded-For names the client (limits)
    forwarded: dict[str, Any] = ({"trusted_proxy": proxy, "trusted_proxy_count": 1,
                                  "trusted_proxy_headers": {"x-forwarded-for"}} if proxy else {})
    # select(), waitress's default: its poll() loop served half as many polls a second here
    # (bench/poll), and connection_limit() keeps every descriptor below select()'s 1024.
    server = create_server(app, host=host, port=port, threads=threads, ident="feedsvc",
                           clear_untrusted_proxy_headers=True,
                           max_request_body_size=app.config["MAX_BODY"],
                           connection_limit=connection_limit(), **forwarded)
    server.channel_class = KeepAliveChannel
    accept_all_waiting(server)
    # waitress warns "Task queue depth is N" whenever a request waits for a thread: under steady
    # polling that is thousands of lines a second saying the server is busy, not that it is wrong.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    return server


def accept_all_waiting(server: Any) -> None:
    """Make waitress accept every connection waiting in the backlog per turn of its loop, not one.

    A loop busy with many kept-alive connections, its worker threads holding the GIL, turns a few
    dozen times a second: new connections waited seconds in the backlog while kept-alive ones were
    answered in milliseconds (bench/soak: p50 4.4 s against 47 ms).
    """
    accept_one = server.handle_accept

    def accept_waiting() -> None:
        while len(server._map) < server.adj.connection_limit:
            before = len(server._map)
            accept_one()  # returns having added no channel when none is waiting
            if len(server._map) == before:
                return

    server.handle_accept = accept_waiting


def connection_limit() -> int:
    """How many connections waitress holds at once, kept-alive idle ones included.

    waitress's default of 100 stops accepting at the 100th open connection, so 100 readers
    keeping their connections alive left every other client in the listen backlog until it
    timed out (bench/soak). 900 leaves room below select()'s limit of descriptor 1023 for the
    database, the logs and the listening socket, and stays within the open-file limit.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 900
    return max(100, min(900, soft - 100))


def init_app(app: Flask) -> None:
    app.cli.add_command(serve_command)
