"""Prometheus metrics as an operator scrapes them from real ``feedsvc serve`` (and worker) processes.

The counters move by exactly what was done; /metrics is never on the public port; with
PROMETHEUS_MULTIPROC_DIR several processes add up on one machine, a stopped process's counts
stay and its gauge goes, also when it was killed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from sqlalchemy.orm import Session
from test_accesslog import call
from test_websub_live import BASE, FAST, WORLD

from feedsvc import accesslog, metrics
from feedsvc.store import db
from feedsvc.store.models import WebSubSubscription
from feedsvc.websub import outbox

from conftest import Api, Clock, make_article, new_token
from live import LiveServer, free_port
from subscriber import Subscriber, wait_for

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int) -> Samples:
    """Every sample the metrics port shows, parsed as Prometheus parses it."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value; 0 for a series not shown (a label value never counted)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests(samples: Samples) -> dict[tuple[str, str], float]:
    return {(dict(labels)["route"], dict(labels)["code"]): count for (name, labels), count in samples.items()
            if name == "feedsvc_http_requests_total" and count}


def test_the_counters_move_by_what_was_done(live: Callable[..., LiveServer],
                                            make_app: Callable[..., Flask]) -> None:
    port = free_port()
    server = live("--metrics-port", str(port))
    assert f"feedsvc metrics on http://127.0.0.1:{port}/metrics\n" in server.output
    token = {"Authorization": f"Bearer {new_token(make_app())}", "Content-Type": "application/json"}
    before = scrape(port)
    assert requests(before) == {}
    assert call(server, "PUT", "/api/articles/a", token, json.dumps(make_article(key="a")).encode())[0] == 201
    status, headers, _ = call(server, "GET", "/sections/world/feed.atom")  # a render
    assert status == 200
    assert call(server, "GET", "/sections/world/feed.atom")[0] == 200  # the fast path
    for _ in range(3):
        assert call(server, "GET", "/sections/world/feed.atom", {"If-None-Match": headers["etag"]})[0] == 304
    assert call(server, "GET", "/sections/world/")[0] == 200
    assert call(server, "GET", "/healthz")[0] == 200
    assert call(server, "GET", "/metrics")[0] == 404  # never on the public port
    assert call(server, "POST", "/websub")[0] == 415  # no form
    after = wait_for(lambda: (found := scrape(port)) and sum(requests(found).values()) >= 10 and found)
    assert requests(after) == {("api", "201"): 1, ("feed", "200"): 2, ("feed", "304"): 3,
                               ("page", "200"): 1, ("health", "200"): 1, ("other", "404"): 1,
                               ("websub", "415"): 1}
    assert value(after, "feedsvc_feed_cache_lookups_total", result="miss") == 1
    assert value(after, "feedsvc_feed_cache_lookups_total", result="hit") == 4
    assert value(after, "feedsvc_feed_render_seconds_count", format="atom") == 1
    assert 0 < value(after, "feedsvc_feed_render_seconds_sum", format="atom") < 5
    assert value(after, "feedsvc_feed_cache_bytes") > 0
    # The write's changes, expanded by the worker (no subscriber: nothing to deliver).
    jobs = ("feedsvc_websub_jobs", frozenset({("kind", "change"), ("state", "due")}))
    wait_for(lambda: scrape(port).get(jobs) == 0)
    assert scrape(port)[("feedsvc_websub_oldest_due_seconds", frozenset())] == 0
    assert value(after, "feedsvc_websub_deliveries_total", outcome="done") == 0
    assert value(after, "process_resident_memory_bytes") > 0  # one process: its own figures too


def test_no_metrics_listener_without_a_port(live: Callable[..., LiveServer]) -> None:
    server = live()
    assert call(server, "GET", "/metrics")[0] == 404
    assert not any(line.startswith("feedsvc metrics on") for line in server.output)


@pytest.mark.parametrize(("method", "path", "route"), [
    ("GET", "/sections/world/feed.atom", "feed"), ("GET", "/feeds.opml", "feed"),
    ("GET", "/nowhere/feed.atom", "other"), ("GET", "/", "page"), ("GET", "/feeds", "page"),
    ("GET", "/sections/world", "page"),  # redirected to the page
    ("GET", "/articles/x", "page"), ("DELETE", "/api/articles/x", "api"), ("GET", "/api/openapi.json", "api"),
    ("POST", "/websub", "websub"), ("GET", "/websub", "websub"),  # a 405, of the hub still
    ("GET", "/healthz", "health"), ("GET", "/readyz", "health"), ("GET", "/static/site.css", "other"),
    ("GET", "/metrics", "other"), ("GET", "", "other"),  # no path could be read
])
def test_the_route_kind_of_a_path(make_app: Callable[..., Flask], method: str, path: str, route: str) -> None:
    assert accesslog.Routes(make_app()).kind(method, path) == route
    assert {*accesslog.Routes.KINDS.values(), "other"} == set(metrics.ROUTES)


def test_the_websub_backlog_is_read_from_the_database(app: Flask, api: Api, clock: Clock) -> None:
    assert api.put("out", make_article(key="out")).status_code == 201  # one change per scope, due now
    later = {"published": "2026-11-02T12:00:00Z", "updated": "2026-11-02T12:00:00Z"}
    assert api.put("later", make_article(key="later", **later)).status_code == 201  # due tomorrow
    clock.advance(seconds=90)
    with Session(db.get_engine(app)) as session:
        backlog = outbox.backlog(session, clock.now)
    assert backlog.jobs == {("change", "due"): 4, ("change", "waiting"): 4}  # site, section, topic, author
    assert backlog.oldest_due == 90


def gauge_files(folder: Path) -> set[str]:
    return {p.name for p in folder.glob("gauge_live*")}


def test_processes_sharing_a_directory_add_up(live: Callable[..., LiveServer], tmp_path: Path) -> None:
    folder = tmp_path / "metrics"  # made by the first process
    env = {"PROMETHEUS_MULTIPROC_DIR": str(folder)}
    port = free_port()
    a = live("--metrics-port", str(port), env=env)
    b = live("--no-worker", env=env)
    c = live("--no-worker", env=env)
    for _ in range(2):
        assert call(a, "GET", "/feed.atom")[0] == 200
    alone = wait_for(lambda: (found := scrape(port)) and sum(requests(found).values()) == 2 and found)
    held_by_a = value(alone, "feedsvc_feed_cache_bytes")
    assert held_by_a > 0 and requests(alone) == {("feed", "200"): 2}
    assert call(b, "GET", "/feed.rss")[0] == 200
    assert call(c, "GET", "/feed.json")[0] == 200
    assert call(c, "GET", "/nowhere")[0] == 404
    together = wait_for(lambda: (found := scrape(port)) and sum(requests(found).values()) == 5 and found)
    assert requests(together) == {("feed", "200"): 4, ("other", "404"): 1}
    assert value(together, "feedsvc_feed_cache_lookups_total", result="miss") == 3
    assert value(together, "feedsvc_feed_render_seconds_count", format="json") == 1
    assert value(together, "feedsvc_feed_cache_bytes") > held_by_a
    # A process that stops takes its gauge with it; its counts stay (a counter never goes back).
    b_pid, c_pid = b.process.pid, c.process.pid
    assert f"gauge_livesum_{b_pid}.db" in gauge_files(folder)
    b.stop()
    assert f"gauge_livesum_{b_pid}.db" not in gauge_files(folder)
    # One killed cannot: the next scrape finds it dead and leaves its gauge out.
    c.stop(signal.SIGKILL)
    assert f"gauge_livesum_{c_pid}.db" in gauge_files(folder)
    later = scrape(port)
    assert f"gauge_livesum_{c_pid}.db" not in gauge_files(folder)
    assert value(later, "feedsvc_feed_cache_bytes") == held_by_a
    assert requests(later) == requests(together)
    assert "process_resident_memory_bytes" not in {name for name, _ in later}  # per process only


def active(app: Flask) -> int:
    with db.write_session(db.get_engine(app)) as session:
        now = dt.datetime.now(dt.UTC)
        return sum(1 for s in session.scalars(select(WebSubSubscription))
                   if s.state == "active" and s.expires > now)


def test_a_worker_and_a_server_count_into_one_directory(
        live: Callable[..., LiveServer], make_app: Callable[..., Flask], tmp_path: Path) -> None:
    app = make_app(NOW=None)
    token = {"Authorization": f"Bearer {new_token(app)}", "Content-Type": "application/json"}
    folder = tmp_path / "metrics"
    folder.mkdir()
    serve_port, worker_port = free_port(), free_port()
    server = live("--no-worker", "--metrics-port", str(serve_port),
                  env={"PROMETHEUS_MULTIPROC_DIR": str(folder)}, **FAST)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    environ |= {"FEEDSVC_INSTANCE_PATH": str(tmp_path / "instance"), "FEEDSVC_DATABASE_URL": app.config["DATABASE_URL"],
                "FEEDSVC_BASE_URL": BASE, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    environ |= {f"FEEDSVC_{k}": v for k, v in FAST.items()}
    worker = subprocess.Popen([sys.executable, "-m", "feedsvc.cli", "worker", "--metrics-port", str(worker_port)],
                              env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    subscriber = Subscriber()
    try:
        article = json.dumps(make_article(key="first")).encode()
        assert call(server, "PUT", "/api/articles/first", token, article)[0] == 201
        assert subscriber.subscribe(f"{server.base}/websub", WORLD, "/world")[0] == 202
        wait_for(lambda: active(app) == 1)
        article = json.dumps(make_article(key="second")).encode()
        assert call(server, "PUT", "/api/articles/second", token, article)[0] == 201
        wait_for(lambda: subscriber.received("/world"))
        # Counted by the worker once its transaction committed, read by the server's scrape.
        # The outcome and its time are two metrics, written one after the other: a scrape
        # may fall between them, so wait for both.
        seen = wait_for(lambda: (found := scrape(serve_port))
                        and value(found, "feedsvc_websub_deliveries_total", outcome="done") == 1
                        and value(found, "feedsvc_websub_delivery_seconds_count") == 1 and found)
        assert 0 < value(seen, "feedsvc_websub_delivery_seconds_sum") < 10
        assert requests(seen) == {("api", "201"): 2, ("websub", "202"): 1}
        assert all(value(seen, "feedsvc_websub_jobs", kind=kind, state=state) == 0
                   for kind in ("change", "verify", "deliver") for state in ("due", "waiting"))
        by_worker = scrape(worker_port)
        assert value(by_worker, "feedsvc_websub_deliveries_total", outcome="done") == 1
        assert requests(by_worker) == requests(seen)  # either port shows the machine's figures
    finally:
        subscriber.close()
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=30)[0]
    assert worker.returncode == 0, output
    assert value(scrape(serve_port), "feedsvc_websub_deliveries_total", outcome="done") == 1
