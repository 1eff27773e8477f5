"""Two real server processes on one database: a write through one is seen by both.

A process trusts what it read while nothing is committed (feeds/freshness.py): on SQLite the wal-index
header tells it of any commit at once, so no process serves a document older than an
acknowledged write; on PostgreSQL another process's write reaches it by a notice, within
milliseconds (the process that wrote sees it at once).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from conftest import PG_URL, make_article, new_token
from live import LiveServer


@pytest.fixture
def pair(make_app: Callable[..., Flask], db_url: str,
         tmp_path: Path) -> Iterator[tuple[LiveServer, LiveServer, dict[str, str]]]:
    app = make_app()
    headers = {"Authorization": f"Bearer {new_token(app)}"}
    a = LiveServer(tmp_path / "a", db_url, threads=4)
    b = LiveServer(tmp_path / "b", db_url, threads=4)
    yield a, b, headers
    a.stop()
    b.stop()


def seen_by(server: LiveServer, feed: str, etag: str, *, wait: bool) -> tuple[int, Any, bytes]:
    """``server``'s answer to the old validator: at once, or (``wait``: PostgreSQL, another
    process) once the write's notice has reached it, which must be within a second."""
    deadline = time.monotonic() + 1
    while True:
        status, headers, body = server.request("GET", feed, headers={"If-None-Match": etag})
        if status != 304 or not wait or time.monotonic() > deadline:
            return status, headers, body
        time.sleep(0.005)


def test_write_through_one_read_through_the_other(
        pair: tuple[LiveServer, LiveServer, dict[str, str]]) -> None:
    a, b, headers = pair
    feed = "/sections/world/feed.atom"
    a.request("PUT", "/api/articles/x", make_article(key="x", title="version 0"), headers)
    for n in range(1, 21):
        status, before, body = b.request("GET", feed)  # B has the old document cached
        assert status == 200 and f"version {n - 1}".encode() in body
        etag = before["ETag"]
        for server in (a, a, b, b):  # 304s that each process keeps for the next revalidation
            assert server.request("GET", feed, headers={"If-None-Match": etag})[0] == 304
        status, _, _ = a.request("PATCH", "/api/articles/x", {"title": f"version {n}"}, headers)
        assert status == 200  # acknowledged by A
        for server in (b, a):
            status, after, body = seen_by(server, feed, etag, wait=server is b and bool(PG_URL))
            assert status == 200, f"{server.base} answered 304 to the old validator"
        assert f"version {n}".encode() in body and after["ETag"] != etag
        zipped = b.request("GET", feed, headers={"Accept-Encoding": "gzip",
                                                 "If-None-Match": etag})
        assert zipped[0] == 200
