"""Writing an embargoed article moves no feed version, yet every process shows it when it comes due.

A re-render after such a write would make the next 304 slower than the others: a timing signal
that something is scheduled in that scope. Instead the scope records when the article comes due.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from feedsvc.feeds.freshness import FeedCache

from conftest import Api, Clock, make_article, new_token

FEEDS = ["/feed.atom", "/topics/rivers/feed.atom", "/sections/world/feed.json",
         "/authors/ada-lovelace/feed.rss"]
BYLINE = [{"name": "Ada Lovelace"}]


class Renders:
    """Counts the renders of every process (app) in this test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        build = FeedCache._build

        def counting(cache: FeedCache, *args: Any) -> Any:
            self.count += 1
            return build(cache, *args)

        monkeypatch.setattr(FeedCache, "_build", counting)


@pytest.fixture
def two(make_app: Callable[..., Flask], clock: Clock) -> tuple[Flask, Flask, Api]:
    """Two processes on one database: ``reader`` serves feeds, ``newsroom`` takes writes."""
    reader, newsroom = make_app(), make_app()
    api = Api(newsroom.test_client(), {"Authorization": f"Bearer {new_token(newsroom)}"})
    assert api.put("out", make_article(key="out", section="World", topics=["Rivers"],
                                       authors=BYLINE)).status_code == 201
    return reader, newsroom, api


def scheduled(key: str, when: dt.datetime) -> dict[str, Any]:
    stamp = when.isoformat().replace("+00:00", "Z")
    return make_article(key=key, title=f"Embargoed {key}", section="World", topics=["Rivers"],
                        authors=BYLINE, published=stamp, updated=stamp)


def poll(app: Flask, etags: dict[str, str]) -> dict[str, int]:
    client, statuses = app.test_client(), {}
    for url in FEEDS:
        response = client.get(url, headers={"If-None-Match": etags.get(url, '"none"')})
        statuses[url] = response.status_code
        etags[url] = response.headers["ETag"]
    return statuses


def test_an_embargoed_write_costs_the_next_poll_no_render(two: tuple[Flask, Flask, Api], clock: Clock,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    reader, _, api = two
    etags: dict[str, str] = {}
    poll(reader, etags)
    renders = Renders(monkeypatch)
    assert api.put("x", scheduled("x", clock.now + dt.timedelta(hours=1))).status_code == 201
    assert api.patch("x", {"title": "Embargoed, edited"}).status_code == 200
    clock.advance(minutes=1)
    assert set(poll(reader, etags).values()) == {304}
    assert renders.count == 0  # answered from the cache, as fast as any other 304
    assert api.put("y", make_article(key="y", topics=["Rivers"])).status_code == 201
    assert poll(reader, etags)["/topics/rivers/feed.atom"] == 200  # a public write does render


def test_every_process_shows_it_at_its_instant(two: tuple[Flask, Flask, Api], clock: Clock) -> None:
    reader, _, api = two
    etags: dict[str, str] = {}
    poll(reader, etags)
    due = clock.now + dt.timedelta(hours=1)
    api.put("x", scheduled("x", due))
    clock.set(due - dt.timedelta(seconds=1))
    assert set(poll(reader, etags).values()) == {304}
    clock.set(due)
    assert set(poll(reader, etags).values()) == {200}
    body = reader.test_client().get("/topics/rivers/feed.atom").data
    assert b"Embargoed x" in body


def test_an_earlier_embargo_written_later_still_counts(two: tuple[Flask, Flask, Api], clock: Clock) -> None:
    reader, _, api = two
    etags: dict[str, str] = {}
    poll(reader, etags)
    start = clock.now
    api.put("late", scheduled("late", start + dt.timedelta(hours=5)))
    api.put("soon", scheduled("soon", start + dt.timedelta(hours=1)))
    clock.set(start + dt.timedelta(hours=1))
    assert set(poll(reader, etags).values()) == {200}
    assert b"Embargoed soon" in reader.test_client().get("/feed.atom").data


def test_a_due_instant_that_passed_unseen_is_not_forgotten(two: tuple[Flask, Flask, Api],
                                                           clock: Clock) -> None:
    """The reader polls nothing while the first embargo ends; a second is written after it."""
    reader, _, api = two
    etags: dict[str, str] = {}
    poll(reader, etags)  # rendered before either embargo was written
    start = clock.now
    api.put("first", scheduled("first", start + dt.timedelta(hours=1)))
    clock.set(start + dt.timedelta(hours=2))
    api.put("second", scheduled("second", start + dt.timedelta(hours=3)))
    assert set(poll(reader, etags).values()) == {200}
    body = reader.test_client().get("/topics/rivers/feed.atom").data
    assert b"Embargoed first" in body and b"Embargoed second" not in body
    assert set(poll(reader, etags).values()) == {304}
    clock.set(start + dt.timedelta(hours=3))
    assert set(poll(reader, etags).values()) == {200}
    assert b"Embargoed second" in reader.test_client().get("/topics/rivers/feed.atom").data


def test_a_public_article_moved_into_the_future_leaves_at_once(two: tuple[Flask, Flask, Api],
                                                               clock: Clock) -> None:
    reader, _, api = two
    client = reader.test_client()
    assert b"<entry" in client.get("/feed.atom").data
    later = (clock.now + dt.timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert api.patch("out", {"published": later, "updated": later}).status_code == 200
    assert b"<entry" not in client.get("/feed.atom").data
    assert client.get("/topics/rivers/feed.atom").status_code == 404  # it named the topic alone
    clock.advance(hours=1)
    assert b"<entry" in client.get("/feed.atom").data
    assert b"<entry" in client.get("/topics/rivers/feed.atom").data
