"""feedsvc behind a real Varnish with deploy/varnish/default.vcl (issue 19).

The test starts ``varnishd`` itself in front of a real ``feedsvc serve`` whose worker purges
it (CDN_PURGE=varnish:…). Without Debian's varnish and varnish-modules (xkey) it is skipped
on a workstation and fails in CI (``CI`` set), which installs them (.ci/run).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from email.message import Message
from pathlib import Path

import pytest
from flask import Flask

from conftest import make_article, new_token
from live import LiveServer, free_port

ROOT = Path(__file__).resolve().parents[1]
VARNISHD = shutil.which("varnishd") or ("/usr/sbin/varnishd" if os.path.exists("/usr/sbin/varnishd") else None)


def _need_varnish() -> str:
    if VARNISHD is None:
        if os.environ.get("CI"):
            pytest.fail("varnishd is not installed: CI installs varnish and varnish-modules (.ci/run)")
        pytest.skip("varnishd is not installed (apt install varnish varnish-modules)")
    return VARNISHD


class Varnish:
    """``varnishd`` in the foreground with the shipped VCL, its backend at ``backend_port``."""

    def __init__(self, workdir: Path, port: int, backend_port: int) -> None:
        vcl = (ROOT / "deploy" / "varnish" / "default.vcl").read_text()
        assert '.port = "8000";' in vcl
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "default.vcl").write_text(vcl.replace('.port = "8000";', f'.port = "{backend_port}";'))
        self.port, self.base = port, f"http://127.0.0.1:{port}"
        # -j none: stay this user (a test's files are not the varnish user's to read).
        self.process = subprocess.Popen(
            [_need_varnish(), "-F", "-j", "none", "-a", f"127.0.0.1:{port}", "-f",
             str(workdir / "default.vcl"), "-n", str(workdir / "state"), "-s", "malloc,32m"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"varnishd exited: {self.process.stdout.read() if self.process.stdout else ''}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("varnishd did not start")

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, Message, bytes]:
        request = urllib.request.Request(self.base + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


class Stack:
    """A feedsvc server, a Varnish in front of it that the server purges, and an API token."""

    def __init__(self, app: Flask, db_url: str, tmp_path: Path) -> None:
        _need_varnish()
        varnish_port = free_port()
        self.headers = {"Authorization": f"Bearer {new_token(app)}"}
        self.server = LiveServer(
            tmp_path / "instance", db_url, threads=4, CDN_PURGE=f"varnish:http://127.0.0.1:{varnish_port}/",
            CDN_MAX_AGE="3600", CACHE_MAX_AGE="5", CACHE_STALE_IF_ERROR="600",
            WEBSUB_WORKER_INTERVAL="0.2", WEBSUB_RETRY_BASE="0.2", WEBSUB_TIMEOUT="2")
        self.varnish = Varnish(tmp_path / "varnish", varnish_port, self.server.port)

    def put(self, key: str, **fields: object) -> None:
        status, _, body = self.server.request("PUT", f"/api/articles/{key}", make_article(key=key, **fields),
                                              self.headers)
        assert status in (200, 201), body

    def origin_hits(self, path: str) -> int:
        """Requests for ``path`` in feedsvc's access log so far."""
        pattern = re.compile(rf'"(GET|HEAD) {re.escape(path)} HTTP')
        return sum(1 for line in list(self.server.output) if pattern.search(line))

    def close(self) -> None:
        self.varnish.stop()
        self.server.stop()


@pytest.fixture
def stack(make_app: Callable[..., Flask], db_url: str, tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(make_app(NOW=None), db_url, tmp_path)
    yield stack
    stack.close()


def wait_until(condition: Callable[[], bool], timeout: float) -> float:
    """Seconds until ``condition`` held (polling every 20 ms); fails after ``timeout``."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, "not within the time allowed"
        time.sleep(0.02)
    return time.monotonic() - start


def next_second(ahead: float) -> dt.datetime:
    """A whole second at least ``ahead`` seconds from now (published times have seconds)."""
    return dt.datetime.fromtimestamp(math.ceil(time.time() + ahead), dt.UTC)


def test_polls_are_answered_by_varnish_and_changes_show_at_once(stack: Stack) -> None:
    feed = "/sections/world/feed.atom"
    stack.put("a", title="First title")
    status, headers, first = stack.varnish.get(feed)
    assert status == 200 and b"First title" in first
    assert headers["Surrogate-Key"] == "sections/world" and "Surrogate-Control" not in headers
    wait_until(lambda: stack.origin_hits(feed) >= 1, 5)  # the access line is written as it answers
    fetched = stack.origin_hits(feed)
    for _ in range(20):  # plain, gzip, revalidations: none reaches feedsvc
        assert stack.varnish.get(feed)[2] == first
        assert stack.varnish.get(feed, {"Accept-Encoding": "gzip"})[0] == 200
        assert stack.varnish.get(feed, {"If-None-Match": headers["ETag"]})[0] == 304
    time.sleep(0.3)
    assert stack.origin_hits(feed) == fetched
    assert stack.varnish.get(feed)[1]["X-Cache"] == "HIT"

    status, _, body = stack.server.request("PATCH", "/api/articles/a", {"title": "Second title"}, stack.headers)
    assert status == 200, body
    took = wait_until(lambda: b"Second title" in stack.varnish.get(feed)[2], 1.0)
    assert took < 1.0
    # The API passes through Varnish, never cached.
    status, _, body = stack.varnish.get("/api/articles/a", stack.headers)
    assert status == 200 and b"Second title" in body


def test_an_embargoed_article_shows_through_varnish_at_its_instant(stack: Stack) -> None:
    feed = "/sections/world/feed.atom"
    stack.put("now", title="Already out")
    due = next_second(4)
    stack.put("later", title="Embargoed story", published=due.isoformat(), updated=None)
    status, headers, body = stack.varnish.get(feed)
    assert status == 200 and b"Already out" in body and b"Embargoed story" not in body
    assert "later" not in str(headers)  # nothing names it before its instant
    while time.time() < due.timestamp() - 0.5:  # Varnish keeps answering, without it
        assert b"Embargoed story" not in stack.varnish.get(feed)[2]
        time.sleep(0.1)
    wait_until(lambda: time.time() >= due.timestamp(), 2)
    late = wait_until(lambda: b"Embargoed story" in stack.varnish.get(feed)[2], 1.0)
    assert late < 1.0


def test_varnish_serves_the_last_document_while_feedsvc_is_down(stack: Stack) -> None:
    """stale-if-error: the Science feed's lifetime ends at a scheduled instant; feedsvc is
    stopped before it; after it, Varnish still answers with the document it has."""
    feed = "/sections/science/feed.atom"
    stack.put("b", title="Science story", section="Science")
    due = next_second(5)
    stack.put("c", title="Never seen", section="Science", published=due.isoformat(), updated=None)
    status, headers, stored = stack.varnish.get(feed)
    assert status == 200 and b"Science story" in stored
    stopped = time.monotonic()
    stack.server.stop()
    # Past the instant (the stored document's lifetime) and past the probe's verdict (about 3 s).
    time.sleep(max(due.timestamp() - time.time() + 0.5, stopped + 4 - time.monotonic(), 0))
    for _ in range(3):
        status, _, body = stack.varnish.get(feed)
        assert status == 200 and body == stored


def test_pages_are_answered_by_varnish_and_purged_by_their_article(stack: Stack) -> None:
    page, later_page = "/articles/a", "/articles/later"
    stack.put("a", title="First title")
    status, headers, first = stack.varnish.get(page)
    assert status == 200 and b"First title" in first
    assert headers["Surrogate-Key"] == "articles/a articles" and headers["Cache-Control"] == "no-cache"
    due = next_second(4)
    stack.put("later", title="Embargoed story", published=due.isoformat(), updated=None)
    status, headers, missing = stack.varnish.get(later_page)
    assert status == 404  # kept by Varnish as a key nobody used would be
    wait_until(lambda: stack.origin_hits(page) >= 1 and stack.origin_hits(later_page) >= 1, 5)
    fetched = (stack.origin_hits(page), stack.origin_hits(later_page))
    for _ in range(10):
        assert stack.varnish.get(page)[2] == first
        assert stack.varnish.get(page, {"If-None-Match": headers["ETag"] or ""})[0] in (200, 304)
        assert stack.varnish.get(later_page)[0] == 404
    time.sleep(0.3)
    assert (stack.origin_hits(page), stack.origin_hits(later_page)) == fetched
    assert stack.varnish.get(page)[1]["X-Cache"] == "HIT"

    status, _, body = stack.server.request("PATCH", "/api/articles/a", {"title": "Second title"}, stack.headers)
    assert status == 200, body
    assert wait_until(lambda: b"Second title" in stack.varnish.get(page)[2], 1.0) < 1.0
    while time.time() < due.timestamp() - 0.5:
        assert stack.varnish.get(later_page)[0] == 404
        time.sleep(0.1)
    wait_until(lambda: time.time() >= due.timestamp(), 2)
    assert wait_until(lambda: stack.varnish.get(later_page)[0] == 200, 1.0) < 1.0
    assert b"Embargoed story" in stack.varnish.get(later_page)[2]
