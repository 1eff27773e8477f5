"""A large RSS or Atom file read a part at a time (issue 18: "large files streamed with flat
memory"): what each entry becomes is what it became when the whole document was read at once.

The document is laid out by byte ranges (transfer/layout.py) and each part is a small document
of the original bytes; a part's reading is compared with the whole document's, entry for
entry, over documents that move every feed-level thing an entry takes from its feed (language,
authors, xml:base, entities, namespaces) around the entries.
"""

from __future__ import annotations

import io
from contextlib import nullcontext
from pathlib import Path
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st
from test_import_syndication import exported, item, load, rss

from feedsvc.transfer import layout, syndication
from feedsvc.transfer.records import Failure, LeftOut, Record

ZONE = ZoneInfo("Asia/Dhaka")

RSS_ITEMS = [
    item(1, "<author>sports@old.news.example (Sports Reporter)</author>"),
    item(2, "<dc:creator>Rahim Uddin and Ayesha Rahman</dc:creator><category>World</category>"
            "<category>Dhaka</category>"),
    item(3, "<description><![CDATA[<p>Body &amp; <b>soul</b></p>]]></description>"),
    item(4, "<content:encoded>&lt;p&gt;Encoded&lt;/p&gt;</content:encoded>"
            "<description>A summary</description>"),
    item(5, '<enclosure url="https://old.news.example/a.jpg" type="image/jpeg" length="10"/>'),
    item(6, '<media:content url="/img/b.png" medium="image" width="600" height="400">'
            '<media:description type="html">A &lt;b&gt;caption&lt;/b&gt;</media:description>'
            "</media:content>"),
    item(7, '<media:description>Straight in the item</media:description>'
            "<description>Its own summary</description>"),
    item(8, "<title>&story; of the day</title>"),  # an entity of the internal DTD subset
    item(9, date="2022-06-18 20:17"),  # a time without an offset, read in the zone
    item(10, "<dc:language>fr</dc:language>"),
    '<title>No link</title><guid isPermaLink="false">12345</guid>',
    item(2, "<description>The same guid, updated later</description>",
         date="Sun, 19 Jun 2022 08:00:00 +0000"),
    item(12, "<author>z@desk.online (Zed)</author>", date="Mon, 30 Feb 2022 10:00:00 +0000"),
    "<title>Neither id nor link</title>",
]
CHANNEL = [
    "<title>Old News</title>", "<link>https://old.news.example/</link>",
    "<description>d</description>", "<language>bn-BD</language>",
    "<dc:creator>Desk Writer</dc:creator>",
    "<managingEditor>editor@old.news.example (Managing Editor)</managingEditor>",
    "<image><url>https://old.news.example/logo.png</url><title>Old</title>"
    "<link>https://old.news.example/</link></image>",
]
NAMESPACES = ('xmlns:dc="http://purl.org/dc/elements/1.1/" '
              'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
              'xmlns:media="http://search.yahoo.com/mrss/"')


def read(document: bytes, *, entries: int, whole: bool = False) -> list[Record | Failure | LeftOut]:
    """What the importer makes of ``document``: in parts of ``entries``, or read whole."""
    with mock.patch.object(layout, "layout", return_value=None) if whole else nullcontext():
        with syndication.FeedDocument(io.BytesIO(document), ZONE, entries=entries) as feed:
            feed.scan()
            feed.read()
            return list(feed.records())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(range(len(RSS_ITEMS))), min_size=1, max_size=12),
       st.lists(st.sampled_from(range(len(CHANNEL))), unique=True), st.data(),
       st.integers(1, 4), st.sampled_from(["", ' xml:lang="en-GB"']))
def test_an_rss_feed_in_parts_reads_as_it_does_whole(chosen: list[int], channel: list[int],
                                                     data: st.DataObject, entries: int,
                                                     lang: str) -> None:
    # The channel's own elements before, between and after the items, as feeds write them.
    places = data.draw(st.lists(st.integers(0, len(chosen)), min_size=len(channel),
                                max_size=len(channel)))
    body = [f"<item>{RSS_ITEMS[i]}</item>\n" for i in chosen]
    for element, place in sorted(zip(channel, places, strict=True), key=lambda p: -p[1]):
        body.insert(place, CHANNEL[element])
    document = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<!DOCTYPE rss [<!ENTITY story "The story">]>\n'
        f'<rss version="2.0" {NAMESPACES}><channel{lang}>{"".join(body)}</channel></rss>\n'
    ).encode()
    whole = read(document, entries=entries, whole=True)
    assert read(document, entries=entries) == whole
    assert [i.number for i in whole] == list(range(1, len(chosen) + 1))


ATOM_ENTRIES = [
    '<entry><id>https://wire.example/1</id><title type="html">A &amp;amp; B</title>'
    '<link href="news/one"/><updated>2022-06-18T20:17:00Z</updated></entry>',
    '<entry xml:lang="bn"><id>https://wire.example/2</id><title>Two</title>'
    '<link href="https://wire.example/news/two"/><updated>2022-06-18T20:17:00+06:00</updated>'
    "<author><name>E2</name><email>e2@news.online</email></author>"
    '<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>X</p></div></content>'
    "</entry>",
    '<entry><id>urn:uuid:3</id><title>Three</title><updated>2022-06-18T20:17</updated>'
    '<summary type="html">&lt;p&gt;Short&lt;/p&gt;</summary></entry>',
    '<atom:entry xmlns:atom="http://www.w3.org/2005/Atom"><atom:id>https://wire.example/1'
    '</atom:id><atom:title>One, again</atom:title><atom:updated>2023-01-01T00:00:00Z'
    "</atom:updated></atom:entry>",
]
ATOM_FEED = ["<title>Wire</title>", "<id>urn:uuid:feed</id>",
             "<updated>2022-06-18T20:17:00Z</updated>",
             "<author><name>Wire Desk</name></author>", '<link href="https://wire.example/"/>']


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(range(len(ATOM_ENTRIES))), min_size=1, max_size=8),
       st.lists(st.sampled_from(range(len(ATOM_FEED))), unique=True), st.data(), st.integers(1, 3))
def test_an_atom_feed_in_parts_reads_as_it_does_whole(chosen: list[int], feed: list[int],
                                                      data: st.DataObject, entries: int) -> None:
    places = data.draw(st.lists(st.integers(0, len(chosen)), min_size=len(feed), max_size=len(feed)))
    body = [ATOM_ENTRIES[i] + "\n" for i in chosen]
    for element, place in sorted(zip(feed, places, strict=True), key=lambda p: -p[1]):
        body.insert(place, ATOM_FEED[element])
    document = ('<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://wire.example/" '
                f'xml:lang="en">{"".join(body)}</feed>').encode("iso-8859-1")
    document = b'<?xml version="1.0" encoding="iso-8859-1"?>' + document
    assert read(document, entries=entries) == read(document, entries=entries, whole=True)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(range(len(RSS_ITEMS))), min_size=1, max_size=6),
       st.integers(1, 200))
def test_the_layout_is_the_same_however_the_bytes_arrive(chosen: list[int], piece: int) -> None:
    """expat is fed a piece at a time; a tag across two pieces is found whole."""
    document = rss(*(RSS_ITEMS[i] for i in chosen)).replace(
        "<rss ", '<!DOCTYPE rss [<!ENTITY story "The story">]>\n'
                 '<rss a=">" b=\'/>\' xmlns:media="http://search.yahoo.com/mrss/" ').encode()
    expected = layout.layout(io.BytesIO(document))
    assert expected is not None
    with mock.patch.object(layout, "_PIECE", piece):
        assert layout.layout(io.BytesIO(document)) == expected
    for start, end in expected.entries:
        assert document[start:end].startswith(b"<item>") and document[start:end].endswith(b"</item>")


def test_empty_items_and_tags_spelled_loosely_are_laid_out() -> None:
    document = (b'<rss version="2.0"><channel ><title>T</title><item/><item x=\'>\'>'
                b'<title>b</title></item\n><item ><title>c</title></item></channel ></rss >')
    found = layout.layout(io.BytesIO(document))
    assert found is not None
    assert [document[s:e] for s, e in found.entries] == [
        b"<item/>", b"<item x='>'><title>b</title></item\n>", b"<item ><title>c</title></item>"]
    assert [document[s:e] for s, e in found.closing] == [b"</channel >", b"</rss >"]


def test_documents_that_are_read_whole() -> None:
    """Not well-formed, UTF-16, no feed at the root, no channel, an item out of place, a tag
    longer than the scan keeps."""
    for document in [
        b"<rss><channel><item><title>a<br></title></item></channel></rss>",
        '<rss><channel><item/></channel></rss>'.encode("utf-16"),
        b"<html><body><item/></body></html>",
        b"<rss><channel/></rss>",
        b"<rss><channel><item/></channel><item/></rss>",
        b"<rss><channel><image><item/></image></channel></rss>",
        b"<rss><channel></channel><channel><item/></channel></rss>",
    ]:
        assert layout.layout(io.BytesIO(document)) is None, document
    longer = b'<rss a="' + b"x" * 70_000 + b'"><channel><item/></channel></rss>'
    assert layout.layout(io.BytesIO(longer)) is not None  # in one piece: found
    with mock.patch.object(layout, "_PIECE", 4096):
        assert layout.layout(io.BytesIO(longer)) is None


def test_a_large_feed_imports_in_parts_with_the_documents_numbers(app: Flask, tmp_path: Path) -> None:
    """Three parts of a hundred entries: the entry numbers said, the id kept across parts
    and the channel's language given after its items are the whole document's."""
    items = [item(n) for n in range(1, 251)]
    items[4] = item(5, date="Sat, 18 Jun 2022 20:17:00 +0000")
    items.append(item(5, "<description>corrected</description>").replace(
        "Story 5", "Story 5, corrected").replace("20:17:00", "23:00:00"))  # entry 251
    items[219] = item(220, date="Mon, 30 Feb 2022 10:00:00 +0000")  # cannot exist: skipped
    document = rss(*items).replace("<language>bn-BD</language>\n", "").replace(
        "</channel>", "<language>fr</language></channel>")
    result = load(app, tmp_path, document)
    assert result.exit_code == 1, result.output  # one entry failed
    assert "imported 249 article(s)" in result.output, result.output
    assert ("entry 5: left out: the same id as entry 251 (https://old.news.example/?p=5), which "
            "is kept (updated later)") in result.output
    assert "entry 220: skipped:" in result.output
    stored = {r["title"]: r for r in exported(app)}
    assert len(stored) == 249 and "Story 5, corrected" in stored and "Story 5" not in stored
    assert {r["language"] for r in stored.values()} == {"fr"}
    again = load(app, tmp_path, document)
    assert "0 created, 0 updated, 249 unchanged" in again.output, again.output


def test_a_feed_from_standard_input_is_read_in_parts(app: Flask, tmp_path: Path) -> None:
    document = rss(*(item(n) for n in range(1, 151)))
    result = app.test_cli_runner().invoke(args=["import", "--quiet", "-"], input=document.encode())
    assert result.exit_code == 0, result.output
    assert "imported 150 article(s)" in result.output
    assert len(exported(app)) == 150


def parts_read(monkeypatch: Any, document: bytes) -> list[bytes]:
    seen: list[bytes] = []
    real = syndication._read_part

    def spy(data: bytes, *args: Any) -> Any:
        seen.append(data)
        return real(data, *args)

    monkeypatch.setattr(syndication, "_read_part", spy)
    with syndication.FeedDocument(io.BytesIO(document), ZONE) as feed:
        feed.scan()
        feed.read()
        list(feed.records())
    return seen


def test_no_part_holds_more_than_a_hundred_entries(monkeypatch: Any) -> None:
    """What keeps memory flat: feedparser never sees more than a part (bench/import --rss
    measures the memory itself)."""
    document = rss(*(item(n) for n in range(1, 251))).encode()
    seen = parts_read(monkeypatch, document)
    assert [part.count(b"<item>") for part in seen] == [100, 100, 50]
    assert all(part.startswith(b'<?xml version="1.0" encoding="utf-8"?>\n<rss') for part in seen)


PLAIN = ('<rss version="2.0"><channel><title>C</title><link>https://x.example/</link>{}'
         "</channel></rss>")


def plain_item(n: int, extra: str = "", tag: str = "item") -> str:
    return (f"<{tag}><title>T{n}</title><link>https://x.example/{n}</link>"
            f"<guid>https://x.example/{n}</guid><pubDate>Sat, 18 Jun 2022 20:17:00 +0000</pubDate>"
            f"{extra}</{tag.split()[0]}>")


def test_what_feedparser_takes_for_an_entry_is_one_in_parts_too() -> None:
    """feedparser takes <entry>, <Item> and an <item> at any depth for an entry, and a
    prefixed <x:item> of another namespace for none: a part's entries are still the
    document's, numbered as whole, never one repeated in every part."""
    atom = ('<feed xmlns="http://www.w3.org/2005/Atom"><title>F</title>{}</feed>')

    def entry(n: int) -> str:
        return (f"<entry><id>https://a.example/{n}</id><title>E{n}</title>"
                f"<updated>2022-01-01T00:00:00Z</updated></entry>")

    for document in [
        PLAIN.format(plain_item(1) + plain_item(5, tag="entry") + plain_item(2) + plain_item(3)),
        PLAIN.format(plain_item(1) + plain_item(5, tag="Item") + plain_item(2) + plain_item(3)),
        PLAIN.format(plain_item(1, f"<foo>{plain_item(5)}</foo>") + plain_item(2) + plain_item(3)),
        PLAIN.format(plain_item(1) + plain_item(5, tag='x:item xmlns:x="urn:x"') + plain_item(2)
                     + plain_item(3)),
        atom.format(entry(1) + "<item><id>https://a.example/i</id><title>I</title></item>"
                    + entry(2) + entry(3)),
    ]:
        whole = read(document.encode(), entries=1, whole=True)
        assert read(document.encode(), entries=1) == whole, document
        assert len({i.number for i in whole}) == len(whole)


def test_a_feed_element_given_again_after_entries_is_read_as_whole() -> None:
    """feedparser keeps a feed's first title, but takes one given after an entry instead: a
    part, which has the feed's elements before its entries, has the whole document's (the
    feed's title is the entries' section)."""
    for late in ["<title>Later</title>", '<dc:title xmlns:dc="http://purl.org/dc/elements/1.1/">'
                 "Later</dc:title>"]:
        document = PLAIN.format(plain_item(1) + late + plain_item(2)).encode()
        whole = read(document, entries=1, whole=True)
        assert {r.fields["section"] for r in whole if isinstance(r, Record)} == {"Later"}
        assert read(document, entries=1) == whole


def test_a_prefix_bound_twice_or_used_unbound_is_read_as_whole() -> None:
    """feedparser remembers a prefix bound to a namespace it knows for the rest of the document,
    past the element that binds it (``a`` for Dublin Core makes a later ``a:creator`` of
    another namespace a byline): in a part, which has not the entries before and has the
    feed's elements first, the entries read otherwise."""
    dc = 'xmlns:a="http://purl.org/dc/elements/1.1/"'
    for document in [
        PLAIN.format(plain_item(1, f"<a:creator {dc}>Ann</a:creator>")
                     + plain_item(2, '<a:creator xmlns:a="urn:other">Not a byline</a:creator>')),
        PLAIN.format(plain_item(1, '<a:creator xmlns:a="urn:other">Not a byline</a:creator>')
                     + f"<a:rights {dc}>r</a:rights>" + plain_item(2)),
        PLAIN.format(plain_item(1, f"<a:creator {dc}>Ann</a:creator>")
                     + plain_item(2, "<a:creator>Bob</a:creator>")),  # unbound: not well-formed
    ]:
        whole = read(document.encode(), entries=1, whole=True)
        assert read(document.encode(), entries=1) == whole, document


def test_an_entry_that_makes_feedparser_read_loosely_makes_it_read_the_whole_loosely() -> None:
    """An RSS 0.91 feed's Netscape DTD is not read, so &eacute; is no entity to feedparser or
    ElementTree: the whole document is read loosely (an id keeps its "&amp;") and without its
    Media RSS; a part without that entry was read strictly, its entries otherwise."""
    netscape = ('<?xml version="1.0" encoding="ISO-8859-1"?>\n<!DOCTYPE rss PUBLIC '
                '"-//Netscape Communications//DTD RSS 0.91//EN" '
                '"http://my.netscape.com/publish/formats/rss-0.91.dtd">\n'
                '<rss version="0.91" xmlns:media="http://search.yahoo.com/mrss/"><channel>'
                "<title>C</title><link>https://x.example/</link>{}</channel></rss>")
    for second in [
        plain_item(2).replace("https://x.example/2", "https://x.example/?a=2&amp;b=3"),
        plain_item(2, '<media:group><media:content url="https://x.example/g.jpg" medium="image"/>'
                      "<media:description>G</media:description></media:group>"),
    ]:
        document = netscape.format(plain_item(1, "<description>caf&eacute;</description>")
                                   + second).encode("iso-8859-1")
        assert read(document, entries=1) == read(document, entries=1, whole=True), second
