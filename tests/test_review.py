"""Review of issue 13's serving change: defects found by attacking it (one test each)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from feedsvc.feeds import freshness
from feedsvc.store import db
from feedsvc.store.scopes import Scope

from conftest import Api, Clock, make_article, new_token

FEED = "/sections/world/feed.atom"


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_a_304_through_flask_has_the_fast_paths_headers(client: FlaskClient, api: Api, encoding: str) -> None:
    """An edit and its undo: the first conditional poll after it renders (through Flask), the
    next is the fast path's. Both are 304s of the same document: the same headers."""
    api.put("a", make_article(key="a", title="A"))
    first = client.get(FEED, headers={"Accept-Encoding": encoding})
    api.patch("a", {"title": "B"})
    api.patch("a", {"title": "A"})
    sent = {"Accept-Encoding": encoding, "If-None-Match": first.headers["ETag"]}
    through_flask, fast = client.get(FEED, headers=sent), client.get(FEED, headers=sent)
    assert through_flask.status_code == fast.status_code == 304
    assert sorted(through_flask.headers.items()) == sorted(fast.headers.items())
    assert fast.headers["Last-Modified"] == first.headers["Last-Modified"]


@pytest.mark.parametrize(("base_url", "url"), [(None, FEED), ("http://feeds.test", FEED + "?limit=5")])
def test_last_modified_moves_when_time_alone_changes_a_document_kept_in_memory(
        make_app: Callable[..., Flask], clock: Clock, base_url: str | None, url: str) -> None:
    """A tombstone ages out: new bytes with no write. A document kept only in this process
    (every document without BASE_URL, and explicit limits) must still move Last-Modified, or
    an If-Modified-Since client is told 304 for bytes it has never seen (the old per-variant
    validators did this; the stored canonical documents still do)."""
    app = make_app(BASE_URL=base_url, TOMBSTONE_DAYS=1)
    client = app.test_client()
    api = Api(client, {"Authorization": f"Bearer {new_token(app)}"})
    api.put("a", make_article(key="a"))
    api.put("gone", make_article(key="gone"))
    clock.advance(hours=1)
    assert api.delete("gone").status_code in (200, 204)
    clock.advance(hours=1)
    before = client.get(url)
    assert b"deleted-entry" in before.data
    clock.advance(days=1, hours=1)
    after = client.get(url)
    assert b"deleted-entry" not in after.data and after.headers["ETag"] != before.headers["ETag"]
    since = client.get(url, headers={"If-Modified-Since": before.headers["Last-Modified"]})
    assert since.status_code == 200, (before.headers["Last-Modified"], after.headers["Last-Modified"])


@pytest.mark.postgres_only
def test_an_older_render_never_overwrites_a_newer_stored_row(app: Flask, clock: Clock) -> None:
    """Two processes store renders of one document at once (PostgreSQL, READ COMMITTED): the
    one of the older scope version read the row before the newer one committed, and must not
    then write its older version, bytes and Last-Modified over it."""
    from feedsvc.store.models import FeedDocument

    engine, variant, scope = db.get_engine(app), freshness.variant_of("x"), Scope("sections", "world")

    def store(version: int, body: bytes, session: Any) -> dt.datetime:
        rendered = freshness.Rendered(body, "application/atom+xml")
        return freshness._store(session, variant, scope, version, body.hex()[:32], clock.now, rendered,
                            clock.now, b"")

    db.run_write(engine, lambda s: store(1, b"\x01", s))
    read, go = threading.Event(), threading.Event()

    def older(session: Any) -> dt.datetime:
        row = session.get(FeedDocument, variant)  # its read, before the newer render commits
        read.set()
        go.wait(10)
        assert row is not None  # (held: the session's identity map keeps it only while referenced)
        return store(2, b"\x02", session)

    thread = threading.Thread(target=lambda: db.run_write(engine, older))
    thread.start()
    read.wait(10)
    clock.advance(seconds=5)
    db.run_write(engine, lambda s: store(3, b"\x03", s))  # the newer render, committed first
    go.set()
    thread.join(10)
    with engine.connect() as conn:
        version, etag = conn.exec_driver_sql(
            "SELECT version, etag FROM feed_documents WHERE variant = %s", (variant,)).one()
    assert (version, etag) == (3, b"\x03".hex()), "an older render overwrote the newer row"


def test_memory_held_stays_near_the_bound_with_small_documents(app: Flask, clock: Clock) -> None:
    """Pages of ?limit=1 (a client's choice, one per cursor): small documents, each with its
    key, validators and bookkeeping. FEED_CACHE_BYTES must bound what they really take."""
    import random
    import tracemalloc

    bound = 2 * 2**20
    feeds = freshness.FeedCache(db.get_engine(app), max_bytes=bound, shared=False)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for n in range(6000):
            body = (f"<feed><id>tag:x,{n}</id>" + "".join(
                f"<entry><title>{random.random()}</title></entry>" for _ in range(12)) + "</feed>").encode()
            got = feeds.fetch(f"page|{n}", Scope("sections", "world"), clock.now,
                              lambda _s, body=body: freshness.Rendered(body, "application/atom+xml"),
                              canonical=False)
            assert got.document.gzipped  # a gzip client asked for it
        used = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert used <= bound * 1.25, f"{used} bytes held for a bound of {bound}"
