"""RSS and Atom import as a newsroom moving its archive sees it (issue 18, items 1-5).

Each document is imported with the real command and the articles are read back through the
API or the export: authors with their e-mails, titles and summaries as plain text, the
language, times without an offset read in a zone, readable keys that stay put on a re-run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import feedparser
import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session
from test_feeds_property import as_feedparser_reads
from test_transfer import run, write_lines

from feedsvc.store import db, payload, site
from feedsvc.store.sanitize import html_text, plain_text, xml_text
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
        form = next(f for f in written(email) if f in raw)  # as it stood, or its IDN domain
        assert payload.is_email(email)
        assert not raw.split(form)[0].endswith(tuple("._+-@abcdefghijklmnopqrstuvwxyz0123456789"))
        assert not raw.split(form)[-1].startswith(tuple(".-@abcdefghijklmnopqrstuvwxyz0123456789"))
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
                                        and any(holds(xml_text(raw), byline.email) for raw in raws))


def test_a_feed_that_is_not_well_formed_xml_keeps_its_authors(app: Flask, tmp_path: Path) -> None:
    """feedparser reads it loosely and splits addresses wrongly; the raw strings are read by a
    recovering parser instead, every one of them (the last alone was kept before)."""
    document = rss(item(1, "<description>a&nbsp;b</description>"
                           "<author>sports@old.news.example (Sports Reporter)</author>"),
                   item(2, "<author>a@old.news.example (A)</author><author>Bea</author>"
                           "<dc:creator>Rahim Uddin and Ayesha Rahman</dc:creator>"),
                   item(3, "<author>c@desk.online (C) & more</author>"),
                   item(4, "<author>z@desk.online (Zed)</author>").replace(
                       "<title>Story 4</title>", "<title>Story 4<br></title>"))
    result = load(app, tmp_path, document)
    assert result.exit_code == 0, result.output
    got = {r["title"]: bylines_of(r) for r in exported(app)}
    assert got == {"Story 1": [("Sports Reporter", "sports@old.news.example")],
                   "Story 2": [("A", "a@old.news.example"), ("Bea", None),
                               ("Rahim Uddin", None), ("Ayesha Rahman", None)],
                   "Story 3": [("c@desk.online (C) more", None)],
                   # hidden from the recovering parser in the <br>: feedparser's, checked
                   "Story 4": [("Zed", "z@desk.online")]}


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


@pytest.mark.parametrize("root,channel,extra,language", [
    ("", "<language>bn-BD</language>", "<dc:language>fr</dc:language>", "fr"),  # was bn-BD
    (' xml:lang="en"', "<language>bn-BD</language>", "<dc:language>fr-CA</dc:language>", "fr-CA"),
    ("", "<language>bn-BD</language>", "<dc:language>not a tag!</dc:language>", "bn-BD"),
    ("", "<dc:language>de</dc:language>", "", "de"),  # the channel's dc:language
    ("", "<language>bn-BD</language>", "", "bn-BD"),
    (' xml:lang="en"', "<language>bn-BD</language>", "", "en"),  # xml:lang in scope
    ("", "<language>en_US</language>", "", "en-US"),  # a locale name: was dropped
    ("", "<language>bn-BD</language>", "<dc:language>bn_BD</dc:language>", "bn-BD"),
    ("", "<language>english_UK</language>", "", None),  # no tag at all: dropped, entry kept
])
def test_an_rss_items_own_language(app: Flask, client: Any, tmp_path: Path, root: str, channel: str,
                                   extra: str, language: str | None) -> None:
    document = rss(item(1, extra)).replace("<language>bn-BD</language>", channel).replace(
        '<rss version="2.0"', f'<rss version="2.0"{root}')
    assert load(app, tmp_path, document).exit_code == 0
    [shown] = client.get("/feed.json").get_json()["items"]  # as a reader gets it
    assert shown.get("language") == language


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


@pytest.mark.parametrize("written,instant,offsetless", [
    # each was read as the wall time of another instant, hours off
    ("Sat, 18 Jun 2022 20:17:00 +0600 (BDT)", "2022-06-18T14:17:00Z", False),  # RFC 5322 comment
    ("Sat, 18 Jun 2022 20:17:00 GMT (Greenwich)", "2022-06-18T20:17:00Z", False),
    ("2022-06-18T20:17:00+06", "2022-06-18T14:17:00Z", False),  # an offset of hours alone
    ("2022-06-18T20:17-03", "2022-06-18T23:17:00Z", False),
    ("Sat, 18 Jun 2022 8:17:00 PM +0600", "2022-06-18T14:17:00Z", False),  # a 12-hour clock
    ("Sat, 18 Jun 2022 12:17 AM GMT", "2022-06-18T00:17:00Z", False),
    ("Sat, 18 Jun 2022 12:05 p.m. GMT", "2022-06-18T12:05:00Z", False),
    ("June 18, 2022 8:17 PM", "2022-06-18T14:17:00Z", True),  # no offset: read in Asia/Dhaka
    # as before
    ("Sat, 18 Jun 22 20:17:00 EST", "2022-06-19T01:17:00Z", False),  # two-digit year, RFC 822 zone
    ("18 Jun 99 20:17 GMT", "1999-06-18T20:17:00Z", False),
    ("Sat, 18 Jun 2022 20:17:00 +06:00", "2022-06-18T14:17:00Z", False),
    ("2022-06-18T20:17:00.123+06:00", "2022-06-18T14:17:00Z", False),
    ("2022-06-18T20:17", "2022-06-18T14:17:00Z", True),
    ("Sat, 18 Jun 2022 20:17:00 BDT", "2022-06-18T14:17:00Z", True),
    # each skipped its entry as a date feedsvc could not read
    ("Saturday, 18-Jun-22 20:17:00 GMT", "2022-06-18T20:17:00Z", False),  # RFC 850
    ("Sat, 18-Jun-2022 20:17:00", "2022-06-18T14:17:00Z", True),
    ("20220618T201700Z", "2022-06-18T20:17:00Z", False),  # ISO 8601 basic format
    ("20220618T2017+0600", "2022-06-18T14:17:00Z", False),
    ("20220618T201700", "2022-06-18T14:17:00Z", True),
    ("2022/06/18 20:17:00", "2022-06-18T14:17:00Z", True),  # slashes
    ("2022/6/18", "2022-06-17T18:00:00Z", True),
])
def test_dates_of_every_spelling(app: Flask, client: Any, tmp_path: Path, written: str, instant: str,
                                 offsetless: bool) -> None:
    result = load(app, tmp_path, rss(item(1, date=written)), "--timezone", "Asia/Dhaka")
    assert result.exit_code == 0, result.output
    assert ("1 time(s) without an offset read in Asia/Dhaka" in result.output) is offsetless
    [shown] = client.get("/feed.json").get_json()["items"]
    assert shown["date_published"] == instant


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2060, 1, 1)).map(
           lambda t: t.replace(microsecond=0)),
       st.integers(-12 * 60, 14 * 60).map(lambda m: m - m % 15),
       st.sampled_from(["rfc822", "comment", "twelve", "iso", "iso-hours", "rfc850", "iso-basic",
                        "slashed"]))
def test_any_instant_in_any_spelling_is_read_as_that_instant(wall: dt.datetime, minutes: int,
                                                               spelling: str) -> None:
    zone = dt.timezone(dt.timedelta(minutes=minutes))
    sign, hours = "-" if minutes < 0 else "+", abs(minutes)
    offset = f"{sign}{hours // 60:02d}{hours % 60:02d}"
    day = wall.strftime("%a, %d %b %Y")
    written = {
        "rfc822": f"{day} {wall:%H:%M:%S} {offset}",
        "comment": f"{day} {wall:%H:%M:%S} {offset} (local)",
        "twelve": f"{day} {wall.hour % 12 or 12}:{wall:%M:%S} {'PM' if wall.hour >= 12 else 'AM'} {offset}",
        "iso": f"{wall:%Y-%m-%dT%H:%M:%S}{offset[:3]}:{offset[3:]}",
        "iso-hours": f"{wall:%Y-%m-%dT%H:%M:%S}{offset[:3]}",
        # RFC 850 (RFC 9110 5.6.7's obsolete HTTP-date), with a four-digit year to be exact
        "rfc850": f"{wall:%A, %d-%b-%Y %H:%M:%S} {offset}",
        "iso-basic": f"{wall:%Y%m%dT%H%M%S}{offset}",  # ISO 8601's basic format
        "slashed": f"{wall:%Y/%m/%d %H:%M:%S}{offset[:3]}:{offset[3:]}",
    }[spelling]
    if spelling == "iso-hours" and hours % 60:
        return  # hours alone cannot say this offset
    [record] = syndication.records_from_feed(rss(item(1, date=written)).encode(), ZoneInfo("Asia/Dhaka"))
    assert isinstance(record, Record), (written, record)
    assert record.fields["published"] == wall.replace(tzinfo=zone), written
    assert record.offsetless == 0


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
    assert keys["গণমাধ্যম"] == "g"  # the link's segment, গ, transliterated
    assert keys["No link at all"] == "no-link-at-all"  # known by the tag URI made from its guid
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


@pytest.mark.parametrize("extra,link,image", [
    # relative URLs are read against the item's link (they cost the image)
    ('<enclosure url="/img/lead.jpg" type="image/jpeg" length="0"/>', "https://old.news.example/sport/s-1",
     "https://old.news.example/img/lead.jpg"),
    ('<enclosure url="lead.jpg" type="image/jpeg" length="0"/>', "https://old.news.example/sport/s-1",
     "https://old.news.example/sport/lead.jpg"),
    ('<media:content url="../m.webp" medium="image"/>', "https://old.news.example/sport/s-1",
     "https://old.news.example/m.webp"),
    ('<media:thumbnail url="/t.png"/>', "https://old.news.example/s-1", "https://old.news.example/t.png"),
    # ... or, with no link of its own, the site's
    ('<enclosure url="/img/lead.jpg" type="image/jpeg" length="0"/>', None,
     "https://old.news.example/img/lead.jpg"),
    # an episode's itunes:image is its picture; audio and video never are
    ('<enclosure url="https://old.news.example/a.mp3" type="audio/mpeg" length="9"/>'
     '<itunes:image href="https://old.news.example/cover.jpg"/>', "https://old.news.example/s-1",
     "https://old.news.example/cover.jpg"),
    ('<enclosure url="https://old.news.example/a.mp3" type="audio/mpeg" length="9"/>'
     '<media:content url="https://old.news.example/v.mp4" type="video/mp4"/>', "https://old.news.example/s-1",
     None),
    ('<itunes:image href="https://old.news.example/cover.jpg"/>'
     '<enclosure url="https://old.news.example/p.jpg" type="image/jpeg" length="9"/>',
     "https://old.news.example/s-1", "https://old.news.example/p.jpg"),
    # media types and media:content's medium in any case (RFC 2045 5.1): they cost the image
    ('<enclosure url="https://old.news.example/p" type="IMAGE/JPEG" length="9"/>',
     "https://old.news.example/s-1", "https://old.news.example/p"),
    ('<media:content url="https://old.news.example/q" medium="Image"/>',
     "https://old.news.example/s-1", "https://old.news.example/q"),
])
def test_image_urls_relative_and_of_episodes(app: Flask, client: Any, tmp_path: Path, extra: str,
                                             link: str | None, image: str | None) -> None:
    entry = f"<title>Story 1</title><guid>urn:s:1</guid><pubDate>Sat, 18 Jun 2022 20:17:00 +0000</pubDate>{extra}"
    if link:
        entry += f"<link>{link}</link>"
    document = rss(entry).replace("xmlns:dc=", 'xmlns:media="http://search.yahoo.com/mrss/" '
                                  'xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" xmlns:dc=')
    assert load(app, tmp_path, document).exit_code == 0
    [shown] = client.get("/feed.json").get_json()["items"]
    assert shown.get("image") == image


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
        # a relative URL is read against the item's link
        "Story 5": lead("https://old.news.example/relative.jpg",
                        renditions=(picture("https://img.example/5.jpg"),)),
        "Story 6": lead("https://img.example/6.gif", "image/gif"),
        "Story 7": None,
    }


@pytest.mark.parametrize("written,said", [
    ("Sat, 18 Jun 2022 20:17:00 +9900", "Sat, 18 Jun 2022 20:17:00 +9900: +9900 is no offset from UTC"),
    ("Sat, 18 Jun 2022 20:17:00 +0575", "+0575 is no offset from UTC"),  # said "timedelta" before
    ("Sat, 31 Feb 2022 20:17:00 +0000", "day is out of range for month"),
    ("Sat, 18 Jun 1899 20:17:00 GMT", "must lie between the years 1900 and 9000"),
])
def test_a_date_out_of_range_skips_its_entry_saying_why(app: Flask, tmp_path: Path, written: str,
                                                        said: str) -> None:
    result = load(app, tmp_path, rss(item(1, date=written), item(2)))
    assert result.exit_code == 1
    assert f"entry 1: skipped: published: {said}" in result.output or said in result.output
    assert "timedelta" not in result.output and "Traceback" not in result.output
    assert [r["title"] for r in exported(app)] == ["Story 2"]


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


# -- issue 18, the rest: what a newsroom's old feeds hold -----------------------------------

ATOM_HEAD = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
<title>Wire</title><id>urn:uuid:wire</id><link href="https://wire.example/"/>
<updated>2022-06-18T20:17:00Z</updated>
<author><name>Wire Desk</name></author>
"""


def atom(*entries: str) -> str:
    return ATOM_HEAD + "".join(
        f"<entry><id>https://wire.example/{n}</id><title>Entry {n}</title>"
        f"<link href=\"https://wire.example/news/entry-{n}\"/>"
        f"<updated>2022-06-18T20:17:00Z</updated>{body}</entry>\n"
        for n, body in enumerate(entries, start=1)) + "</feed>"


def test_several_authors_in_one_string_are_several_bylines(app: Flask, tmp_path: Path) -> None:
    result = load(app, tmp_path, rss(
        item(1, "<dc:creator>Rahim Uddin and Ayesha Rahman</dc:creator>"),
        item(2, "<author>Rahim Uddin, Ayesha Rahman and Karim Ali</author>"),
        item(3, "<dc:creator>Rahim Uddin; Desk</dc:creator>"),
        item(4, "<dc:creator>রহিম উদ্দিন ও আয়েশা রহমান</dc:creator>"),
        item(5, "<dc:creator>By Rahim Uddin &amp; Ayesha Rahman</dc:creator>"),
        item(6, "<dc:creator>Staff and agencies</dc:creator>"),
        item(7, "<dc:creator>Staff Correspondent, Chattogram</dc:creator>"),
        item(8, "<dc:creator>Reuters, AFP</dc:creator>"),
        item(9, "<author>desk@old.news.example (Rahim Uddin and Ayesha Rahman)</author>"),
        item(10, "<dc:creator>Rahim Uddin and Ayesha Rahman</dc:creator>"
                 "<dc:creator>Ayesha Rahman</dc:creator>"),
    ))
    assert result.exit_code == 0, result.output
    got = {r["title"]: [a["name"] for a in r["authors"]] for r in exported(app)}
    assert got == {
        "Story 1": ["Rahim Uddin", "Ayesha Rahman"],
        "Story 2": ["Rahim Uddin", "Ayesha Rahman", "Karim Ali"],
        "Story 3": ["Rahim Uddin", "Desk"],  # ";" always lists
        "Story 4": ["রহিম উদ্দিন", "আয়েশা রহমান"],
        "Story 5": ["Rahim Uddin", "Ayesha Rahman"],
        "Story 6": ["Staff and agencies"],  # a one-word side: one credit, not two people
        "Story 7": ["Staff Correspondent, Chattogram"],
        "Story 8": ["Reuters, AFP"],
        "Story 9": ["Rahim Uddin and Ayesha Rahman"],  # one mailbox, one byline
        "Story 10": ["Rahim Uddin", "Ayesha Rahman"],
    }


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=80), st.lists(
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=20), min_size=1, max_size=4).map(
    lambda names: " and ".join(names) if len(names) < 3 else ", ".join(names))))
def test_any_author_string_splits_into_sound_bylines(raw: str) -> None:
    found = bylines.parse_authors(raw)
    for byline in found:
        assert byline["name"] and byline["name"] == byline["name"].strip()
        assert len(byline["name"]) <= payload.MAX_NAME
    payload.parse(make_article(authors=found), ZoneInfo("UTC"), partial=False)


@pytest.mark.parametrize("raw,expected", [
    # a list of mailboxes is a byline each (was one byline named "A), b@news.example (B")
    ("a@news.example (A), b@news.example (B)", [("A", "a@news.example"), ("B", "b@news.example")]),
    ("a@news.example (A) and b@news.example (B)", [("A", "a@news.example"), ("B", "b@news.example")]),
    ("A B <a@news.example>, C D <c@news.example>", [("A B", "a@news.example"), ("C D", "c@news.example")]),
    ("A <a@news.example>; B <b@news.example>", [("A", "a@news.example"), ("B", "b@news.example")]),
    ("a@news.example, b@news.online", [("a@news.example", "a@news.example"),
                                       ("b@news.online", "b@news.online")]),
    ('"Uddin, Rahim" <rahim@news.example>', [("Uddin, Rahim", "rahim@news.example")]),
    ("A B <a@news.example>, C D", [("A B", "a@news.example"), ("C D", None)]),
    # RSS's form turned round, mailto:, and an internationalised domain in its ASCII form
    ("Jo Khan (jo@news.example)", [("Jo Khan", "jo@news.example")]),
    ("mailto:jo@news.example (Jo Khan)", [("Jo Khan", "jo@news.example")]),
    ("rahim@bücher.example (Rahim)", [("Rahim", "rahim@xn--bcher-kva.example")]),
    ("Rahim <rahim@বাংলা.example>", [("Rahim", "rahim@xn--54b7fta0cc.example")]),
    # still one byline: one mailbox naming a desk, and names that are no list
    ("desk@news.example (Rahim Uddin and Ayesha Rahman)", [("Rahim Uddin and Ayesha Rahman",
                                                           "desk@news.example")]),
    ("Staff and agencies", [("Staff and agencies", None)]),
    ("(a@news.example), B", [("(a@news.example), B", None)]),
    # markup and character references, as WordPress themes and CDATA sections give them
    ('<a href="/author/rahim">Rahim Uddin</a>', [("Rahim Uddin", None)]),
    ('<a href="mailto:jo@news.example">Jo Khan</a> and <a href="/x">Ayesha Rahman</a>',
     [("Jo Khan", None), ("Ayesha Rahman", None)]),
    ("Rahim Uddin &amp; Ayesha Rahman", [("Rahim Uddin", None), ("Ayesha Rahman", None)]),
    ("Rahim &amp; Co", [("Rahim & Co", None)]),  # was "Rahim &amp" and "Co"
    ("Jo Khan <jo@news.example>", [("Jo Khan", "jo@news.example")]),  # no tag: an address
])
def test_author_strings_of_every_form(raw: str, expected: list[tuple[str, str | None]]) -> None:
    assert [(b["name"], b.get("email")) for b in bylines.parse_authors(raw)] == expected


NAMES = st.from_regex(r"[A-Z][a-z]{1,8}( [A-Z][a-z]{1,8}){0,2}", fullmatch=True)
ADDRESSES = st.builds("{}@{}.{}".format, st.from_regex(r"[a-z][a-z0-9]{0,5}([._-][a-z0-9]{1,5}){0,2}", fullmatch=True),
                      st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z]", fullmatch=True),
                      st.sampled_from(["com", "example", "online", "technology", "co.uk", "xn--54b7fta0cc"]))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(NAMES, ADDRESSES, st.sampled_from(["{e} ({n})", "{n} <{e}>", '"{n}" <{e}>',
                                                             "{n} ({e})"])), min_size=1, max_size=4),
       st.sampled_from([", ", " and ", "; ", " & "]))
def test_any_list_of_mailboxes_is_a_byline_each(boxes: list[tuple[str, str, str]], join: str) -> None:
    raw = join.join(form.format(e=email, n=name) for name, email, form in boxes)
    element = f"<author>{escape(raw)}</author>"
    [record] = syndication.records_from_feed(rss(item(1, element)).encode(), ZoneInfo("UTC"))
    assert isinstance(record, Record), record
    expected: dict[str, str] = {}  # the first byline of each name
    for name, email, _ in boxes:
        expected.setdefault(name, email)
    assert [(b.name, b.email) for b in record.fields["authors"]] == list(expected.items())


def test_atom_authors_with_an_internationalised_domain(app: Flask, tmp_path: Path) -> None:
    result = load(app, tmp_path, atom(
        "<author><name>Rahim</name><email>rahim@bücher.example</email></author>",
        "<author><name>Jo</name><email>mailto:jo@news.example</email></author>"))
    assert result.exit_code == 0, result.output
    got = {r["title"]: bylines_of(r) for r in exported(app)}
    assert got == {"Entry 1": [("Rahim", "rahim@xn--bcher-kva.example")],
                   "Entry 2": [("Jo", "jo@news.example")]}


@pytest.mark.parametrize("construct,body", [
    # text is text (RFC 4287 4.1.3.3): escaped, not read as markup ("<b>" was bold, "<x>" lost)
    ('<content type="text">1 &lt; 2 and &lt;b&gt;not bold&lt;/b&gt;</content>',
     "<p>1 &lt; 2 and &lt;b&gt;not bold&lt;/b&gt;</p>"),
    ('<content>line 1\nline 2 &lt;x&gt;\n\nnext</content>', "<p>line 1<br>line 2 &lt;x&gt;</p><p>next</p>"),
    ('<content type="text/plain">a &amp;amp; b</content>', "<p>a &amp;amp; b</p>"),
    ('<content type="html">&lt;p&gt;a &amp;amp; &lt;b&gt;b&lt;/b&gt;&lt;/p&gt;</content>',
     "<p>a &amp; <b>b</b></p>"),
    ('<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>a <b>b</b></p></div></content>',
     "<p>a <b>b</b></p>"),
    # base64 data is no body (its decoded bytes were the text); the summary stands in
    ('<summary>s &lt;1&gt;</summary><content type="image/png">aGVsbG8=</content>', "<p>s &lt;1&gt;</p>"),
    ('<content type="application/pdf">aGVsbG8=</content>', None),
    # out of line (src): the summary is the body, as text
    ('<summary type="text">see &lt;more&gt;</summary><content type="text/html" src="https://wire.example/1"/>',
     "<p>see &lt;more&gt;</p>"),
])
def test_atom_content_by_its_type(app: Flask, tmp_path: Path, construct: str, body: str | None) -> None:
    result = load(app, tmp_path, atom(construct))
    assert result.exit_code == 0, result.output
    [record] = exported(app)
    assert record["content"] == body


@settings(max_examples=100, deadline=None)
@given(st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=80))
def test_any_text_content_is_the_text_a_reader_sees(text: str) -> None:
    document = atom(f'<content type="text">{escape(text)}</content>')
    [record] = syndication.records_from_feed(document.encode(), ZoneInfo("UTC"))
    assert isinstance(record, Record), record
    shown = html_text(record.fields["content"] or "")
    # feedparser's Latin-1 "repair" of the source ("Â¡" -> "¡") is its reading, not ours
    assert shown in (plain_text(text), as_feedparser_reads(plain_text(text), "atom"))


def test_rss_channel_writers_are_inherited_but_not_its_editor(app: Flask, tmp_path: Path) -> None:
    document = rss(item(1), item(2, "<dc:creator>Own Writer</dc:creator>")).replace(
        "<language>", "<dc:creator>Channel Writer</dc:creator><language>")
    assert load(app, tmp_path, document).exit_code == 0
    got = {r["title"]: bylines_of(r) for r in exported(app)}
    assert got == {"Story 1": [("Channel Writer", None)], "Story 2": [("Own Writer", None)]}


def test_atom_people_sources_and_contributors(app: Flask, tmp_path: Path) -> None:
    source = ("<source><id>https://agency.example/feed</id><title>Agency</title>"
              "<updated>2022-06-18T20:17:00Z</updated>{}</source>")
    result = load(app, tmp_path, atom(
        "<author><uri>https://wire.example/people/9</uri></author>",
        "<author><email>night@wire.example</email></author>",
        "<author><name>Writer</name></author><contributor><name>Helper</name></contributor>",
        "<contributor><name>Helper</name></contributor>",
        source.format("<author><name>Agency Writer</name></author>"),
        source.format(""),
        source.format("<author><name>Agency Writer</name></author>")
        + "<author><name>Own</name></author>",
    ))
    assert result.exit_code == 0, result.output
    records = by_title(app)
    got = {t: [(a["name"], a["email"], a["url"]) for a in r["authors"]] for t, r in records.items()}
    uri = "https://wire.example/people/9"
    assert got == {
        "Entry 1": [(uri, None, uri)],  # a uri alone names the author
        "Entry 2": [("night@wire.example", "night@wire.example", None)],
        "Entry 3": [("Writer", None, None)],  # a contributor is no author (RFC 4287 4.2.3)
        "Entry 4": [("Wire Desk", None, None)],  # ... so the feed's author applies
        "Entry 5": [("Agency Writer", None, None)],  # the source's before the feed's (4.2.11)
        "Entry 6": [("Wire Desk", None, None)],  # a source without authors: the feed's (4.1.2)
        "Entry 7": [("Own", None, None)],
    }


# -- times ---------------------------------------------------------------------------------


def test_zone_names_rfc_822_does_not_define_are_read_in_the_given_zone(app: Flask,
                                                                       tmp_path: Path) -> None:
    document = rss(item(1, date="Sat, 18 Jun 2022 20:17:00 BDT"),
                   item(2, date="Sat, 18 Jun 2022 20:17:00 IST"),
                   item(3, date="Sat, 18 Jun 2022 20:17:00 CEST"),
                   item(4, date="Sat Jun 18 20:17:00 2022"),  # asctime, which feedparser knows
                   item(5, date="Sat, 18 Jun 2022 20:17:00 EDT"),
                   item(6, date="2022-06-18 20:17:00 +0600"))
    result = load(app, tmp_path, document, "--timezone", "Asia/Dhaka")
    assert result.exit_code == 0, result.output
    assert "4 time(s) without an offset read in Asia/Dhaka" in result.output
    published = {t: r["published"] for t, r in by_title(app).items()}
    assert published == {f"Story {n}": "2022-06-18T14:17:00Z" for n in (1, 2, 3, 4, 6)} | {
        "Story 5": "2022-06-19T00:17:00Z"}


def test_a_date_that_cannot_be_read_gives_way_to_the_other_or_skips(app: Flask, clock: Any,
                                                                    tmp_path: Path) -> None:
    atom_ns = 'xmlns:atom="http://www.w3.org/2005/Atom" xmlns:dc='
    document = rss(
        item(1, "<atom:updated>2022-06-19T08:00:00Z</atom:updated>", date="yesterday"),
        item(2, "<atom:updated>someday</atom:updated>"),
        item(3, date="18/06/2022 20:17:00"),  # day or month first? not said, so not guessed
        item(4, date="Sat, 18 Jun 2022 25:61:00 +0000"),
        "<title>Story 5</title><link>https://old.news.example/sport/story-5</link>",
    ).replace("xmlns:dc=", atom_ns)
    result = load(app, tmp_path, document)
    assert result.exit_code == 1, result.output
    assert "entry 3: skipped: published: '18/06/2022 20:17:00' is not a date feedsvc can read" \
        in result.output
    assert "entry 4: skipped: published:" in result.output
    assert "2 date(s) that could not be read: the entry's other date used" in result.output
    assert "1 entr(ies) without a date: published at the import's time" in result.output
    assert "3 created" in result.output and "2 failed" in result.output
    dates = {t: (r["published"], r["updated"]) for t, r in by_title(app).items()}
    assert dates == {"Story 1": ("2022-06-19T08:00:00Z", "2022-06-19T08:00:00Z"),
                     "Story 2": ("2022-06-18T20:17:00Z", "2022-06-18T20:17:00Z"),
                     "Story 5": (clock.now.strftime("%Y-%m-%dT%H:%M:%SZ"),) * 2}


# -- ids -----------------------------------------------------------------------------------


def test_a_guid_that_is_no_uri_becomes_a_tag_uri_made_from_it(app: Flask, tmp_path: Path) -> None:
    with app.app_context():
        authority = site.authority(app)
    document = rss(
        item(1).replace("<guid>https://old.news.example/?p=1</guid>",
                        '<guid isPermaLink="false">12345</guid>'),
        "<title>Bare</title><guid isPermaLink=\"false\">opaque 42/ü</guid>",
        item(3).replace("<guid>https://old.news.example/?p=3</guid>",
                        "<guid>urn:news:বাংলা</guid>"))
    first = load(app, tmp_path, document)
    assert first.exit_code == 0 and "3 created" in first.output, first.output
    ids = {r["title"]: r["id"] for r in exported(app)}
    assert ids == {"Story 1": f"tag:{authority},2000:guid:old.news.example:12345",
                   "Bare": f"tag:{authority},2000:guid:old.news.example:opaque%2042/%C3%BC",
                   "Story 3": "urn:news:%E0%A6%AC%E0%A6%BE%E0%A6%82%E0%A6%B2%E0%A6%BE"}
    changed = document.replace("<title>Bare</title>", "<title>Bare, retitled</title>")
    again = load(app, tmp_path, changed, name="again.xml")
    assert "0 created, 1 updated, 2 unchanged" in again.output, again.output
    import feedparser

    served = feedparser.parse(app.test_client().get("/feed.atom").data)
    assert {e.id for e in served.entries} == set(ids.values())  # what readers see from now on


def test_the_same_guid_on_another_site_is_another_article(app: Flask, tmp_path: Path) -> None:
    one = rss(item(1).replace("<guid>https://old.news.example/?p=1</guid>",
                              '<guid isPermaLink="false">1</guid>'))
    other = one.replace("https://old.news.example/", "https://other.example/")
    assert load(app, tmp_path, one, name="one.xml").exit_code == 0
    result = load(app, tmp_path, other, name="other.xml")
    assert "1 created" in result.output, result.output
    assert len({r["id"] for r in exported(app)}) == 2


def test_an_entry_imported_with_an_id_of_ours_keeps_it(app: Flask, tmp_path: Path) -> None:
    """Before its id was made from its guid, such an entry got an id of ours: a new run of the
    feed finds it by its link and keeps its key and id."""
    path = write_lines(tmp_path / "old.jsonl", [make_article(
        key="story-1", id="tag:localhost,2022-06-18:article:story-1", title="Story 1",
        section="Old News", url="https://old.news.example/sport/story-1")])
    assert run(app, "import", "--quiet", str(path)).exit_code == 0
    document = rss(item(1).replace("<guid>https://old.news.example/?p=1</guid>",
                                   '<guid isPermaLink="false">1</guid>'))
    result = load(app, tmp_path, document)
    assert result.exit_code == 0 and "0 created, 1 updated" in result.output, result.output
    assert [(r["key"], r["id"]) for r in exported(app)] == [
        ("story-1", "tag:localhost,2022-06-18:article:story-1")]


def test_an_id_twice_in_one_feed_is_one_article(app: Flask, tmp_path: Path) -> None:
    twice = item(2).replace("Story 2", "Story 2, corrected")
    document = rss(item(1), item(2, date="Sat, 18 Jun 2022 20:17:00 +0000"),
                   twice.replace("20:17:00 +0000", "22:00:00 +0000"), item(1))
    result = load(app, tmp_path, document)
    assert result.exit_code == 0, result.output
    assert ("imported 2 article(s)" in result.output and "2 created, 0 updated, 0 unchanged"
            in result.output and "2 left out" in result.output), result.output
    assert "entry 2: left out: the same id as entry 3 (https://old.news.example/?p=2), " \
           "which is kept (updated later)" in result.output
    assert "entry 4: left out: the same id as entry 1" in result.output
    assert sorted(r["title"] for r in exported(app)) == ["Story 1", "Story 2, corrected"]


# -- deleted articles ----------------------------------------------------------------------


def test_an_import_never_brings_back_a_deleted_article(app: Flask, api: Api,
                                                       tmp_path: Path) -> None:
    document = rss(item(1), item(2))
    assert load(app, tmp_path, document).exit_code == 0
    assert api.delete("story-1").status_code == 204
    result = load(app, tmp_path, document)
    assert result.exit_code == 0, result.output
    assert ("imported 2 article(s)" in result.output and "0 unchanged" not in result.output
            and "1 unchanged, 0 deleted, 1 kept deleted" in result.output), result.output
    assert app.test_client().get("/articles/story-1").status_code == 410
    assert api.get("story-1").get_json()["deleted"] is not None
    # JSON Lines alike: a line without "deleted" for an article deleted here leaves it deleted
    lines = write_lines(tmp_path / "a.jsonl", [make_article(key="story-1", title="Back?")])
    again = run(app, "import", "--quiet", str(lines))
    assert "1 kept deleted" in again.output, again.output
    assert app.test_client().get("/articles/story-1").status_code == 410
    assert api.put("story-1", make_article(key="story-1")).status_code == 201  # the API can


# -- keys ----------------------------------------------------------------------------------


@pytest.mark.parametrize("link,title,key", [
    ("https://old.news.example/?p=1", "😀 😀", "grinning-grinning"),  # was "entry", then hashed
    ("https://old.news.example/?p=2", "洪水 😀", "hongshui-grinning"),
    ("https://old.news.example/?p=3", "বন্যায় সিলেটে ১০ জনের মৃত্যু", "bnyay-silete-10-jner-mrtyu"),
    ("https://old.news.example/2022/06/18/12345", "🇧🇩 জয়", "bd-jy"),
    ("https://old.news.example/?p=4", "2022-06-18", "entry"),  # no letter at all
])
def test_keys_from_titles_in_any_script(app: Flask, api: Api, tmp_path: Path, link: str, title: str,
                                        key: str) -> None:
    entry = f"<title>{title}</title><link>{link}</link><pubDate>Sat, 18 Jun 2022 20:17:00 +0000</pubDate>"
    assert load(app, tmp_path, rss(entry)).exit_code == 0
    assert api.get(key).status_code == 200
    assert [r["key"] for r in exported(app)] == [key]


def test_keys_from_links_of_every_shape_are_readable_and_distinct(app: Flask,
                                                                  tmp_path: Path) -> None:
    links = {
        "A": "https://old.news.example/world/floods-in-sylhet/index.html",
        "B": "https://old.news.example/article.php?id=42",
        "C": "https://old.news.example/article.php?id=43",
        "D": "https://old.news.example/2022/06/18/12345",
        "E": "https://old.news.example/%E0%A6%AC%E0%A6%A8%E0%A7%8D%E0%A6%AF%E0%A6%BE",
        "F": "https://old.news.example/বাংলাদেশ-দল/",
        "G": "https://old.news.example/sport/cricket-win/amp",
        "H": "https://old.news.example/%D0%BD%D0%BE%D0%B2%D0%BE%D1%81%D1%82%D0%B8.html",
    }
    titles = {"A": "Floods", "B": "Budget passed", "C": "বাজেট পাস", "D": "Rain", "E": "x",
              "F": "y", "G": "z", "H": "w"}
    document = rss(*(f"<title>{titles[n]}</title><link>{link}</link>" for n, link in links.items()))
    result = load(app, tmp_path, document)
    assert result.exit_code == 0, result.output
    keys = {r["title"]: r["key"] for r in exported(app)}
    assert keys == {"Floods": "floods-in-sylhet", "Budget passed": "budget-passed",
                    "বাজেট পাস": "bajet-pas", "Rain": "rain", "x": "bnya",
                    "y": "bamlades-dl", "z": "cricket-win", "w": "novosti"}


# -- language, encodings, images, categories -------------------------------------------------


def test_an_empty_xml_lang_means_no_language(app: Flask, tmp_path: Path) -> None:
    result = load(app, tmp_path, atom("", "<title xml:lang=\"\">Entry 2</title>".join(["", ""])
                                      ).replace("<entry><id>https://wire.example/2</id>",
                                                "<entry xml:lang=\"\"><id>https://wire.example/2</id>"))
    assert result.exit_code == 0, result.output
    assert {t: r["language"] for t, r in by_title(app).items()} == {"Entry 1": "en",
                                                                    "Entry 2": None}
    document = rss(item(1), item(2), item(3), item(4).replace("<title>", '<title xml:lang="fr">'))
    document = document.replace("<item><title>Story 2", '<item xml:lang=""><title>Story 2')
    document = document.replace("<item><title>Story 3", '<item xml:lang="en-GB"><title>Story 3')
    assert load(app, tmp_path, document, name="rss.xml").exit_code == 0
    assert {t: r["language"] for t, r in by_title(app).items() if t.startswith("Story")} == {
        "Story 1": "bn-BD", "Story 2": None, "Story 3": "en-GB", "Story 4": "fr"}


@pytest.mark.parametrize("encoding,bom,declared", [
    ("utf-16-le", True, True), ("utf-16-be", True, True), ("utf-16-le", False, True),
    ("utf-16-be", False, True), ("utf-16-le", True, False), ("utf-16-be", True, False)])
def test_utf_16_feeds(app: Flask, tmp_path: Path, encoding: str, bom: bool,
                      declared: bool) -> None:
    """With its byte order mark, its XML declaration or both (XML 1.0 appendix F)."""
    document = rss(item(1, "<dc:creator>রহিম উদ্দিন</dc:creator>")).replace(
        "<title>Story 1</title>", "<title>বন্যা</title>").replace(
        'encoding="utf-8"', 'encoding="utf-16"')
    if not declared:
        document = document.split("?>", 1)[1].lstrip()
    path = tmp_path / "utf16.xml"
    path.write_bytes(("\ufeff" if bom else "").encode(encoding) + document.encode(encoding))
    result = run(app, "import", "--quiet", str(path))
    assert result.exit_code == 0, result.output
    [record] = exported(app)
    assert (record["title"], bylines_of(record), record["key"]) == (
        "বন্যা", [("রহিম উদ্দিন", None)], "story-1")


def test_images_without_a_type_are_guessed_from_the_extension(app: Flask, tmp_path: Path) -> None:
    media = 'xmlns:media="http://search.yahoo.com/mrss/"'
    document = rss(
        item(1, '<enclosure url="https://img.example/1.JPG?w=640" length="0"/>'),
        item(2, '<enclosure url="https://img.example/2.webp"/>'),
        item(3, '<enclosure url="https://img.example/3.mp3"/>'),
        item(4, '<media:content url="https://img.example/4.png"/>'),
        item(5, '<enclosure url="https://img.example/5" />'),
        item(6, '<enclosure url="https://img.example/6.jpg" type="application/octet-stream"/>'),
    ).replace('xmlns:dc=', f"{media} xmlns:dc=")
    assert load(app, tmp_path, document).exit_code == 0
    images = {t: r["image"] and {k: r["image"][k] for k in ("url", "type", "length")}
              for t, r in by_title(app).items()}
    assert images == {  # a length of 0 is RSS's "unknown"
        "Story 1": {"url": "https://img.example/1.JPG?w=640", "type": "image/jpeg", "length": None},
        "Story 2": {"url": "https://img.example/2.webp", "type": "image/webp", "length": None},
        "Story 3": None, "Story 5": None, "Story 6": None,  # not images, or not said to be
        "Story 4": {"url": "https://img.example/4.png", "type": "image/png", "length": None},
    }


def test_category_names_rss_domains_and_atom_labels(app: Flask, tmp_path: Path) -> None:
    assert load(app, tmp_path, rss(item(1, '<category domain="https://old.news.example/tags">'
                                           "Ukraine war</category><category>Politics</category>"
                                           "<category> </category>")), name="r.xml").exit_code == 0
    assert load(app, tmp_path, atom(
        '<category term="world" label="World news" scheme="https://wire.example/s"/>'
        '<category term="ukraine-war" label="Ukraine war"/><category term="ukraine-war"/>'
        '<category term="cricket"/>'), name="a.xml").exit_code == 0
    got = {t: (r["section"], r["topics"]) for t, r in by_title(app).items()}
    assert got == {"Story 1": ("Ukraine war", ["Politics"]),
                   "Entry 1": ("World news", ["Ukraine war", "ukraine-war", "cricket"])}


@pytest.mark.parametrize("categories,options,section,topics", [
    ("<category>Sport</category><category>sport</category><category>Cricket</category>", (),
     "Sport", ["Cricket"]),  # was topics ["sport", "Cricket"]: the section again
    ("<category>Cricket</category><category>CRICKET</category><category>cricket </category>", (),
     "Cricket", []),
    ("<category>Sport</category><category>SPORT</category>", ("--section", "News"), "News", ["Sport"]),
    ('<category domain="https://a.example/t">Floods</category><category>floods</category>'
     "<category></category><category>  </category>", (), "Floods", []),
    ("<category>ঢাকা</category><category>ঢাকা</category>", (), "ঢাকা", []),
])
def test_categories_differing_only_in_case_are_one(app: Flask, client: Any, tmp_path: Path, categories: str,
                                                   options: tuple[str, ...], section: str,
                                                   topics: list[str]) -> None:
    assert load(app, tmp_path, rss(item(1, categories)), *options).exit_code == 0
    [record] = exported(app)
    assert (record["section"], record["topics"]) == (section, topics)
    [shown] = client.get("/feed.json").get_json()["items"]
    assert len({tag.casefold() for tag in shown["tags"]}) == len(shown["tags"])


# -- sections ------------------------------------------------------------------------------


def test_a_section_by_option_or_by_a_map(app: Flask, tmp_path: Path) -> None:
    document = rss(item(1, "<category>Cricket</category><category>Bangladesh</category>"),
                   item(2, "<category>Bangladesh</category><category>FOOTBALL</category>"),
                   item(3, "<category>Weather</category>"), item(4))
    result = load(app, tmp_path, document, "--section", "News",
                  "--section-map", "cricket=Sport", "--section-map", "Football=Sport")
    assert result.exit_code == 0, result.output
    got = {t: (r["section"], r["topics"]) for t, r in by_title(app).items()}
    assert got == {"Story 1": ("Sport", ["Cricket", "Bangladesh"]),
                   "Story 2": ("Sport", ["Bangladesh", "FOOTBALL"]),
                   "Story 3": ("News", ["Weather"]), "Story 4": ("News", [])}
    mapped = load(app, tmp_path, rss(item(5, "<category>Weather</category>"), item(6)),
                  "--section-map", "weather=Environment", name="two.xml")
    assert mapped.exit_code == 0, mapped.output
    got = {t: (r["section"], r["topics"]) for t, r in by_title(app).items()}
    assert got["Story 5"] == ("Environment", ["Weather"])
    assert got["Story 6"] == ("Old News", [])  # no category, no --section: the feed's title


@pytest.mark.parametrize("options,said", [
    (["--section", " "], "--section"), (["--section", "x" * 201], "--section"),
    (["--section-map", "cricket"], "is not CATEGORY=SECTION"),
    (["--section-map", "=Sport"], "--section-map"), (["--section-map", "Cricket="], "--section-map"),
])
def test_a_bad_section_option_is_one_line_and_imports_nothing(app: Flask, tmp_path: Path,
                                                              options: list[str], said: str) -> None:
    result = load(app, tmp_path, rss(item(1)), *options)
    assert result.exit_code == 2 and said in result.output, result.output
    assert "Traceback" not in result.output and exported(app) == []


def test_section_options_are_refused_for_json_lines(app: Flask, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "a.jsonl", [make_article(key="a")])
    result = run(app, "import", "--quiet", "--section", "News", str(path))
    assert result.exit_code == 2 and "apply to RSS and Atom feeds" in result.output
    assert exported(app) == []


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=400).filter(str.strip), st.text(max_size=30))
def test_any_guid_gives_an_id_a_feed_can_carry_and_the_same_each_time(guid: str,
                                                                     other: str) -> None:
    uid = syndication.entry_uid(guid, "old.news.example", "news.example")
    assert payload.check_entry_id(uid) == uid  # absolute, ASCII, at most 300 characters
    assert syndication.entry_uid(guid, "old.news.example", "news.example") == uid
    if other != guid and len(uid) < 200:  # short ones are the guid escaped: one guid, one id
        assert syndication.entry_uid(other, "old.news.example", "news.example") != uid


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), st.builds("https://old.news.example/{}".format, st.text(max_size=60)),
                 st.text(max_size=60)), st.text(max_size=80))
def test_any_link_and_title_give_a_readable_key(link: str | None, title: str) -> None:
    key = syndication.plain_key(link, title)
    assert payload.check_key(key) == key and any(ch.isalpha() for ch in key)


@pytest.mark.validator
@pytest.mark.skipif(not os.environ.get("FEEDVALIDATOR_DIR"),
                    reason="set FEEDVALIDATOR_DIR to run the W3C validator")
def test_imported_entries_make_valid_feeds(app: Flask, tmp_path: Path) -> None:
    """The ids made from guids, the transliterated keys and the guessed image types: valid."""
    from test_validator import validate

    document = rss(
        item(1, '<enclosure url="https://img.example/1.webp"/>'
                "<dc:creator>Rahim Uddin and Ayesha Rahman</dc:creator>").replace(
            "<guid>https://old.news.example/?p=1</guid>", '<guid isPermaLink="false">opaque 42/ü</guid>'),
        "<title>বন্যা</title><link>https://old.news.example/%E0%A6%AC</link>"
        "<guid>urn:news:বাংলা</guid><pubDate>Sat, 18 Jun 2022 20:17:00 IST</pubDate>")
    assert load(app, tmp_path, document).exit_code == 0
    client = app.test_client()
    for url in ("/feed.atom", "/feed.rss"):
        errors, _ = validate(client.get(url).data)
        assert errors == [], (url, errors)


def test_the_summary_counts_each_entry_once(app: Flask, api: Api, tmp_path: Path) -> None:
    """Seven entries, seven outcomes: each said once, and the article count their sum."""
    assert load(app, tmp_path, rss(item(1), item(2), item(3)), name="first.xml").exit_code == 0
    assert api.delete("story-3").status_code == 204
    document = rss(item(1), item(2).replace("Story 2", "Story 2, corrected"), item(3), item(4),
                   item(5, date="yesterday"), item(4), item(6))
    result = load(app, tmp_path, document)
    assert result.exit_code == 1, result.output
    summary = next(line for line in result.output.splitlines() if line.startswith("imported"))
    assert summary.startswith("imported 5 article(s)")
    assert summary.endswith(": 2 created, 1 updated, 1 unchanged, 0 deleted, 1 kept deleted; "
                            "1 failed, 1 left out"), summary
    assert result.output.count("skipped:") == 1 and result.output.count("left out:") == 1


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=250), st.text(max_size=60))
def test_any_section_option_is_a_name_or_refused_naming_it(section: str, category: str) -> None:
    import click

    from feedsvc.transfer import commands

    try:
        sections = commands._sections(section, (f"{category}={section}",))
    except click.BadParameter as exc:
        assert exc.param_hint in ("--section", "--section-map")
        return
    assert sections.default is not None
    for name in (sections.default, *sections.by_category.values()):
        payload.parse(make_article(section=name), ZoneInfo("UTC"), partial=False)
    assert sections.choose([category], "Feed")[0] in (sections.default, *sections.by_category.values())


def test_authors_feedparser_split_are_put_back_together() -> None:
    """Where only feedparser's loose reading is known (the raw items could not be matched to
    its entries), each author it split on an address is rebuilt and checked, not dropped."""
    import feedparser

    document = rss(item(1, "<author>sports@old.news.example (Sports Reporter)</author>"
                           "<author>Jo Khan &lt;jo@desk.online&gt;</author>"
                           "<author>ed@news.com (Editor)</author>"
                           "<author>Last Writer</author>"))
    entry = feedparser.parse(document.encode()).entries[0]
    assert [a.get("email") for a in entry.authors][:3] == [
        "sports@old.news.exam", "jo@desk.onli", "ed@news.com"]  # feedparser's own reading
    got = bylines.entry_authors(entry, None, rss=True)
    assert [(b["name"], b.get("email")) for b in got] == [
        ("Sports Reporter", "sports@old.news.example"), ("Jo Khan", "jo@desk.online"),
        ("Editor", "ed@news.com"), ("Last Writer", None)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(
    st.text(max_size=60),
    st.builds("{}{}{}".format, st.text(max_size=5), st.emails(), st.text(max_size=8)),
    st.builds("{} ({})".format, st.emails(), st.text(max_size=20)),
    st.builds("{} <{}>".format, st.text(max_size=20), st.emails())), min_size=1, max_size=3))
def test_feedparsers_own_reading_never_gives_a_piece_of_an_address(raws: list[str]) -> None:
    import feedparser

    elements = "".join(f"<author>{escape(xml_text(raw))}</author>" for raw in raws)
    [entry] = feedparser.parse(rss(item(1, elements)).encode()).entries
    for byline in bylines.entry_authors(entry, None, rss=True):
        assert byline["name"] and len(byline["name"]) <= payload.MAX_NAME
        email = byline.get("email")
        assert email is None or (payload.is_email(email) and any(
            holds(xml_text(r), email, whole=True) for r in raws))  # as the document holds it


def written(email: str) -> list[str]:
    """An address as a document may have written it: as it is, or its IDN domain decoded."""
    local, _, domain = email.rpartition("@")
    try:
        return [email, f"{local}@{domain.encode().decode('idna')}"]
    except UnicodeError:  # "xn--00a" that is no punycode
        return [email]


def holds(text: str, email: str, *, whole: bool = False) -> bool:
    """Whether ``text`` holds ``email`` as written (with ``whole``, not a piece of another)."""
    return any(re.search(rf"(?<![\w.+-]){re.escape(form)}(?![\w.-])" if whole else re.escape(form),
                         text, re.IGNORECASE) for form in written(email))


# -- 8. any input --------------------------------------------------------------------------

ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
RSS_ITEMS = st.lists(st.fixed_dictionaries({
    "title": ANY_TEXT, "author": ANY_TEXT, "category": ANY_TEXT, "description": ANY_TEXT,
    "guid": ANY_TEXT, "language": st.sampled_from(["", "fr", "bn-BD", "english_UK", "x" * 40]),
    "date": st.sampled_from(["Sat, 18 Jun 2022 20:17:00 +0600 (BDT)", "2022-06-18T20:17+06",
                             "Sat, 18 Jun 2022 8:17 PM GMT", "2022-06-18", "yesterday", ""]),
    "image": st.sampled_from(["", "/a.jpg", "https://img.example/a b.jpg", "x:y", "//img.example/c.png"]),
}), min_size=1, max_size=3)
RUN = iter(range(1_000_000))  # each example's entries are new articles


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(RSS_ITEMS, st.booleans())
def test_any_rss_or_atom_items_import_and_publish_as_valid_feeds(app: Flask, client: Any, tmp_path: Path,
                                                                 items: list[dict[str, str]],
                                                                 atom_form: bool) -> None:
    run_number = next(RUN)

    def x(text: str) -> str:
        return escape(xml_text(text))

    if atom_form:
        document = atom(*(
            f"<title type=\"html\">{x(i['title'])}</title><author><name>{x(i['author'])}</name></author>"
            f"<category term=\"{x(i['category'])}\"/><content type=\"text\">{x(i['description'])}</content>"
            for i in items)).replace("https://wire.example/", f"https://wire.example/{run_number}/")
    else:
        document = rss(*(
            f"<title>{x(i['title'])}</title><author>{x(i['author'])}</author>"
            f"<category>{x(i['category'])}</category><description>{x(i['description'])}</description>"
            f"<guid isPermaLink=\"false\">{run_number}-{n}-{x(i['guid'])}</guid>"
            f"<link>https://old.news.example/{run_number}/{n}</link><dc:language>{x(i['language'])}</dc:language>"
            + (f"<pubDate>{i['date']}</pubDate>" if i["date"] else "")
            + (f'<enclosure url="{x(i["image"])}" type="image/jpeg" length="1"/>' if i["image"] else "")
            for n, i in enumerate(items)))
    result = load(app, tmp_path, document)
    assert result.exit_code in (0, 1) and result.exception is None or isinstance(result.exception, SystemExit), \
        result.output
    assert "Traceback" not in result.output
    for path in ("/feed.atom", "/feed.rss"):
        parsed = feedparser.parse(client.get(f"{path}?limit=200").data)
        assert parsed.bozo == 0, (path, parsed.get("bozo_exception"))
    assert client.get("/feed.json?limit=200").status_code == 200
