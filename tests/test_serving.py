"""Serving every feed of a newsroom (issue 13): one place decides a feed answer, a revalidation
never renders, a document is rendered once for the whole deployment, nothing an anonymous
client sends grows a table or the memory, and the pool never runs dry into 500s.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from feedsvc.feeds import freshness
from feedsvc.store import db
from feedsvc.web.conditional import http_date, parse_http_date

from conftest import Api, Clock, make_article, new_token, table_counts
from live import LiveServer

VARIANTS = [f"{scope}.{fmt}{query}" for scope in ("/feed", "/sections/world/feed", "/topics/rivers/feed")
            for fmt in ("atom", "rss", "json") for query in ("", "?order=updated", "?limit=5")]


def renders(app: Flask) -> int:
    return freshness.get_cache(app).renders


def max_age(response: Any) -> int:
    return int(response.headers["Cache-Control"].split("max-age=")[1].split(",")[0])


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_max_age_ends_at_an_embargo_written_after_the_document_was_cached(
        client: FlaskClient, api: Api, clock: Clock, encoding: str) -> None:
    api.put("out", make_article(key="out", topics=["Rivers"]))
    etags = {}
    for url in VARIANTS:  # every variant cached, through Flask and then the fast path
        for _ in range(2):
            response = client.get(url, headers={"Accept-Encoding": encoding})
            assert response.status_code == 200 and max_age(response) == 60
        etags[url] = response.headers["ETag"]
    due = clock.now + dt.timedelta(seconds=37)
    stamp = due.isoformat().replace("+00:00", "Z")
    assert api.put("soon", make_article(key="soon", topics=["Rivers"], published=stamp,
                                        updated=stamp)).get_json()["status"] == "scheduled"
    for url in VARIANTS:
        for method, headers in (("GET", {}), ("HEAD", {}), ("GET", {"If-None-Match": etags[url]})):
            response = client.open(url, method=method, headers=headers | {"Accept-Encoding": encoding})
            assert response.status_code in (200, 304), url
            assert max_age(response) <= 37, (url, method, headers, response.headers["Cache-Control"])
    clock.advance(seconds=38)
    for url in VARIANTS:
        response = client.get(url, headers={"If-None-Match": etags[url], "Accept-Encoding": encoding})
        assert response.status_code == 200 and b"soon" in (
            response.data if encoding == "identity" else __import__("gzip").decompress(response.data))
        assert max_age(response) == 60


def test_last_modified_never_moves_backwards_with_mixed_encodings(client: FlaskClient, api: Api,
                                                                  clock: Clock) -> None:
    """Bytes A, then B (read only by gzip clients), then A again: every answer to A's second
    coming, in both encodings, through Flask and the fast path, is later than B's."""
    feed = "/sections/world/feed.atom"
    api.put("a", make_article(key="a", title="A"))
    seen: list[dt.datetime] = []
    for title, encodings in (("A", ("identity", "identity", "gzip", "gzip")), ("B", ("gzip", "gzip")),
                             ("A", ("identity", "identity", "gzip", "gzip")), ("B", ("gzip",)),
                             ("A", ("gzip", "identity", "identity"))):
        api.patch("a", {"title": title})
        clock.advance(seconds=5)
        answers = [client.get(feed, headers={"Accept-Encoding": e}) for e in encodings]
        stamps = {parse_http_date(r.headers["Last-Modified"]) for r in answers}
        assert len(stamps) == 1, f"one Last-Modified per document, in both encodings: {stamps}"
        seen.append(stamps.pop())  # type: ignore[arg-type]
        since = client.get(feed, headers={"If-Modified-Since": answers[0].headers["Last-Modified"]})
        assert since.status_code == 304
    assert seen == sorted(seen) and len(set(seen)) == len(seen), seen


def test_a_process_that_kept_old_bytes_takes_their_new_last_modified(make_app: Callable[..., Flask],
                                                                       clock: Clock) -> None:
    """Bytes A (kept by one process), then B and A again rendered by another: the first
    process answers A with its new Last-Modified, later than B's, not the one it kept."""
    one, other = make_app(), make_app()
    api = Api(other.test_client(), {"Authorization": f"Bearer {new_token(other)}"})
    feed = "/sections/world/feed.atom"
    api.put("a", make_article(key="a", title="A"))
    first = one.test_client().get(feed).headers["Last-Modified"]
    stamps = [parse_http_date(first)]
    for title in ("B", "A"):
        clock.advance(seconds=5)
        api.patch("a", {"title": title})
        stamps.append(parse_http_date(other.test_client().get(feed).headers["Last-Modified"]))
    again = one.test_client().get(feed, headers={"If-Modified-Since": http_date(stamps[1])})
    assert again.status_code == 200 and parse_http_date(again.headers["Last-Modified"]) == stamps[2]
    assert stamps == sorted(stamps) and len(set(stamps)) == 3, stamps


def test_anonymous_gets_write_nothing(app: Flask, client: FlaskClient, api: Api) -> None:
    for n in range(60):
        api.put(f"a{n}", make_article(key=f"a{n}", topics=["Rivers"], published=f"2026-10-01T10:{n:02}:00Z",
                                      updated=f"2026-10-01T10:{n:02}:00Z"))
    for url in ("/feed.atom", "/topics/rivers/feed.rss", "/", "/topics/rivers/"):
        client.get(url)  # the first render of each canonical document may be stored
    first_page = client.get("/feed.json?limit=2").get_json()
    before = table_counts(app)
    cursor = first_page["next_url"].split("cursor=")[1]
    for n in range(300):
        # Tracking parameters, pages of a feed, forged-but-valid cursors, pages of the site.
        raw = json.dumps(["published", f"2026-10-01T10:{n % 60:02}:00Z", f"a{n % 60}"]).encode()
        forged = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        for url in (f"/feed.atom?fbclid={n}", f"/feed.json?limit=2&cursor={cursor}&utm={n}",
                    f"/topics/rivers/feed.rss?cursor={forged}", f"/?cursor={forged}", f"/topics/rivers/?x={n}"):
            assert client.get(url).status_code == 200, url
    assert table_counts(app) == before


def test_a_second_process_serves_what_the_first_rendered(make_app: Callable[..., Flask], clock: Clock) -> None:
    one, other = make_app(), make_app()
    api = Api(one.test_client(), {"Authorization": f"Bearer {new_token(one)}"})
    api.put("a", make_article(key="a", topics=["Rivers"]))
    first = {url: one.test_client().get(url, headers={"Accept-Encoding": "gzip"}) for url in VARIANTS[:9]}
    rendered = renders(other)
    for url, answer in first.items():
        if "limit" in url:
            continue  # explicit limits are kept per process, not shared
        for headers in ({"Accept-Encoding": "gzip"}, {}, {"If-None-Match": answer.headers["ETag"]}):
            got = other.test_client().get(url, headers=headers)
            assert got.status_code in (200, 304)
            assert got.headers["Last-Modified"] == answer.headers["Last-Modified"]
            if headers == {"Accept-Encoding": "gzip"}:
                assert got.data == answer.data and got.headers["ETag"] == answer.headers["ETag"]
    assert renders(other) == rendered  # every canonical document read, none rendered
    assert other.test_client().get("/feed.atom?limit=5").status_code == 200
    assert renders(other) == rendered + 1  # an explicit limit is kept per process


def test_an_exhausted_pool_is_a_503(app: Flask, client: FlaskClient, api: Api) -> None:
    api.put("a", make_article(key="a"))
    assert client.get("/feed.atom").status_code == 200
    engine = db.size_pool(app, 1)
    freshness.get_cache(app).engine = engine
    engine.pool._max_overflow = 0  # type: ignore[attr-defined]
    engine.pool._timeout = 0.2  # type: ignore[attr-defined]
    held = engine.connect()
    try:
        for url in ("/feed.atom", "/feed.rss?limit=3", "/"):
            response = client.get(url, headers={"Accept": "application/json"})
            assert response.status_code == 503, url
            assert response.headers["Retry-After"]
    finally:
        held.close()
    assert client.get("/feed.atom").status_code == 200


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_unknown_slugs_do_not_grow_the_server(make_app: Callable[..., Flask], db_url: str, tmp_path: Path) -> None:
    app = make_app()
    Api(app.test_client(), {"Authorization": f"Bearer {new_token(app)}"}).put("a", make_article(key="a"))
    server = LiveServer(tmp_path / "i", db_url, threads=4, POLL_LIMIT="5")
    try:
        def spray(start: int, count: int) -> None:
            for n in range(start, start + count):
                slug = f"{n:06}" + "x" * 10_000
                for path in (f"/topics/{slug}/feed.atom", f"/feed.atom?q={slug}"):
                    status = server.request("GET", path, headers={"If-None-Match": '"x"'} if n % 2 else {})[0]
                    assert status in (404, 200, 304, 429), status
        spray(0, 300)  # warm: the allocator's arenas, the pool, the caches' fixed bounds
        before = rss_kib(server.process.pid)
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda i: spray(10_000 + i * 500, 500), range(4)))
        grown = rss_kib(server.process.pid) - before
        assert grown < 8 * 1024, f"grew {grown} KiB over 2,000 unknown 10 KB slugs"
    finally:
        server.stop()


@pytest.mark.postgres_only
def test_many_threads_on_postgres_never_run_out_of_connections(make_app: Callable[..., Flask], db_url: str,
                                                               tmp_path: Path) -> None:
    app = make_app()
    api = Api(app.test_client(), {"Authorization": f"Bearer {new_token(app)}"})
    for n in range(30):
        api.put(f"a{n}", make_article(key=f"a{n}", topics=[f"T{n % 6}"]))
    server = LiveServer(tmp_path / "pg", db_url, threads=32)
    try:
        def get(n: int) -> int:
            url = f"{server.base}/topics/t{n % 6}/feed.{('atom', 'rss', 'json')[n % 3]}?limit={1 + n % 40}"
            with urllib.request.urlopen(url, timeout=30) as response:  # an HTTPError is a failure
                return int(response.status)

        def together(start: threading.Barrier, n: int) -> int:
            start.wait()
            return get(n)

        for _ in range(2):
            start = threading.Barrier(96)
            with ThreadPoolExecutor(96) as pool:
                assert set(pool.map(functools.partial(together, start), range(96))) == {200}
        assert get(7) == 200
    finally:
        server.stop()


@pytest.mark.postgres_only
def test_two_processes_on_postgres_render_once(make_app: Callable[..., Flask], db_url: str,
                                               tmp_path: Path) -> None:
    app = make_app()
    Api(app.test_client(), {"Authorization": f"Bearer {new_token(app)}"}).put(
        "a", make_article(key="a", topics=["Rivers"]))
    a = LiveServer(tmp_path / "a", db_url, threads=4)
    b = LiveServer(tmp_path / "b", db_url, threads=4)
    try:
        status, first, body = a.request("GET", "/topics/rivers/feed.atom")
        assert status == 200
        with db.get_engine(app).connect() as conn:
            stamp = conn.execute(text("SELECT rendered FROM feed_documents")).all()
        for headers in ({}, {"Accept-Encoding": "gzip"}, {"If-None-Match": first["ETag"]}):
            status, got, again = b.request("GET", "/topics/rivers/feed.atom", headers=headers)
            assert status in (200, 304) and got["Last-Modified"] == first["Last-Modified"]
        assert b.request("GET", "/topics/rivers/feed.atom")[2] == body
        with db.get_engine(app).connect() as conn:  # B stored nothing: it rendered nothing
            assert conn.execute(text("SELECT rendered FROM feed_documents")).all() == stamp
    finally:
        a.stop()
        b.stop()


class Reads:
    """Counts the feed cache's database reads (every one goes through FeedCache._query)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        query = freshness.FeedCache._query

        def counting(feeds: freshness.FeedCache, sql: str, args: tuple[Any, ...]) -> Any:
            self.count += 1
            return query(feeds, sql, args)

        monkeypatch.setattr(freshness.FeedCache, "_query", counting)


HOT = ["/sections/world/feed.atom", "/feed.json?order=updated", "/topics/rivers/feed.rss?limit=5"]


@pytest.mark.parametrize("url", HOT)
def test_a_hot_poll_reads_nothing_until_something_is_committed(
        app: Flask, client: FlaskClient, api: Api, clock: Clock, url: str, db_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A held document that a read found current is served without another read while nothing
    is committed (SQLite's wal-index, PostgreSQL's notices); a write here, public or
    embargoed, is seen by the next poll."""
    api.put("a", make_article(key="a", topics=["Rivers"]))
    etag = client.get(url).headers["ETag"]
    client.get(url, headers={"If-None-Match": etag})
    reads = Reads(monkeypatch)
    for headers in ({}, {"If-None-Match": etag}, {"Accept-Encoding": "gzip"}) * 5:
        assert client.get(url, headers=headers).status_code in (200, 304)
    assert reads.count == 0
    api.patch("a", {"title": "Changed here"})
    changed = client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and b"Changed here" in changed.data
    client.get(url, headers={"If-None-Match": changed.headers["ETag"]})
    due = clock.now + dt.timedelta(seconds=21)
    stamp = due.isoformat().replace("+00:00", "Z")
    api.put("soon", make_article(key="soon", topics=["Rivers"], published=stamp, updated=stamp))
    assert max_age(client.get(url, headers={"If-None-Match": changed.headers["ETag"]})) <= 21


@pytest.mark.parametrize("url", HOT)
def test_another_process_write_is_seen_by_the_next_poll(make_app: Callable[..., Flask], clock: Clock,
                                                        url: str) -> None:
    """A write committed by another process (another app, another connection) is seen by this
    process's very next poll, however often it answered that feed from memory before."""
    reader, newsroom = make_app(), make_app()
    api = Api(newsroom.test_client(), {"Authorization": f"Bearer {new_token(newsroom)}"})
    api.put("a", make_article(key="a", topics=["Rivers"]))
    client = reader.test_client()
    etag = client.get(url).headers["ETag"]
    for n in range(3):
        for _ in range(3):
            assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
        api.patch("a", {"title": f"Changed elsewhere {n}"})
        answer = client.get(url, headers={"If-None-Match": etag})
        assert answer.status_code == 200 and f"Changed elsewhere {n}" in answer.get_data(as_text=True)
        assert answer.headers["ETag"] != etag
        etag = answer.headers["ETag"]
    due = clock.now + dt.timedelta(seconds=13)
    stamp = due.isoformat().replace("+00:00", "Z")
    api.put("soon", make_article(key="soon", topics=["Rivers"], published=stamp, updated=stamp))
    assert max_age(client.get(url, headers={"If-None-Match": etag})) <= 13


def test_parsed_feed_addresses_are_bounded(app: Flask, client: FlaskClient, api: Api,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path keeps short feed URLs it answered parsed, at most a fixed number of them,
    whatever query strings clients send; long ones never."""
    from feedsvc.web import fastpoll

    monkeypatch.setattr(fastpoll, "_ADDRESSES", 200)  # the bound's mechanism, in fewer requests
    api.put("a", make_article(key="a"))
    polls = app.wsgi_app.wsgi_app  # type: ignore[attr-defined]  # HostCheck, then FastPolls
    assert isinstance(polls, fastpoll.FastPolls)
    for n in range(fastpoll._ADDRESSES + 50):
        assert client.get(f"/feed.atom?utm_source={n}").status_code == 200
        assert len(polls._parsed) <= fastpoll._ADDRESSES
    polls._parsed.clear()
    assert client.get("/feed.atom?q=" + "x" * 600).status_code == 200
    assert client.get("/feed.atom?q=" + "x" * 600).status_code == 200
    assert polls._parsed == {}


@pytest.mark.postgres_only
def test_notices_carry_another_process_write(make_app: Callable[..., Flask], clock: Clock,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL: a process reads nothing for a document it found current until a write is
    committed anywhere; another process's write reaches it by a notice, within a second
    (milliseconds: the notice's way from the server), in every variant."""
    reader, newsroom = make_app(), make_app()
    feeds = freshness.get_cache(reader)
    feeds._watch = freshness._Notices.of(db.get_engine(reader))  # make_app turned them off
    api = Api(newsroom.test_client(), {"Authorization": f"Bearer {new_token(newsroom)}"})
    api.put("a", make_article(key="a", topics=["Rivers"]))
    client = reader.test_client()
    etags = {url: client.get(url).headers["ETag"] for url in HOT}
    for url in HOT:
        client.get(url, headers={"If-None-Match": etags[url]})
    reads = Reads(monkeypatch)
    for url in HOT * 3:
        assert client.get(url, headers={"If-None-Match": etags[url]}).status_code == 304
    assert reads.count == 0
    api.patch("a", {"title": "Changed elsewhere"})
    written = time.monotonic()
    for url in HOT:
        while (answer := client.get(url, headers={"If-None-Match": etags[url]})).status_code == 304:
            assert time.monotonic() - written < 1, f"{url}: the notice never came"
            time.sleep(0.005)
        assert answer.status_code == 200 and "Changed elsewhere" in answer.get_data(as_text=True)


@pytest.mark.postgres_only
def test_a_lost_listening_connection_trusts_nothing_until_it_listens_again(
        make_app: Callable[..., Flask], clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """The listening session ended by the server (a restart, an administrator): a write
    meanwhile is still seen, and once the process listens again it trusts its reads again."""
    reader, newsroom = make_app(), make_app()
    feeds = freshness.get_cache(reader)
    feeds._watch = notices = freshness._Notices.of(db.get_engine(reader))
    assert notices is not None
    api = Api(newsroom.test_client(), {"Authorization": f"Bearer {new_token(newsroom)}"})
    api.put("a", make_article(key="a"))
    client, url = reader.test_client(), HOT[0]
    etag = client.get(url).headers["ETag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    with db.get_engine(newsroom).begin() as conn:
        ended = conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                  " WHERE query = 'LISTEN feedsvc_feeds'"
                                  " AND datname = current_database()")).scalars().all()
    assert ended and all(ended)
    api.patch("a", {"title": "Changed while nobody listened"})
    answer = client.get(url, headers={"If-None-Match": etag})
    assert answer.status_code == 200 and b"Changed while nobody listened" in answer.data
    deadline = time.monotonic() + 5
    while notices._socket is None or notices.version() is None:
        assert time.monotonic() < deadline, "never listened again"
        time.sleep(0.05)
    etag = client.get(url).headers["ETag"]
    client.get(url, headers={"If-None-Match": etag})
    reads = Reads(monkeypatch)
    for _ in range(5):
        assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert reads.count == 0


def test_bytes_replaced_under_an_answer_are_asked_for_again(make_app: Callable[..., Flask], clock: Clock,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A document this process holds plain only, asked for gzipped while its stored bytes are
    replaced (here: gone twice, under the fast path and then under Flask's route): the route
    asks again and answers, never a 500."""
    one, other = make_app(), make_app()
    Api(one.test_client(), {"Authorization": f"Bearer {new_token(one)}"}).put("a", make_article(key="a"))
    feed = "/sections/world/feed.atom"
    zipped = one.test_client().get(feed, headers={"Accept-Encoding": "gzip"})
    client = other.test_client()
    assert client.get(feed).status_code == 200  # read from the row, kept plain only
    read_body = freshness.FeedCache._read_body
    gone = [2]

    def replaced(feeds: freshness.FeedCache, variant: str, digest: str) -> bytes | None:
        if gone[0]:
            gone[0] -= 1
            return None
        return read_body(feeds, variant, digest)

    monkeypatch.setattr(freshness.FeedCache, "_read_body", replaced)
    answer = client.get(feed, headers={"Accept-Encoding": "gzip"})
    assert answer.status_code == 200 and answer.data == zipped.data and gone == [0]
    gone[0] = 9  # replaced under every answer: a 503 to try again, never a 500
    refused = client.get(feed, headers={"Accept-Encoding": "gzip", "Accept": "application/json"})
    assert refused.status_code in (200, 503) and (refused.status_code == 200 or refused.headers["Retry-After"])
