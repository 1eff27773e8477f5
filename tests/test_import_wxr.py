"""A WordPress site moved in (issue 18): ``feedsvc import export.xml`` with a WXR file.

The archive is tests/wxr_archive.py's newsroom: its posts, as WordPress's feed showed them,
are compared with what feedsvc's Atom and RSS feeds show after the import — entry ids,
published instants, authors and titles — and everything that is no published post stays out
and is counted.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import feedparser
import lxml.html
import phpserialize
import pytest
import wxr_archive
from feedcheck import instant
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_feeds_property import as_feedparser_reads
from test_transfer import exported, run
from wxr_archive import Attachment, Author, Post, Site

from feedsvc.store.sanitize import plain_text
from feedsvc.transfer import wxr
from feedsvc.transfer.autop import autop, needs_paragraphs
from feedsvc.transfer.records import Failure, Record

from conftest import START, Api, Clock, table_counts

DHAKA = "Asia/Dhaka"


@pytest.fixture(scope="module")
def site() -> Site:
    return wxr_archive.archive(300, now=START)


@pytest.fixture
def export(site: Site, tmp_path: Path) -> Path:
    return wxr_archive.write(tmp_path / "export.xml", site)


def load(app: Flask, path: Path, *options: str) -> Any:
    return run(app, "import", "--quiet", "--timezone", DHAKA, *options, str(path))


def feed_entries(client: FlaskClient, path: str) -> dict[str, Any]:
    """Every entry of a feed, walking its rel="next" pages, by entry id (as feedparser reads it)."""
    entries: dict[str, Any] = {}
    url: str | None = f"{path}?limit=200"
    while url:
        response = client.get(url.removeprefix("http://feeds.test"))
        assert response.status_code == 200, url
        parsed = feedparser.parse(response.data)
        assert parsed.bozo == 0, parsed.get("bozo_exception")
        for entry in parsed.entries:
            assert entry.id not in entries
            entries[entry.id] = entry
        url = next((link["href"] for link in parsed.feed.get("links", [])
                    if link.get("rel") == "next"), None)
    return entries


def shown(site: Site, post: Post) -> tuple[str, dt.datetime, list[str]]:
    """What a reader of WordPress's feed saw of a post: title, published, author."""
    author = next(a for a in site.authors if a.login == post.login)
    return post.shown_title, post.published, [author.shown]


def public(site: Site, now: dt.datetime) -> list[Post]:
    return [p for p in site.posts if p.imported and p.published <= now]


@pytest.mark.parametrize("path", ["/feed.atom", "/feed.rss"])
def test_feedsvc_publishes_the_archive_as_wordpress_did(app: Flask, client: FlaskClient, site: Site,
                                                         export: Path, path: str) -> None:
    result = load(app, export)
    assert result.exit_code == 0, result.output
    entries = feed_entries(client, path)
    expected = {p.guid: shown(site, p) for p in public(site, START)}
    assert len(expected) > 200
    got = {uid: (e.title, instant(e.published_parsed), [a["name"] for a in e.get("authors", [])])
           for uid, e in entries.items()}
    assert got == expected
    # The ids are WordPress's guids, readers following the old feed see nothing new.
    assert all(uid.startswith(f"{wxr_archive.SITE}/?p=") for uid in entries)


def test_the_summary_counts_what_was_left_out(app: Flask, site: Site, export: Path) -> None:
    result = load(app, export)
    assert result.exit_code == 0, result.output
    imported = [p for p in site.posts if p.imported]
    skipped = Counter(p.post_type if p.post_type != "post" else
                      "password-protected" if p.password else p.status
                      for p in site.posts if not p.imported)
    skipped["attachment"] = sum(isinstance(i, Attachment) for i in site.items)
    assert {"draft", "pending", "private", "trash", "auto-draft", "password-protected", "page",
            "revision", "nav_menu_item", "attachment"} <= set(skipped)
    lines = result.output.splitlines()
    assert f"{len(imported)} created, 0 updated" in lines[0]
    said = dict(reversed(part.split(" ", 1)) for part in
                lines[1].removeprefix("not imported from the WordPress export: ").split(", "))
    assert {kind: int(count) for kind, count in said.items()} == skipped
    # One published post had no GMT date: its wall time was read in --timezone and counted.
    assert lines[2] == f"1 time(s) without an offset read in {DHAKA}"
    assert {r["id"] for r in exported(app)} == {p.guid for p in imported}


def test_scheduled_posts_appear_at_their_instant(app: Flask, client: FlaskClient, clock: Clock,
                                                 site: Site, export: Path) -> None:
    assert load(app, export).exit_code == 0
    scheduled = sorted((p for p in site.posts if p.imported and p.status == "future"),
                       key=lambda p: p.published)
    assert len(scheduled) >= 3
    assert not set(feed_entries(client, "/feed.atom")) & {p.guid for p in scheduled}
    first = scheduled[0]
    clock.set(first.published)
    ids = set(feed_entries(client, "/feed.atom"))
    assert first.guid in ids
    assert not ids & {p.guid for p in scheduled if p.published > first.published}
    clock.set(scheduled[-1].published)
    ids = set(feed_entries(client, "/feed.rss"))
    assert {p.guid for p in scheduled} <= ids
    assert ids == {p.guid for p in public(site, scheduled[-1].published)}


def test_a_second_import_changes_nothing(app: Flask, site: Site, export: Path) -> None:
    assert load(app, export).exit_code == 0
    before = exported(app)
    result = load(app, export)
    assert result.exit_code == 0, result.output
    count = sum(p.imported for p in site.posts)
    assert f"imported {count} article(s)" in result.output
    assert f"0 created, 0 updated, {count} unchanged" in result.output
    assert exported(app) == before


def test_each_field_of_a_post(app: Flask, api: Api, site: Site, export: Path) -> None:
    assert load(app, export).exit_code == 0
    records = {r["id"]: r for r in exported(app)}
    for post in (p for p in site.posts if p.imported):
        got = records[post.guid]
        assert got["title"] == post.shown_title
        assert got["section"] == post.section
        assert got["topics"] == list(dict.fromkeys([shown for _, _, shown in post.tags] + post.other_categories))
        assert got["url"] == (post.link if post.link.isascii() else got["url"])
        image = post.thumbnail
        assert got["image"] == ({"url": image.url, "type": "image/jpeg", "length": None,
                                 "width": 1200, "height": 675, "alt": f"Photo & alt {post.id}",
                                 "caption": f"Caption {post.id}", "credit": "Photo: AP",
                                 "renditions": image.renditions}
                                if image else None)
        assert got["language"] == "bn-BD"
        assert got["summary"] == ("A short standfirst & more." if post.excerpt else None)
        assert instant(got["updated"]) == post.published  # --updated=published, the default
    # Keys are the slugs; a Bengali slug, which no key can hold, gives the post id.
    english = next(p for p in site.posts if p.imported and p.slug.isascii())
    bengali = next(p for p in site.posts if p.imported and not p.shown_title.isascii()
                   and "বন্যায়" in p.shown_title)
    assert api.get(english.slug).get_json()["id"] == english.guid
    assert api.get(f"post-{bengali.id}").get_json()["title"] == bengali.shown_title
    # Shortcodes stay as text, and "]]>" split across CDATA sections comes back whole.
    bodies = {api.get(r["key"]).get_json()["content"] for r in records.values()}
    assert any('[gallery ids="12,13"]' in body for body in bodies)
    assert any("if a]]&gt;b" in body for body in bodies)
    assert any("[caption id=" in body and "[/caption]" in body for body in bodies)


def test_the_primary_category_is_the_section(app: Flask, api: Api, client: FlaskClient, site: Site,
                                             export: Path) -> None:
    """Yoast SEO's and Rank Math's primary category (post meta naming a term id that the
    export's channel lists) is the section, and the first category a topic; a primary category
    the post no longer has is passed over, as both plugins do."""
    assert load(app, export).exit_code == 0
    posts = [p for p in public(site, START) if p.primary]
    plugins = {(p.primary[0], p.section == p.categories[0][2]) for p in posts if p.primary}
    assert plugins == {("_yoast_wpseo_primary_category", False), ("rank_math_primary_category", False),
                       ("_yoast_wpseo_primary_category", True)}
    keys = {r["id"]: r["key"] for r in exported(app)}
    for post in posts:
        article = api.get(keys[post.guid]).get_json()
        assert article["section"] == post.section
        assert article["topics"] == list(dict.fromkeys([t for _, _, t in post.tags] + post.other_categories))
    # The section's own feed carries it, as readers of that section see it.
    post = next(p for p in posts if p.section != p.categories[0][2])
    article = api.get(keys[post.guid]).get_json()
    section_feed = next(f for f in article["feeds"] if f["scope"] == "section")
    assert post.guid in feed_entries(client, section_feed["atom"].removeprefix("http://feeds.test"))
    first = next(f for f in article["feeds"] if f["scope"] == "topic" and f["name"] == post.categories[0][2])
    assert post.guid in feed_entries(client, first["atom"].removeprefix("http://feeds.test"))


def test_a_primary_category_the_channel_does_not_list() -> None:
    """A term id that no <wp:category> of the export names: the first category, as before."""
    [record] = read(one_post(post(categories=[("world", "World", "World"), ("sport", "Sport", "Sport")],
                                  primary=("_yoast_wpseo_primary_category", 999))))
    assert isinstance(record, Record)
    assert (record.fields["section"], record.fields["topics"]) == ("World", ("Sport",))


def test_updated_from_the_modified_time(app: Flask, site: Site, export: Path) -> None:
    assert load(app, export, "--updated", "modified").exit_code == 0
    records = {r["id"]: r for r in exported(app)}
    modified = [p for p in site.posts if p.imported and p.modified != p.published]
    assert modified
    for post in modified:
        assert instant(records[post.guid]["updated"]) == post.modified
        assert instant(records[post.guid]["published"]) == post.published


def one_post(post: Post, *, authors: list[Author] | None = None,
             items: list[Post | Attachment] | None = None) -> bytes:
    site = Site(authors=authors or wxr_archive.AUTHORS, items=items or [post])
    return wxr_archive.document(site).encode()


def post(**fields: Any) -> Post:
    values: dict[str, Any] = {
        "id": 5, "title": "A story", "shown_title": "A story", "slug": "a-story", "login": "rahim",
        "published": dt.datetime(2022, 6, 18, 20, 17, tzinfo=dt.UTC),
        "categories": [("world", "World", "World")]} | fields
    return Post(**values)


def read(document: bytes, **options: Any) -> list[Record | Failure]:
    export = wxr.Export(io.BytesIO(document), wxr.Options(ZoneInfo(DHAKA), **options))
    export.scan()
    return list(export.records())


def test_a_scheduled_post_last_saved_before_its_publication() -> None:
    """--updated=modified: a post saved on Monday to appear on Friday was not updated before
    it appeared; updated is its publication (RFC 4287 4.2.15 forbids less)."""
    when = dt.datetime(2026, 12, 4, 6, 0, tzinfo=dt.UTC)
    [record] = read(one_post(post(status="future", published=when,
                                  modified=when - dt.timedelta(days=4))), updated="modified")
    assert isinstance(record, Record)
    assert record.fields["published"] == record.fields["updated"] == when


def test_section_option_and_a_post_without_category(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "export.xml"
    path.write_bytes(one_post(post(categories=[]), items=[post(categories=[]), post(
        id=6, slug="b", title="B", shown_title="B")]))
    assert load(app, path).exit_code == 0
    assert {r["title"]: r["section"] for r in exported(app)} == {
        "A story": "Old News & Views", "B": "World"}  # none: the site's title
    assert load(app, path, "--section", "Archive").exit_code == 0
    assert {r["section"] for r in exported(app)} == {"Archive"}


def test_wordpress_options_refuse_other_sources(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_text('<rss version="2.0"><channel><title>t</title><item><title>x</title>'
                    "<link>https://a.example/x</link></item></channel></rss>")
    result = load(app, path, "--updated", "modified")
    assert result.exit_code == 2
    assert "--updated applies to a WordPress export only" in result.output
    assert table_counts(app)["articles"] == 0


def test_section_map_is_refused_for_a_wordpress_export(app: Flask, export: Path) -> None:
    result = load(app, export, "--section-map", "News=World")
    assert result.exit_code == 2 and "--section-map applies to RSS and Atom feeds" in result.output
    assert table_counts(app)["articles"] == 0


def test_plain_rss_with_a_wordpress_element_is_not_an_export() -> None:
    """WordPress's own feeds (not exports) declare no wp: namespace; a feed that uses one
    inside an item, or another root, is read as a feed."""
    assert not wxr.is_export(b'<rss version="2.0"><channel><item xmlns:wp="http://wordpress.org/'
                             b'export/1.2/"/></channel></rss>')
    assert not wxr.is_export(b'<feed xmlns:wp="http://wordpress.org/export/1.2/"/>')
    assert not wxr.is_export(b'{"key": "a"}')
    assert wxr.is_export(b'<?xml version="1.0"?>\n<!-- c -->\n<rss xmlns:wp="http://wordpress.org/'
                         b'export/1.1/" version="2.0">')


@pytest.mark.parametrize("document", [
    # billion laughs: expat stops the expansion
    '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">'
    + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
    + ']><rss xmlns:wp="http://wordpress.org/export/1.2/"><channel><item><title>&j;</title>'
    "</item></channel></rss>",
    # an external entity: never read
    '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    '<rss xmlns:wp="http://wordpress.org/export/1.2/"><channel><item><title>&x;</title>'
    "<wp:post_type>post</wp:post_type><wp:status>publish</wp:status>"
    "<wp:post_date_gmt>2022-01-01 00:00:00</wp:post_date_gmt></item></channel></rss>",
    # cut short: nothing of it goes in
    wxr_archive.document(wxr_archive.archive(20))[:-3000],
], ids=["entity-expansion", "external-entity", "truncated"])
def test_a_bad_document_changes_nothing(app: Flask, tmp_path: Path, document: str) -> None:
    path = tmp_path / "export.xml"
    path.write_text(document, encoding="utf-8")
    result = load(app, path)
    assert result.exit_code == 1
    [line] = result.output.splitlines()
    assert line.startswith(f"Error: {path}: not a well-formed WordPress export: ")
    assert "root:" not in result.output
    assert table_counts(app)["articles"] == 0


def test_classic_editor_paragraphs_reach_the_feeds(app: Flask, client: FlaskClient, tmp_path: Path) -> None:
    """A classic-editor post's blank lines are paragraphs and its line breaks <br />s in every
    feed, as WordPress showed it; a block-editor post's markup is left as it was."""
    classic = "First paragraph.\n\nSecond one,\nin two lines.\n<ul>\n<li>a point</li>\n</ul>\nLast."
    blocks = "<!-- wp:paragraph -->\n<p>Block one.</p>\n<!-- /wp:paragraph -->\n\nStray line."
    path = tmp_path / "export.xml"
    path.write_bytes(one_post(post(), items=[post(content=classic), post(
        id=6, slug="b", title="B", shown_title="B", content=blocks)]))
    assert load(app, path).exit_code == 0
    for feed in ("/feed.atom", "/feed.rss"):
        entries = feed_entries(client, feed)
        bodies = {uid: lxml.html.fragment_fromstring(e.content[0].value, create_parent="div")
                  for uid, e in entries.items()}
        first = bodies[f"{wxr_archive.SITE}/?p=5"]
        assert [" ".join(p.text_content().split()) for p in first.findall("p")] == [
            "First paragraph.", "Second one, in two lines.", "Last."]
        assert [len(p.findall("br")) for p in first.findall("p")] == [0, 1, 0]
        assert [li.text for li in first.iter("li")] == ["a point"]
        second = bodies[f"{wxr_archive.SITE}/?p=6"]
        assert [p.text for p in second.findall("p")] == ["Block one."]
        assert "Stray line." in second.text_content() and not second.findall(".//br")


def test_control_characters_wordpress_left_in_are_dropped(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "export.xml"
    path.write_bytes(one_post(post(title="Bad\x0bchar", content="<p>x\x1fy</p>")))
    result = load(app, path)
    assert result.exit_code == 0, result.output
    [record] = exported(app)
    assert (record["title"], record["content"]) == ("Badchar", "<p>xy</p>")


def piped(db_url: str, tmp_path: Path, document: bytes) -> str:
    """``feedsvc import -`` in its own process, ``document`` written to its standard input
    through a pipe (which cannot seek); its standard output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    env |= {"FEEDSVC_INSTANCE_PATH": str(tmp_path / "instance"), "FEEDSVC_DATABASE_URL": db_url,
            "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    result = subprocess.run(
        [sys.executable, "-c", "from feedsvc.cli import main; main()", "import", "--quiet",
         "--timezone", DHAKA, "-"], input=document, env=env, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.decode()


def test_blank_lines_before_the_xml_declaration(app: Flask, tmp_path: Path) -> None:
    """A theme or plugin that prints whitespace puts blank lines before "<?xml"; the export
    is still recognised and read."""
    path = tmp_path / "export.xml"
    path.write_bytes(b"\n\n  " + one_post(post()))
    result = load(app, path)
    assert result.exit_code == 0, result.output
    # read as an export: the display name, not the login a plain RSS reading would give
    assert [(r["title"], r["authors"][0]["name"]) for r in exported(app)] == [("A story", "Rahim Uddin")]


def test_an_export_piped_to_standard_input(db_url: str, tmp_path: Path) -> None:
    """A pipe cannot be read twice: it is spooled to a temporary file, and imports the same."""
    document = wxr_archive.document(wxr_archive.archive(40)).encode()
    count = sum(p.imported for p in wxr_archive.archive(40).posts)
    assert f"imported {count} article(s)" in piped(db_url, tmp_path, document)


@pytest.mark.parametrize("document", [
    b"".join(b'{"key": "k%d", "title": "T", "section": "S"}\n' % n for n in range(3000)),
    b'<rss version="2.0"><channel><title>t</title>' + b"".join(
        b"<item><title>x%d</title><link>https://a.example/x%d</link></item>" % (n, n)
        for n in range(3000)) + b"</channel></rss>",
], ids=["json-lines", "rss"])
def test_other_sources_piped_lose_nothing_to_the_sniffing(db_url: str, tmp_path: Path,
                                                          document: bytes) -> None:
    """The first 64 KiB read to tell a WordPress export are given back to the other readers."""
    assert len(document) > wxr.HEAD
    assert "imported 3000 article(s)" in piped(db_url, tmp_path, document)


# Text a WordPress author may type: anything XML can carry (U+FFFE and U+FFFF it cannot, and
# WordPress's own export would be refused by every parser), without markup.
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="<&\ufffe\uffff"),
               max_size=60)


@settings(max_examples=200, deadline=None)
@given(title=TEXT, body=st.text(max_size=200), name=TEXT, tag=TEXT, category=TEXT)
def test_arbitrary_text_in_a_post(title: str, body: str, name: str, tag: str, category: str) -> None:
    body = "".join(ch for ch in body if ch not in "\ufffe\uffff" and not 0xD800 <= ord(ch) <= 0xDFFF)
    author = Author("writer", name, name)
    document = one_post(post(title=title, login="writer", content=body,
                             categories=[("c", category, category)], tags=[("t", tag, tag)]),
                        authors=[author])
    [record] = read(document)
    assert isinstance(record, Record), record
    fields = record.fields
    assert fields["title"] == (plain_text(title) or "Untitled")
    assert [b.name for b in fields["authors"]] == [plain_text(name) or "writer"]
    assert fields["section"] == (plain_text(category) or "Old News & Views")
    assert fields["topics"] == ((plain_text(tag),) if plain_text(tag) else ())
    # The body as written, "]]>" and all, with WordPress's paragraphs when it has no block
    # markup; XML reads every line break as "\n" (XML 1.0 2.11), and the controls XML forbids
    # are gone (the store would drop them anyway).
    lines = body.replace("\r\n", "\n").replace("\r", "\n")
    written = "".join(ch for ch in lines if ch >= " " or ch in "\t\n")
    assert fields.get("content") == ((autop(written) if needs_paragraphs(written) else written) or None)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=TEXT, body=st.text(max_size=200), name=TEXT)
def test_arbitrary_text_reaches_the_feeds_intact(app: Flask, tmp_path: Path, title: str, body: str,
                                                 name: str) -> None:
    body = "".join(ch for ch in body if ch not in "\ufffe\uffff" and not 0xD800 <= ord(ch) <= 0xDFFF)
    path = tmp_path / "export.xml"
    path.write_bytes(one_post(post(title=title, login="writer", content=body),
                              authors=[Author("writer", name, name)]))
    assert load(app, path).exit_code == 0
    for feed in ("/feed.atom", "/feed.rss"):
        [entry] = feed_entries(app.test_client(), feed).values()
        # as feedparser gives them back: it "repairs" text that looks like UTF-8 read as Latin-1
        assert entry.title == as_feedparser_reads(plain_text(title) or "Untitled", "atom")
        # (its repair of author names depends on where it reads them: either spelling is ours)
        stored = plain_text(name) or "writer"
        [author] = entry.authors
        assert author["name"] in (stored, as_feedparser_reads(stored, "atom"))


def test_the_featured_image_is_the_lead_image_with_its_details(app: Flask, site: Site, export: Path) -> None:
    """Its alt, caption and credit, its width and height (from the attachment), in the article."""
    reader = wxr.Export(io.BytesIO(wxr_archive.document(site).encode()), wxr.Options(ZoneInfo(DHAKA)))
    reader.scan()
    post = next(p for p in site.posts if p.imported and p.thumbnail and not p.thumbnail.broken)
    assert post.thumbnail is not None
    assert reader.attachment(post.thumbnail.id) == wxr.FeaturedImage(
        post.thumbnail.url, width=1200, height=675, alt=f"Photo & alt {post.id}",
        caption=f"Caption {post.id}", credit="Photo: AP", renditions=tuple(post.thumbnail.renditions))
    assert reader.attachment(post.id) is None  # a post is no attachment
    assert load(app, export).exit_code == 0
    stored = {article["url"]: article for article in exported(app)}
    image = stored[post.link]["image"]
    assert {k: image[k] for k in ("url", "type", "width", "height", "alt", "caption", "credit")} == {
        "url": post.thumbnail.url, "type": "image/jpeg", "width": 1200, "height": 675,
        "alt": f"Photo & alt {post.id}", "caption": f"Caption {post.id}", "credit": "Photo: AP"}


def test_the_sizes_wordpress_made_are_the_images_renditions(app: Flask, client: FlaskClient, site: Site,
                                                           export: Path) -> None:
    """_wp_attachment_metadata's sizes (PHP-serialized) reach the feeds as Media RSS: one
    media:content per file, with its width, height and type (and length when WordPress noted
    it), each file beside the image; a Bengali file name percent-encoded."""
    assert load(app, export).exit_code == 0
    posts = [p for p in public(site, START) if p.thumbnail and not p.thumbnail.broken]
    assert any(p.thumbnail and p.thumbnail.id % 5 == 2 for p in posts)
    entries = feed_entries(client, "/feed.rss")
    for post in posts:
        assert post.thumbnail is not None
        media = {m["url"]: m for m in entries[post.guid].media_content}
        expected = {post.thumbnail.url: ("1200", "675", "image/jpeg", None)} | {
            r["url"]: (str(r["width"]), str(r["height"]), r["type"], r["length"] and str(r["length"]))
            for r in post.thumbnail.renditions}
        assert {url: (m.get("width"), m.get("height"), m.get("type"), m.get("filesize"))
                for url, m in media.items()} == expected
        assert all(url.isascii() for url in media)


def test_metadata_a_search_and_replace_broke_is_read_with_its_lengths_counted(
        app: Flask, client: FlaskClient, site: Site, export: Path) -> None:
    """Metadata whose string lengths a search-and-replace made wrong (file names "photo-" to
    "picture-"): PHP's unserialize() fails on it; it is read with each string counted anew, so
    the image keeps its size and renditions, under the names the replace gave them (all were
    lost). Metadata broken otherwise is ignored (the next test)."""
    result = load(app, export)
    assert result.exit_code == 0, result.output
    broken = [p for p in public(site, START) if p.thumbnail and p.thumbnail.broken]
    assert broken
    entries = feed_entries(client, "/feed.rss")
    for post in broken:
        assert post.thumbnail is not None
        media = {m["url"]: (m.get("width"), m.get("height")) for m in entries[post.guid].media_content}
        assert media == {post.thumbnail.url: ("1200", "675")} | {
            r["url"]: (str(r["width"]), str(r["height"])) for r in post.thumbnail.renditions}
        assert len(media) == 5 and any("picture-" in url for url in media)


@pytest.mark.parametrize("metadata", [
    "", "a:", "a:1:{", 'a:1:{s:5:"width";i:12', "not php at all", 'O:8:"stdClass":0:{}',
    's:5:"width";', "a:1:{" * 5000, 'a:2:{s:5:"width";s:4:"wide";s:5:"sizes";s:3:"all";}',
    'a:2:{s:5:"width";i:-5;s:5:"sizes";a:1:{i:0;a:2:{s:4:"file";s:9:"../x.jpeg";s:5:"width";d:1.5;}}}',
    'a:1:{s:5:"sizes";a:2:{i:0;N;i:1;a:1:{s:4:"file";b:1;}}}',
    # lengths wrong, and a string holding what ends one: not counted anew
    'a:1:{s:10:"image_meta";a:1:{s:7:"caption";s:2:"a";s:5:"width";i:9;";}}',
    'a:2:{s:5:"width";i:99999999999;s:5:"sizes";a:1:{i:0;a:3:{s:4:"file";s:5:"a.jpg";'
    's:9:"mime-type";s:9:"text/html";s:8:"filesize";i:-1;}}}',
], ids=["empty", "cut", "open", "cut-in-number", "text", "object", "no-array", "deep", "wrong-types",
        "bad-values", "null-size", "wrong-lengths-and-quotes", "out-of-range"])
def test_malformed_attachment_metadata_is_ignored(metadata: str) -> None:
    image = Attachment(6, f"{wxr_archive.SITE}/wp-content/uploads/2022/06/photo-6.jpg")
    document = one_post(post(thumbnail=image), items=[image, post(thumbnail=image)]).decode()
    start = document.index("<![CDATA[", document.index("_wp_attachment_metadata"))  # its value
    document = document[:start] + wxr_archive.cdata(metadata) + document[document.index("]]>", start) + 3:]
    [record] = read(document.encode())
    assert isinstance(record, Record), record
    lead = record.fields["image"]
    assert lead.url == image.url
    assert lead.width is None or lead.width == 1 or lead.width <= 99999
    renditions = [(r.url, r.type, r.width, r.length) for r in lead.renditions]
    assert renditions in ([], [(f"{wxr_archive.SITE}/wp-content/uploads/2022/06/a.jpg", "image/jpeg", None, None)])



@pytest.mark.parametrize(("image_url", "file", "expected"), [
    # each size's file beside the image, percent-encoded as a name: "#" and "?" are no fragment
    # or query, spaces and Bengali letters escapes
    ("/wp-content/uploads/2022/06/photo-6.jpg", "photo #6?-300x169.jpg",
     "/wp-content/uploads/2022/06/photo%20%236%3F-300x169.jpg"),
    ("/wp-content/uploads/2022/06/photo-6.jpg", "ছবি-300x169.jpg",
     "/wp-content/uploads/2022/06/%E0%A6%9B%E0%A6%AC%E0%A6%BF-300x169.jpg"),
    # "." and ".." name no file: a rendition never leaves the image's folder
    ("/wp-content/uploads/2022/06/photo-6.jpg", "..", None),
    ("/wp-content/uploads/2022/06/photo-6.jpg", ".", None),
    # nor its host, when the image's URL has no path; a "/" in its query is no folder
    ("", "elsewhere.example", "/elsewhere.example"),
    ("/photo-6.jpg?w=1/2", "photo-6-300x169.jpg", "/photo-6-300x169.jpg"),
])
def test_a_size_file_is_a_name_in_the_images_folder(image_url: str, file: str, expected: str | None) -> None:
    image = Attachment(6, f"{wxr_archive.SITE}/wp-content/uploads/2022/06/photo-6.jpg")
    document = one_post(post(thumbnail=image), items=[image, post(thumbnail=image)]).decode()
    document = document.replace(image.url, f"{wxr_archive.SITE}{image_url}")
    start = document.index("<![CDATA[", document.index("_wp_attachment_metadata"))  # its value
    metadata = phpserialize.dumps({"sizes": {"medium": {"file": file, "width": 300, "height": 169}}})
    document = (document[:start] + wxr_archive.cdata(metadata.decode())
                + document[document.index("]]>", start) + 3:])
    [record] = read(document.encode())
    assert isinstance(record, Record), record
    assert [r.url for r in record.fields["image"].renditions] == (
        [f"{wxr_archive.SITE}{expected}"] if expected is not None else [])


@pytest.mark.validator
@pytest.mark.skipif(not os.environ.get("FEEDVALIDATOR_DIR"), reason="set FEEDVALIDATOR_DIR to run the W3C validator")
def test_the_moved_archive_validates(app: Flask, client: FlaskClient, export: Path) -> None:
    """Every format of the site's feed and of a Bengali section, topic and author: no error from
    the W3C validator, and only the warnings the README explains."""
    from test_validator import ALLOWED, validate

    assert load(app, export).exit_code == 0
    scopes = ["/feed", "/sections/%E0%A6%AC%E0%A6%BE%E0%A6%82%E0%A6%B2%E0%A6%BE%E0%A6%A6%E0%A7%87%E0%A6%B6/feed",
              "/topics/q-a/feed", "/authors/%E0%A6%86%E0%A6%AF%E0%A6%BC%E0%A7%87%E0%A6%B6%E0%A6%BE-"
              "%E0%A6%B0%E0%A6%B9%E0%A6%AE%E0%A6%BE%E0%A6%A8/feed"]
    for scope in scopes:
        for fmt in ("atom", "rss", "json"):
            response = client.get(f"{scope}.{fmt}")
            assert response.status_code == 200, (scope, fmt)
            if fmt == "json":
                continue
            errors, warnings = validate(response.data)
            assert errors == [], (scope, fmt, errors)
            assert all(any(a in w for a in ALLOWED) for w in warnings), (scope, fmt, warnings)
