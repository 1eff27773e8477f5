"""Links inside feeds: article bodies with relative links, and scopes whose names share a slug."""

from __future__ import annotations

import json

import feedparser
from feedcheck import FORMATS, read
from flask.testing import FlaskClient
from lxml import etree

from conftest import Api, make_article

ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"


def bodies(client: FlaskClient, path: str) -> dict[str, str]:
    """The HTML content of the only entry of each format of the feed at ``path``."""
    atom = etree.fromstring(client.get(f"{path}.atom").data)
    rss = etree.fromstring(client.get(f"{path}.rss").data)
    [item] = json.loads(client.get(f"{path}.json").data)["items"]
    return {"atom": atom.findtext(f"{ATOM}entry/{ATOM}content") or "",
            "rss": rss.findtext(f"channel/item/{CONTENT}") or "",
            "json": item["content_html"]}


def test_relative_links_resolve_against_the_article_url(client: FlaskClient, api: Api) -> None:
    api.put("a", make_article(key="a", url="https://news.example/world/a",
                              content='<p><a href="../b">b</a><img src="i.jpg" alt=""></p>'))
    for fmt, html in bodies(client, "/feed").items():
        assert 'href="https://news.example/b"' in html, fmt
        assert 'src="https://news.example/world/i.jpg"' in html, fmt


def test_relative_links_of_an_article_without_url_resolve_against_its_page(
        client: FlaskClient, api: Api) -> None:
    api.put("a", make_article(key="a", url=None, content='<p><a href="/about">about</a></p>'))
    for fmt, html in bodies(client, "/feed").items():
        assert 'href="http://feeds.test/about"' in html, fmt
    [entry] = feedparser.parse(client.get("/feed.atom").data).entries
    assert entry.link == "http://feeds.test/articles/a"


def test_names_that_share_a_slug_get_feeds_of_their_own(client: FlaskClient, api: Api) -> None:
    api.put("sharp", make_article(key="sharp", topics=["C#"]))
    api.put("plain", make_article(key="plain", topics=["C"]))
    slugs = {api.get(key).get_json()["topic_slugs"][0] for key in ("sharp", "plain")}
    assert slugs == {"c", "c-2"}
    ids = {slug: read(client.get(f"/topics/{slug}/feed.json").data, "json") for slug in slugs}
    assert [e["id"] for e in ids["c"]] == [api.get("sharp").get_json()["id"]]
    assert [e["id"] for e in ids["c-2"]] == [api.get("plain").get_json()["id"]]
    # Stable forever: renaming nothing and adding a third "c" never moves the first two.
    api.put("third", make_article(key="third", topics=["c"]))
    assert api.get("third").get_json()["topic_slugs"] == ["c-3"]
    assert api.get("sharp").get_json()["topic_slugs"] == ["c"]
    for fmt in FORMATS:
        assert client.get(f"/topics/c/feed.{fmt}").status_code == 200
