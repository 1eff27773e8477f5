"""The access log, and each answer counted by route kind and status: taken where waitress answers.

Polls are answered by the fast path before Flask, a bad Host by the Host check before that, and
a malformed request or a body over MAX_BODY by waitress itself (serve.ProblemErrorTask), with
no WSGI app in it at all. So an answer is recorded by waitress's task (``Recorded``), once it
has written the response head: every response once, whoever made it. The line names:

- the client as waitress's TRUSTED_PROXY rule decides it (the one rule: the app sees that
  address as REMOTE_ADDR; a refusal made before the app runs gets the same rule applied to the
  X-Forwarded-For it sent, when its header fields were read);
- the request line as sent, the status, the body bytes written (0 for HEAD, 304 and 204), the
  Referer and User-Agent;
- when the request's first byte was read, and (JSON) the seconds from then until the response
  was handed to the connection, the wait for a thread included.

``combined`` is Apache's (NCSA) combined log format, times in UTC; ``json`` one JSON object a
line. Lines go to standard error, each written whole.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple, TextIO
from urllib.parse import urlsplit

from flask import Flask
from waitress.channel import ClientDisconnected
from waitress.proxy_headers import proxy_headers_middleware
from waitress.task import ErrorTask
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import RequestRedirect

from feedsvc import metrics
from feedsvc.feeds.address import PATH

FORMATS = ("combined", "json", "off")
LEVELS = ("debug", "info", "warning", "error")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Apache's escaping: a quote or backslash gets a backslash; a byte outside printable ASCII is
# \xhh (waitress gives every field as latin-1, one character a byte). No CR or LF gets through.
_UNSAFE = re.compile(r'[^\x20\x21\x23-\x5b\x5d-\x7e]')
log = logging.getLogger(__name__)


class Answer(NamedTuple):
    """One request and its response, as the access log writes them (a named tuple: one is
    made for every response, in 0.2 µs where a frozen dataclass takes 0.7)."""

    client: str
    received: float  # POSIX seconds: the request's first byte read
    request: str  # the request line as sent ("" when none could be read)
    status: int
    size: int  # body bytes written
    referer: str | None
    agent: str | None
    seconds: float  # from ``received`` to the response handed to the connection
    route: str  # metrics.ROUTES

    @property
    def parts(self) -> tuple[str | None, str | None, str | None]:
        """Method, target and protocol of the request line (None each, if it has not three)."""
        parts = self.request.split(" ")
        if len(parts) != 3:
            return None, None, None
        return parts[0], parts[1], parts[2]


def _escape(match: re.Match[str]) -> str:
    c = match.group()
    return f"\\{c}" if c in '"\\' else f"\\x{ord(c) & 0xFF:02x}"


def _escaped(value: str) -> str:
    return value if _UNSAFE.search(value) is None else _UNSAFE.sub(_escape, value)


@functools.lru_cache(maxsize=4)
def _apache_time(second: int) -> str:
    """``day/Mon/year:HH:MM:SS +0000``, in English whatever the locale; formatted once a second
    (1.6 µs each time; the rest of a combined line takes 0.6)."""
    t = time.gmtime(second)
    return (f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000")


@functools.lru_cache(maxsize=4)
def _iso_second(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


def combined(answer: Answer) -> str:
    """``client - - [day/Mon/year:HH:MM:SS +0000] "request" status bytes "referer" "agent"``."""
    referer = "-" if answer.referer is None else _escaped(answer.referer)
    agent = "-" if answer.agent is None else _escaped(answer.agent)
    return (f'{answer.client} - - [{_apache_time(int(answer.received))}] "{_escaped(answer.request)}" '
            f'{answer.status} {answer.size or "-"} "{referer}" "{agent}"')


_JSON = json.JSONEncoder(separators=(",", ":"))  # json.dumps would build one per line


def json_line(answer: Answer) -> str:
    """One JSON object; ``time`` in RFC 3339 UTC to the millisecond."""
    method, target, protocol = answer.parts
    whole = int(answer.received)
    millis = min(999, int((answer.received - whole) * 1000))
    return _JSON.encode({
        "time": f"{_iso_second(whole)}.{millis:03d}Z", "client": answer.client, "request": answer.request,
        "method": method, "target": target, "protocol": protocol, "status": answer.status,
        "bytes": answer.size, "referer": answer.referer, "user_agent": answer.agent,
        "seconds": round(answer.seconds, 6), "route": answer.route})


class Routes:
    """The kind of route a path names: the blueprint of the Flask route that answers it.

    Read from the app's one URL map, so a new page or API route is counted under its kind
    without a word here; a feed URL (feeds.address.PATH) is told without matching.
    """

    KINDS = {"feeds": "feed", "pages": "page", "api": "api", "hub": "websub", "health": "health"}

    def __init__(self, app: Flask) -> None:
        self.adapter = app.url_map.bind("localhost")

    def kind(self, method: str, path: str, redirects: int = 1) -> str:
        if PATH.fullmatch(path) is not None:
            return "feed"
        if not path.startswith("/"):  # none could be read
            return "other"
        try:
            try:
                endpoint, _ = self.adapter.match(path, method=method or "GET")
            except MethodNotAllowed as refused:  # a route of another method: its kind
                endpoint, _ = self.adapter.match(path, method=next(iter(refused.valid_methods or ["GET"])))
        except RequestRedirect as moved:  # /sections/world to /sections/world/
            return self.kind(method, urlsplit(moved.new_url).path, redirects - 1) if redirects else "other"
        except HTTPException:
            return "other"
        return self.KINDS.get(str(endpoint).rpartition(".")[0], "other")


class Recorder:
    """Where a server's answers go: the request counter, and the access log unless ``off``."""

    def __init__(self, app: Flask, form: str, stream: TextIO, adj: Any) -> None:
        self.format: Callable[[Answer], str] | None = {"combined": combined, "json": json_line}.get(form)
        self.stream, self.lock = stream, threading.Lock()
        self.routes = Routes(app)
        # The request counter's children by label: 0.4 µs a count where labels() takes 1.4.
        self.counters: dict[tuple[str, int], Any] = {}
        # waitress's own TRUSTED_PROXY rule, as the server applies it (serve.make_wsgi_server),
        # for a refusal that never reached the app: its middleware around an app that reads
        # the address it leaves.
        self.forwarded = proxy_headers_middleware(
            lambda environ, start_response: environ["REMOTE_ADDR"], trusted_proxy=adj.trusted_proxy,
            trusted_proxy_count=adj.trusted_proxy_count, trusted_proxy_headers=adj.trusted_proxy_headers,
            clear_untrusted=False) if adj.trusted_proxy else None

    def client(self, task: Any) -> str:
        environ = getattr(task, "environ", None)
        if environ is not None:  # after the app ran: waitress's rule already applied
            return str(environ.get("REMOTE_ADDR") or task.channel.addr[0])
        peer = str(task.channel.addr[0])
        forwarded = task.request.headers.get("X_FORWARDED_FOR")
        if self.forwarded is None or forwarded is None:
            return peer
        found = self.forwarded({"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_FOR": forwarded},
                               lambda *args: None)
        return found if isinstance(found, str) else peer  # else a malformed header: the peer

    def record(self, task: Any, asked: Any) -> None:
        """Count ``task``'s answer to the request of ``asked`` (itself, or the task that failed
        before answering: waitress's 500) and write its line."""
        request = asked.request
        line = getattr(request, "first_line", b"").decode("latin-1")
        method = getattr(request, "command", "")
        status = int(task.status[:3])
        route = self.routes.kind(method, getattr(request, "path", ""))
        counter = self.counters.get((route, status))
        if counter is None:  # a few dozen at most: route kinds times the statuses answered
            counter = self.counters[(route, status)] = metrics.get().requests.labels(route, str(status))
        counter.inc()
        if self.format is None:
            return
        received = getattr(request, "arrived", None) or task.start_time
        began = getattr(request, "began", None)
        if not task.has_body or method == "HEAD":
            size = 0
        elif task.content_length is None:  # chunked
            size = task.body_written
        else:  # a file sent by the channel itself (wsgi.file_wrapper) was never written here
            size = task.content_bytes_written if task.body_written else task.content_length
        headers = request.headers
        answer = Answer(self.client(asked), received, line, status, size, headers.get("REFERER"),
                        headers.get("USER_AGENT"), 0.0 if began is None else time.monotonic() - began,
                        route)
        text = self.format(answer) + "\n"
        with self.lock:
            self.stream.write(text)


class Recorded:
    """A mixin for waitress's tasks (serve.KeepAliveTask, serve.ProblemErrorTask): each answer
    goes to the server's ``Recorder`` once, when the task has written its response head."""

    body_written = 0  # body bytes handed to write()

    def service(self) -> None:
        try:
            super().service()  # type: ignore[misc]
        except ClientDisconnected:
            self._record()  # nothing follows: the client is gone
            raise
        except Exception:
            if self.wrote_header:  # type: ignore[attr-defined]
                self._record()  # cut short: what was sent
            else:  # waitress answers 500 with an ErrorTask of a blank request: it names this one
                self.channel.unanswered = self  # type: ignore[attr-defined]
            raise
        self._record()

    def write(self, data: bytes) -> None:
        super().write(data)  # type: ignore[misc]
        self.body_written += len(data)

    def _record(self) -> None:
        channel = self.channel  # type: ignore[attr-defined]
        recorder: Recorder | None = getattr(channel.server, "recorder", None)
        asked = channel.__dict__.pop("unanswered", self) if isinstance(self, ErrorTask) else self
        if recorder is None:
            return
        try:
            recorder.record(self, asked)
        except Exception:  # the response is out: a log that fails must not turn it into a 500
            log.exception("access log")


def install(server: Any, app: Flask, form: str, stream: TextIO | None = None) -> None:
    """Record every answer of the waitress ``server`` (serve.make_server's) for ``app``."""
    server.recorder = Recorder(app, form, stream or sys.stderr, server.adj)


def set_level(app: Flask, level: str) -> None:
    """The level of the app's log (``feedsvc`` and the modules under it, on standard error
    through Flask's handler) and of waitress's."""
    number = logging.getLevelNamesMapping()[level.upper()]
    app.logger.setLevel(number)
    logging.getLogger("waitress").setLevel(number)
