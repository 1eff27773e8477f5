"""RSS and Atom import as a newsroom moving its archive sees it (issue 18, items 1-5).

Each document is imported with the real command and the articles are read back through the
API or the export: authors with their e-mails, titles and summaries as plain text, the
language, times without an offset read in a zone, readable keys that stay put on a re-run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session
from test_transfer import run, write_lines

from feedsvc.store import db, payload
from feedsvc.store.sanitize import xml_text
from feedsvc.transfer import bylines, jsonl, syndication
from feedsvc.transfer.records import Record

from conftest import Api, make_article

RSS_HEAD = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>Old News</title><link>https://old.news.example/</link><description>d</description>
<language>bn-BD</language>
<managingEditor>editor@old.news.example (Managing Editor)</managingEditor>
"""


def rss(*items: str) -> str:
    return RSS_HEAD + "".join(f"<item>{item}</item>\n" for item in items) + "</channel></rss>"


def item(n: int, extra: str = "", *, date: str = "Sat, 18 Jun 2022 20:17:00 +0000") -> str:
    return (f"<title>Story {n}</title><link>https://old.news.example/sport/story-{n}</link>"
            f"<guid>https://old.news.example/?p={n}</guid><pubDate>{date}</pubDate>{extra}")


def exported(app: Flask) -> list[dict[str, Any]]:
    """Every article as `feedsvc export` writes it."""
    with app.app_context(), Session(db.get_engine(app)) as session:
        return [json.loads(line) for line in jsonl.export_lines(session)]


def load(app: Flask, tmp_path: Path, document: str, *options: str, name: str = "feed.xml") -> Any:
    path = tmp_path / name
    path.write_text(document, encoding="utf-8")
    return run(app, "import", "--quiet", *options, str(path))


def by_title(app: Flask) -> dict[str, dict[str, Any]]:
    return {r["title"]: r for r in exported(app)}


def bylines_of(record: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(a["name"], a["email"]) for a in record["authors"]]


# -- 1. authors ---------------------------------------------------------------------------


def test_rss_authors_are_read_from_the_raw_value(app: Flask, api: Api, tmp_path: Path) -> None:
    result = load(app, tmp_path, rss(
        item(1, "<author>sports@old.news.example (Sports Reporter)</author>"),
        item(2, "<author>Jo Khan &lt;jo@desk.online&gt;</author>"),
        item(3, "<author>desk@old.news.example</author>"),
        item(4, "<author>Rahim Uddin</author>"),
        item(5, "<dc:creator>Ayesha Rahman</dc:creator><dc:creator>Karim Ali</dc:creator>"),
        item(6, "<author>not an address (Dhaka desk)</author>"),
        item(7, "<author>broken@-host (Broken)</author>"),
        item(8, "<author>a@b.technology (A)</author><author>c@d.example (C)</author>"),
        item(9),
        item(10, "<itunes:author>Podcast Host</itunes:author>"
                 "<atom:author><atom:name>Atom Writer</atom:name>"
                 "<atom:email>aw@news.online</atom:email></atom:author>"),
    ).replace("xmlns:dc=", 'xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" '
                          'xmlns:atom="http://www.w3.org/2005/Atom" xmlns:dc='))
    assert result.exit_code == 0, result.output
    got = {r["title"]: bylines_of(r) for r in exported(app)}
    assert got == {
        "Story 1": [("Sports Reporter", "sports@old.news.example")],
        "Story 2": [("Jo Khan", "jo@desk.online")],
        "Story 3": [("desk@old.news.example", "desk@old.news.example")],
        "Story 4": [("Rahim Uddin", None)],
        "Story 5": [("Ayesha Rahman", None), ("Karim Ali", None)],
        "Story 6": [("not an address (Dhaka desk)", None)],
        "Story 7": [("broken@-host (Broken)", None)],  # no address: all of it is the name
        "Story 8": [("A", "a@b.technology"), ("C", "c@d.example")],
        # managingEditor answers for the channel; it is no byline (README: Import and export)
        "Story 9": [],
        "Story 10": [("Podcast Host", None), ("Atom Writer", "aw@news.online")],
    }
    shown = api.get("story-1").get_json()["authors"]
    assert [(a["name"], a["email"]) for a in shown] == [("Sports Reporter", "sports@old.news.example")]


def test_atom_authors_and_the_feed_level_author(app: Flask, tmp_path: Path) -> None:
    result = load(app, tmp_path, ATOM)
    assert result.exit_code == 0, result.output
    got = {title: bylines_of(r) for title, r in by_title(app).items()}
    assert got["42 points & turnover rises"] == [("Desk", "desk@news.example")]  # inherited
    assert got["X & Y"] == [("E1", None), ("E2", "e2@news.online")]
    assert got["plain & <tag>"] == [("Desk", "desk@news.example")]
    url = next(a["url"] for a in by_title(app)["X & Y"]["authors"] if a["name"] == "E1")
    assert url == "https://news.example/e1"


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.text(max_size=80),
    st.builds(lambda local, host, name, form: form.format(e=f"{local}@{host}", n=name),
              st.from_regex(r"[a-z0-9._+-]{1,12}", fullmatch=True),
              st.from_regex(r"[a-z0-9-]{1,10}(\.[a-z0-9-]{1,12}){1,3}", fullmatch=True),
              st.text(max_size=30),
              st.sampled_from(["{e} ({n})", "{n} <{e}>", "{e}", "{n}", "({n}) {e}"]))))
def test_any_author_string_gives_a_sound_byline_or_none(raw: str) -> None:
    byline = bylines.parse_author(raw)
    if byline is None:
        return
    assert byline["name"] and len(byline["name"]) <= payload.MAX_NAME
    email = byline.get("email")
    if email is not None:  # never a piece of an address: a whole one, as it stood in the string
        assert payload.is_email(email) and email in raw
        assert not raw.split(email)[0].endswith(tuple("._+-@abcdefghijklmnopqrstuvwxyz0123456789"))
        assert not raw.split(email)[-1].startswith(tuple(".-@abcdefghijklmnopqrstuvwxyz0123456789"))
    payload.parse(make_article(authors=[byline]), ZoneInfo("UTC"), partial=False)  # the article takes it


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(
    st.text(max_size=60),
    st.builds("{} ({})".format, st.emails(), st.text(max_size=20)),
    st.builds("{} <{}>".format, st.text(max_size=20), st.emails())), min_size=1, max_size=3))
def test_any_author_element_imports_without_a_mangled_email(raws: list[str]) -> None:
    """Through the importer's own reading: the XML as a feed carries it, then feedparser."""
    elements = "".join(f"<author>{escape(xml_text(raw))}</author>" for raw in raws)
    records = list(syndication.records_from_feed(rss(item(1, elements)).encode(), ZoneInfo("UTC")))
    assert len(records) == 1 and isinstance(records[0], Record), records
    for byline in records[0].fields["authors"]:
        assert byline.email is None or (payload.is_email(byline.email)
                                        and any(byline.email in raw for raw in raws))


def test_a_feed_that_is_not_well_formed_xml_keeps_its_author(app: Flask, tmp_path: Path) -> None:
    """feedparser reads it loosely; its raw last author is read, its split ones are not."""
    document = rss(item(1, "<description>a&nbsp;b</description>"
                           "<author>sports@old.news.example (Sports Reporter)</author>"),
                   item(2, "<author>a@old.news.example (A)</author><author>Bea</author>"))
    result = load(app, tmp_path, document)
    assert result.exit_code == 0, result.output
    got = {r["title"]: bylines_of(r) for r in exported(app)}
    assert got == {"Story 1": [("Sports Reporter", "sports@old.news.example")],
                   "Story 2": [("Bea", None)]}


# -- 2. titles and summaries as plain text --------------------------------------------------

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en-GB">
<title type="html">Business &amp;amp; Money</title><id>urn:uuid:feed</id>
<updated>2022-06-18T20:17:00Z</updated>
<author><name>Desk</name><email>desk@news.example</email></author>
<entry xml:lang="bn"><title type="html">42 points &amp;amp; turnover rises</title>
  <id>https://news.example/id/1</id><link href="https://news.example/markets/42-points"/>
  <updated>2022-06-18T20:17:00+06:00</updated>
  <summary type="html">&lt;p&gt;Shares &amp;amp; bonds&lt;/p&gt;&lt;p&gt;rose&lt;/p&gt;</summary>
  <content type="html">&lt;p&gt;Body&lt;/p&gt;</content></entry>
<entry><title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">X &amp; <b>Y</b></div></title>
  <id>https://news.example/id/2</id><link href="https://news.example/markets/x-and-y"/>
  <updated>2022-06-18T20:17:00Z</updated>
  <author><name>E1</name><uri>https://news.example/e1</uri></author>
  <author><name>E2</name><email>e2@news.online</email></author></entry>
<entry xml:lang="english_UK"><title type="text">plain &amp; &lt;tag&gt;</title>
  <id>https://news.example/id/3</id><link href="https://news.example/markets/plain"/>
  <updated>2022-06-18T20:17:00Z</updated>
  <summary type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>One</p><p>Two &amp; three</p></div></summary>
  <content>Body</content></entry>
</feed>"""


def test_titles_and_summaries_are_plain_text_whatever_their_type(app: Flask, api: Api,
                                                                   tmp_path: Path) -> None:
    assert load(app, tmp_path, ATOM).exit_code == 0
    records = by_title(app)
    assert set(records) == {"42 points & turnover rises", "X & Y", "plain & <tag>"}
    assert records["42 points & turnover rises"]["summary"] == "Shares & bonds rose"
    assert records["plain & <tag>"]["summary"] == "One Two & three"
    assert api.get("42-points").get_json()["title"] == "42 points & turnover rises"
    assert records["X & Y"]["section"] == "Business & Money"  # the feed's title, as text too


def test_rss_titles_with_entities_and_markup(app: Flask, tmp_path: Path) -> None:
    assert load(app, tmp_path, rss(
        "<title>Fish &amp;amp; chips</title><link>https://old.news.example/a</link>"
        "<description>&lt;p&gt;Hot &amp;amp; &lt;b&gt;fresh&lt;/b&gt;&lt;/p&gt;</description>"
        "<content:encoded><![CDATA[<p>Body</p>]]></content:encoded>",
        "<title>&lt;em&gt;Breaking&lt;/em&gt; &amp;quot;news&amp;quot;</title>"
        "<link>https://old.news.example/b</link>",
        "<title>Tom &amp; Jerry</title><link>https://old.news.example/c</link>"
        "<description>plain &amp; simple</description><content:encoded>x</content:encoded>",
        "<title><![CDATA[<b>Bold</b> move &amp; more]]></title><link>https://old.news.example/d</link>",
    )).exit_code == 0
    records = by_title(app)
    assert set(records) == {"Fish & chips", 'Breaking "news"', "Tom & Jerry", "Bold move & more"}
    assert records["Fish & chips"]["summary"] == "Hot & fresh"
    assert records["Tom & Jerry"]["summary"] == "plain & simple"


# -- 3. language ------------------------------------------------------------------------------


def test_language_from_the_entry_or_the_feed(app: Flask, tmp_path: Path) -> None:
    assert load(app, tmp_path, ATOM, name="atom.xml").exit_code == 0
    records = by_title(app)
    assert records["42 points & turnover rises"]["language"] == "bn"  # the entry's xml:lang
    assert records["X & Y"]["language"] == "en-GB"  # the feed's
    assert records["plain & <tag>"]["language"] is None  # "english_UK" dropped, entry kept
    assert load(app, tmp_path, rss(item(1)), name="rss.xml").exit_code == 0
    assert by_title(app)["Story 1"]["language"] == "bn-BD"  # the channel's <language>


def test_an_invalid_rss_language_is_dropped(app: Flask, tmp_path: Path) -> None:
    document = rss(item(1)).replace("<language>bn-BD</language>", "<language>Bengali!</language>")
    assert load(app, tmp_path, document).exit_code == 0
    assert by_title(app)["Story 1"]["language"] is None


# -- 4. times without an offset ---------------------------------------------------------------


def test_times_without_an_offset_are_read_in_the_given_zone(app: Flask, tmp_path: Path) -> None:
    document = rss(item(1, date="Sat, 18 Jun 2022 20:17:00"),
                   item(2, date="Sat, 18 Jun 2022 20:17:00 +0600"),
                   item(3, date="Sat, 18 Jun 2022 20:17:00 GMT"),
                   item(4, date="2022-06-18T20:17:00"),
                   item(5, date="Sat, 18 Jun 2022 20:17:00 -0000"),
                   item(6, date="Sat, 18 Jun 2022 20:17:00 EDT"),
                   item(7, date="2022-06-18T20:17"),
                   item(8, date="2022-06-18"),
                   item(9, date="2022-06-18T20:17+06:00"),
                   item(10, date="Sat, 18 Jun 2022 20:17"),
                   item(11, date="Sat, 18 Jun 2022 20:17:00 +06:00"),  # a colon, as many feeds write it
                   item(12, date="Sat, 18 Jun 2022 20:17:00 -05:00"),
                   item(13, date="Sat, 18 Jun 2022"),  # a date alone: midnight in the zone
                   item(14, date="18 Jun 2022"))
    result = load(app, tmp_path, document, "--timezone", "Asia/Dhaka")
    assert result.exit_code == 0, result.output
    assert "7 time(s) without an offset read in Asia/Dhaka" in result.output
    published = {t: r["published"] for t, r in by_title(app).items()}
    assert published == {"Story 1": "2022-06-18T14:17:00Z", "Story 2": "2022-06-18T14:17:00Z",
                         "Story 3": "2022-06-18T20:17:00Z", "Story 4": "2022-06-18T14:17:00Z",
                         "Story 5": "2022-06-18T20:17:00Z", "Story 6": "2022-06-19T00:17:00Z",
                         "Story 7": "2022-06-18T14:17:00Z", "Story 8": "2022-06-17T18:00:00Z",
                         "Story 9": "2022-06-18T14:17:00Z", "Story 10": "2022-06-18T14:17:00Z",
                         "Story 11": "2022-06-18T14:17:00Z", "Story 12": "2022-06-19T01:17:00Z",
                         "Story 13": "2022-06-17T18:00:00Z", "Story 14": "2022-06-17T18:00:00Z"}


def test_atom_times_default_to_the_service_zone(make_app: Callable[..., Flask],
                                                tmp_path: Path) -> None:
    app = make_app(TIMEZONE="America/New_York")
    document = ATOM.replace("2022-06-18T20:17:00Z", "2022-06-18T20:17:00", 1)  # the feed's
    document = document.replace("<updated>2022-06-18T20:17:00Z</updated>\n  <author>",
                                "<published>2022-01-10T08:00:00</published>"
                                "<updated>2022-06-18T20:17:00</updated>\n  <author>")
    result = load(app, tmp_path, document)
    assert result.exit_code == 0, result.output
    assert "2 time(s) without an offset read in America/New_York" in result.output
    record = by_title(app)["X & Y"]
    assert (record["published"], record["updated"]) == ("2022-01-10T13:00:00Z",  # EST
                                                        "2022-06-19T00:17:00Z")  # EDT
    assert by_title(app)["42 points & turnover rises"]["updated"] == "2022-06-18T14:17:00Z"


def test_the_zone_applies_to_json_lines_too(app: Flask, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "a.jsonl", [
        make_article(key="wall", published="2022-06-18T20:17:00", updated="2022-06-18T21:00:00"),
        make_article(key="zulu", published="2022-06-18T20:17:00Z", updated=None)])
    result = run(app, "import", "--quiet", "--timezone", "Asia/Dhaka", str(path))
    assert result.exit_code == 0, result.output
    assert "2 time(s) without an offset read in Asia/Dhaka" in result.output
    records = {r["key"]: r for r in exported(app)}
    assert records["wall"]["published"] == "2022-06-18T14:17:00Z"
    assert records["zulu"]["published"] == "2022-06-18T20:17:00Z"


def test_all_times_with_offsets_say_nothing(app: Flask, tmp_path: Path) -> None:
    result = load(app, tmp_path, rss(item(1)))
    assert result.exit_code == 0 and "without an offset" not in result.output


@pytest.mark.parametrize("zone", ["Mars/Olympus", "America", "../etc/passwd", ""])
def test_an_unknown_zone_is_one_line_and_imports_nothing(app: Flask, tmp_path: Path,
                                                         zone: str) -> None:
    result = load(app, tmp_path, rss(item(1)), "--timezone", zone)
    assert result.exit_code == 2
    assert "--timezone" in result.output and "is not an IANA time zone" in result.output
    assert exported(app) == []


# -- 5. keys ----------------------------------------------------------------------------------


def test_keys_are_readable_and_suffixed_only_on_a_clash(app: Flask, api: Api,
                                                        tmp_path: Path) -> None:
    assert api.put("taken", make_article(key="taken", title="Ours")).status_code in (200, 201)
    document = rss(
        item(1),
        "<title>Same segment</title><link>https://old.news.example/world/story-1</link>"
        "<guid>https://old.news.example/?p=100</guid>",
        "<title>Someone else's key</title><link>https://old.news.example/x/taken.html</link>",
        "<title>A home page link</title><link>https://old.news.example/</link>",
        "<title>Query only</title><link>https://old.news.example/?p=7</link>",
        "<title>গণমাধ্যম</title><link>https://old.news.example/%E0%A6%97</link>"
        "<guid isPermaLink=\"false\">bn-1</guid>",
        "<title>No link at all</title><guid isPermaLink=\"false\">opaque-42</guid>",
    )
    result = load(app, tmp_path, document)
    assert result.exit_code == 0, result.output
    keys = {r["title"]: r["key"] for r in exported(app)}
    assert keys["Story 1"] == "story-1"
    assert keys["Same segment"].startswith("story-1-") and len(keys["Same segment"]) == 16
    assert keys["Someone else's key"].startswith("taken-") and keys["Ours"] == "taken"
    assert keys["A home page link"] == "a-home-page-link"
    assert keys["Query only"] == "query-only"
    assert keys["গণমাধ্যম"] == "entry"
    assert keys["No link at all"] == "no-link-at-all-886c7523"  # known by nothing kept: never the plain key
    assert api.get("taken").get_json()["title"] == "Ours"  # the clash left it alone


def test_a_second_run_changes_nothing(app: Flask, tmp_path: Path) -> None:
    document = rss(
        item(1, "<author>sports@old.news.example (Sports Reporter)</author>",
             date="Sat, 18 Jun 2022 20:17:00"),
        "<title>Same segment</title><link>https://old.news.example/world/story-1</link>"
        "<guid>https://old.news.example/?p=100</guid>",
        "<title>Opaque</title><link>https://old.news.example/a/opaque</link>"
        "<guid isPermaLink=\"false\">1</guid>",
        "<title>Opaque twin</title><link>https://old.news.example/b/opaque</link>"
        "<guid isPermaLink=\"false\">2</guid>",
        "<title>No link at all</title><guid isPermaLink=\"false\">opaque-42</guid>",
    )
    first = load(app, tmp_path, document, "--timezone", "Asia/Dhaka")
    assert first.exit_code == 0 and "5 created" in first.output, first.output
    before = exported(app)
    assert len({r["key"] for r in before}) == 5
    again = load(app, tmp_path, document, "--timezone", "Asia/Dhaka")
    assert again.exit_code == 0 and "0 created, 0 updated, 5 unchanged" in again.output, again.output
    assert exported(app) == before  # same keys, same ids, same everything
    # The feed in another order: each entry still finds its own article.
    items = document.split("<item>")
    reordered = items[0] + "<item>" + "<item>".join(reversed(items[1:-1] + [
        items[-1].replace("</channel></rss>", "")])) + "</channel></rss>"
    third = load(app, tmp_path, reordered, "--timezone", "Asia/Dhaka", name="reordered.xml")
    assert "5 unchanged" in third.output, third.output
    assert exported(app) == before


def test_an_earlier_import_keeps_its_hashed_key(app: Flask, tmp_path: Path) -> None:
    """Articles the old importer keyed "story-1-<hash>" are found by their id, not moved."""
    path = write_lines(tmp_path / "old.jsonl", [make_article(
        key="story-1-0123456789", id="https://old.news.example/?p=1", title="Story 1",
        section="Old News", url="https://old.news.example/sport/story-1")])
    assert run(app, "import", "--quiet", str(path)).exit_code == 0
    assert load(app, tmp_path, rss(item(1))).exit_code == 0
    assert [r["key"] for r in exported(app)] == ["story-1-0123456789"]


# -- images -------------------------------------------------------------------------------


def test_images_from_enclosures_and_media_rss(app: Flask, tmp_path: Path) -> None:
    media = 'xmlns:media="http://search.yahoo.com/mrss/"'
    document = rss(
        item(1, '<enclosure url="https://img.example/1.jpg" type="image/jpeg" length="48213"/>'
                '<media:content url="https://img.example/not-the-lead.jpg" medium="image"/>'),
        item(2, '<media:content url="https://img.example/video.mp4" type="video/mp4"/>'
                '<media:content url="https://img.example/2.png" type="image/png" fileSize="1200"/>'),
        item(3, '<media:group><media:content url="https://img.example/3.webp" medium="image"/>'
                '</media:group>'),
        item(4, '<media:thumbnail url="https://img.example/4-thumb.jpg" width="75" height="50"/>'),
        item(5, '<media:content url="/relative.jpg" medium="image"/>'
                '<media:thumbnail url="https://img.example/5.jpg"/>'),
        item(6, '<media:content url="https://img.example/6.gif" type="image/gif" fileSize="big"/>'),
        item(7),
    ).replace('xmlns:dc=', f"{media} xmlns:dc=")
    result = load(app, tmp_path, document)
    assert result.exit_code == 0, result.output
    images = {t: r["image"] for t, r in by_title(app).items()}
    def picture(url: str, media_type: str | None = None, length: int | None = None,
                width: int | None = None, height: int | None = None) -> dict[str, Any]:
        return {"url": url, "type": media_type, "width": width, "height": height, "length": length}

    def lead(url: str, media_type: str | None = None, length: int | None = None, *,
             width: int | None = None, height: int | None = None,
             renditions: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
        return {"url": url, "type": media_type, "length": length, "width": width, "height": height,
                "alt": None, "caption": None, "credit": None, "renditions": list(renditions)}

    assert images == {
        # The enclosure leads; the other image of the item is the same picture elsewhere.
        "Story 1": lead("https://img.example/1.jpg", "image/jpeg", 48213,
                        renditions=(picture("https://img.example/not-the-lead.jpg"),)),
        "Story 2": lead("https://img.example/2.png", "image/png", 1200),
        "Story 3": lead("https://img.example/3.webp"),
        "Story 4": lead("https://img.example/4-thumb.jpg", width=75, height=50),
        "Story 5": lead("https://img.example/5.jpg"),
        "Story 6": lead("https://img.example/6.gif", "image/gif"),
        "Story 7": None,
    }


def test_an_impossible_date_skips_its_entry_with_the_reason(app: Flask, tmp_path: Path) -> None:
    result = load(app, tmp_path, rss(item(1, date="2022-02-30T10:00:00"), item(2)))
    assert result.exit_code == 1
    assert "entry 1: skipped: published: 2022-02-30T10:00:00 is not a real date" in result.output
    assert [r["title"] for r in exported(app)] == ["Story 2"]


def test_an_entry_known_by_nothing_never_replaces_another_article(app: Flask, api: Api, tmp_path: Path) -> None:
    """A guid that is not a URI and no link: nothing says the entry is the article that holds
    its key, an imported one or the API's, so it gets a key of its own."""
    own = make_article(key="weather-update", title="Weather update", url=None)
    api.put("weather-update", own)

    def feed(guid: str, words: str) -> str:
        return rss(f"<title>Weather update</title><guid isPermaLink=\"false\">{guid}</guid>"
                   f"<description>{words}</description><pubDate>Sat, 18 Jun 2022 20:17:00 +0000</pubDate>")

    first = load(app, tmp_path, feed("w1", "Rain"), name="one.xml")
    second = load(app, tmp_path, feed("w2", "Sun"), name="two.xml")
    assert first.exit_code == 0 and second.exit_code == 0, (first.output, second.output)
    assert "1 created" in first.output and "1 created" in second.output
    titled = [a for a in exported(app) if a["title"] == "Weather update"]
    assert len(titled) == 3 and len({a["key"] for a in titled}) == 3
    assert api.get("weather-update").json["summary"] == own["summary"]  # the API's article untouched
