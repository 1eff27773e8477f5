"""The renderers alone, one small test per feedgen trap (see formats.py), so upgrades are safe."""

from __future__ import annotations

import datetime as dt

import feedparser
from lxml import etree

from feedsvc.feeds import formats
from feedsvc.feeds.document import EPOCH, Category, Enclosure, Entry, Feed, LeadImage, Person, Tombstone

UTC = dt.UTC
ATOM = "{http://www.w3.org/2005/Atom}"


def entry(n: int, **changes: object) -> Entry:
    values: dict[str, object] = dict(
        id=f"tag:news.example,2026-01-0{n}:article:a{n}", title=f"Title {n}",
        link=f"https://news.example/a{n}", published=dt.datetime(2026, 1, n, tzinfo=UTC),
        updated=dt.datetime(2026, 1, n, 12, tzinfo=UTC), authors=(Person("Ann"),),
        categories=(Category("World", "https://f.example/sections/world/"),),
        summary="Summary", content="<p>Body</p>", image=None, language="en")
    values.update(changes)
    return Entry(**values)  # type: ignore[arg-type]


def feed(*entries: Entry, **changes: object) -> Feed:
    values: dict[str, object] = dict(
        id="tag:f.example,2026:feed:site", title="Site", subtitle="Latest",
        self_url="https://f.example/feed.atom", feed_url="https://f.example/feed.atom",
        hub_url="https://f.example/websub", alternate_url="https://f.example/",
        next_url="https://f.example/feed.atom?cursor=abc", language="en",
        generator=("feedsvc", "1", "https://f.example/"), site_title="Site", entries=entries)
    values.update(changes)
    return Feed(**values)  # type: ignore[arg-type]


def test_atom_enclosure_keeps_type_and_length() -> None:  # python-feedgen#135
    image = LeadImage(Enclosure("https://news.example/i.jpg", "image/jpeg", 123))
    parsed = feedparser.parse(formats.atom(feed(entry(1, image=image))))
    [enclosure] = [link for link in parsed.entries[0].links if link.rel == "enclosure"]
    assert (enclosure.type, enclosure.length) == ("image/jpeg", "123")
    alternates = [link for link in parsed.entries[0].links if link.rel == "alternate"]
    assert [link.href for link in alternates] == ["https://news.example/a1"]


def test_rss_keeps_hub_and_next_links() -> None:
    channel = etree.fromstring(formats.rss(feed(entry(1)))).find("channel")
    rels = {link.get("rel"): link.get("href") for link in channel.findall(f"{ATOM}link")}
    assert rels == {"self": "https://f.example/feed.atom", "hub": "https://f.example/websub",
                    "next": "https://f.example/feed.atom?cursor=abc"}


def test_rss_channel_link_is_the_page() -> None:
    channel = etree.fromstring(formats.rss(feed(entry(1)))).find("channel")
    assert channel.findtext("link") == "https://f.example/"


def test_entries_keep_their_order() -> None:
    ordered = (entry(3), entry(1), entry(2))
    for render in (formats.atom, formats.rss):
        ids = [e.id for e in feedparser.parse(render(feed(*ordered))).entries]
        assert ids == [e.id for e in ordered]


def test_dates_come_from_the_document_never_the_clock() -> None:
    one = feed(entry(1), entry(2))
    for render in formats.RENDERERS.values():
        assert render(one) == render(one)
    root = etree.fromstring(formats.atom(one))
    assert root.findtext(f"{ATOM}updated").startswith("2026-01-02T12:00:00")
    empty = etree.fromstring(formats.atom(feed(next_url=None)))
    assert empty.findtext(f"{ATOM}updated").startswith(EPOCH.strftime("%Y-%m-%d"))
    rss = etree.fromstring(formats.rss(one)).find("channel")
    assert rss.findtext("lastBuildDate") == "Fri, 02 Jan 2026 12:00:00 +0000"


def test_atom_without_entry_authors_has_a_feed_author() -> None:
    root = etree.fromstring(formats.atom(feed(entry(1, authors=()))))
    assert root.findtext(f"{ATOM}author/{ATOM}name") == "Site"


def test_tombstones_only_in_atom() -> None:
    deleted = Tombstone("tag:f.example,2026-01-01:article:x", dt.datetime(2026, 1, 5, tzinfo=UTC))
    document = feed(entry(1), tombstones=(deleted,))
    root = etree.fromstring(formats.atom(document))
    [tomb] = root.findall("{http://purl.org/atompub/tombstones/1.0}deleted-entry")
    assert tomb.get("ref") == deleted.id and tomb.get("when") == "2026-01-05T00:00:00Z"
    assert root.findtext(f"{ATOM}updated").startswith("2026-01-05")
    assert b"tombstones" not in formats.rss(document)
    assert b"tombstones" not in formats.atom(feed(entry(1)))  # namespace only when used
