"""Every feed query walks the index made for it, even on SQLite without statistics.

A fresh SQLite database has no ANALYZE statistics, and then its planner took
``deleted IS NULL`` for a selective lookup on ix_articles_deleted: the site feed read and
sorted every live article (5 s at a million, bench/render), and /feeds.opml took 8 s. The
planner decides from the schema and the SQL alone, so a small database shows the same plans.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.orm import Session

from feedsvc.feeds import selection
from feedsvc.store import articles, db, params
from feedsvc.store.scopes import SITE

from conftest import PG_URL, START, Api, make_article

NOW = START

pytestmark = pytest.mark.skipif(bool(PG_URL), reason="EXPLAIN QUERY PLAN is SQLite's")

FEEDS = ["/feed.atom", "/feed.rss?order=updated", "/sections/world/feed.atom",
         "/topics/climate/feed.atom", "/authors/staff-correspondent/feed.atom",
         "/topics/climate/feed.json?order=updated", "/sections/world/feed.rss?order=updated",
         "/authors/staff-correspondent/feed.atom?order=updated", "/feeds.opml"]


def plans(app: Flask, client: FlaskClient, url: str) -> list[tuple[str, str]]:
    """(statement, query plan) of every SELECT run to answer ``url``."""
    engine = db.get_engine(app)
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert client.get(url).status_code == 200, url
    finally:
        event.remove(engine, "before_cursor_execute", record)
    with engine.connect() as conn:
        return [(statement, "\n".join(row[3] for row in conn.exec_driver_sql(
                    f"EXPLAIN QUERY PLAN {statement}", parameters)))
                for statement, parameters in seen]


@pytest.fixture
def stored(api: Api) -> None:
    for n in range(3):
        api.put(f"a{n}", make_article(key=f"a{n}", published=f"2026-10-0{n + 1}T10:00:00Z",
                                      updated=f"2026-10-0{n + 1}T10:00:00Z"))
    api.delete("a0")  # a tombstone, so the tombstone query runs too
    api.put("later", make_article(key="later", published="2027-01-01T00:00:00Z"))


@pytest.mark.usefixtures("stored")
@pytest.mark.parametrize("url", FEEDS)
def test_feed_queries_walk_their_index(app: Flask, client: FlaskClient, url: str) -> None:
    found = plans(app, client, url)
    assert found
    for statement, plan in found:
        if "ix_articles_deleted" in plan:
            # Only the tombstone query, over the few recent deletions, may walk that index.
            assert "articles.deleted >" in statement, (statement, plan)
        if " LIMIT " in statement and "ORDER BY" in statement:
            # A page is read in index order and stops at its end: never sorted in full.
            assert "TEMP B-TREE" not in plan, (statement, plan)
        assert not any(line.strip("|-` ").startswith("SCAN articles") and "USING" not in line
                       for line in plan.splitlines()), (statement, plan)


@pytest.mark.usefixtures("stored")
def test_tombstones_walk_the_deletions(app: Flask, client: FlaskClient) -> None:
    for url in ("/feed.atom", "/sections/world/feed.atom", "/topics/climate/feed.atom"):
        found = [plan for statement, plan in plans(app, client, url)
                 if "articles.deleted >" in statement]
        assert found and all("ix_articles_deleted" in plan for plan in found), (url, found)


def vm_steps(app: Flask, order: str, cursor: params.Cursor | None) -> int:
    """SQLite virtual-machine steps (in hundreds) to select one 5-entry page of the site feed."""
    count = 0

    def step() -> int:
        nonlocal count
        count += 1
        return 0

    with db.get_engine(app).connect() as conn:
        raw = conn.connection.driver_connection
        raw.set_progress_handler(step, 100)
        try:
            with Session(bind=conn) as session:
                selection.select_entries(session, selection.ScopeRow(SITE, None, None), now=NOW,
                                       order=order, limit=5, cursor=cursor, tombstone_days=30,
                                       with_tombstones=False)
        finally:
            raw.set_progress_handler(None, 0)
    return count


@pytest.mark.parametrize("order", ["published", "updated"])
def test_a_deep_page_starts_at_its_cursor(app: Flask, order: str) -> None:
    items = [articles.NewArticle(f"k{n}", {"title": f"T{n}", "section": "World",
                                        "published": NOW - dt.timedelta(hours=n),
                                        "updated": NOW - dt.timedelta(hours=n)})
             for n in range(1, 801)]
    db.run_write(db.get_engine(app), lambda s: articles.create_many(
        s, items, now=NOW, authority="feeds.test"))
    deep = params.Cursor(order, NOW - dt.timedelta(hours=750), "k750")
    # Walking down from the newest entry to the cursor would cost ~750 rows more.
    assert vm_steps(app, order, deep) < 2 * vm_steps(app, order, None) + 20


@pytest.mark.usefixtures("stored")
def test_opml_asks_each_scope_for_one_row(app: Flask, client: FlaskClient) -> None:
    for statement, plan in plans(app, client, "/feeds.opml"):
        # Not "id IN (every public article's scope)": that list costs the whole archive.
        assert "LIST SUBQUERY" not in plan, (statement, plan)
