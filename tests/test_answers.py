"""What a careful client notices in small answers (issue 16, item 9): empty answers carry no
Content-Type, a 304 repeats its 200's validators and caching, an article's feeds are all of
them, a deletion shows in whole seconds, and an article page names its canonical URL."""

from __future__ import annotations

import datetime as dt

from flask.testing import FlaskClient
from lxml import etree, html

from conftest import Api, Clock, make_article

ATOM = "{http://www.w3.org/2005/Atom}"
TOMBSTONES = "{http://purl.org/atompub/tombstones/1.0}"


def test_empty_answers_carry_no_content_type(api: Api, client: FlaskClient) -> None:
    """RFC 9110 15.3.5 and 15.4.5: a 204 and a 304 have no content to type; a 304 repeats the
    200's ETag and Cache-Control."""
    api.put("a", make_article(key="a"))
    full = api.get("a")
    again = api.client.get("/api/articles/a", headers=api.headers | {"If-None-Match": full.headers["ETag"]})
    assert again.status_code == 304 and "Content-Type" not in again.headers
    assert (again.headers["ETag"], again.headers["Cache-Control"]) == (full.headers["ETag"],
                                                                        full.headers["Cache-Control"])
    page = client.get("/articles/a")
    cached = client.get("/articles/a", headers={"If-None-Match": page.headers["ETag"]})
    assert cached.status_code == 304 and "Content-Type" not in cached.headers
    gone = api.delete("a")
    assert gone.status_code == 204 and "Content-Type" not in gone.headers and gone.data == b""


def test_an_article_lists_every_feed_it_is_in(api: Api) -> None:
    body = api.put("a", make_article(key="a", section="World", topics=["Rivers"],
                                     authors=[{"name": "Ann"}])).get_json()
    assert [(f["scope"], f["name"]) for f in body["feeds"]] == [
        ("site", "feedsvc"), ("section", "World"), ("topic", "Rivers"), ("author", "Ann")]
    assert body["feeds"][0]["atom"] == "http://feeds.test/feed.atom"
    assert body["feeds"][1]["json"] == "http://feeds.test/sections/world/feed.json"
    api.delete("a")
    assert api.get("a").get_json()["feeds"] == []  # a tombstone is in no feed as an article


def test_a_deletion_shows_in_whole_seconds(api: Api, client: FlaskClient, clock: Clock) -> None:
    api.put("a", make_article(key="a"))
    api.put("b", make_article(key="b"))
    clock.set(clock.now + dt.timedelta(hours=1, microseconds=654321))
    api.delete("a")
    root = etree.fromstring(client.get("/feed.atom").data)
    updated = root.findtext(f"{ATOM}updated")
    [tombstone] = root.iter(f"{TOMBSTONES}deleted-entry")
    assert "." not in updated and "." not in tombstone.get("when")
    assert dt.datetime.fromisoformat(tombstone.get("when")) == clock.now.replace(microsecond=0)
    assert api.get("a").get_json()["deleted"] == clock.now.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_an_article_page_names_its_canonical_url(api: Api, client: FlaskClient) -> None:
    api.put("mirrored", make_article(key="mirrored", url="https://news.example/2026/mirrored"))
    api.put("here", make_article(key="here", url=None))

    def canonical(key: str) -> list[str]:
        return html.fromstring(client.get(f"/articles/{key}").data).xpath("//head/link[@rel='canonical']/@href")

    assert canonical("mirrored") == ["https://news.example/2026/mirrored"]
    assert canonical("here") == ["http://feeds.test/articles/here"]
