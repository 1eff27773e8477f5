"""Abuse limits: pollers that never revalidate can be throttled; slow clients hold no thread."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from feedsvc.web import fastpoll

from conftest import Api, make_article, new_token
from live import LiveServer


class Ticks:
    """A stand-in for the time module as fastpoll sees it: ``monotonic`` under test control."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def ticks(monkeypatch: pytest.MonkeyPatch) -> Ticks:
    fake = Ticks()
    monkeypatch.setattr(fastpoll, "time", fake)
    return fake


@pytest.fixture
def limited(make_app: Callable[..., Flask], ticks: Ticks) -> tuple[Flask, Api]:
    app = make_app(POLL_LIMIT=3, POLL_WINDOW=60)
    client = app.test_client()
    api = Api(client, {"Authorization": f"Bearer {new_token(app)}"})
    assert api.put("a", make_article(key="a", topics=["Rivers"])).status_code == 201
    return app, api


def test_unconditional_polls_past_the_limit_get_429(limited: tuple[Flask, Api], ticks: Ticks) -> None:
    app, _ = limited
    client = app.test_client()
    assert [client.get("/feed.atom").status_code for _ in range(3)] == [200, 200, 200]
    ticks.now += 20
    refused = client.get("/feed.atom")
    assert refused.status_code == 429
    assert refused.content_type == "application/problem+json"
    assert refused.get_json()["status"] == 429
    assert refused.headers["Retry-After"] == "40"  # when the first of the three leaves the window
    assert refused.headers["Cache-Control"] == "no-store"
    assert refused.headers["X-Content-Type-Options"] == "nosniff"
    assert client.head("/feed.atom").status_code == 429
    ticks.now += 40
    assert client.get("/feed.atom").status_code == 200  # the window slid


def test_the_limit_is_per_client_and_feed_url(limited: tuple[Flask, Api]) -> None:
    app, _ = limited
    client = app.test_client()
    for _ in range(3):
        client.get("/feed.atom")
    assert client.get("/feed.atom").status_code == 429
    assert client.get("/feed.rss").status_code == 200
    assert client.get("/feed.atom?limit=5").status_code == 200
    assert client.get("/topics/rivers/feed.atom").status_code == 200
    assert client.get("/feed.atom", environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 200


def test_conditional_polls_are_never_throttled(limited: tuple[Flask, Api]) -> None:
    app, api = limited
    client = app.test_client()
    first = client.get("/feed.atom")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    for _ in range(3):
        client.get("/feed.atom")
    assert client.get("/feed.atom").status_code == 429
    statuses = {client.get("/feed.atom", headers={"If-None-Match": etag}).status_code for _ in range(50)}
    statuses |= {client.get("/feed.atom", headers={"If-Modified-Since": modified}).status_code
                 for _ in range(50)}
    assert statuses == {304}
    api.patch("a", {"title": "Changed"})
    changed = client.get("/feed.atom", headers={"If-None-Match": etag})
    assert changed.status_code == 200  # a conditional poll still gets the new document
    assert b"Changed" in changed.data


def test_no_limit_by_default(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    assert {client.get("/feed.json").status_code for _ in range(100)} == {200}


@pytest.fixture
def live(make_app: Callable[..., Flask], db_url: str, tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    app = make_app()
    token = new_token(app)
    servers: list[LiveServer] = []

    def start(threads: int = 2, **config: str) -> LiveServer:
        server = LiveServer(tmp_path / "instance", db_url, threads=threads, **config)
        servers.append(server)
        status = server.request("PUT", "/api/articles/a", make_article(key="a"),
                                {"Authorization": f"Bearer {token}"})[0]
        assert status in (200, 201)
        return server

    yield start
    for server in servers:
        server.stop()


def test_forwarded_for_is_believed_only_from_the_trusted_proxy(live: Callable[..., LiveServer]) -> None:
    server = live(POLL_LIMIT="2")
    spoofed = [server.request("GET", "/feed.atom", headers={"X-Forwarded-For": f"10.0.0.{n}"})[0]
               for n in range(4)]
    assert spoofed == [200, 200, 429, 429]  # a made-up X-Forwarded-For does not evade the limit
    server.stop()
    proxied = live(POLL_LIMIT="2", TRUSTED_PROXY="127.0.0.1")
    statuses = [proxied.request("GET", "/feed.atom", headers={"X-Forwarded-For": client})[0]
                for client in ("10.0.0.1", "10.0.0.1", "10.0.0.1", "10.0.0.2")]
    assert statuses == [200, 200, 429, 200]  # behind the proxy, each client has its own limit


def _slow_clients(port: int, count: int) -> list[socket.socket]:
    """Connections that send half a request and then nothing, and ones that never read."""
    socks = []
    for n in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if n % 2:
            sock.sendall(b"GET /feed.atom HTTP/1.1\r\nHost: feeds.test\r\nUser-Ag")
        else:  # asks for the largest document and never reads a byte of it
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(b"GET /feed.atom?limit=200 HTTP/1.1\r\nHost: feeds.test\r\n\r\n" * 5)
        socks.append(sock)
    return socks


def test_slow_clients_do_not_hold_the_threads(live: Callable[..., LiveServer]) -> None:
    server = live(threads=2)
    token_free = [server.request("GET", "/feed.atom")[0] for _ in range(2)]
    assert token_free == [200, 200]
    socks = _slow_clients(server.port, 40)  # twenty times as many as the server has threads
    try:
        time.sleep(0.5)

        def poll(_: Any) -> tuple[int, float]:
            started = time.monotonic()
            status = server.request("GET", "/feed.json")[0]
            return status, time.monotonic() - started

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(poll, range(16)))
        assert {status for status, _ in results} == {200}
        assert max(elapsed for _, elapsed in results) < 5
    finally:
        for sock in socks:
            sock.close()
