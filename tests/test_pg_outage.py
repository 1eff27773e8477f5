"""PostgreSQL stopped and started under a running ``feedsvc serve`` (issue 7, "Database outage").

Each test gets a throwaway PostgreSQL cluster of its own (initdb, then ``pg_ctl`` as the
``postgres`` OS user when the tests run as root), so the shared server is never touched, and
stops and starts it for real. While it is down every request that needs the database answers
within seconds with 503 problem+json and ``Retry-After`` — feeds too: a cached feed is only
served after its scope's version was read, so that no process serves a document older than an
acknowledged write — and routes that need no database keep answering. Once it is back, the same
server process writes and serves again by itself, on every thread, WebSub worker included.
"""

from __future__ import annotations

import datetime as dt
import glob
import http.client
import json
import os
import pwd
import random
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from feedcheck import read
from sqlalchemy import select

from feedsvc.store import db
from feedsvc.store.models import WebSubSubscription
from feedsvc.web import auth

from conftest import make_article
from live import LiveServer, free_port
from subscriber import Subscriber, wait_for

pytestmark = pytest.mark.postgres_only

BASE = "http://feeds.test"
THREADS = 4
FAST_WORKER = {"WEBSUB_ALLOW_PRIVATE": "true", "WEBSUB_RETRY_BASE": "0.2", "WEBSUB_TIMEOUT": "2",
               "WEBSUB_WORKER_INTERVAL": "0.2"}
ANSWER_WITHIN = 5.0  # seconds: a request during the outage answers at least this fast
RECOVER_WITHIN = 10.0  # seconds after PostgreSQL accepts connections again
Call = tuple[str, str, Any, dict[str, str]]  # method, path, JSON body, headers


# A private cluster.

def _bindir() -> Path | None:
    """The newest PostgreSQL server binaries installed (Debian keeps them per major version)."""
    versions = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin") if Path(p).parent.name.isdigit()]
    candidates = sorted(versions, key=lambda p: int(p.parent.name), reverse=True)
    if shutil.which("pg_config"):  # elsewhere; libpq-dev's pg_config may name a folder without a server
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
        candidates.append(Path(out))
    return next((p for p in candidates if (p / "initdb").is_file() and (p / "pg_ctl").is_file()), None)


def _listen_port() -> int:
    """A free port below the ephemeral range: no outgoing connection takes it while the cluster is down."""
    ranges = Path("/proc/sys/net/ipv4/ip_local_port_range")
    low = int(ranges.read_text().split()[0]) if ranges.is_file() else 32768
    for port in random.sample(range(10000, max(low, 10001)), min(200, max(low - 10000, 1))):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    return free_port()


def _owner() -> tuple[list[str], pwd.struct_passwd | None]:
    """How to run the server binaries: as ourselves, or as ``postgres`` (initdb refuses root)."""
    if os.geteuid() != 0:
        return [], None
    try:
        account = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no 'postgres' OS user to run initdb as")
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--"], account
    if shutil.which("setpriv"):
        return ["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--init-groups",
                "--"], account
    pytest.skip("running as root and neither runuser nor setpriv is installed")


class Cluster:
    """A throwaway PostgreSQL cluster on 127.0.0.1, stopped and started with ``pg_ctl``."""

    def __init__(self, bindir: Path, root: Path, prefix: list[str]) -> None:
        self.bindir, self.root, self.prefix = bindir, root, prefix
        self.data, self.port = root / "data", _listen_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*self.prefix, *args], cwd=self.root, capture_output=True, text=True,
                              timeout=120)
        if check and done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stdout}{done.stderr}{self.log()}")
        return done

    def init(self) -> None:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                  "-E", "UTF8", "--no-locale", "--no-sync")
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                       f"unix_socket_directories = '{self.root}'\nshared_buffers = 16MB\n")

    def start(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
                  "-w", "-t", "60", "start")

    def stop(self, mode: str = "immediate", check: bool = True) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=check)

    def log(self) -> str:
        path = self.root / "log"
        return path.read_text(errors="replace")[-4000:] if path.is_file() else ""


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    bindir = _bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) are installed")
    prefix, account = _owner()
    root = Path(tempfile.mkdtemp(prefix="feedsvc-pg-"))  # under /tmp: pytest's tmp_path is root-only
    cluster = Cluster(bindir, root, prefix)
    try:
        if account is not None:
            os.chown(root, account.pw_uid, account.pw_gid)
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.stop(check=False)
        shutil.rmtree(root, ignore_errors=True)


# The server on it, and HTTP with a deadline.

@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)


class Server:
    """``feedsvc serve`` on the cluster (LiveServer reads its output as it comes)."""

    def __init__(self, live: LiveServer, token: str) -> None:
        self.live, self.port = live, live.port
        self.auth = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
             timeout: float = 15.0) -> Answer:
        """One request on a new connection; a hang fails the test (socket timeout), as does a refusal."""
        data = None if body is None else json.dumps(body).encode()
        sent = {"Content-Type": "application/json"} if data is not None else {}
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        started = time.monotonic()
        try:
            connection.request(method, path, body=data, headers=sent | (headers or {}))
            response = connection.getresponse()
            payload = response.read()
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, payload,
                          time.monotonic() - started)
        finally:
            connection.close()

    def api(self, method: str, path: str, body: Any = None, **headers: str) -> Answer:
        return self.call(method, path, body, self.auth | headers)

    def burst(self, calls: list[Call]) -> list[Answer]:
        """Every call at once, each on its own connection: more requests than server threads."""
        with ThreadPoolExecutor(len(calls)) as pool:
            return list(pool.map(lambda c: self.call(*c), calls))

    def alive(self) -> bool:
        return self.live.process.poll() is None

    def stop(self) -> str:
        return self.live.stop()


@contextmanager
def serving(cluster: Cluster, instance: Path, **config: str) -> Iterator[Server]:
    engine = db.make_engine(cluster.url)
    try:
        db.upgrade(engine)
        token = db.run_write(engine, lambda s: auth.create_token(s, "newsroom", dt.datetime.now(dt.UTC)))[1]
    finally:
        engine.dispose()
    server = Server(LiveServer(instance, cluster.url, threads=THREADS, **config), token)
    try:
        yield server
    except BaseException:
        print("feedsvc serve printed:", server.stop()[-8000:], "postgres log:", cluster.log(), sep="\n")
        raise
    finally:
        server.stop()


def active_subscriptions(url: str) -> int:
    engine = db.make_engine(url)
    try:
        with db.write_session(engine) as session:
            return len(session.scalars(select(WebSubSubscription.id)
                                       .where(WebSubSubscription.state == "active")).all())
    finally:
        engine.dispose()


def feed_calls(etag: str, since: str) -> list[Call]:
    """Polls as readers send them: with and without validators, every format, HEAD, other scopes."""
    return [("GET", "/feed.atom", None, {}), ("GET", "/feed.rss", None, {}), ("GET", "/feed.json", None, {}),
            ("GET", "/feed.atom", None, {"If-None-Match": etag}),
            ("GET", "/feed.atom", None, {"If-Modified-Since": since}),
            ("GET", "/feed.atom", None, {"Accept-Encoding": "gzip", "If-None-Match": etag}),
            ("HEAD", "/feed.atom", None, {}), ("GET", "/feed.atom?order=updated", None, {}),
            ("GET", "/sections/world/feed.atom", None, {}), ("GET", "/topics/climate/feed.json", None, {}),
            ("GET", "/feeds.opml", None, {})]


def page_and_api_calls(auth_header: dict[str, str]) -> list[Call]:
    html = {"Accept": "text/html"}
    return [("GET", "/", None, html), ("GET", "/sections/world/", None, html),
            ("GET", "/articles/before-1", None, html), ("GET", "/feeds", None, html),
            ("GET", "/api/articles/before-1", None, auth_header), ("GET", "/api/articles", None, auth_header),
            ("PUT", "/api/articles/during-1", make_article(key="during-1", title="Written during"), auth_header),
            ("PATCH", "/api/articles/before-1", {"title": "Patched during"}, auth_header),
            ("DELETE", "/api/articles/before-2", None, auth_header),
            ("POST", "/api/articles", make_article(key="during-2", title="Posted during"), auth_header)]


def assert_unavailable(answer: Answer, call: Call) -> None:
    """A 503 with Retry-After, fast: what a client can back off on. A person on a page reads it
    as an HTML page; everyone else gets problem+json."""
    assert answer.status == 503, (call, answer.status, answer.body[:300])
    assert int(answer.headers["retry-after"]) > 0, call
    assert answer.seconds < ANSWER_WITHIN, (call, answer.seconds)
    if call[3].get("Accept") == "text/html":
        assert answer.headers["content-type"].startswith("text/html"), call
        assert b"unavailable" in answer.body, call
        return
    assert answer.headers["content-type"] == "application/problem+json", call
    if call[0] != "HEAD":
        assert answer.json()["status"] == 503


def titles(server: Server) -> dict[str, str]:
    """The site's Atom feed as a reader sees it: entry id -> title."""
    answer = server.call("GET", "/feed.atom")
    assert answer.status == 200, answer.body[:300]
    return {entry["id"]: entry["title"] for entry in read(answer.body, "atom")}


def spread(seconds: list[float]) -> str:
    return f"p50 {statistics.median(seconds) * 1000:.0f} ms, max {max(seconds) * 1000:.0f} ms"


# The phases of an outage.

def publish_before(server: Server, subscriber: Subscriber, callback: str, url: str) -> dict[str, str]:
    """A subscriber on the site feed and three acknowledged, delivered articles; the feed's entries."""
    status, _ = subscriber.subscribe(f"{server.live.base}/websub", f"{BASE}/feed.atom", callback)
    assert status == 202
    wait_for(lambda: active_subscriptions(url) == 1)
    for n in (1, 2, 3):
        answer = server.api("PUT", f"/api/articles/before-{n}", make_article(key=f"before-{n}", title=f"Before {n}"))
        assert answer.status == 201, answer.body
    wait_for(lambda: any(b"Before 3" in d.body for d in subscriber.received(callback)))
    acknowledged = titles(server)
    assert sorted(acknowledged.values()) == ["Before 1", "Before 2", "Before 3"]
    return acknowledged


def unavailable_in_bursts(server: Server, calls: list[Call], rounds: int = 2) -> list[float]:
    """Each call twice at once, ``rounds`` times: all fast 503s; the seconds each took."""
    timings: list[float] = []
    for n in range(rounds):
        if n:
            time.sleep(1)  # the WebSub worker meanwhile meets the outage too
        batch = calls * 2
        started = time.monotonic()
        answers = server.burst(batch)
        wall = time.monotonic() - started
        for call, answer in zip(batch, answers, strict=True):
            assert_unavailable(answer, call)
        assert wall < ANSWER_WITHIN, f"{len(batch)} requests on {THREADS} threads took {wall:.1f} s"
        timings += [a.seconds for a in answers]
    return timings


def first_write(server: Server) -> float:
    """Seconds until a PUT succeeds once the database is back; 503s until then, nothing else."""
    restarted = time.monotonic()
    while True:
        answer = server.api("PUT", "/api/articles/after-1", make_article(key="after-1", title="After 1"))
        if answer.status != 503:
            # 201, not 200: none of the refused attempts was written after all.
            assert answer.status == 201, answer.body
            return time.monotonic() - restarted
        assert time.monotonic() - restarted < RECOVER_WITHIN, "no recovery"
        time.sleep(0.05)


# The tests.

def test_outage_answers_503_fast_and_recovers_by_itself(cluster: Cluster, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    subscriber, callback = Subscriber(), "/outage"
    try:
        with serving(cluster, tmp_path / "instance", **FAST_WORKER) as server:
            acknowledged = publish_before(server, subscriber, callback, cluster.url)
            first = server.call("GET", "/feed.atom")
            etag, since = first.headers["etag"], first.headers["last-modified"]
            assert server.call("GET", "/feed.atom", headers={"If-None-Match": etag}).status == 304
            assert all(a.status == 200 for a in server.burst(feed_calls(etag, since)[:3] * THREADS))

            cluster.stop("immediate")
            calls = feed_calls(etag, since) + page_and_api_calls(server.auth)
            in_bursts = unavailable_in_bursts(server, calls)
            alone = [server.call(*call) for call in calls]  # one at a time: a 503 without queueing
            for call, answer in zip(calls, alone, strict=True):
                assert_unavailable(answer, call)
            spec = server.call("GET", "/api/openapi.json")  # needs no database
            assert spec.status == 200 and spec.json()["openapi"].startswith("3.1")

            cluster.start()
            recovery = first_write(server)
            polls = server.burst(feed_calls(etag, since) * 2)  # on every thread, with the old validators
            assert [a.status for a in polls] == [200] * len(polls)
            now = titles(server)
            assert sorted(now.values()) == ["After 1", "Before 1", "Before 2", "Before 3"]
            assert {k: now[k] for k in acknowledged} == acknowledged  # nothing lost, no refused edit applied
            for key in ("during-1", "during-2"):
                assert server.api("GET", f"/api/articles/{key}").status == 404
            wait_for(lambda: any(b"After 1" in d.body for d in subscriber.received(callback)),
                     timeout=RECOVER_WITHIN)  # the WebSub worker lived through it
            assert server.alive()
    finally:
        subscriber.close()
    with capsys.disabled():
        print(f"\noutage: 503 in bursts of {2 * len(calls)} on {THREADS} threads: {spread(in_bursts)};"
              f" one at a time: {spread([a.seconds for a in alone])};"
              f" first write {recovery * 1000:.0f} ms after PostgreSQL was back")


def test_restart_between_polls_goes_unnoticed(cluster: Cluster, tmp_path: Path) -> None:
    """A database restart while nobody polls (a maintenance window) costs readers nothing afterwards.

    Every server thread keeps a connection for the render cache's version reads; the restart
    breaks each one, and each must be replaced without answering 503.
    """
    with serving(cluster, tmp_path / "instance") as server:
        answer = server.api("PUT", "/api/articles/before-1", make_article(key="before-1", title="Before 1"))
        assert answer.status == 201, answer.body
        first = server.call("GET", "/feed.atom")
        etag, since = first.headers["etag"], first.headers["last-modified"]
        calls = feed_calls(etag, since) * 2
        assert all(a.status in (200, 304) for a in server.burst(calls))

        cluster.stop("fast")
        cluster.start()

        answers = server.burst(calls)
        assert [(c[1], a.status) for c, a in zip(calls, answers, strict=True) if a.status not in (200, 304)] == []
        assert server.call("GET", "/feed.atom", headers={"If-None-Match": etag}).status == 304
        assert server.api("GET", "/api/articles/before-1").status == 200
        assert server.call("GET", "/", headers={"Accept": "text/html"}).status == 200
