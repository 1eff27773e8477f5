"""Crashes: a SIGKILL in the middle of a bulk import or of a burst of API writes.

What a newsroom relies on afterwards: every acknowledged write is there exactly as it was
acknowledged, no article is half-written (stored without its topic or author rows), running the
import again finishes the job, and the feeds are well formed. Each test runs on SQLite (a WAL
file) and on PostgreSQL, through the ``db_url`` fixture.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from feedcheck import read
from flask import Flask
from sqlalchemy import Engine, func, select, text

from feedsvc.store import db
from feedsvc.store.models import Article, ArticleAuthor, ArticleTopic, Author, Section, Topic
from feedsvc.transfer.records import BATCH

from conftest import make_article, new_token
from live import LiveServer

ARCHIVE = 1500  # articles in the file: three batches of the importer
WRITERS = 6  # client threads of the write burst
SLOTS = 4  # keys each writer keeps rewriting
Stored = tuple[str, str, dt.datetime, dt.datetime, tuple[str, ...], tuple[str, ...]]


def rfc3339(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A connection of our own to the database, beside the processes under test."""
    engine = db.make_engine(db_url)
    yield engine
    engine.dispose()


def integrity(engine: Engine) -> list[str]:
    """SQLite's own verdict on the file (["ok"] when sound); PostgreSQL has no such check."""
    if engine.dialect.name != "sqlite":
        return ["ok"]
    with engine.connect() as conn:
        verdict = [str(row[0]) for row in conn.exec_driver_sql("PRAGMA integrity_check")]
        dangling = [repr(tuple(row)) for row in conn.exec_driver_sql("PRAGMA foreign_key_check")]
    return verdict + dangling


# --- 1. SIGKILL during a bulk import ---------------------------------------------------------

def archive(n: int) -> list[dict[str, Any]]:
    """A newsroom's archive: one or two topics and one or two authors an article."""
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    records = []
    for i in range(n):
        published = start + dt.timedelta(minutes=7 * i)
        records.append({
            "key": f"archive-{i}", "title": f"Archive story {i}", "section": f"Section {i % 6}",
            "topics": [f"Topic {i % 11}", f"Topic {11 + i % 5}"][:1 + i % 2],
            "authors": [{"name": f"Author {i % 13}", "email": None, "url": None}]
            + ([{"name": "Desk", "email": None, "url": None}] if i % 3 == 0 else []),
            "summary": f"Standfirst {i}", "content": f"<p>Body of archive story {i}</p>",
            "published": rfc3339(published),
            "updated": rfc3339(published + dt.timedelta(hours=i % 4)),
            "url": f"https://news.example/archive/{i}", "language": "en"})
    return records


def expected(records: list[dict[str, Any]]) -> dict[str, Stored]:
    """What ``stored`` must give once the whole file is in."""
    return {r["key"]: (r["title"], r["section"], dt.datetime.fromisoformat(r["published"]),
                       dt.datetime.fromisoformat(r["updated"]), tuple(r["topics"]),
                       tuple(a["name"] for a in r["authors"]))
            for r in records}


def stored(engine: Engine) -> dict[str, Stored]:
    """Every article with its fields and its topic and author rows, in their order."""
    with engine.connect() as conn:
        articles = conn.execute(select(Article.id, Article.key, Article.title, Section.name,
                                       Article.published, Article.updated).join(Section)).all()
        topics = conn.execute(select(ArticleTopic.article_id, Topic.name).join(Topic)
                              .order_by(ArticleTopic.article_id, ArticleTopic.position)).all()
        authors = conn.execute(select(ArticleAuthor.article_id, Author.name).join(Author)
                               .order_by(ArticleAuthor.article_id, ArticleAuthor.position)).all()
    names: dict[str, dict[int, list[str]]] = {"topics": {}, "authors": {}}
    for kind, rows in (("topics", topics), ("authors", authors)):
        for article_id, name in rows:
            names[kind].setdefault(article_id, []).append(name)
    return {key: (title, section, published, updated, tuple(names["topics"].get(id_, ())),
                  tuple(names["authors"].get(id_, ())))
            for id_, key, title, section, published, updated in articles}


def link_rows(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (conn.scalar(select(func.count()).select_from(ArticleTopic)) or 0,
                conn.scalar(select(func.count()).select_from(ArticleAuthor)) or 0)


def import_command(path: Path) -> list[str]:
    return [sys.executable, "-m", "feedsvc.cli", "import", "--quiet", str(path)]


def import_env(instance: Path, db_url: str) -> dict[str, str]:
    """The environment of ``feedsvc import``, configured the way live.LiveServer is."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    return env | {"FEEDSVC_INSTANCE_PATH": str(instance), "FEEDSVC_DATABASE_URL": db_url,
                  "FEEDSVC_BASE_URL": "http://feeds.test"}


def article_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(Article)) or 0


def writing(engine: Engine) -> bool:
    """Whether another process holds a write transaction open on the database right now."""
    if engine.dialect.name == "sqlite":
        assert engine.url.database
        with closing(sqlite3.connect(engine.url.database, timeout=0, isolation_level=None)) as conn:
            try:
                conn.execute("BEGIN IMMEDIATE")  # the write lock, not waited for
            except sqlite3.OperationalError:  # "database is locked": a batch is being written
                return True
            conn.execute("ROLLBACK")
            return False
    with engine.connect() as conn:
        return bool(conn.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            " AND backend_xid IS NOT NULL")))


def settle(engine: Engine) -> None:
    """Wait until no other connection holds a write transaction open.

    After a SIGKILL, PostgreSQL may still be finishing the dead client's last statement (or its
    COMMIT); what it keeps is decided only once that backend lets go.
    """
    deadline = time.monotonic() + 30
    while writing(engine):
        assert time.monotonic() < deadline, "the killed writer's transaction never ended"
        time.sleep(0.01)


def kill_mid_batch(process: subprocess.Popen[str], engine: Engine) -> tuple[int, str]:
    """SIGKILL the importer once a batch is committed and the next one is being written.

    Returns its exit status and output; an import that ended first exits 0, not -SIGKILL.
    """
    with process:  # reaps it, and closes its pipe, whatever happens
        try:
            while process.poll() is None and not (article_count(engine) >= BATCH and writing(engine)):
                time.sleep(0.005)
        finally:
            process.kill()
        output, _ = process.communicate(timeout=30)
    settle(engine)
    return process.returncode, output


def test_import_killed_mid_batch_then_run_again(make_app: Callable[..., Flask], engine: Engine,
                                                db_url: str, tmp_path: Path) -> None:
    app = make_app()  # the schema, and later the feeds
    records = archive(ARCHIVE)
    path = tmp_path / "archive.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    want = expected(records)

    env = import_env(tmp_path / "instance", db_url)
    status, output = kill_mid_batch(subprocess.Popen(
        import_command(path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True), engine)
    assert status == -signal.SIGKILL, f"the import was not killed: {status} {output}"
    survived = stored(engine)
    # Whole batches, in the file's order, each article whole: the batch in flight is simply gone
    # (every record of this file is valid and new, so each batch is exactly BATCH articles).
    assert BATCH <= len(survived) < ARCHIVE and len(survived) % BATCH == 0
    assert survived == {f"archive-{i}": want[f"archive-{i}"] for i in range(len(survived))}
    assert integrity(engine) == ["ok"]

    second = subprocess.run(import_command(path), env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stdout + second.stderr
    output = second.stdout
    assert f"imported {ARCHIVE} article(s)" in output
    assert f"{ARCHIVE - len(survived)} created, 0 updated, {len(survived)} unchanged" in output

    assert article_count(engine) == ARCHIVE
    assert stored(engine) == want  # N distinct keys, every field and link as the file has it
    assert link_rows(engine) == (sum(len(r["topics"]) for r in records),
                                 sum(len(r["authors"]) for r in records))
    assert integrity(engine) == ["ok"]

    client = app.test_client()
    newest = [f"Archive story {i}" for i in range(ARCHIVE - 1, ARCHIVE - 51, -1)]
    for fmt in ("atom", "rss", "json"):
        response = client.get(f"/feed.{fmt}")
        assert response.status_code == 200
        assert [e["title"] for e in read(response.data, fmt)] == newest
    response = client.get("/authors/desk/feed.atom")  # second bylines: link rows, not articles
    assert response.status_code == 200 and len(read(response.data, "atom")) == 50


# --- 2. SIGKILL during a burst of API writes -------------------------------------------------

@dataclass
class Ack:
    sent: dict[str, Any]
    body: dict[str, Any]  # the article as the 2xx response gave it
    etag: str


@dataclass
class Writer:
    """A newsroom client rewriting its own keys round after round, as fast as it is answered."""

    number: int
    acked: dict[str, Ack] = field(default_factory=dict)
    in_flight: tuple[str, dict[str, Any], float] | None = None  # key, body, when sent
    rounds: int = 0
    writes: int = 0  # acknowledged
    refused: list[int] = field(default_factory=list)  # non-2xx statuses: none expected

    def body(self, slot: int, round_: int) -> dict[str, Any]:
        key = f"burst-{self.number}-{slot}"
        published = dt.datetime(2024, 6, 1, tzinfo=dt.UTC) + dt.timedelta(hours=self.number * SLOTS + slot)
        # Every round changes the section, both topics, a byline and updated: rows in four tables.
        return make_article(
            key=key, title=f"{key} round {round_}", section=f"Desk {round_ % 3}",
            topics=[f"Topic {(slot + round_) % 5}", f"Topic {5 + round_ % 4}"],
            authors=[{"name": f"Writer {self.number}", "email": None, "url": None},
                     {"name": f"Editor {round_ % 3}", "email": None, "url": None}],
            summary=f"{key} summary {round_}", content=f"<p>{key} body {round_}</p>",
            published=rfc3339(published), updated=rfc3339(published + dt.timedelta(minutes=round_)),
            url=f"https://news.example/burst/{key}")

    def run(self, live: LiveServer, headers: dict[str, str], stop: threading.Event) -> None:
        while not stop.is_set():
            for slot in range(SLOTS):
                body = self.body(slot, self.rounds)
                self.in_flight = (body["key"], body, time.monotonic())
                try:
                    status, response_headers, raw = live.request(
                        "PUT", f"/api/articles/{body['key']}", body, headers)
                except (OSError, http.client.HTTPException):
                    return  # the server is gone: this write was never acknowledged
                if status not in (200, 201):
                    self.refused.append(status)
                    return
                self.acked[body["key"]] = Ack(body, json.loads(raw), response_headers["ETag"])
                self.in_flight = None
                self.writes += 1
            self.rounds += 1


def as_sent(article: dict[str, Any], sent: dict[str, Any]) -> bool:
    """Whether the API's article carries every field of the PUT body: a whole write, not part."""
    return (article["title"], article["section"], article["topics"],
            [a["name"] for a in article["authors"]], article["summary"], article["content"],
            article["published"], article["updated"]) == (
        sent["title"], sent["section"], sent["topics"], [a["name"] for a in sent["authors"]],
        sent["summary"], sent["content"], sent["published"], sent["updated"])


def version(etag: str) -> int:
    assert etag.startswith('"v') and etag.endswith('"'), etag
    return int(etag[2:-1])


def check_after_restart(live: LiveServer, headers: dict[str, str], writer: Writer) -> dict[str, Any]:
    """Each key of the writer as the restarted server has it, checked against what was acknowledged.

    An acknowledged write is there exactly (body and ETag). Only the one write in flight at the
    kill may have landed too, and then whole, one version later.
    """
    found: dict[str, Any] = {}
    keys = set(writer.acked) | ({writer.in_flight[0]} if writer.in_flight else set())
    for key in sorted(keys):
        status, response_headers, raw = live.request("GET", f"/api/articles/{key}", headers=headers)
        ack = writer.acked.get(key)
        landed = writer.in_flight is not None and writer.in_flight[0] == key
        if ack is not None and status == 200 and json.loads(raw) == ack.body:
            assert response_headers["ETag"] == ack.etag and as_sent(ack.body, ack.sent)
        elif landed and status == 200:
            assert writer.in_flight is not None
            assert as_sent(json.loads(raw), writer.in_flight[1]), f"{key} is half-written"
            assert version(response_headers["ETag"]) == (version(ack.etag) + 1 if ack else 1)
        elif ack is not None:
            pytest.fail(f"{key}: the write acknowledged with ETag {ack.etag} is lost (GET: {status})")
        else:
            assert landed and status == 404, f"{key}: never acknowledged, yet GET gives {status}"
            continue
        found[key] = json.loads(raw)
    return found


def link_counts(engine: Engine) -> set[tuple[int, int]]:
    """(topic rows, author rows) of every article: each PUT of the burst gives two and two."""
    with engine.connect() as conn:
        ids = conn.scalars(select(Article.id)).all()
        counts = [{article_id: n for article_id, n in conn.execute(
            select(link.article_id, func.count()).group_by(link.article_id))}
            for link in (ArticleTopic, ArticleAuthor)]
    return {(counts[0].get(id_, 0), counts[1].get(id_, 0)) for id_ in ids}


def burst_under_way(writers: list[Writer]) -> bool:
    """Every key created and, on average, rewritten once: what is in flight now are updates."""
    return (sum(len(w.acked) for w in writers) == WRITERS * SLOTS
            and sum(w.writes for w in writers) >= 2 * WRITERS * SLOTS)


@pytest.fixture
def servers() -> Iterator[list[LiveServer]]:
    started: list[LiveServer] = []
    yield started
    for live in started:
        live.stop()


def test_server_killed_mid_write_burst(make_app: Callable[..., Flask], engine: Engine, db_url: str,
                                       tmp_path: Path, servers: list[LiveServer]) -> None:
    headers = {"Authorization": f"Bearer {new_token(make_app())}"}
    servers.append(LiveServer(tmp_path / "instance", db_url, threads=8))
    writers = [Writer(n) for n in range(WRITERS)]
    stop = threading.Event()
    threads = [threading.Thread(target=w.run, args=(servers[0], headers, stop), daemon=True) for w in writers]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while not burst_under_way(writers) and time.monotonic() < deadline:
        time.sleep(0.01)
    killed_at = time.monotonic()
    servers[0].stop(signal.SIGKILL)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert servers[0].process.returncode == -signal.SIGKILL
    assert [w.refused for w in writers] == [[]] * WRITERS
    assert burst_under_way(writers), "the burst was too slow to reach the kill"
    in_flight = [w for w in writers if w.in_flight is not None and w.in_flight[2] < killed_at]
    assert in_flight, "no write was in flight at the kill"
    settle(engine)

    servers.append(LiveServer(tmp_path / "instance", db_url, threads=8))
    restarted = servers[1]
    found: dict[str, Any] = {}
    for writer in writers:
        found |= check_after_restart(restarted, headers, writer)
    assert link_counts(engine) == {(2, 2)}
    assert integrity(engine) == ["ok"]

    titles = {article["id"]: article["title"] for article in found.values()}
    for fmt in ("atom", "rss", "json"):
        status, _, body = restarted.request("GET", f"/feed.{fmt}")
        assert status == 200
        assert {e["id"]: e["title"] for e in read(body, fmt)} == titles
    status, _, _ = restarted.request("PUT", "/api/articles/after-restart",
                                     make_article(key="after-restart"), headers)
    assert status == 201
