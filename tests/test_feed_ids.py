"""Feed ids are ASCII tag URIs whatever the script of a scope's name; entry ids never change.

A tag URI is ASCII (RFC 4151): a section named "বাংলাদেশ" once gave the feed id
"tag:…:feed:sections/বাংলাদেশ", which the W3C validator rejects (issue 12). The slug is now
percent-encoded as in the feed's URL; ids of ASCII scopes and every entry id stay as they were.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import feedparser
import pytest
from feedcheck import ATOM_NS, FORMATS, next_link, read
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree

from feedsvc import config
from feedsvc.errors import ConfigError

from conftest import Api, make_article

AUTHORITY = "feeds.test"  # the host of the test BASE_URL, http://feeds.test
UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
BANGLADESH = "%E0%A6%AC%E0%A6%BE%E0%A6%82%E0%A6%B2%E0%A6%BE%E0%A6%A6%E0%A7%87%E0%A6%B6"


def percent_encoded(slug: str) -> str:
    """RFC 3986 2.1 by hand: each byte of UTF-8 outside the unreserved set as upper-case %XX."""
    return "".join(ch if ch in UNRESERVED else "".join(f"%{b:02X}" for b in ch.encode())
                   for ch in slug)


def without_key(body: dict[str, Any]) -> dict[str, Any]:
    """The body POSTed without a key, so the key is derived from its title."""
    return {name: value for name, value in body.items() if name != "key"}


@pytest.fixture
def stored(api: Api) -> list[dict[str, Any]]:
    """Articles in non-ASCII sections, topics and authors, one with a key derived from its title."""
    bodies = [
        make_article(key="bn", title="ঢাকায় বন্যা", section="বাংলাদেশ",
                     topics=["খেলা", "Cafe\u0301", "كرة القدم"],
                     authors=[{"name": "রহিম উদ্দিন", "email": "r@news.example"}, {"name": "山田 太郎"}]),
        without_key(make_article(title="খেলার খবর", section="国际", topics=["日本"],
                                 authors=[{"name": "محمد", "url": "https://news.example/m"}],
                                 published="2026-10-02T10:00:00Z", updated="2026-10-03T10:00:00Z")),
        make_article(key="ascii", section="World", topics=["China"], authors=[{"name": "Ann"}],
                     published="2026-10-03T10:00:00Z", updated="2026-10-03T11:00:00Z"),
    ]
    saved = []
    for body in bodies:
        response = api.put(body["key"], body) if "key" in body else api.post(body)
        assert response.status_code == 201, response.get_json()
        saved.append(response.get_json())
    return saved


def scopes(saved: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(kind, slug) of every scope the articles are in, slugs as the API gives them."""
    found = set()
    for article in saved:
        found.add(("sections", article["section_slug"]))
        found |= {("topics", slug) for slug in article["topic_slugs"]}
        found |= {("authors", author["slug"]) for author in article["authors"]}
    return found


def pages(client: FlaskClient, url: str, fmt: str) -> list[bytes]:
    """The document at ``url`` and every older page after it, through rel="next"."""
    bodies = []
    next_url: str | None = url
    while next_url:
        response = client.get(next_url.removeprefix("http://feeds.test"))
        assert response.status_code == 200, next_url
        bodies.append(response.data)
        next_url = next_link(response.data, fmt)
    return bodies


def test_feed_ids_are_ascii_and_percent_encode_the_slug(client: FlaskClient,
                                                        stored: list[dict[str, Any]]) -> None:
    found = scopes(stored)
    assert ("sections", "বাংলাদেশ") in found and ("topics", "café") in found
    assert sum(not slug.isascii() for _, slug in found) == 9
    for kind, slug in found | {(None, None)}:
        path = "site" if kind is None else f"{kind}/{percent_encoded(slug)}"
        url = "/feed.atom" if kind is None else f"/{kind}/{percent_encoded(slug)}/feed.atom"
        for order, suffix in (("published", ""), ("updated", ":updated")):
            for limit in ("", "&limit=1"):
                for body in pages(client, f"{url}?order={order}{limit}", "atom"):
                    feed_id = etree.fromstring(body).findtext(f"{ATOM_NS}id")
                    assert feed_id.isascii(), feed_id
                    assert feed_id == f"tag:{AUTHORITY},2026:feed:{path}{suffix}"


def test_a_bengali_section_id_and_ascii_ids_as_before(client: FlaskClient,
                                                      stored: list[dict[str, Any]]) -> None:
    def feed_id(url: str) -> str:
        return str(etree.fromstring(client.get(url).data).findtext(f"{ATOM_NS}id"))

    assert feed_id(f"/sections/{BANGLADESH}/feed.atom") == f"tag:feeds.test,2026:feed:sections/{BANGLADESH}"
    # ASCII scopes keep the ids they always had.
    assert feed_id("/feed.atom") == "tag:feeds.test,2026:feed:site"
    assert feed_id("/feed.atom?order=updated") == "tag:feeds.test,2026:feed:site:updated"
    assert feed_id("/sections/world/feed.atom") == "tag:feeds.test,2026:feed:sections/world"
    assert feed_id("/authors/ann/feed.atom?order=updated") == "tag:feeds.test,2026:feed:authors/ann:updated"


def test_entry_ids_are_the_articles_own_in_every_feed(client: FlaskClient,
                                                      stored: list[dict[str, Any]]) -> None:
    by_key = {article["key"]: article for article in stored}
    # A key derived from a Bengali title is ASCII, so its tag URI is too.
    derived = next(a for a in stored if a["title"] == "খেলার খবর")
    assert re.fullmatch(r"[A-Za-z0-9._~-]+", derived["key"]), derived["key"]
    for key, article in by_key.items():
        published = article["published"][:10]
        assert article["id"] == f"tag:{AUTHORITY},{published}:article:{key}"  # as before
    ids = {article["id"] for article in stored}
    for kind, slug in scopes(stored) | {(None, None)}:
        base = "/feed" if kind is None else f"/{kind}/{percent_encoded(slug)}/feed"
        for fmt in FORMATS:
            for query in ("", "?order=updated", "?limit=1"):
                for body in pages(client, f"{base}.{fmt}{query}", fmt):
                    for entry in read(body, fmt):
                        assert entry["id"] in ids and entry["id"].isascii(), (base, fmt, entry["id"])


def test_an_imported_foreign_id_is_kept(app: Flask, client: FlaskClient, tmp_path: Path) -> None:
    foreign = "urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(make_article(key="old", section="বাংলাদেশ", id=foreign),
                               ensure_ascii=False) + "\n", encoding="utf-8")
    assert app.test_cli_runner().invoke(args=["import", "--quiet", str(path)]).exit_code == 0
    atom = feedparser.parse(client.get(f"/sections/{BANGLADESH}/feed.atom").data)
    assert atom.feed.id == f"tag:feeds.test,2026:feed:sections/{BANGLADESH}"
    assert [entry.id for entry in atom.entries] == [foreign]


@pytest.mark.parametrize("base_url", ["https://বাংলা.example", "https://news.example/খবর"])
def test_a_non_ascii_base_url_is_refused_at_startup(tmp_path: Path, base_url: str) -> None:
    # Its host would become the authority of every id, recorded for good at first start.
    with pytest.raises(ConfigError) as info:
        config.load(tmp_path, {"FEEDSVC_BASE_URL": base_url}, None)
    assert info.value.key == "BASE_URL"
