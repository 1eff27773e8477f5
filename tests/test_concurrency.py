"""Eight threads writing at once through a real server: nothing acknowledged is lost."""

from __future__ import annotations

import http.client
import json
import signal
import socket
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import Flask

from feedsvc import serve
from feedsvc.store import articles, db

from conftest import make_article, new_token
from live import LiveServer

THREADS = 8


@pytest.fixture
def server(make_app: Callable[..., Flask], db_url: str,
           tmp_path: Path) -> Iterator[tuple[LiveServer, dict[str, str], Flask]]:
    app = make_app()
    headers = {"Authorization": f"Bearer {new_token(app)}"}
    live = LiveServer(tmp_path / "instance", db_url, threads=THREADS)
    yield live, headers, app
    live.stop()


def test_every_acknowledged_write_is_stored(server: tuple[LiveServer, dict[str, str], Flask]) -> None:
    live, headers, app = server

    def writer(worker: int) -> dict[str, str]:
        acknowledged: dict[str, str] = {}
        for n in range(15):
            key = f"w{worker}-{n}"
            # New topics and sections on every write: racing get-or-create paths too.
            body = make_article(key=key, section=f"Section {n % 3}",
                                topics=[f"Topic {worker}", f"Topic {n}"])
            status, _, _ = live.request("PUT", f"/api/articles/{key}", body, headers)
            assert status == 201
            status, _, _ = live.request("PATCH", f"/api/articles/{key}",
                                        {"title": f"edited {worker} {n}"}, headers)
            assert status == 200
            acknowledged[key] = f"edited {worker} {n}"
        return acknowledged

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(writer, range(THREADS)))
    expected = {k: v for result in results for k, v in result.items()}
    with app.app_context():
        session = db.get_session()
        stored = {key: articles.get_article(session, key) for key in expected}
    assert {k: a.title for k, a in stored.items() if a is not None} == expected


def test_if_match_races_have_one_winner(server: tuple[LiveServer, dict[str, str], Flask]) -> None:
    live, headers, _ = server
    for round_ in range(5):
        key = f"contested-{round_}"
        status, response_headers, _ = live.request("PUT", f"/api/articles/{key}",
                                                   make_article(key=key), headers)
        etag = response_headers["ETag"]

        def edit(worker: int, key: str = key, etag: str = etag) -> int:
            status, _, _ = live.request("PATCH", f"/api/articles/{key}",
                                        {"title": f"by {worker}"}, headers | {"If-Match": etag})
            return status

        with ThreadPoolExecutor(THREADS) as pool:
            statuses = sorted(pool.map(edit, range(THREADS)))
        assert statuses == [200] + [412] * (THREADS - 1)


def test_sigterm_stops_cleanly(server: tuple[LiveServer, dict[str, str], Flask]) -> None:
    live, headers, _ = server
    assert live.request("GET", "/api/articles", headers=headers)[0] == 200
    output = live.stop(signal.SIGTERM)
    assert live.process.returncode == 0, output
    assert "feedsvc stopped" in output
    assert "Traceback" not in output


def test_connection_survives_a_304(server: tuple[LiveServer, dict[str, str], Flask]) -> None:
    live, headers, _ = server
    live.request("PUT", "/api/articles/kept", make_article(key="kept"), headers)
    connection = http.client.HTTPConnection("127.0.0.1", live.port, timeout=10)
    connection.request("GET", "/api/articles/kept", headers=headers)
    first = connection.getresponse()
    first.read()
    etag = first.getheader("ETag")
    sock = connection.sock
    for _ in range(3):
        connection.request("GET", "/api/articles/kept", headers=headers | {"If-None-Match": etag})
        response = connection.getresponse()
        response.read()
        assert response.status == 304
        assert response.getheader("Connection") != "close"
        assert connection.sock is sock  # the same TCP connection, kept alive
    connection.close()


def test_oversized_body_refused_before_it_is_sent(server: tuple[LiveServer, dict[str, str], Flask]) -> None:
    live, headers, app = server
    with socket.create_connection(("127.0.0.1", live.port), timeout=10) as sock:
        sock.sendall(b"PUT /api/articles/huge HTTP/1.1\r\nHost: x\r\n"
                     b"Authorization: " + headers["Authorization"].encode() + b"\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 104857600\r\n\r\n")
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert b"application/problem+json" in head
    assert json.loads(body)["status"] == 413


def test_many_open_connections_do_not_lock_out_a_new_one(server: tuple[LiveServer, dict[str, str], Flask]) -> None:
    """waitress stops accepting at its connection limit (100 by default): found by bench/soak."""
    live, _, _ = server
    held = []
    try:
        for _ in range(150):  # readers keeping their connections alive between polls
            sock = socket.create_connection(("127.0.0.1", live.port), timeout=10)
            sock.sendall(b"GET /feed.atom HTTP/1.1\r\nHost: x\r\n\r\n")
            held.append(sock)
        for sock in held:  # each had its answer, so each is an accepted, open connection
            assert sock.recv(12) == b"HTTP/1.1 200"
        status, _, _ = live.request("GET", "/feed.json")
        assert status == 200
    finally:
        for sock in held:
            sock.close()


def test_one_turn_of_the_loop_accepts_every_waiting_connection(make_app: Callable[..., Flask]) -> None:
    """waitress alone accepts one per turn, and a busy loop left new clients waiting seconds (bench/soak)."""
    server = serve.make_server(make_app(), "127.0.0.1", 0, 1)
    clients = [socket.create_connection(("127.0.0.1", server.effective_port), timeout=5) for _ in range(5)]
    try:
        opened = len(server._map)
        server.handle_accept()  # what the loop calls when the listening socket is readable
        assert len(server._map) == opened + 5
    finally:
        for client in clients:
            client.close()
        for dispatcher in list(server._map.values()):
            dispatcher.close()
        server.task_dispatcher.shutdown()
