"""The feed documents and their validators, with a counting renderer."""

from __future__ import annotations

import datetime as dt
import gzip
from typing import Any

import pytest
from flask import Flask

from feedsvc.feeds.freshness import FeedCache, Rendered
from feedsvc.store import db
from feedsvc.store.scopes import SITE, Scope

from conftest import Clock, read_every_poll

WORLD = Scope("sections", "world")


@pytest.fixture(autouse=True)
def closed_caches(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Any:
    """Every FeedCache a test makes is closed after it (on PostgreSQL each listens for notices
    on a connection of its own).

    On PostgreSQL a cache made here reads the database on every poll unless the test is marked
    ``notices``: the writes go through the app, another process to these caches, whose notices
    take milliseconds to arrive (on a busy machine one came late: a render count was off by
    one). Those tests assert what holds once a change has arrived, as conftest's apps do."""
    made: list[FeedCache] = []
    init = FeedCache.__init__
    listens = request.node.get_closest_marker("notices") is not None

    def tracking(self: FeedCache, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        made.append(self)
        if self._postgres and not listens:
            read_every_poll(self)

    monkeypatch.setattr(FeedCache, "__init__", tracking)
    yield
    for feeds in made:
        feeds.close()


class Renderer:
    def __init__(self, body: bytes = b"<feed/>") -> None:
        self.body, self.calls = body, 0
        self.valid_until: dt.datetime | None = None

    def __call__(self, session: Any = None) -> Rendered:
        self.calls += 1
        return Rendered(self.body, "application/atom+xml; charset=utf-8", self.valid_until)


def fetch(app: Flask, cache: FeedCache, renderer: Renderer, now: dt.datetime,
          variant: str = "world.atom", scope: Scope = WORLD, canonical: bool = True) -> Any:
    with app.app_context():
        return cache.fetch(variant, scope, now, renderer, canonical=canonical).document


def write(app: Flask, scopes: set[Scope], now: dt.datetime) -> None:
    from feedsvc.feeds.freshness import advance_versions

    db.run_write(db.get_engine(app), lambda s: advance_versions(s, scopes, now))


def test_unchanged_feed_is_not_rendered_again(app: Flask, clock: Clock) -> None:
    cache, renderer = FeedCache(db.get_engine(app)), Renderer()
    first = fetch(app, cache, renderer, clock.now)
    second = fetch(app, cache, renderer, clock.advance(minutes=5))
    assert renderer.calls == 1 and second is first
    assert first.etag.startswith('"') and first.gzip_etag != first.etag


def test_a_write_to_the_scope_renders_again(app: Flask, clock: Clock) -> None:
    cache, renderer = FeedCache(db.get_engine(app)), Renderer()
    first = fetch(app, cache, renderer, clock.now)
    write(app, {Scope("sections", "sport")}, clock.advance(minutes=1))
    assert fetch(app, cache, renderer, clock.now) is first  # another scope: no render
    write(app, {WORLD, SITE}, clock.advance(minutes=1))
    same_bytes = fetch(app, cache, renderer, clock.now)
    assert renderer.calls == 2
    # The bytes did not change, so neither do the validators.
    assert (same_bytes.etag, same_bytes.last_modified) == (first.etag, first.last_modified)
    renderer.body = b"<feed>new</feed>"
    write(app, {WORLD}, changed_at := clock.advance(minutes=1))
    new = fetch(app, cache, renderer, clock.advance(seconds=30))
    assert new.etag != first.etag
    assert new.last_modified == changed_at  # the instant of the write, not of the render


def test_a_document_is_rendered_once_for_every_process(app: Flask, clock: Clock) -> None:
    one, other, renderer = FeedCache(db.get_engine(app)), FeedCache(db.get_engine(app)), Renderer()
    first = fetch(app, one, renderer, clock.now)
    later = fetch(app, other, renderer, clock.advance(hours=1))
    assert renderer.calls == 1  # the other process read what the first one stored
    assert (later.etag, later.last_modified, later.body) == (first.etag, first.last_modified, first.body)
    assert gzip.decompress(later.gzipped) == first.body


def test_time_alone_expires_a_document(app: Flask, clock: Clock) -> None:
    cache, renderer = FeedCache(db.get_engine(app)), Renderer()
    renderer.valid_until = clock.now + dt.timedelta(minutes=10)
    fetch(app, cache, renderer, clock.now)
    fetch(app, cache, renderer, clock.advance(minutes=9))
    assert renderer.calls == 1
    renderer.body, renderer.valid_until = b"<feed>due</feed>", None
    fetch(app, cache, renderer, clock.advance(minutes=1))
    assert renderer.calls == 2


def test_memory_is_bounded_in_bytes(app: Flask, clock: Clock) -> None:
    body = b"<feed>" + b"x" * 4000 + b"</feed>"
    cache, renderer = FeedCache(db.get_engine(app), max_bytes=11_000), Renderer(body)
    for variant in ("a", "b", "a", "c", "a"):  # pages of a feed: kept in this process only
        fetch(app, cache, renderer, clock.now, variant, canonical=False)
    assert renderer.calls == 3  # b was evicted by c; a stayed in use
    assert cache.held_bytes <= 11_000
    fetch(app, cache, renderer, clock.now, "b", canonical=False)
    assert renderer.calls == 4
    for variant in ("d", "e", "f", "d"):  # canonical documents evicted here are read, not rendered
        fetch(app, cache, renderer, clock.now, variant)
    assert renderer.calls == 7 and cache.held_bytes <= 11_000


def test_writes_bump_scopes_through_the_change_listener(app: Flask, api: Any,
                                                        clock: Clock) -> None:
    from conftest import make_article

    cache, renderer = FeedCache(db.get_engine(app)), Renderer()
    fetch(app, cache, renderer, clock.now)
    api.put("a", make_article(key="a", section="World"))
    fetch(app, cache, renderer, clock.now)
    assert renderer.calls == 2


def test_polls_that_find_a_feed_changed_at_once_render_it_once(app: Flask, clock: Clock) -> None:
    """Eight threads asking for a changed document together: one renders, seven wait for it."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    cache, renderer = FeedCache(db.get_engine(app)), Renderer()
    fetch(app, cache, renderer, clock.now)
    write(app, {WORLD}, clock.now)
    slow_render = renderer.__call__
    start = threading.Barrier(8)

    def slow(session: Any) -> Rendered:
        time.sleep(0.2)
        return slow_render()

    def poll(_: int) -> Any:
        start.wait()
        with app.app_context():
            return cache.fetch("world.atom", WORLD, clock.now, slow, canonical=True).document

    with ThreadPoolExecutor(8) as pool:
        documents = list(pool.map(poll, range(8)))
    assert renderer.calls == 2  # the first fetch, then one render for all eight
    assert all(document is documents[0] for document in documents)
    cache.close()


class BodyReads:
    """Counts the reads of stored bodies (FeedCache._read_body) and of rows (FeedCache._query)."""

    def __init__(self, monkeypatch: Any) -> None:
        self.bodies = self.queries = 0
        read_body, query = FeedCache._read_body, FeedCache._query

        def counting_body(feeds: FeedCache, variant: str, digest: str) -> bytes | None:
            self.bodies += 1
            return read_body(feeds, variant, digest)

        def counting_query(feeds: FeedCache, sql: str, args: Any) -> Any:
            self.queries += 1
            return query(feeds, sql, args)

        monkeypatch.setattr(FeedCache, "_read_body", counting_body)
        monkeypatch.setattr(FeedCache, "_query", counting_query)


@pytest.mark.notices  # counts the reads a trusted one saves, no write between
def test_validators_outlive_the_bodies_in_memory(app: Flask, clock: Clock, monkeypatch: Any) -> None:
    """A stored document pushed out of memory keeps its validators: a revalidation is answered
    without a render or a read of its bytes (on SQLite, while nothing is committed, without a
    read at all), and a 200 reads its bytes once, not a render."""
    body = b"<feed>" + b"x" * 4000 + b"</feed>"
    one, renderer = FeedCache(db.get_engine(app)), Renderer(body)
    for variant in ("a", "b", "c", "d"):
        fetch(app, one, renderer, clock.now, variant)
    other = FeedCache(db.get_engine(app), max_bytes=11_000)
    for variant in ("a", "b", "c", "d"):  # read, not rendered: a is pushed out by d
        assert fetch(app, other, renderer, clock.now, variant).body == body
    assert renderer.calls == 4 and other.held_bytes <= 11_000
    reads = BodyReads(monkeypatch)
    with app.app_context():
        current = other.lookup("a", WORLD, clock.now, canonical=True)
    assert current is not None and not current.document.loaded
    assert current.document.etag == f'"{__import__("hashlib").sha256(body).hexdigest()[:32]}"'
    assert reads.bodies == 0 and reads.queries == 0
    assert current.document.body == body and reads.bodies == 1
    assert fetch(app, other, renderer, clock.now, "a").body == body
    assert renderer.calls == 4 and reads.bodies == 1 and other.held_bytes <= 11_000


@pytest.mark.notices  # counts the reads a trusted one saves, no write between
def test_a_process_reads_no_bytes_to_answer_a_revalidation(app: Flask, clock: Clock,
                                                           monkeypatch: Any) -> None:
    """Another process's render: this one learns its validators from the row, and its bytes
    only when it sends them."""
    one, other, renderer = FeedCache(db.get_engine(app)), FeedCache(db.get_engine(app)), Renderer()
    fetch(app, one, renderer, clock.now)
    reads = BodyReads(monkeypatch)
    with app.app_context():
        current = other.lookup("world.atom", WORLD, clock.now, canonical=True)
    assert current is not None and current.document.etag == fetch(app, one, renderer, clock.now).etag
    assert reads.bodies == 0
    assert current.document.body == renderer.body and reads.bodies == 1


def test_bytes_replaced_before_they_were_read_are_never_sent(app: Flask, clock: Clock) -> None:
    """Validators read, then another process stores new bytes before this one reads the old:
    the old ones are asked for by their digest and are gone (Changed), and fetch reads the new."""
    from feedsvc.feeds.freshness import Changed

    one, other, renderer = FeedCache(db.get_engine(app)), FeedCache(db.get_engine(app)), Renderer()
    fetch(app, one, renderer, clock.now)
    with app.app_context():
        stale = other.lookup("world.atom", WORLD, clock.now, canonical=True)
    assert stale is not None and not stale.document.loaded
    write(app, {WORLD}, clock.now)
    renderer.body = b"<feed>new</feed>"
    fetch(app, one, renderer, clock.advance(seconds=5))
    with pytest.raises(Changed):  # old validators never go out with bytes they do not name
        stale.document.load()
    assert fetch(app, other, renderer, clock.now).body == b"<feed>new</feed>" and renderer.calls == 2


def test_a_commit_anywhere_moves_the_watch(app: Flask, tmp_path: Any) -> None:
    """The SQLite watch: after a commit by any other connection (here a plain sqlite3 one, as
    another process's would be), the next look, from any thread, differs from every look
    before it; without a commit, looks agree. Not in WAL mode, it trusts nothing."""
    import sqlite3
    from concurrent.futures import ThreadPoolExecutor

    from feedsvc.feeds.freshness import _Watch

    engine = db.get_engine(app)
    watch = _Watch.of(engine)
    if watch is None:
        assert engine.dialect.name == "postgresql"  # no watch there: every poll reads
        return
    writer = sqlite3.connect(engine.url.database or "", isolation_level=None)
    given: set[bytes | None] = set()
    try:
        with ThreadPoolExecutor(2) as pool:
            for round_ in range(20):
                looks = {watch.version(), *pool.map(lambda _: watch.version(), range(4))}
                assert len(looks) == 1 and None not in looks, looks  # nothing committed meanwhile
                assert not looks & given, round_  # something was, since the last round's looks
                given |= looks
                if round_ % 2:
                    writer.execute("INSERT INTO feed_scopes (kind, slug, version, changed)"
                                   f" VALUES ('topics', 'w{round_}', 1, '2026-01-01 00:00:00')")
                else:  # a transaction of several statements
                    writer.execute("BEGIN IMMEDIATE")
                    writer.execute("INSERT INTO feed_scopes (kind, slug, version, changed)"
                                   f" VALUES ('topics', 'w{round_}', 1, '2026-01-01 00:00:00')")
                    writer.execute(f"UPDATE feed_scopes SET version = 2 WHERE slug = 'w{round_}'")
                    writer.execute("DELETE FROM feed_scopes WHERE slug = 'none'")
                    writer.execute("COMMIT")
    finally:
        writer.close()
        watch.close()
    rollback = sqlite3.connect(tmp_path / "rollback.sqlite3")
    rollback.execute("CREATE TABLE t (x)")
    rollback.close()
    other = _Watch(str(tmp_path / "rollback.sqlite3"))  # journal_mode=delete: no wal-index
    assert other.version() is None
    other.close()


@pytest.mark.notices  # counts the reads a trusted one saves, no write between
def test_bodies_are_kept_in_the_encodings_asked_for(app: Flask, clock: Clock, monkeypatch: Any) -> None:
    """Another process's render served plain: the stored bytes are read and decompressed, and
    only the plain body is kept; gzip asked for later is read again, not compressed here."""
    body = b"<feed>" + b"plain words " * 2000 + b"</feed>"
    one, other, renderer = FeedCache(db.get_engine(app)), FeedCache(db.get_engine(app)), Renderer(body)
    fetch(app, one, renderer, clock.now)
    reads = BodyReads(monkeypatch)
    compressed: list[int] = []
    compress = gzip.compress
    monkeypatch.setattr(gzip, "compress", lambda data, *a, **k: compressed.append(1) or compress(data, *a, **k))
    with app.app_context():
        current = other.lookup("world.atom", WORLD, clock.now, canonical=True)
    assert current is not None and current.document.body == body
    assert reads.bodies == 1 and other.held_bytes < len(body) + 2048  # plain alone, and bookkeeping
    zipped = current.document.gzipped
    assert gzip.decompress(zipped) == body and reads.bodies == 2 and compressed == []
    assert other.held_bytes == len(body) + len(zipped) + cache_overhead()


def cache_overhead() -> int:
    from feedsvc.feeds.freshness import _OVERHEAD

    return _OVERHEAD


def test_a_render_under_settings_the_deployment_left_is_never_current(app: Flask, clock: Clock) -> None:
    """A rolling restart that changes the settings: the process not yet restarted renders after
    a write under the old ones; the restarted process serves its own render, not that one."""
    old = FeedCache(db.get_engine(app), settings_mark=lambda: "old")
    new = FeedCache(db.get_engine(app), settings_mark=lambda: "new")
    old_renders, new_renders = Renderer(b"<feed>old</feed>"), Renderer(b"<feed>new</feed>")
    fetch(app, old, old_renders, clock.now)  # the deployment before: "old" recorded
    assert fetch(app, new, new_renders, clock.now).body == b"<feed>new</feed>"  # restarted
    write(app, {WORLD}, clock.advance(minutes=1))
    assert fetch(app, old, old_renders, clock.now).body == b"<feed>old</feed>"  # polled first
    assert fetch(app, new, new_renders, clock.now).body == b"<feed>new</feed>"
    assert fetch(app, new, new_renders, clock.now).body == b"<feed>new</feed>"  # and stays so
