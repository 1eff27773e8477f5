"""WebSub end to end: a real ``feedsvc serve`` (or ``feedsvc worker``) and a real subscriber.

The subscriber (tests/subscriber.py) is an HTTP server of the test's own on loopback: it
subscribes through /websub, answers the challenge, checks signatures and records each
delivery with the instant it arrived. Loopback callbacks need WEBSUB_ALLOW_PRIVATE.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import event, func, select
from test_websub_abuse import subscribe_directly

from feedsvc.store import db
from feedsvc.store.models import WebSubJob, WebSubSubscription
from feedsvc.websub import worker as worker_module

from conftest import make_article, new_token
from live import LiveServer, free_port
from subscriber import Subscriber, wait_for

BASE = "http://feeds.test"
WORLD = f"{BASE}/sections/world/feed.atom"
ATOM = "{http://www.w3.org/2005/Atom}"
FAST = {"WEBSUB_ALLOW_PRIVATE": "true", "WEBSUB_RETRY_BASE": "0.2", "WEBSUB_LEASE_MIN": "1",
        "WEBSUB_TIMEOUT": "2", "WEBSUB_WORKER_INTERVAL": "0.2"}


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    subscriber = Subscriber()
    yield subscriber
    subscriber.close()


class Site:
    """The database the servers share, a token for it, and the servers started on it."""

    def __init__(self, app: Flask, db_url: str, instance: Path) -> None:
        self.app, self.db_url, self.instance = app, db_url, instance
        self.headers = {"Authorization": f"Bearer {new_token(app)}"}
        self.servers: list[LiveServer] = []

    def start(self, **config: str) -> LiveServer:
        self.servers.append(LiveServer(self.instance, self.db_url, threads=4, **(FAST | config)))
        return self.servers[-1]

    def put(self, server: LiveServer, key: str, **fields: object) -> None:
        status, _, body = server.request("PUT", f"/api/articles/{key}",
                                         make_article(key=key, **fields), self.headers)
        assert status in (200, 201), body

    def states(self) -> dict[str, str]:
        now = dt.datetime.now(dt.UTC)
        with db.write_session(db.get_engine(self.app)) as session:
            return {s.callback.rsplit("/", 1)[-1]: ("expired" if s.expires <= now else s.state)
                    for s in session.scalars(select(WebSubSubscription))}

    def env(self, **config: str) -> dict[str, str]:
        """The environment of a ``feedsvc`` command of its own on this site (FAST, then config)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
        return env | {"FEEDSVC_INSTANCE_PATH": str(self.instance), "FEEDSVC_DATABASE_URL": self.db_url,
                      "FEEDSVC_BASE_URL": BASE} | {f"FEEDSVC_{k}": v for k, v in (FAST | config).items()}

    def subscribe_directly(self, callbacks: list[str]) -> None:
        """Active subscriptions of WORLD written straight into the database, as if verified long
        ago, with the feed's current document kept (so that the next change is delivered)."""
        subscribe_directly(self.app, callbacks)

    def pending(self, kind: str | None = None) -> int:
        """Jobs of ``kind`` waiting; by default those to send (not the changes a write records
        for the worker to expand)."""
        with db.write_session(db.get_engine(self.app)) as session:
            query = select(func.count()).select_from(WebSubJob)
            return session.scalar(query.where(WebSubJob.kind == kind) if kind
                                  else query.where(WebSubJob.kind != "change")) or 0


@pytest.fixture
def site(make_app: Callable[..., Flask], db_url: str, tmp_path: Path) -> Iterator[Site]:
    site = Site(make_app(NOW=None), db_url, tmp_path / "instance")
    yield site
    for server in site.servers:
        server.stop()


def subscribe_all(site: Site, server: LiveServer, subscriber: Subscriber,
                  topics: dict[str, str], **params: str) -> None:
    for path, topic in topics.items():
        status, body = subscriber.subscribe(f"{server.base}/websub", topic, path, **params)
        assert status == 202, body
    wait_for(lambda: all(site.states().get(p.strip("/")) == "active" for p in topics))


def test_a_put_reaches_the_subscriber_signed_within_two_seconds(
        site: Site, subscriber: Subscriber) -> None:
    server = site.start()
    site.put(server, "first")
    subscriber.add("/world", secret="s" * 40)
    subscribe_all(site, server, subscriber, {"/world": WORLD}, secret="s" * 40,
                  lease_seconds="3600")
    started = time.monotonic()
    site.put(server, "breaking", title="Breaking news")
    [delivery] = wait_for(lambda: subscriber.received("/world"), timeout=2)
    assert delivery.at - started < 2
    assert subscriber.signature_ok(delivery)
    status, headers, body = server.request("GET", "/sections/world/feed.atom")
    assert status == 200 and delivery.body == body and b"Breaking news" in body
    assert delivery.headers["Content-Type"] == headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    assert delivery.headers["Link"] == f'<{BASE}/websub>; rel="hub", <{WORLD}>; rel="self"'
    time.sleep(0.3)
    assert len(subscriber.received("/world")) == 1  # one change, one delivery


def test_every_feed_names_the_hub(site: Site) -> None:
    server = site.start()
    site.put(server, "first")
    hub = f"{BASE}/websub"
    for path in ("/feed", "/sections/world/feed", "/topics/climate/feed"):
        for fmt in ("atom", "rss", "json"):
            status, headers, body = server.request("GET", f"{path}.{fmt}")
            assert status == 200
            link = headers["Link"]
            assert f'<{hub}>; rel="hub"' in link and link.count('rel="self"') == 1
            if fmt == "json":
                assert json.loads(body)["hubs"] == [{"type": "WebSub", "url": hub}]
                continue
            root = ET.fromstring(body)
            links = root.iter(f"{ATOM}link")
            rels = collections.Counter((el.get("rel"), el.get("href")) for el in links)
            assert rels[("hub", hub)] == 1
            assert sum(n for (rel, _), n in rels.items() if rel == "self") == 1
            assert rels[("self", f"{BASE}{path}.{fmt}")] == 1


def test_deliveries_pending_at_a_kill_arrive_after_restart(site: Site, subscriber: Subscriber) -> None:
    server = site.start()
    site.put(server, "first", topics=["Climate"])
    topics = {"/world": WORLD, "/site": f"{BASE}/feed.json",
              "/climate": f"{BASE}/topics/climate/feed.rss"}
    hangs = {path: threading.Event() for path in topics}
    for path in topics:
        subscriber.add(path, hang=hangs[path])
    subscribe_all(site, server, subscriber, topics)
    site.put(server, "before-kill-1", title="Before the kill one", topics=["Climate"])
    wait_for(lambda: all(subscriber.callbacks[p].attempts for p in topics))  # in flight
    site.put(server, "before-kill-2", title="Before the kill two", topics=["Climate"])
    server.stop(signal.SIGKILL)
    assert site.pending() >= len(topics)
    for path in topics:
        subscriber.callbacks[path].hang = None
        hangs[path].set()
    assert all(subscriber.received(p) == [] for p in topics)
    restarted = site.start()
    for path in topics:
        deliveries = wait_for(lambda p=path: subscriber.received(p), timeout=10)
        last = wait_for(lambda p=path: [d for d in subscriber.received(p)
                                        if b"Before the kill two" in d.body])[-1]
        assert b"Before the kill one" in last.body
        assert len(deliveries) <= 2
    status, _, body = restarted.request("GET", "/sections/world/feed.atom")
    assert subscriber.received("/world")[-1].body == body
    wait_for(lambda: site.pending() == 0)


def test_a_failing_subscriber_gets_the_delivery_after_backoff(site: Site,
                                                              subscriber: Subscriber) -> None:
    server = site.start()
    site.put(server, "first")
    subscriber.add("/flaky", failures=3)
    subscribe_all(site, server, subscriber, {"/flaky": WORLD})
    site.put(server, "second", title="Worth the wait")
    [delivery] = wait_for(lambda: subscriber.received("/flaky"), timeout=15)
    assert b"Worth the wait" in delivery.body
    attempts = subscriber.callbacks["/flaky"].attempts
    assert len(attempts) == 4
    gaps = [later - earlier for earlier, later in zip(attempts, attempts[1:], strict=False)]
    # WEBSUB_RETRY_BASE 0.2 s: retry n waits between 0.1 and 0.2 s times 2^(n-1).
    for n, gap in enumerate(gaps, start=1):
        assert 0.1 * 2 ** (n - 1) - 0.02 <= gap <= 0.2 * 2 ** (n - 1) + 0.5, gaps
    assert gaps[0] < gaps[2]
    runner = site.app.test_cli_runner()

    def listing() -> str | None:  # the worker settles just after the subscriber answered
        output = runner.invoke(args=["subscriptions"]).output
        return output if "delivered (204)" in output else None

    output = wait_for(listing)
    assert " active " in output and "/flaky" in output


def test_unsubscribe_and_lease_expiry_stop_deliveries(site: Site, subscriber: Subscriber) -> None:
    server = site.start()
    site.put(server, "first")
    for path in ("/stay", "/leave", "/short"):
        subscriber.add(path)
    subscribe_all(site, server, subscriber, {"/stay": WORLD, "/leave": WORLD})
    subscribe_all(site, server, subscriber, {"/short": WORLD}, lease_seconds="1")
    status, _ = subscriber.subscribe(f"{server.base}/websub", WORLD, "/leave", mode="unsubscribe")
    assert status == 202
    wait_for(lambda: site.states() == {"stay": "active", "leave": "unsubscribed",
                                       "short": "expired"}, timeout=5)
    assert subscriber.verified("/leave", "unsubscribe")
    site.put(server, "second")
    wait_for(lambda: subscriber.received("/stay"))
    time.sleep(0.5)
    assert subscriber.received("/leave") == [] and subscriber.received("/short") == []


def test_a_denied_verification_leaves_nothing_active(site: Site, subscriber: Subscriber) -> None:
    server = site.start()
    site.put(server, "first")
    subscriber.add("/no", deny=True)
    assert subscriber.subscribe(f"{server.base}/websub", WORLD, "/no")[0] == 202
    wait_for(lambda: subscriber.verified("/no") and site.pending() == 0)
    assert site.states() == {}
    site.put(server, "second")
    time.sleep(0.5)
    assert subscriber.received("/no") == []


@pytest.mark.postgres_only
def test_two_workers_deliver_a_thousand_jobs_exactly_once(site: Site, subscriber: Subscriber) -> None:
    client = site.app.test_client()
    assert client.put("/api/articles/first", json=make_article(key="first"),
                      headers=site.headers).status_code == 201
    site.subscribe_directly([subscriber.url(f"/cb/{n}") for n in range(1000)])
    assert client.put("/api/articles/second", json=make_article(key="second"),
                      headers=site.headers).status_code == 201
    # The write recorded one change per scope it touched; the workers expand and send.
    assert site.pending() == 0 and site.pending("change") == 4
    env = site.env(WEBSUB_MAX_PER_HOST="8")  # a thousand callbacks on one host here
    workers = [subprocess.Popen([sys.executable, "-m", "feedsvc.cli", "worker"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for _ in range(2)]
    try:
        wait_for(lambda: len(subscriber.deliveries) >= 1000 and site.pending() == 0
                 and site.pending("change") == 0, timeout=60, step=0.1)
        time.sleep(0.5)  # anything sent twice would have arrived by now
    finally:
        outputs = []
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
            outputs.append(worker.communicate(timeout=30)[0])
    assert all(worker.returncode == 0 for worker in workers), outputs
    counts = collections.Counter(d.path for d in subscriber.deliveries)
    assert len(counts) == 1000 and set(counts.values()) == {1}


def test_serve_without_worker_and_a_worker_run_once(site: Site, subscriber: Subscriber) -> None:
    port = free_port()
    env = site.env()
    process = subprocess.Popen([sys.executable, "-m", "feedsvc.cli", "serve", "--port", str(port),
                                "--no-worker"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: _listening(port), timeout=30, step=0.05)
        status, _, _ = _put(port, "first", site.headers)
        assert status == 201
        assert subscriber.subscribe(f"http://127.0.0.1:{port}/websub", WORLD, "/later")[0] == 202
        time.sleep(1)
        assert not subscriber.verified("/later") and site.pending() == 1  # nobody works the outbox
        app = site.app
        app.config.update(WEBSUB_ALLOW_PRIVATE=True)
        result = app.test_cli_runner().invoke(args=["worker", "--once"])
        assert result.exit_code == 0, result.output
        assert "1 attempt(s)" in result.output
        assert subscriber.verified("/later") and site.states() == {"later": "active"}
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0]
    assert "WebSub worker" not in output and "feedsvc stopped" in output


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _put(port: int, key: str, headers: dict[str, str]) -> tuple[int, object, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/articles/{key}",
                                     data=json.dumps(make_article(key=key)).encode(), method="PUT",
                                     headers={"Content-Type": "application/json"} | headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.headers, response.read()


def test_jobs_queued_elsewhere_are_sent_in_parallel(site: Site, subscriber: Subscriber) -> None:
    """Jobs another process queued reach this worker by its clock, not by a commit of its own:
    the thread that finds them wakes the others, so eight slow subscribers wait together."""
    # Eight callbacks on one host here: let it hold every sender (the hub's share per host is
    # tested in test_websub_abuse).
    env = site.env(WEBSUB_WORKER_THREADS="8", WEBSUB_TIMEOUT="5", WEBSUB_MAX_PER_HOST="8")
    client = site.app.test_client()
    assert client.put("/api/articles/first", json=make_article(key="first"),
                      headers=site.headers).status_code == 201
    worker = subprocess.Popen([sys.executable, "-m", "feedsvc.cli", "worker"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    hang = threading.Event()
    paths = [f"/slow/{n}" for n in range(8)]
    try:
        time.sleep(1)  # the worker is up and idle
        for path in paths:
            subscriber.add(path, hang=hang)
        site.subscribe_directly([subscriber.url(path) for path in paths])
        # Queued by this process: the worker's threads hear of it only by looking.
        assert client.put("/api/articles/second", json=make_article(key="second"),
                          headers=site.headers).status_code == 201
        wait_for(lambda: all(subscriber.callbacks[p].attempts for p in paths), timeout=5)
        arrivals = [subscriber.callbacks[p].attempts[0] for p in paths]
        # One after another, each would have waited out the 5 s timeout of the one before.
        assert max(arrivals) - min(arrivals) < 2.5, arrivals
    finally:
        hang.set()
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=30)[0]
    assert worker.returncode == 0, output


def test_a_slow_send_holds_up_no_other_job(site: Site, subscriber: Subscriber) -> None:
    """While one sender waits on a subscriber that hangs, a job queued by another process for
    another subscriber is still found and sent by the next interval."""
    # Both callbacks on the subscriber's one host here: let it hold every sender (the hub's
    # share per host is tested in test_websub_abuse).
    env = site.env(WEBSUB_WORKER_THREADS="3", WEBSUB_TIMEOUT="8", WEBSUB_MAX_PER_HOST="3")
    client = site.app.test_client()
    assert client.put("/api/articles/first", json=make_article(key="first"),
                      headers=site.headers).status_code == 201
    hang = threading.Event()
    subscriber.add("/hangs", hang=hang)
    worker = subprocess.Popen([sys.executable, "-m", "feedsvc.cli", "worker"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(1)  # the worker is up and idle: what comes next it finds by looking
        site.subscribe_directly([subscriber.url("/hangs")])
        assert client.put("/api/articles/second", json=make_article(key="second"),
                          headers=site.headers).status_code == 201
        wait_for(lambda: subscriber.callbacks["/hangs"].attempts, timeout=5)  # a sender is stuck
        site.subscribe_directly([subscriber.url("/quick")])
        # On PostgreSQL the job being sent is locked, so this write queues another one for
        # /hangs beside the one for /quick (on SQLite it folds into the first): three senders.
        queued = time.monotonic()
        assert client.put("/api/articles/third", json=make_article(key="third", title="Third"),
                          headers=site.headers).status_code == 201
        [delivery] = wait_for(lambda: subscriber.received("/quick"), timeout=5)
        assert delivery.at - queued < 2, "waited for the hanging send"  # its timeout is 8 s
        assert not hang.is_set() and b"Third" in delivery.body
    finally:
        hang.set()
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=30)[0]
    assert worker.returncode == 0, output


def test_an_idle_worker_reads_as_one_thread_does(site: Site) -> None:
    """One clock thread looks each interval; the eight senders sleep until there is work."""
    app = site.app
    app.config.update(WEBSUB_WORKER_THREADS=8, WEBSUB_WORKER_INTERVAL=0.1)
    engine = db.get_engine(app)
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    worker = worker_module.Worker(app)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        time.sleep(0.5)  # all threads have started and looked once
        event.listen(engine, "before_cursor_execute", count)
        time.sleep(2)
        event.remove(engine, "before_cursor_execute", count)
    finally:
        stop.set()
        worker.signal.notify()
        thread.join(10)
    cycles = len([s for s in statements if "websub_jobs" in s and "due >" in s])  # one a turn
    assert 10 <= cycles <= 25, cycles  # 2 s of 0.1 s turns, by one thread
    assert len(statements) <= 8 * cycles, statements[:20]
