"""The feeds as readers and aggregators receive them."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import urlsplit

import feedparser
import pytest
from feedcheck import ATOM_NS, FORMATS, instant, next_link, read
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree

from conftest import Api, Clock, make_article, new_token, seed_article

UTC = dt.UTC
SCOPES = ("/feed", "/sections/world/feed", "/topics/china/feed", "/authors/ann/feed")


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def get(client: FlaskClient, url: str) -> Any:
    response = client.get(path_of(url))
    assert response.status_code == 200, (url, response.data[:300])
    return response


@pytest.fixture
def dhaka(make_app: Any) -> tuple[Flask, Api]:
    app = make_app(TIMEZONE="Asia/Dhaka")
    return app, Api(app.test_client(), {"Authorization": f"Bearer {new_token(app)}"})


def test_seed_article_in_every_format(dhaka: tuple[Flask, Api]) -> None:
    app, api = dhaka
    seed = seed_article()
    assert api.put(seed["key"], seed).status_code == 201
    client = app.test_client()
    published = dt.datetime(2022, 6, 18, 20, 17, tzinfo=UTC)
    updated = dt.datetime(2022, 6, 19, 8, 18, tzinfo=UTC)
    atom = get(client, "/sections/world/feed.atom").data
    root = etree.fromstring(atom)
    entry = root.find(f"{ATOM_NS}entry")
    assert instant(entry.findtext(f"{ATOM_NS}published")) == published
    assert instant(entry.findtext(f"{ATOM_NS}updated")) == updated
    assert instant(root.findtext(f"{ATOM_NS}updated")) == updated
    rss = etree.fromstring(get(client, "/sections/world/feed.rss").data)
    assert rss.findtext("channel/item/pubDate") == "Sat, 18 Jun 2022 20:17:00 +0000"
    assert rss.findtext("channel/lastBuildDate") == "Sun, 19 Jun 2022 08:18:00 +0000"
    item = json.loads(get(client, "/sections/world/feed.json").data)["items"][0]
    assert instant(item["date_published"]) == published
    assert instant(item["date_modified"]) == updated
    for scope in ("/topics/china/feed", "/feed"):
        for fmt in FORMATS:
            [only] = read(get(client, f"{scope}.{fmt}").data, fmt)
            assert (only["published"], only["updated"]) == (published, updated)
            assert only["id"] == api.get(seed["key"]).get_json()["id"]


AWKWARD = [
    make_article(key="bengali", title="ঢাকায় বন্যা: সতর্কতা জারি", topics=["China", "বন্যা"],
                 authors=[{"name": "Ann"}], language="bn"),
    make_article(key="cyrillic", title="Путин и Си: «легитимно»", topics=["China"],
                 authors=[{"name": "Ann"}], language="ru"),
    make_article(key="rtl", title="عنوان باللغة العربية ‏(مع علامات)‏", language="ar",
                 topics=["China"], authors=[{"name": "Ann"}]),
    make_article(key="emoji", title="Floods 🌊 and fire 🔥 — 👩🏽‍🚒", topics=["China"],
                 authors=[{"name": "Ann"}]),
    make_article(key="markup", title="Tom & Jerry <b>not bold</b> ]]> end", topics=["China"],
                 authors=[{"name": "Ann"}],
                 content='<p>Hi</p><script>alert(1)</script><iframe src="https://x.example/">'
                         '</iframe><table><tr><td>1</td></tr></table><a href="../rel">r</a>'
                         "<p>]]&gt; and ]]></p>"),
    make_article(key="control", title="Bell\x07 and\x00 null", summary="tab\tand\x0bvt",
                 topics=["China"], authors=[{"name": "Ann"}]),
    make_article(key="bare", title="No authors, no summary", summary=None, authors=[],
                 topics=["China"], content=None, url=None),
    make_article(key="long", title="Long " * 200, topics=["China"], authors=[{"name": "Ann"}]),
    make_article(key="image", title="With an image", topics=["China"], authors=[{"name": "Ann"}],
                 image={"url": "https://news.example/i/1.jpg", "type": "image/jpeg",
                        "length": 48213}),
]


@pytest.fixture
def corpus(api: Api) -> dict[str, dict[str, Any]]:
    stored = {}
    for n, body in enumerate(AWKWARD):
        body = body | {"published": f"2026-10-{n + 1:02d}T08:00:00+06:00",
                       "updated": f"2026-10-{n + 1:02d}T09:30:00Z"}
        response = api.put(body["key"], body)
        assert response.status_code == 201, response.get_json()
        stored[body["key"]] = response.get_json()
    return stored


def test_awkward_corpus_reads_back_in_every_scope_and_format(
        client: FlaskClient, corpus: dict[str, dict[str, Any]]) -> None:
    by_id = {article["id"]: article for article in corpus.values()}
    for scope in SCOPES:
        for fmt in FORMATS:
            entries = read(get(client, f"{scope}.{fmt}").data, fmt)
            expected = 9 if scope != "/authors/ann/feed" else 8
            assert len(entries) == expected, (scope, fmt)
            for entry in entries:
                stored = by_id[entry["id"]]
                assert entry["title"] == stored["title"]
                assert entry["published"] == instant(stored["published"])
                assert entry["updated"] == instant(stored["updated"])


def test_markup_is_text_and_content_is_safe(client: FlaskClient,
                                            corpus: dict[str, dict[str, Any]]) -> None:
    atom = feedparser.parse(get(client, "/feed.atom").data)
    entry = next(e for e in atom.entries if e.id == corpus["markup"]["id"])
    assert entry.title == "Tom & Jerry <b>not bold</b> ]]> end"  # not double-escaped
    html = entry.content[0].value
    assert "<script" not in html and "<iframe" not in html and "<table>" in html
    assert 'href="https://news.example/rel"' in html  # ../rel against .../world/article-5
    rss = feedparser.parse(get(client, "/feed.rss").data)
    item = next(e for e in rss.entries if e.id == corpus["markup"]["id"])
    assert "<p>]]&gt; and ]]&gt;</p>" in item.content[0].value  # "]]>" text survives in RSS


def test_entry_metadata(client: FlaskClient, corpus: dict[str, dict[str, Any]]) -> None:
    atom = feedparser.parse(get(client, "/topics/china/feed.atom").data)
    image = next(e for e in atom.entries if e.id == corpus["image"]["id"])
    enclosure = next(link for link in image.links if link.rel == "enclosure")
    assert (enclosure.href, enclosure.type, enclosure.length) == (
        "https://news.example/i/1.jpg", "image/jpeg", "48213")
    assert {t.term for t in image.tags} == {"World", "China"}
    assert image.author == "Ann"
    bengali = next(e for e in atom.entries if e.id == corpus["bengali"]["id"])
    assert bengali.get("language") == "bn" or bengali.title_detail.language == "bn"
    rss = feedparser.parse(get(client, "/topics/china/feed.rss").data)
    item = next(e for e in rss.entries if e.id == corpus["image"]["id"])
    assert item.enclosures[0].href == "https://news.example/i/1.jpg"
    assert item.guidislink is False
    data = json.loads(get(client, "/topics/china/feed.json").data)
    item = next(i for i in data["items"] if i["id"] == corpus["image"]["id"])
    assert item["attachments"] == [{"url": "https://news.example/i/1.jpg", "mime_type": "image/jpeg",
                                    "title": "With an image", "size_in_bytes": 48213}]
    assert item["authors"] == [{"name": "Ann"}] and item["tags"] == ["World", "China"]


def test_feed_metadata_and_links(client: FlaskClient, corpus: dict[str, dict[str, Any]]) -> None:
    for fmt in ("atom", "rss"):
        response = get(client, f"/sections/world/feed.{fmt}")
        feed = feedparser.parse(response.data).feed
        rels = {(link.rel, link.href) for link in feed.links}
        assert ("self", f"http://feeds.test/sections/world/feed.{fmt}") in rels
        assert ("hub", "http://feeds.test/websub") in rels
        assert ("alternate", "http://feeds.test/sections/world/") in rels
        assert [link.rel for link in feed.links].count("self") == 1
        assert feed.title == "feedsvc: World"
        assert response.headers["Link"] == (
            f'<http://feeds.test/sections/world/feed.{fmt}>; rel="self", '
            '<http://feeds.test/websub>; rel="hub"')
    data = json.loads(get(client, "/sections/world/feed.json").data)
    assert data["hubs"] == [{"type": "WebSub", "url": "http://feeds.test/websub"}]
    assert data["feed_url"] == "http://feeds.test/sections/world/feed.json"
    assert data["home_page_url"] == "http://feeds.test/sections/world/"


@pytest.mark.parametrize(("fmt", "content_type"), [
    ("atom", "application/atom+xml; charset=utf-8"),
    ("rss", "application/rss+xml; charset=utf-8"),
    ("json", "application/feed+json; charset=utf-8")])
def test_content_types(client: FlaskClient, api: Api, fmt: str, content_type: str) -> None:
    api.put("a", make_article(key="a"))
    assert client.get(f"/feed.{fmt}").headers["Content-Type"] == content_type


def test_changing_only_updated(client: FlaskClient, api: Api) -> None:
    for day in range(1, 6):
        api.put(f"d{day}", make_article(key=f"d{day}", published=f"2026-10-0{day}T00:00:00Z",
                                        updated=f"2026-10-0{day}T00:00:00Z"))
    before = {fmt: get(client, f"/feed.{fmt}").data for fmt in FORMATS}
    api.patch("d3", {"updated": "2026-10-20T00:00:00Z"})
    for fmt in FORMATS:
        after = get(client, f"/feed.{fmt}").data
        old, new = read(before[fmt], fmt), read(after, fmt)
        assert [e["id"] for e in old] == [e["id"] for e in new]  # same ids, same places
        changed = [n for n, (o, e) in enumerate(zip(old, new, strict=True)) if o != e]
        assert changed == [2]
        assert new[2]["updated"] == dt.datetime(2026, 10, 20, tzinfo=UTC)
    atom_old, atom_new = (etree.fromstring(b) for b in (before["atom"], get(client, "/feed.atom").data))
    old_entries = [etree.tostring(e) for e in atom_old.findall(f"{ATOM_NS}entry")]
    new_entries = [etree.tostring(e) for e in atom_new.findall(f"{ATOM_NS}entry")]
    assert [o == n for o, n in zip(old_entries, new_entries, strict=True)] == [
        True, True, False, True, True]  # every other entry unchanged byte for byte
    assert instant(atom_new.findtext(f"{ATOM_NS}updated")) == dt.datetime(2026, 10, 20, tzinfo=UTC)
    corrections = read(get(client, "/feed.atom?order=updated").data, "atom")
    assert corrections[0]["id"] == api.get("d3").get_json()["id"]


def test_scheduled_article_appears_at_its_instant(client: FlaskClient, api: Api,
                                                  clock: Clock) -> None:
    api.put("now", make_article(key="now", topics=["Public"], authors=[{"name": "Ann"}]))
    due = clock.now + dt.timedelta(hours=2)
    secret = make_article(key="embargo", title="Embargoed merger", section="Business",
                          topics=["Merger"], authors=[{"name": "Zed Embargo"}],
                          published=due.isoformat(), updated=None)
    api.put("embargo", secret)
    urls = [f"{scope}.{fmt}{query}" for scope in ("/feed", "/sections/world/feed",
                                                   "/topics/public/feed", "/authors/ann/feed")
            for fmt in FORMATS for query in ("", "?order=updated")]
    hidden = ["/sections/business/feed.atom", "/topics/merger/feed.rss",
              "/authors/zed-embargo/feed.json"]

    def visible() -> bool:
        bodies = [client.get(url).data for url in urls] + [client.get("/feeds.opml").data]
        return any(b"Embargo" in body or b"embargo" in body or b"erger" in body
                   for body in bodies)

    assert not visible()
    for url in hidden:
        response = client.get(url)
        assert response.status_code == 404
        # Exactly what a name that never existed gets: nothing tells the two apart.
        kind, slug = url.split("/")[1:3]
        never = client.get(url.replace(slug, "never-existed"))
        assert response.data == never.data.replace(b"never-existed", slug.encode())
    clock.set(due - dt.timedelta(seconds=1))
    assert not visible()
    clock.set(due)
    assert visible()
    assert all(client.get(url).status_code == 200 for url in hidden)


def test_walking_next_reaches_every_article_once(make_app: Any) -> None:
    app = make_app(FEED_SIZE=4)
    api = Api(app.test_client(), {"Authorization": f"Bearer {new_token(app)}"})
    client = app.test_client()
    for n in range(11):  # two share a published instant: ties by id
        api.put(f"p{n}", make_article(key=f"p{n}", published=f"2026-09-{min(n, 9) + 10:02d}T00:00:00Z",
                                      updated=f"2026-10-{n + 1:02d}T00:00:00Z"))
    api.put("gone", make_article(key="gone"))
    api.delete("gone")
    for fmt in FORMATS:
        for order in ("published", "updated"):
            url: str | None = f"/feed.{fmt}?order={order}"
            seen: list[str] = []
            while url:
                body = get(client, url).data
                seen += [e["id"] for e in read(body, fmt)]
                url = next_link(body, fmt)
                if url and len(seen) == 4:  # a new article arrives mid-walk: the walk is stable
                    api.put("late", make_article(key="late", published="2026-11-01T00:00:00Z"))
            assert len(seen) == len(set(seen)) == 11, (fmt, order)
            api.delete("late")


def test_delete_leaves_feeds_with_a_tombstone(client: FlaskClient, api: Api,
                                              clock: Clock) -> None:
    api.put("keep", make_article(key="keep", topics=["China"]))
    uid = api.put("gone", make_article(key="gone", topics=["China"])).get_json()["id"]
    api.delete("gone")
    deleted_at = clock.now
    for url in ("/feed", "/topics/china/feed", "/sections/world/feed"):
        for fmt in FORMATS:
            assert uid not in [e["id"] for e in read(get(client, f"{url}.{fmt}").data, fmt)]
        root = etree.fromstring(get(client, f"{url}.atom").data)
        [tomb] = root.findall("{http://purl.org/atompub/tombstones/1.0}deleted-entry")
        assert tomb.get("ref") == uid and instant(tomb.get("when")) == deleted_at
        assert instant(root.findtext(f"{ATOM_NS}updated")) == deleted_at
    clock.advance(days=30)
    root = etree.fromstring(get(client, "/feed.atom").data)
    assert root.findall("{http://purl.org/atompub/tombstones/1.0}deleted-entry") == []


def test_a_page_reports_as_many_deletions_as_it_shows_entries(client: FlaskClient, api: Api,
                                                               clock: Clock) -> None:
    api.put("keep", make_article(key="keep"))
    uids = []
    for n in range(5):
        uids.append(api.put(f"gone-{n}", make_article(key=f"gone-{n}")).get_json()["id"])
        clock.advance(minutes=1)
        api.delete(f"gone-{n}")
    root = etree.fromstring(get(client, "/feed.atom?limit=2").data)
    tombs = root.findall("{http://purl.org/atompub/tombstones/1.0}deleted-entry")
    assert [t.get("ref") for t in tombs] == uids[:-3:-1]  # the two latest deletions, newest first


def test_embargoed_then_deleted_leaves_no_trace(client: FlaskClient, api: Api,
                                                clock: Clock) -> None:
    api.put("keep", make_article(key="keep"))
    future = (clock.now + dt.timedelta(days=1)).isoformat()
    uid = api.put("secret", make_article(key="secret", published=future,
                                         updated=None)).get_json()["id"]
    api.delete("secret")
    clock.advance(days=2)
    assert uid.encode() not in get(client, "/feed.atom").data


def test_moved_article_leaves_the_old_scope(client: FlaskClient, api: Api) -> None:
    api.put("stay", make_article(key="stay", topics=["China"]))
    body = make_article(key="move", topics=["China", "Russia"])
    uid = api.put("move", body).get_json()["id"]
    assert uid in [e["id"] for e in read(get(client, "/topics/russia/feed.json").data, "json")]
    api.put("move", body | {"section": "Sport", "topics": ["China"]})
    assert uid not in [e["id"] for e in read(get(client, "/sections/world/feed.atom").data, "atom")]
    assert uid in [e["id"] for e in read(get(client, "/sections/sport/feed.atom").data, "atom")]
    assert uid in [e["id"] for e in read(get(client, "/feed.json").data, "json")]
    # Russia had only this article: stripped of it, the topic has nothing public left.
    assert client.get("/topics/russia/feed.atom").status_code == 404


def test_same_data_same_bytes(make_app: Any, api: Api, client: FlaskClient) -> None:
    api.put("a", make_article(key="a"))
    api.put("b", make_article(key="b", image={"url": "https://x.example/i.png"}))
    other = make_app().test_client()  # another process: its own cache, same database
    for fmt in FORMATS:
        first = client.get(f"/feed.{fmt}")
        second = other.get(f"/feed.{fmt}")
        assert first.data == second.data
        assert first.headers["ETag"] == second.headers["ETag"]
        assert first.headers["Last-Modified"] == second.headers["Last-Modified"]


@pytest.mark.parametrize("url", ["/sections/nowhere/feed.atom", "/topics/nothing/feed.rss",
                                 "/authors/nobody/feed.json"])
def test_unknown_scope_is_404_problem(client: FlaskClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=x", "limit=-1", "limit=٣",
                                   "order=random", "cursor=bogus"])
def test_bad_parameters_are_400(client: FlaskClient, api: Api, query: str) -> None:
    api.put("a", make_article(key="a"))
    response = client.get(f"/feed.atom?{query}")
    assert response.status_code == 400
    assert response.content_type == "application/problem+json"


def test_limit(client: FlaskClient, api: Api) -> None:
    for n in range(5):
        api.put(f"l{n}", make_article(key=f"l{n}", published=f"2026-10-0{n + 1}T00:00:00Z",
                                      updated=None))
    assert len(read(get(client, "/feed.json?limit=2").data, "json")) == 2
    assert len(read(get(client, "/feed.json?limit=200").data, "json")) == 5


def test_unicode_slugs_are_percent_encoded(client: FlaskClient, api: Api) -> None:
    api.put("bn", make_article(key="bn", section="বাংলাদেশ", topics=["Ёлка"]))
    body = api.get("bn").get_json()
    urls = {f["name"]: f["atom"] for f in body["feeds"]}
    assert urls["বাংলাদেশ"] == "http://feeds.test/sections/%E0%A6%AC%E0%A6%BE%E0%A6%82%E0%A6%B2%E0%A6%BE%E0%A6%A6%E0%A7%87%E0%A6%B6/feed.atom"
    for url in urls.values():
        assert read(get(client, url).data, "atom")[0]["id"] == body["id"]


def test_opml_lists_every_feed(client: FlaskClient, api: Api) -> None:
    api.put("a", make_article(key="a", section="World", topics=["China"],
                              authors=[{"name": "Ann"}]))
    scopes = ("", "sections/world/", "topics/china/", "authors/ann/")

    def listed(query: str = "") -> list[str]:
        root = etree.fromstring(get(client, f"/feeds.opml{query}").data)
        assert root.get("version") == "2.0"
        return [o.get("xmlUrl") for o in root.iter("outline") if o.get("xmlUrl")]

    # One outline per feed: a reader importing it subscribes once (Atom unless asked otherwise).
    assert listed() == [f"http://feeds.test/{scope}feed.atom" for scope in scopes]
    assert listed("?format=json") == [f"http://feeds.test/{scope}feed.json" for scope in scopes]
    everything = listed("?format=all")
    assert len(everything) == 12 and {f"http://feeds.test/{scope}feed.{fmt}" for scope in scopes
                                      for fmt in FORMATS} == set(everything)
    refused = client.get("/feeds.opml?format=xml")
    assert refused.status_code == 400 and refused.get_json()["errors"][0]["parameter"] == "format"
