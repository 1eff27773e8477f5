"""The access log as an operator reads it: one line per response of a real ``feedsvc serve``.

Polls answered by the fast path, pages and API calls through Flask, the Host check's refusals
and waitress's own all write exactly one line, in Apache's combined log format or as JSON,
naming the client as TRUSTED_PROXY decides it.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import http.client
import io
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from feedsvc import accesslog, serve
from feedsvc.accesslog import Answer

from conftest import make_article, new_token
from live import LiveServer

# Apache's combined log format: %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"
QUOTED = r'"((?:[^"\\]|\\.)*)"'
COMBINED = re.compile(rf'(\S+) - - \[(\d\d/\w\w\w/\d{{4}}:\d\d:\d\d:\d\d \+0000)\] {QUOTED} (\d{{3}}) (\d+|-) '
                      rf'{QUOTED} {QUOTED}')
FEED = "/sections/world/feed.atom"


def call(server: LiveServer, method: str, path: str, headers: dict[str, str] | None = None,
         body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request on a connection of its own: status, headers (lower-case) and body bytes."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def raw(server: LiveServer, data: bytes) -> bytes:
    """Send ``data`` as it is; everything the server answers before it closes."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(data)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply


def logged(server: LiveServer, count: int, parse: Callable[[str], Any]) -> list[Any]:
    """The server's first ``count`` log lines, parsed; waits a moment for the last ones (a
    line is written once the response is out, so a client can be quicker), then checks that no
    line more came."""
    deadline = time.monotonic() + 5
    while True:
        lines = [found for line in list(server.output) if (found := parse(line)) is not None]
        if len(lines) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    time.sleep(0.2)
    lines = [found for line in list(server.output) if (found := parse(line)) is not None]
    assert len(lines) == count, "".join(server.output)
    return lines


def combined_line(line: str) -> tuple[str, ...] | None:
    match = COMBINED.fullmatch(line.rstrip("\n"))
    return None if match is None else match.groups()


def json_line(line: str) -> dict[str, Any] | None:
    return json.loads(line) if line.startswith("{") else None


def test_every_answer_is_one_combined_line(live: Callable[..., LiveServer],
                                           make_app: Callable[..., Flask]) -> None:
    server = live()
    token = {"Authorization": f"Bearer {new_token(make_app())}"}
    sent = collections.Counter()
    article = json.dumps(make_article(key="a")).encode()
    status, _, body = call(server, "PUT", "/api/articles/a", token | {"Content-Type": "application/json"},
                           article)
    sent[("PUT /api/articles/a HTTP/1.1", status, len(body), "-", "-")] += 1
    assert status == 201
    first = call(server, "GET", FEED)  # rendered through Flask
    again = call(server, "GET", FEED, {"Referer": "https://reader.example/", "User-Agent": 'Reader "1.0"'})
    revalidated = call(server, "GET", FEED, {"If-None-Match": first[1]["etag"]})  # the fast path's 304
    head = call(server, "HEAD", FEED)
    assert (first[0], again[0], revalidated[0], head[0]) == (200, 200, 304, 200)
    assert again[2] == first[2] and revalidated[2] == head[2] == b""
    sent[(f"GET {FEED} HTTP/1.1", 200, len(first[2]), "-", "-")] += 1
    sent[(f"GET {FEED} HTTP/1.1", 200, len(first[2]), "https://reader.example/", 'Reader \\"1.0\\"')] += 1
    sent[(f"GET {FEED} HTTP/1.1", 304, 0, "-", "-")] += 1
    sent[(f"HEAD {FEED} HTTP/1.1", 200, 0, "-", "-")] += 1
    for method, path, expected, headers in [("GET", "/", 200, {}), ("GET", "/api/articles", 401, {}),
                                            ("GET", "/metrics", 404, {}), ("GET", "/readyz", 200, {})]:
        status, _, body = call(server, method, path, headers)
        assert status == expected
        sent[(f"{method} {path} HTTP/1.1", status, len(body), "-", "-")] += 1
    # Refused by waitress (ambiguous framing) and by the Host check, before Flask.
    for request in [b"POST /api/articles HTTP/1.1\r\nHost: feeds.test\r\nContent-Length: 2\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n", b"GET /feeds HTTP/1.1\r\nHost: bad host\r\n\r\n"]:
        reply = raw(server, request)
        assert reply.startswith(b"HTTP/1.1 400 ")
        body = reply.partition(b"\r\n\r\n")[2]
        sent[(request.split(b"\r\n")[0].decode(), 400, len(body), "-", "-")] += 1
    lines = logged(server, sum(sent.values()), combined_line)
    got = collections.Counter(
        (request, int(status), 0 if size == "-" else int(size), referer, agent)
        for client, when, request, status, size, referer, agent in lines)
    # http.client sends its own User-Agent only when none is given: it sends none.
    assert got == sent
    for client, when, *_ in lines:
        assert client == "127.0.0.1"
        stamp = dt.datetime.strptime(when, "%d/%b/%Y:%H:%M:%S %z")
        assert abs((stamp - dt.datetime.now(dt.UTC)).total_seconds()) < 60


def test_the_client_is_the_one_trusted_proxy_names(live: Callable[..., LiveServer]) -> None:
    behind = live(TRUSTED_PROXY="127.0.0.1")
    open_to_all = live()
    forwarded = {"X-Forwarded-For": "203.0.113.7"}
    for server in (behind, open_to_all):
        assert call(server, "GET", "/feed.atom")[0] == 200
        assert call(server, "GET", "/feed.atom", forwarded)[0] == 200  # the fast path
        assert call(server, "GET", "/", {"X-Forwarded-For": "198.51.100.1, 203.0.113.8"})[0] == 200
        # A body over MAX_BODY is refused by waitress from its Content-Length, before the app.
        reply = raw(server, b"POST /api/articles HTTP/1.1\r\nHost: feeds.test\r\nX-Forwarded-For: "
                    b"203.0.113.9\r\nContent-Length: 5000000\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 413 ")
    # A line is written once its response is out, so two may swap places: by request.
    clients = {(line[2], line[0]) for line in logged(behind, 4, combined_line)}
    assert clients == {("GET /feed.atom HTTP/1.1", "127.0.0.1"), ("GET /feed.atom HTTP/1.1", "203.0.113.7"),
                       ("GET / HTTP/1.1", "203.0.113.8"), ("POST /api/articles HTTP/1.1", "203.0.113.9")}
    # Without TRUSTED_PROXY nobody can claim another address.
    assert [line[0] for line in logged(open_to_all, 4, combined_line)] == ["127.0.0.1"] * 4


def test_json_lines(live: Callable[..., LiveServer]) -> None:
    server = live("--access-log=json")
    status, headers, body = call(server, "GET", "/feed.json", {"User-Agent": "poller/2"})
    assert status == 200
    assert call(server, "GET", "/feed.json", {"If-None-Match": headers["etag"]})[0] == 304
    assert call(server, "GET", "/api/openapi.json")[0] == 200
    # A line is written once its response is out, so two may swap places: by request.
    lines = logged(server, 3, json_line)
    first, second, third = sorted(lines, key=lambda line: (line["target"] == "/api/openapi.json", line["status"]))
    assert first["method"] == "GET" and first["target"] == "/feed.json" and first["protocol"] == "HTTP/1.1"
    assert first["request"] == "GET /feed.json HTTP/1.1"
    assert (first["status"], first["bytes"]) == (200, len(body))
    assert (first["user_agent"], first["referer"], first["route"]) == ("poller/2", None, "feed")
    assert (second["status"], second["bytes"], second["route"]) == (304, 0, "feed")
    assert (third["status"], third["route"]) == (200, "api")
    for line in (first, second, third):
        assert line["client"] == "127.0.0.1"
        assert 0 <= line["seconds"] < 10
        when = dt.datetime.fromisoformat(line["time"])
        assert when.tzinfo is not None and abs((when - dt.datetime.now(dt.UTC)).total_seconds()) < 60


def test_off_writes_no_line(live: Callable[..., LiveServer]) -> None:
    server = live("--access-log=off")
    assert call(server, "GET", "/feed.atom")[0] == 200
    assert logged(server, 0, combined_line) == []


def test_the_log_level_is_the_whole_apps(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    try:
        accesslog.set_level(app, "error")
        assert logging.getLogger("feedsvc.feeds.formats").getEffectiveLevel() == logging.ERROR
        accesslog.set_level(app, "debug")
        assert app.logger.isEnabledFor(logging.DEBUG)
    finally:  # loggers outlive the test
        app.logger.setLevel(logging.NOTSET)
        logging.getLogger("waitress").setLevel(logging.NOTSET)


# -- waitress's own layer, with apps that do what feedsvc's routes never do ---------------------


@contextlib.contextmanager
def recorded(app: Flask, wsgi_app: Callable[..., Iterable[bytes]]) -> Iterator[tuple[int, io.StringIO]]:
    """The waitress server ``feedsvc serve`` makes, around ``wsgi_app``, logging to a string."""
    server = serve.make_wsgi_server(wsgi_app, "127.0.0.1", 0, 2, trusted_proxy=None, max_body=1024)
    stream = io.StringIO()
    accesslog.install(server, app, "combined", stream)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield server.effective_port, stream
    finally:
        # Closed by the loop's own thread (a socket closed under its select() is an error there);
        # with nothing left to watch, the loop ends.
        server.trigger.pull_trigger(lambda: [d.close() for d in list(server._map.values())])
        thread.join(5)
        server.task_dispatcher.shutdown()


def get(port: int, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_for_lines(stream: io.StringIO, count: int) -> list[tuple[str, ...]]:
    deadline = time.monotonic() + 5
    while len(stream.getvalue().splitlines()) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    lines = [combined_line(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == count and None not in lines, stream.getvalue()
    return lines  # type: ignore[return-value]


def test_a_crash_is_one_line_naming_the_request(make_app: Callable[..., Flask]) -> None:
    def crashing(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        raise RuntimeError("a bug")

    with recorded(make_app(), crashing) as (port, stream):
        status, body = get(port, "/sections/world/")
        assert status == 500
        ((_, _, request, code, size, _, _),) = wait_for_lines(stream, 1)
    assert (request, int(code), int(size)) == ("GET /sections/world/ HTTP/1.1", 500, len(body))


def test_bytes_of_a_streamed_and_of_a_file_response(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    document = tmp_path / "document.bin"
    document.write_bytes(b"x" * 70_000)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        if environ["PATH_INFO"] == "/file":
            return environ["wsgi.file_wrapper"](document.open("rb"))  # type: ignore[no-any-return]
        return iter([b"one ", b"two ", b"three"])  # no length: sent chunked

    with recorded(make_app(), app) as (port, stream):
        assert get(port, "/stream") == (200, b"one two three")
        assert get(port, "/file") == (200, document.read_bytes())
        lines = wait_for_lines(stream, 2)
    assert sorted((line[2], int(line[4])) for line in lines) == [
        ("GET /file HTTP/1.1", 70_000), ("GET /stream HTTP/1.1", 13)]


# -- the formats --------------------------------------------------------------------------------


def answer(**fields: Any) -> Answer:
    base = {"client": "192.0.2.1", "received": 1_793_534_400.25, "request": "GET /feed.atom HTTP/1.1",
            "status": 200, "size": 512, "referer": None, "agent": "curl/8", "seconds": 0.0012,
            "route": "feed"}
    return Answer(**(base | fields))


@pytest.mark.parametrize(("agent", "written"), [
    ("curl/8", "curl/8"),
    ('say "hi"', 'say \\"hi\\"'),
    ("back\\slash", "back\\\\slash"),
    ("tab\there", "tab\\x09here"),
    ("caf\xe9", "caf\\xe9"),  # waitress gives header bytes as latin-1 characters
])
def test_combined_escapes_as_apache_does(agent: str, written: str) -> None:
    line = accesslog.combined(answer(agent=agent))
    assert line == f'192.0.2.1 - - [01/Nov/2026:12:00:00 +0000] "GET /feed.atom HTTP/1.1" 200 512 "-" "{written}"'
    assert COMBINED.fullmatch(line) is not None


def test_combined_shows_no_bytes_as_a_dash() -> None:
    assert ' 304 - "-" ' in accesslog.combined(answer(status=304, size=0))


def test_json_line_of_a_request_line_that_is_not_three_words() -> None:
    line = json.loads(accesslog.json_line(answer(request="GARBAGE", status=400)))
    assert (line["request"], line["method"], line["target"], line["protocol"]) == ("GARBAGE", None, None, None)
    assert line["time"] == "2026-11-01T12:00:00.250Z" and line["seconds"] == 0.0012
