"""``feedsvc serve``: waitress in front of the app, migrations first, clean stop on a signal."""

from __future__ import annotations

import errno
import json
import logging
import re
import resource
import signal
import socket
import time
from types import FrameType
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from waitress import create_server
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError
from waitress.task import ErrorTask, WSGITask
from waitress.utilities import BadRequest, Error, RequestEntityTooLarge, find_double_newline

from feedsvc import accesslog, metrics
from feedsvc.feeds import freshness
from feedsvc.store import db, site
from feedsvc.web import hosts
from feedsvc.websub import outbox, worker


@click.command("serve", short_help="Serve feeds, pages, the API and the hub with waitress.",
               help="Serve feeds, pages, the API and the WebSub hub with waitress. Creates "
                    "the database or migrates it first; SIGTERM or Ctrl-C finishes the "
                    "requests under way and stops.")
@with_appcontext
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0 or :: for every interface).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="TCP port to listen on (0: any free port, printed at start).")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256),
              help="Requests handled at once; slow clients hold none (waitress reads and writes).")
@click.option("--no-worker", is_flag=True,
              help="Run no WebSub delivery worker in this process (run `feedsvc worker`).")
@click.option("--access-log", default="combined", show_default=True, type=click.Choice(accesslog.FORMATS),
              help="One line per response on standard error: Apache's combined log format, JSON "
                   "lines, or none.")
@click.option("--log-level", default="info", show_default=True, type=click.Choice(accesslog.LEVELS),
              help="The least severe message of the app's own log that is written.")
@click.option("--metrics-port", type=click.IntRange(0, 65535),
              help="Serve Prometheus metrics at /metrics on this port (never on the public one).")
@click.option("--metrics-host", default="127.0.0.1", show_default=True,
              help="The address the metrics port listens on.")
def serve_command(host: str, port: int, threads: int, no_worker: bool, access_log: str,
                  log_level: str, metrics_port: int | None, metrics_host: str) -> None:

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if metrics_port and metrics_port == port:
        raise click.BadParameter("must differ from --port", param_hint="--metrics-port")
    # A connection for every thread that may hold one at once: the server's, the worker's
    # senders and clock, and two for the start-up and the signal handler's goodbye.
    worker_threads = 0 if no_worker else app.config["WEBSUB_WORKER_THREADS"] + 1
    engine = db.size_pool(app, threads + worker_threads + 2)
    freshness.get_cache(app).engine = engine
    try:
        # The port is taken before anything is created or migrated (a busy one is a message,
        # not a stray database), and listened on once the schema is ready: until then a
        # balancer finds it refusing, rather than holding connections through a migration.
        server = make_server(app, host, port, threads, listen=False)
    except (OSError, ValueError) as exc:  # waitress: ValueError for a host it cannot resolve
        hint = " (another feedsvc serve? choose --port)" if getattr(exc, "errno", None) == errno.EADDRINUSE else ""
        reason = getattr(exc, "strerror", None) or str(exc)
        raise click.ClickException(f"cannot listen on {host}:{port}: {reason}{hint}") from None
    db.upgrade(engine)
    warning = site.authority_warning(app)  # records the id authority at first start
    if warning:
        click.echo(f"feedsvc: {warning}", err=True)
    accesslog.set_level(app, log_level)
    exporter = metrics.start(metrics_host, metrics_port, outbox.backlog_reader(app))
    accesslog.install(server, app, access_log)
    server.accept_connections()

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
    shown_host = f"[{server.effective_host}]" if ":" in str(server.effective_host) else server.effective_host
    click.echo(f"feedsvc serving on http://{shown_host}:{server.effective_port}/"
               f" with {threads} threads" + ("" if no_worker else " and a WebSub worker"), err=True)
    try:
        server.run()  # closes the server itself on SystemExit
    finally:
        if running is not None:
            running.stop()
        freshness.get_cache(app).close()
        engine.dispose()
        exporter.close()
        click.echo("feedsvc stopped", err=True)


class KeepAliveTask(accesslog.Recorded, WSGITask):  # type: ignore[misc]
    """waitress's task, except that a 304, 204 or 1xx keeps an HTTP/1.1 connection open.

    waitress 3.0 closes the connection after every response without a Content-Length, and a
    304 never has one (RFC 9110 8.6 forbids it a body), so every revalidating poller paid for
    a new TCP connection. Such a response needs no length to be delimited (RFC 9112 6.3), so
    closing is only right when the client asked for it.
    """

    def build_response_header(self) -> bytes:
        environ = self.environ  # type: ignore[has-type]
        if environ is not None and environ.get(hosts.CLOSE_CONNECTION):
            # The app may not send Connection itself (a hop-by-hop header, PEP 3333).
            self.set_close_on_finish()
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


class ProblemErrorTask(accesslog.Recorded, ErrorTask):  # type: ignore[misc]
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


class VersionNotSupported(Error):  # type: ignore[misc]
    """505: an HTTP version other than 1.0 and 1.1 on an HTTP/1 connection (RFC 9110 15.6.6)."""

    code = 505
    reason = "HTTP Version Not Supported"


class _Refused(Exception):
    """A refusal with a status of its own, raised from the header checks."""

    def __init__(self, error: Error) -> None:
        super().__init__(error.body)
        self.error = error


_VERSION = re.compile(rb" HTTP/([0-9])\.([0-9])\Z")
_BARE = re.compile(rb"\r(?=[^\n])|(?<!\r)\n")  # a CR or LF not in a CRLF (one may be cut off)
# A Content-Length this long exceeds any MAX_BODY; Python refuses to convert one of 4,300
# digits or more, and waitress closed without a word (RFC 9110 8.6: expect large numerals).
_LONGEST_LENGTH = 18


def request_version(header_plus: bytes) -> str:
    """The HTTP version of a request head, "1.0" or "1.1"; any other is refused."""
    first = header_plus.partition(b"\r\n")[0].rstrip()
    version = _VERSION.search(first)
    if version is None:  # HTTP/0.9 had no headers and no framing to trust
        raise ParsingError("The request line has no HTTP version (RFC 9112 section 3)")
    if version.group(1, 2) not in ((b"1", b"0"), (b"1", b"1")):
        raise _Refused(VersionNotSupported("Only HTTP/1.0 and HTTP/1.1 are served here"))
    return f"{version.group(1).decode()}.{version.group(2).decode()}"


def check_framing(header_plus: bytes, version: str) -> None:
    """Raise the fault of a request head whose end or body length a proxy could read otherwise.

    RFC 9112 section 6.3 lists what makes a request's length unknowable; a server answers 400
    and closes, because a request smuggled behind one that a proxy in front reads differently
    would otherwise be answered as the proxy's next request.
    """
    named: dict[bytes, list[bytes]] = {}
    for line in header_plus.split(b"\r\n")[1:]:
        if line[:1] in (b" ", b"\t"):
            raise ParsingError("Obsolete line folding is not accepted (RFC 9112 section 5.2)")
        name, colon, value = line.partition(b":")
        if colon:
            named.setdefault(name.lower(), []).append(value.strip(b" \t"))
    lengths, codings = named.get(b"content-length", []), named.get(b"transfer-encoding")
    if len(named.get(b"host", [])) > 1:
        raise ParsingError("More than one Host field (RFC 9112 section 3.2)")
    if len(lengths) > 1:
        raise ParsingError("More than one Content-Length field (RFC 9112 section 6.3)")
    if lengths and lengths[0].isdigit() and len(lengths[0].lstrip(b"0")) > _LONGEST_LENGTH:
        raise _Refused(RequestEntityTooLarge(f"Content-Length has {len(lengths[0])} digits"))
    if codings is None:
        return
    if lengths:
        raise ParsingError("Both Content-Length and Transfer-Encoding (RFC 9112 section 6.1)")
    if version != "1.1":
        raise ParsingError("Transfer-Encoding in an HTTP/1.0 request (RFC 9112 section 6.1)")
    listed = [c.strip(b" \t").lower() for c in b",".join(codings).split(b",") if c.strip(b" \t")]
    if not listed or listed[-1] != b"chunked" or listed.count(b"chunked") > 1:
        raise ParsingError("chunked must be the final transfer coding, and applied once "
                           "(RFC 9112 sections 6.3 and 7)")


class FramingParser(HTTPRequestParser):  # type: ignore[misc]
    """waitress's request parser, also refusing a request whose framing is ambiguous.

    waitress 3.0 answers a request with both Content-Length and Transfer-Encoding (chunked wins)
    and then the request smuggled behind it; it reads Transfer-Encoding only in HTTP/1.1, joins
    folded lines, takes "chunked, chunked", answers 501 where a coding other than chunked comes
    last (RFC 9112 6.3: 400), and closes without a word on a Content-Length of 5,000 digits.
    Each refusal goes through waitress's error path (ProblemErrorTask): problem+json, then close.
    """

    def __init__(self, adj: Any) -> None:
        super().__init__(adj)
        # Made when the request's first bytes arrive: the access log's time and duration.
        self.arrived, self.began = time.time(), time.monotonic()

    def parse_header(self, header_plus: bytes) -> None:
        self.first_line = header_plus.partition(b"\r\n")[0].rstrip()  # logged, even if refused here
        self.version = request_version(header_plus)  # the refusal answers in the same version
        check_framing(header_plus, self.version)
        super().parse_header(header_plus)

    def received(self, data: bytes) -> int:
        if self.body_rcv is None and not self.completed:  # type: ignore[has-type]
            head = (self.header_plus + data).lstrip()
            end = find_double_newline(head)
            if _BARE.search(head if end < 0 else head[:end]):
                # waitress refuses these only once a CRLF CRLF arrives, which a client ending
                # its lines with LF never sends: it waited for the idle timeout (RFC 9112 2.2).
                self.parse_header(b"GET / HTTP/1.0\r\n")  # what waitress's own refusals log
                # The access log names the line as sent, and no route.
                self.first_line, self.path, self.command = re.split(rb"[\r\n]", head, maxsplit=1)[0], "", ""
                self._refuse(BadRequest("Bare CR or LF in the request head (RFC 9112 2.2)"))
                return len(data)
        try:
            consumed: int = super().received(data)
        except _Refused as refused:
            self._refuse(refused.error)
        if self.error is None:
            return consumed
        # No 100 Continue invites a body that will not be read (RFC 9110 10.1.1), and nothing
        # after a refused request is read as another request.
        self.expect_continue = False
        return len(data)

    def _refuse(self, error: Error) -> None:
        self.error = error
        self.completed = self.headers_finished = True


# Lingering close, as nginx does it: after a response that ends the connection, the server
# stops writing but reads and discards what the client still sends, for LINGER_SECONDS or
# LINGER_BYTES at most, before closing. Closing with unread bytes would send a TCP reset,
# and a client still sending its body (no Expect: 100-continue, as python-requests and urllib)
# would lose the response with it (RFC 9112 9.6).
LINGER_SECONDS = 5.0
LINGER_BYTES = 16 * 1024 * 1024
_LINGER_READ = 256 * 1024  # per turn of waitress's loop, so one client cannot hold it


class KeepAliveChannel(HTTPChannel):  # type: ignore[misc]
    """waitress's channel with feedsvc's tasks, framing checks and a lingering close."""

    task_class = KeepAliveTask
    error_task_class = ProblemErrorTask
    parser_class = FramingParser
    linger_until: float | None = None  # time.monotonic() deadline while lingering
    linger_left = 0
    _response_ends = False  # set while handle_write may close after a complete response

    def readable(self) -> bool:
        return self.linger_until is not None or bool(super().readable())

    def writable(self) -> bool:
        if self.linger_until is not None:
            return time.monotonic() >= self.linger_until  # then handle_write closes
        return bool(super().writable())

    def handle_write(self) -> None:
        if self.linger_until is not None:
            self.handle_close()
            return
        self._response_ends = bool(self.close_when_flushed)
        try:
            super().handle_write()
        finally:
            self._response_ends = False

    def handle_read(self) -> None:
        if self.linger_until is None:
            super().handle_read()
            return
        for _ in range(_LINGER_READ // 65536):
            try:
                data = self.socket.recv(min(65536, self.linger_left))
            except BlockingIOError:
                return
            except OSError:
                data = b""
            self.linger_left -= len(data)
            if not data or self.linger_left <= 0:
                self.handle_close()
                return

    def handle_close(self) -> None:
        """Close, or first linger when a whole response ends the connection."""
        if (self.linger_until is None and self._response_ends and self.connected
                and not self.total_outbufs_len):
            try:
                self.socket.shutdown(socket.SHUT_WR)  # the client reads the response to its end
            except OSError:
                pass
            else:
                self.linger_until = time.monotonic() + LINGER_SECONDS
                self.linger_left = LINGER_BYTES
                return
        self.linger_until = None
        super().handle_close()


def make_server(app: Flask, host: str, port: int, threads: int, *, listen: bool = True) -> Any:
    """A waitress server for ``app`` with feedsvc's settings and keep-alive after a 304.

    waitress refuses a body over MAX_BODY itself, from its Content-Length before reading it
    (or as soon as a chunked body passes the limit), so no thread is held by an upload.
    """
    return make_wsgi_server(app, host, port, threads, trusted_proxy=app.config["TRUSTED_PROXY"],
                            max_body=app.config["MAX_BODY"], listen=listen)


def make_wsgi_server(wsgi_app: Any, host: str, port: int, threads: int, *,
                     trusted_proxy: str | None, max_body: int, listen: bool = True) -> Any:
    """The waitress server ``make_server`` makes, for any WSGI app: the benchmarks' ceilings
    are made with it too, so that they differ from feedsvc in the app alone.

    With ``listen`` false its socket is bound but not listened on until
    ``server.accept_connections()``: connections are refused meanwhile.
    """
    # A trusted proxy's X-Forwarded-For names the client (limits).
    forwarded: dict[str, Any] = ({"trusted_proxy": trusted_proxy, "trusted_proxy_count": 1,
                                  "trusted_proxy_headers": {"x-forwarded-for"}} if trusted_proxy else {})
    # select(), waitress's default: its poll() loop served half as many polls a second here
    # (bench/poll), and connection_limit() keeps every descriptor below select()'s 1024.
    server = create_server(wsgi_app, host=host, port=port, threads=threads, ident="feedsvc",
                           clear_untrusted_proxy_headers=True, max_request_body_size=max_body,
                           connection_limit=connection_limit(), _start=listen, **forwarded)
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
