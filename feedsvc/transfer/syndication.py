"""RSS 2.0 and Atom feeds in: each entry, read by feedparser, as an import record."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import mimetypes
import pickle
import re
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_tz
from html import escape as html_escape
from html.parser import HTMLParser
from typing import IO, Any
from urllib.parse import quote, unquote, urljoin, urlsplit
from zoneinfo import ZoneInfo

from feedsvc.errors import FeedsvcError
from feedsvc.store import payload, timestamps
from feedsvc.store.sanitize import html_text, plain_text
from feedsvc.store.slugs import key_from_title
from feedsvc.store.timestamps import format_utc
from feedsvc.transfer import ahead, bylines, layout
from feedsvc.transfer.records import Failure, LeftOut, Record, skip_reason


@dataclass(frozen=True)
class Sections:
    """Where an entry's section comes from: ``--section-map`` (a category to a section, the
    first of the entry's categories found), else ``--section``, else the entry's first
    category, else the feed's title. With either option every category is a topic."""

    default: str | None = None
    by_category: Mapping[str, str] = field(default_factory=dict)  # casefolded category

    def choose(self, categories: list[str], feed_title: str) -> tuple[str, list[str]]:
        """The section and the topics of an entry with these categories."""
        for name in categories:
            mapped = self.by_category.get(name.casefold())
            if mapped is not None:
                return mapped, categories
        if self.default is not None:
            return self.default, categories
        return (categories[0], categories[1:]) if categories else (feed_title, [])


class FeedDocument:
    """An RSS or Atom document read as records, in two passes with memory flat in its size.

    ``scan`` lays the document out (layout.py) and ``read`` reads it a Part of a hundred
    entries at a time, each by feedparser and the raw readings as a whole document was (``_read_part``);
    the records go to a temporary file on disk, and only each id's entry updated last is
    remembered (an id is about 100 bytes). ``records`` then gives them back in document order,
    an entry whose id a later-updated entry shares left out and said so. A document that
    cannot be laid out (not well-formed, say) is read whole, as feedparser reads it loosely;
    so is one in a part of which feedparser finds other entries than the layout put there, or
    one whose parts are not all read alike (one loosely, say: the whole would be).
    The stream must be seekable; use it as a context manager, or ``close`` it.
    """

    def __init__(self, stream: IO[bytes], zone: ZoneInfo, *, sections: Sections | None = None,
                 authority: str = "localhost", entries: int = 100) -> None:
        self.stream, self.zone, self.sections, self.authority = stream, zone, sections, authority
        self.entries = entries  # entries a Part: ~45 KB each while feedparser reads them
        self._spool: IO[bytes] = tempfile.TemporaryFile()
        self._kept: dict[str, tuple[int, dt.datetime]] = {}  # id -> its entry's number, updated
        self._layout: layout.Layout | None = None

    def close(self) -> None:
        self._spool.close()

    def __enter__(self) -> FeedDocument:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def scan(self, progress: ahead.Progress | None = None) -> None:
        """Lay the document out (layout.layout), telling ``progress`` the bytes read."""
        self._layout = layout.layout(self.stream, progress)

    def read(self, progress: ahead.Progress | None = None) -> None:
        """The first pass: every entry read into a record on disk; ``progress`` told the
        bytes read. A part in which feedparser finds other entries than the layout put there
        (or no feed) is not what the whole document would give: it is then read whole."""
        told = [0]  # the bytes progress was told of

        def tell(end: int) -> None:
            if progress is not None and end > told[0]:
                progress.update(end - told[0])
            told[0] = max(told[0], end)

        found = self._layout
        if found is not None and self._read(
                layout.parts(self.stream, found, entries=self.entries), tell):
            return
        self._spool.seek(0)
        self._spool.truncate()
        self._kept.clear()
        self.stream.seek(0)
        data = self.stream.read()
        self._read([layout.Part(data, 1, len(data))], tell)

    def _read(self, parts: Iterable[layout.Part], tell: Callable[[int], None]) -> bool:
        """``parts`` read into the spool; False, and the rest not read, at a part whose
        entries feedparser does not find as the layout counted them, or which is read
        otherwise than the parts before (loosely, say, where they were not: the whole document
        would have been, every entry of it)."""
        done = 0
        first_how: tuple[bool, ...] | None = None  # how the first part was read
        for part in parts:
            items, how = _read_part(part.data, self.zone, self.sections or Sections(),
                                    self.authority, part.first)
            no_feed = bool(items) and isinstance(items[0], Failure) and items[0].number == 0
            first_how = how if first_how is None else first_how
            if part.entries is not None and (len(items) != part.entries or no_feed and part.entries
                                             or how != first_how):
                return False
            if no_feed:
                items = items[:1]  # no feed: said once, not for every part
            for index, item in enumerate(items, start=1):
                if isinstance(item, Record):
                    identity, updated = _identity(item), _updated(item)
                    held = self._kept.get(identity)
                    if held is None or updated > held[1]:
                        self._kept[identity] = (item.number, updated)
                share = part.end - done if index == len(items) else 0
                pickle.dump((share, item), self._spool, pickle.HIGHEST_PROTOCOL)
            tell(part.end)
            done = part.end
            if no_feed:
                break
        return True

    def records(self, progress: ahead.Progress | None = None) -> Iterator[Record | Failure | LeftOut]:
        """The second pass: each entry's record in document order; of entries with the same
        id only the one updated last (the first of them in the document on a tie: feeds list
        the newest first), the others left out."""
        self._spool.seek(0)
        while True:
            try:
                share, item = pickle.load(self._spool)
            except EOFError:
                return
            if progress is not None and share:
                progress.update(share)
            if isinstance(item, Record):
                number, updated = self._kept[_identity(item)]
                if number != item.number:
                    why = "updated later" if updated > _updated(item) else "first in the document"
                    yield LeftOut(item.number, f"the same id as entry {number} ({item.source}), "
                                               f"which is kept ({why})", "entry")
                    continue
            yield item


def records_from_feed(data: bytes, zone: ZoneInfo, *, sections: Sections | None = None,
                      authority: str = "localhost") -> Iterator[Record | Failure | LeftOut]:
    """Entries of an RSS or Atom document, read by feedparser, as records (FeedDocument)."""
    with FeedDocument(io.BytesIO(data), zone, sections=sections, authority=authority) as document:
        document.scan()
        document.read()
        yield from document.records()


def _read_part(data: bytes, zone: ZoneInfo, sections: Sections, authority: str,
               first: int) -> tuple[list[Record | Failure], tuple[bool, ...]]:
    """The entries of a document (a Part of a larger one, whose first entry is number
    ``first``), read by feedparser, as records; and how the document was read: whether
    feedparser read it loosely, and which raw readings it was read without (each a reading
    of the whole document: a Part read otherwise than the others is not read as the whole).

    The entry's own id is kept when it is an absolute URI, so readers that already know the
    old feed see no duplicates after a move to feedsvc; another id gets a tag URI made from it
    (see entry_uid). The key is derived from the link (or the title) and settled when it is
    written (records.settle_keys): plain unless another entry holds it, and the same on every
    run.
    """
    import feedparser

    parsed = feedparser.parse(data)
    if not parsed.entries and parsed.get("bozo"):
        return [Failure(0, f"not a feed: {parsed.get('bozo_exception')}", "document")], ()
    version = str(parsed.get("version") or "")
    if not version:  # well-formed, but HTML or some other XML
        return [Failure(0, "not an RSS or Atom feed (no <rss>, <feed> or <rdf:RDF> at its root)",
                        "document")], ()
    rss = not version.startswith("atom")
    feed_title = _text(parsed.feed, "title") or "News"
    root = bylines.read_raw(data) if rss else None
    raw = bylines.raw_rss_authors(root) if root is not None else None
    raw_items = raw.items if raw is not None else None
    languages = _item_languages(root) if root is not None else None
    if raw_items is not None and len(raw_items) != len(parsed.entries):
        # Not the items feedparser saw: its own reading, checked, instead
        raw_items = languages = None
    media = raw_media(data)
    if media is not None and len(media) != len(parsed.entries):
        media = None
    feed = _Feed(
        title=feed_title,
        # RFC 4287 4.2.1: an Atom entry without an author has the feed's. An RSS channel's own
        # <dc:creator>, <author>, <itunes:author> or <atom:author> are its writers, and given
        # to items without one; managingEditor names whoever answers for the channel's
        # content, not a byline: not inherited.
        authors=(bylines.from_raw(raw.channel) if raw is not None else []) if rss
        else bylines.feed_authors(parsed.feed),
        language=_language(parsed.feed.get("language")),
        zone=zone, rss=rss, sections=sections,
        namespace=_host(parsed.feed.get("link")) or authority, authority=authority,
        link=payload.as_uri(str(parsed.feed.get("link") or "").strip()))
    found: list[Record | Failure] = []
    for number, entry in enumerate(parsed.entries, start=first):
        try:
            # None where the raw reading found none: a recovered document may have hidden
            # them in a stray element ("<title>b<br></title><author>…"), where feedparser's
            # loose reading still sees them, and its reading is then checked instead.
            authors = raw_items[number - first] or None if raw_items is not None else None
            declared = languages[number - first] if languages is not None else None
            item: Record | Failure = _record_from_entry(
                number, entry, feed, authors, media[number - first] if media is not None else RawMedia(), declared)
        except Exception as exc:  # as for a line: one entry's error skips that entry alone
            item = Failure(number, skip_reason(exc), "entry")
        found.append(item)
    return found, (bool(parsed.get("bozo")), raw_items is None, languages is None, media is None)


def _identity(record: Record) -> str:
    """What makes two entries one article: the id it gets (two ids may give one, an IRI and
    its URI), else its source."""
    return record.uid or record.source or ""


def _updated(record: Record) -> dt.datetime:
    return record.fields.get("updated") or record.fields.get("published") or dt.datetime.min.replace(tzinfo=dt.UTC)


_MEDIA_DESCRIPTION = "{http://search.yahoo.com/mrss/}description"
_ATOM_ENTRY = "{http://www.w3.org/2005/Atom}entry"
_RSS1_ITEM = "{http://purl.org/rss/1.0/}item"
_ENCODED = "{http://purl.org/rss/1.0/modules/content/}encoded"


@dataclass(frozen=True)
class RawMedia:
    """What feedparser cannot tell of an item's Media RSS, read from the document itself.

    ``caption``: its first media:description, as plain text. feedparser has no place for it:
    it reads media:description as a description. One straight in the item (not inside a
    media:group or media:content) then takes the place of the summary, or of the body when it
    comes first; ``misread`` says so, and ``description`` and ``encoded`` are the item's own
    <description> and <content:encoded> (RSS), read instead.
    """

    caption: str | None = None
    misread: bool = False
    description: str | None = None
    encoded: str | None = None


def raw_media(data: bytes) -> list[RawMedia] | None:
    """Each item's (or Atom entry's) RawMedia, in document order; None when the document is
    not well-formed XML. The standard library's parser, as bylines.raw_rss_authors: no external
    entities, limited expansion."""
    try:
        root = ET.fromstring(data)
    except (ET.ParseError, ValueError):
        return None
    items = list(root.iter("item")) or list(root.iter(_ATOM_ENTRY)) or list(root.iter(_RSS1_ITEM))
    found: list[RawMedia] = []
    for item in items:
        caption = None
        for element in item.iter(_MEDIA_DESCRIPTION):
            text = element.text or ""
            # Media RSS 2.0: type "plain" (the default) or "html".
            text = html_text(text) if element.get("type") == "html" else plain_text(text)
            if text:
                caption = text
                break
        misread = item.tag == "item" and item.find(_MEDIA_DESCRIPTION) is not None
        found.append(RawMedia(caption, misread, item.findtext("description"), item.findtext(_ENCODED))
                     if misread else RawMedia(caption))
    return found


@dataclass(frozen=True)
class _Feed:
    """What an entry may take from its feed."""

    title: str
    authors: list[dict[str, str]]
    language: str | None
    zone: ZoneInfo
    rss: bool
    sections: Sections
    namespace: str  # the old site's host: whose guids they are
    authority: str
    link: str | None = None  # the old site: what a relative image URL is relative to


def _record_from_entry(number: int, entry: Any, feed: _Feed,
                       raw_authors: list[str | dict[str, str]] | None, media: RawMedia,
                       declared: str | None = None) -> Record:
    source_id = entry.get("id") or entry.get("link")
    if not source_id:
        raise FeedsvcError("the entry has neither an id nor a link")
    source_id = str(source_id).strip()
    title = _text(entry, "title") or "Untitled"
    link = entry.get("link") if str(entry.get("link", "")).lower().startswith(
        ("http://", "https://")) else None  # an Atom entry's urn: id stands in as its link
    section, topics = feed.sections.choose(_categories(entry), feed.title)
    # dict.get: feedparser's own get() maps a missing updated to published, with a warning.
    published = _instant(entry, "published", feed.zone)
    updated = _instant(entry, "updated", feed.zone)
    unreadable = [t for t in (published, updated) if t.problem is not None]
    if unreadable and published.when is None and updated.when is None:
        # No date left to stand in: the entry is skipped, with the reason, rather than given
        # the time of the import, which would show an old story as new to every reader.
        raise FeedsvcError(f"{unreadable[0].name}: {unreadable[0].problem}")
    first = published.when or updated.when
    last = updated.when or published.when
    if first and last and last < first:
        last = first
    content = _body(entry["content"][0]) if entry.get("content") else None
    summary = _text(entry, "summary") if entry.get("summary") else None
    if media.misread:  # feedparser took the caption for the summary or the body
        content = media.encoded or None
        summary = html_text(media.description) if media.description else None
        if content is None:
            content, summary = media.description, None
    elif content is None:
        content, summary = _body(entry.get("summary_detail") or {"value": entry.get("summary")}), None
    authors = bylines.entry_authors(entry, raw_authors, rss=feed.rss) or feed.authors
    image = _image(entry, media.caption, link or feed.link)
    if image is not None:
        # A feed of feedsvc's opens each body with the picture's figure: the figure is the
        # image's, not the article's (issue 17 review); its alt is the image's when the
        # Media RSS had none (feedsvc writes alt nowhere else).
        content, alt = without_figure(
            content, [image["url"], *(r["url"] for r in image["renditions"])])
        image["alt"] = image.get("alt") or (alt[:payload.MAX_ALT] if alt else None)
    data = {
        "title": title, "section": section, "topics": topics,
        "authors": authors,
        "summary": summary[:payload.MAX_SUMMARY] if summary else None,
        "content": content, "url": link, "image": image,
        "published": format_utc(first) if first else None,
        "updated": format_utc(last) if last else None,
        "language": _entry_language(entry, feed, declared),
    }
    fields = payload.parse(data, feed.zone, partial=False)
    uid = entry_uid(source_id, feed.namespace, feed.authority)
    return Record(number, plain_key(link, title), fields, uid, unit="entry", source=source_id,
                  offsetless=published.offsetless + updated.offsetless,
                  unreadable=len(unreadable), dateless=first is None)


def without_figure(content: str | None, files: Iterable[str]) -> tuple[str | None, str | None]:
    """``content`` without the figure feedsvc puts at its top (feeds/figure.py), and its alt.

    A feed of ours, imported again, carries its figure in every body; kept, it would become
    part of the article (stale after a caption edit, and hiding the page's own figure). Only
    a figure at the very top whose ``<img src>`` is one of the image's ``files`` goes.
    """
    match = _OUR_FIGURE.match(content or "")
    if content is None or match is None:
        return content, None
    reader = _ImgReader()
    reader.feed(match[1])
    reader.close()
    wanted = {payload.same_file(url) for url in files}
    if reader.src is None or payload.same_file(reader.src) not in wanted:
        return content, None
    return content[match.end():].lstrip() or None, reader.alt or None


# The figure feeds/figure.py writes, in whatever spelling a parser gave back (feedparser's
# sanitizer, lxml): an <img> and an optional <figcaption> of plain text, nothing else.
_OUR_FIGURE = re.compile(r"\s*<figure>\s*(<img\b[^>]*>)\s*(?:</img>\s*)?"
                         r"(?:<figcaption>[^<]*</figcaption>\s*)?</figure>", re.IGNORECASE)


class _ImgReader(HTMLParser):
    """The src and alt of one <img> tag, its entities decoded."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.src: str | None = None
        self.alt: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img" and self.src is None:
            found = dict(attrs)
            self.src, self.alt = found.get("src"), found.get("alt")

    handle_startendtag = handle_starttag


def entry_uid(source_id: str, namespace: str, authority: str) -> str:
    """The article id of an entry whose own id (or link) is ``source_id``.

    An absolute ASCII URI is kept as it is (payload.check_entry_id); an IRI becomes its URI,
    its other characters percent-encoded (RFC 3987 3.1). Any other id — an RSS guid such as
    "12345" with isPermaLink="false" — cannot be an Atom id or the guid of a feed the W3C
    validator accepts, so it becomes a tag URI (RFC 4151) made from the guid and the old
    site's host, ``tag:<authority>,2000:guid:<host>:<guid>``: the same on every run and in
    every database of the same authority, so a second import finds the same article, and
    readable as the guid it was. Too long for an id, its SHA-256 stands in for the guid.
    """
    for candidate in (source_id, _iri_to_uri(source_id)):
        try:
            return payload.check_entry_id(candidate)
        except ValueError:
            pass
    if len(namespace) > 60:  # a host may be 253 characters long
        namespace = f"sha256-{_digest(namespace)[:16]}"
    uid = f"tag:{authority},2000:guid:{namespace}:{quote(source_id, safe=_TAG_SAFE)}"
    if len(uid) > payload.MAX_ID:
        uid = f"tag:{authority},2000:guid:{namespace}:sha256-{_digest(source_id)}"
    return uid


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# RFC 4151 section 2.1: the specific part is pchar, "/" and "?"; everything else is escaped.
_TAG_SAFE = "-._~!$&'()*+,;=:@/?"


def _iri_to_uri(value: str) -> str:
    if not re.match(r"[A-Za-z][A-Za-z0-9+.-]*:\S", value) or any(
            ch.isspace() or not ch.isprintable() for ch in value):
        return value
    return "".join(ch if ch.isascii() else quote(ch, safe="") for ch in value)


def _host(link: Any) -> str | None:
    uri = payload.as_uri(str(link or "").strip())
    return urlsplit(uri).hostname if uri else None


def _categories(entry: Any) -> list[str]:
    """The entry's categories as display names: an Atom category's label, else its term (RFC
    4287 4.2.2.3: the label is for display); an RSS category's text, whatever its domain.
    Names that differ only in case are one, as written first ("Sport" and "sport" were two
    topics of the same slug, the section shown again as a topic)."""
    names: dict[str, str] = {}
    for tag in entry.get("tags", []):
        name = plain_text(str(tag.get("label") or tag.get("term") or ""))[:payload.MAX_NAME].strip()
        if name:
            names.setdefault(name.casefold(), name)
    return list(names.values())


def plain_key(link: str | None, title: str) -> str:
    """A readable key: the slug of the link's last path segment, else of the title.

    "https://old.example/news/first-story.html" -> "first-story". A page name that every
    article shares ("/floods-in-sylhet/index.html", "/article.php?id=42") gives way to the
    segment before it, else to the title, and so does a segment without a letter ("/12345",
    "/2022/06/18"): keys were "index" and "index-3f0a9c12". Other scripts are transliterated
    ("/%E0%A6%AC%E0%A6%A8%E0%A7%8D%E0%A6%AF%E0%A6%BE" is বন্যা, "bnya"), as every key is
    ASCII (slugs.KEY_PATTERN).
    """
    segments = [_PAGE_SUFFIX.sub("", unquote(s)) for s in urlsplit(link).path.split("/") if s] if link else []
    while segments and segments[-1].casefold() in _GENERIC_PAGES:
        segments.pop()
    last = segments[-1] if segments else ""
    # A title needs no letter of its own: "😀 😀" is "grinning-grinning", as the API derives it
    # (it was "entry", and every other such title "entry-" and a hash).
    for text in (last if any(ch.isalpha() for ch in last) else "", title):
        key = key_from_title(text) if text else ""
        if any(ch.isalpha() for ch in key):
            return key
    return "entry"


_PAGE_SUFFIX = re.compile(r"\.(html?|shtml|php\d?|aspx?|jsp|cfm)$", re.IGNORECASE)
# Last segments that name a kind of page, not the article ("/world/floods/amp")
_GENERIC_PAGES = {"index", "default", "home", "article", "articles", "story", "stories", "news",
                  "post", "posts", "view", "show", "detail", "details", "item", "page", "content",
                  "read", "print", "amp", "main"}


def _text(entry: Any, name: str) -> str:
    """A title or summary as plain text, whatever its type (issue 18).

    feedparser gives text/plain constructs decoded and HTML or XHTML ones as markup: those lose
    their tags and then their entities, so "42 points &amp;amp; up" is "42 points & up".
    """
    detail = entry.get(f"{name}_detail") or {}
    value = str(entry.get(name) or "")
    if detail.get("type") in ("text/html", "application/xhtml+xml"):
        return html_text(value)
    return plain_text(value)


def _body(detail: Any) -> str | None:
    """A content (or summary) construct as the body's HTML (RFC 4287 4.1.3.3).

    HTML and XHTML are markup; plain text and any other text or XML type are text, escaped
    (paragraphs at blank lines, lines kept): "1 &lt; 2 &lt;b&gt;" was stored as the markup
    "1 < 2 <b>", bold and cut. Any other type is base64 data (an image, a PDF), no body:
    feedparser decodes it, and its bytes became the article's text.
    """
    value = str(detail.get("value") or "")
    kind = str(detail.get("type") or "text/html").split(";", 1)[0].strip().lower()
    if kind in ("text/html", "html", "application/xhtml+xml", "xhtml"):
        return value or None
    if not (kind.startswith("text/") or kind in ("text", "application/xml") or kind.endswith("+xml")):
        return None
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", value) if p.strip()]
    return "".join("<p>" + "<br>".join(map(html_escape, p.splitlines())) + "</p>"
                   for p in paragraphs) or None


def _entry_language(entry: Any, feed: _Feed, declared: str | None) -> str | None:
    """The language in scope of the entry (xml:lang on its title, on it or on the feed), else
    an RSS channel's <language>. xml:lang="" says there is none (XML 1.0 section 2.12), and an
    entry that declares a bad tag gets none rather than the feed's. ``declared`` is the
    xml:lang in scope of an RSS item as written (feedparser gives None for "" and for none).
    An RSS item's own <dc:language> comes first: it names the item's language, where xml:lang
    is most often the whole document's (it was dropped, and the channel's <language> taken)."""
    if feed.rss and _language(entry.get("language")):
        return _language(entry.get("language"))
    language = (entry.get("title_detail") or {}).get("language")
    if language:
        return _language(language)
    if not feed.rss:  # feedparser gives an Atom title the language in scope: None is ""
        return None
    return _language(declared) if declared is not None else feed.language


_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _item_languages(root: Any) -> list[str | None]:
    """Each RSS item's xml:lang in scope (on it or an ancestor), "" included; None if none."""
    found: list[str | None] = []
    for element in bylines.rss_items(root):
        while element is not None and element.get(_XML_LANG) is None:
            element = element.getparent()
        found.append(element.get(_XML_LANG) if element is not None else None)
    return found


def _language(value: Any) -> str | None:
    """A language tag that payload accepts, else None: a bad tag costs the tag, not the entry.
    A locale name ("en_US", "bn_BD", as Java and PHP systems write <language>) is its tag
    ("en-US"); it was dropped."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not payload.is_language(value) and "_" in value and payload.is_language(value.replace("_", "-")):
        value = value.replace("_", "-")
    return value if payload.is_language(value) else None


@dataclass(frozen=True)
class _Instant:
    """An entry's ``published`` or ``updated`` as read: None when absent or unreadable."""

    name: str
    raw: str = ""
    when: dt.datetime | None = None
    offsetless: int = 0  # 1 when it was read in the import's zone
    problem: str | None = None  # why it could not be read

    def wall(self, wall: dt.datetime, zone: ZoneInfo) -> _Instant:
        """This instant as the wall time ``wall`` read in ``zone``, counted."""
        return _Instant(self.name, self.raw, timestamps.parse(wall.isoformat(), zone), 1)


def _instant(entry: Any, name: str, zone: ZoneInfo) -> _Instant:
    """An entry's ``published`` or ``updated`` instant, read from its raw string.

    feedparser normalises dates to UTC and forgets whether an offset was given, so a wall time
    was read as UTC (issue 18): the raw string is read here. RFC 3339 (Atom) goes through
    timestamps.parse, the rule of the API; RFC 822 (RSS) through email.utils, its wall time then
    through the same rule. A zone name RFC 822 does not define ("IST" is India's, Israel's or
    Ireland's; "BDT" is no standard one) gives no offset either: email.utils read it as UTC.
    Other shapes feedparser knows are taken as it read them, in the zone when they name none.
    A date that cannot be read or cannot exist has a ``problem``; the caller decides.
    """
    raw = dict.get(entry, name)
    if not isinstance(raw, str) or not raw.strip():
        return _Instant(name)
    raw = _normalised(raw.strip())
    instant = _Instant(name, raw)
    text = raw
    short = _W3CDTF_SHORT.fullmatch(raw)
    if short:  # W3CDTF (RFC 3339's profile that Atom 0.3 and dc:date use) to the minute or day
        text = f"{short['date']}T{short['time'] or '00:00'}:00{short['offset'] or ''}"
    try:
        if timestamps.is_rfc3339(text):
            return _Instant(name, raw, timestamps.parse(text, zone), int(timestamps.lacks_offset(text)))
        day = _RFC822_DAY.fullmatch(raw)
        if day:  # a date without a time ("Sun, 19 Jun 2022"): its midnight in the zone
            fields = parsedate_tz(f"{day['date']} 00:00:00")
            if fields is not None and fields[0] >= 1000:
                return instant.wall(dt.datetime(*fields[:6]), zone)
        zone_of = _RFC822_ZONE.search(raw)
        fields = parsedate_tz(raw[:zone_of.start("zone")] if zone_of and zone_of["zone"] else raw)
        if fields is not None and zone_of is not None and fields[0] >= 1000:
            wall = dt.datetime(*fields[:6])
            given = zone_of["zone"]
            numeric = _NUMERIC_ZONE.fullmatch(given or "")
            if numeric:  # +0600, and +06:00 as many feeds write it (email.utils reads that as UTC)
                sign = -1 if numeric["sign"] == "-" else 1
                if int(numeric["h"]) > 23 or int(numeric["m"]) > 59:  # Python's own words said timedelta
                    return _Instant(name, raw, problem=f"{raw[:100]}: {given} is no offset from UTC")
                offset = dt.timezone(sign * dt.timedelta(hours=int(numeric["h"]), minutes=int(numeric["m"])))
                return _Instant(name, raw, timestamps.parse(wall.replace(tzinfo=offset).isoformat(), zone))
            if given is not None and given.upper() in _RFC822_NAMES:  # -0000 is UTC (RFC 5322 3.3)
                named = parsedate_tz(f"{raw[:zone_of.start('zone')]} {given}")
                offset = dt.timezone(dt.timedelta(seconds=(named[9] if named else 0) or 0))
                return _Instant(name, raw, timestamps.parse(wall.replace(tzinfo=offset).isoformat(), zone))
            return instant.wall(wall, zone)  # no zone, or a name RFC 822 does not define
        parsed = _struct_time(dict.get(entry, f"{name}_parsed"))
        written = {int(n) for n in re.findall(r"\d+", raw)}
        if parsed is None or not {parsed.year, parsed.day} <= written:
            # feedparser's guess at "2022/06/18 20:17" (before _normalised read it) was
            # 1 November 2022: a date whose year or day is not written in it is no reading of it.
            return _Instant(name, raw, problem=f"{raw[:100]!r} is not a date feedsvc can read")
        if not _NAMES_ZONE.search(raw):  # feedparser took a wall time for UTC
            return instant.wall(parsed.replace(tzinfo=None), zone)
        return _Instant(name, raw, parsed)
    except ValueError as exc:
        said = str(exc) if raw[:19] in str(exc) else f"{raw[:100]}: {exc}"
        return _Instant(name, raw, problem=said)


def _normalised(raw: str) -> str:
    """A date as written, in the shapes the readers below know.

    Three spellings were read hours off, as the wall time of another instant: a comment after
    an RFC 822 zone ("+0600 (BDT)", RFC 5322 3.2.2), an ISO offset of hours alone
    ("2022-06-18T20:17:00+06"), and a 12-hour clock ("8:17:00 PM +0600" was 08:17). Three more
    were not read at all, and cost their entry: RFC 850's day ("Saturday, 18-Jun-22", the
    obsolete HTTP-date of RFC 9110 5.6.7), ISO 8601's basic format ("20220618T201700Z") and a
    date with slashes ("2022/06/18 20:17").
    """
    text = _COMMENT.sub("", raw) or raw
    text = _RFC850_DAY.sub(r"\g<d> \g<month> \g<year>", text)
    basic = _ISO_BASIC.fullmatch(text)
    if basic:
        zone = basic["zone"] or ""
        zone = f"{zone[:3]}:{zone[3:]}" if len(zone) == 5 else zone
        text = (f"{basic['y']}-{basic['m']}-{basic['d']}T{basic['H']}:{basic['M']}:"
                f"{basic['S'] or '00'}{basic['fraction'] or ''}{zone}")
    slashed = _SLASHED.match(text)
    if slashed:
        text = f"{slashed['y']}-{int(slashed['m']):02d}-{int(slashed['d']):02d}{text[slashed.end():]}"
    text = _HOURS_OFFSET.sub(r"\g<0>:00", text)
    clock = _TWELVE_HOURS.search(text)
    if clock and 1 <= int(clock["h"]) <= 12:
        hour = int(clock["h"]) % 12 + (12 if clock["half"].lower() == "p" else 0)
        text = f"{text[:clock.start()]}{hour:02d}:{clock['rest']}{text[clock.end():]}"
    return text


_COMMENT = re.compile(r"(?<=\S)\s*\([^()]*\)\s*$")
_RFC850_DAY = re.compile(r"\b(?P<d>\d{1,2})-(?P<month>[A-Za-z]{3})-(?P<year>\d{2}(?:\d{2})?)\b")
_ISO_BASIC = re.compile(r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})[Tt](?P<H>\d{2})(?P<M>\d{2})(?P<S>\d{2})?"
                        r"(?P<fraction>\.\d+)?(?P<zone>[Zz]|[+-]\d{2}(?::?\d{2})?)?")
_SLASHED = re.compile(r"(?P<y>\d{4})/(?P<m>\d{1,2})/(?P<d>\d{1,2})(?=$|[Tt ])")
_HOURS_OFFSET = re.compile(r"(?<=[Tt ]\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?[+-]\d{2}$")
_TWELVE_HOURS = re.compile(r"\b(?P<h>\d{1,2}):(?P<rest>\d{2}(?::\d{2})?)\s*(?P<half>[AaPp])\.?[Mm]\.?(?=\s|$)")
_W3CDTF_SHORT = re.compile(r"(?P<date>\d{4}-\d{2}-\d{2})(?:[Tt ](?P<time>\d{2}:\d{2})"
                           r"(?P<offset>[Zz]|[+-]\d{2}:\d{2})?)?")
# The end of an RFC 822 date (RFC 822 section 5.1, RFC 5322 3.3): the time, then the zone if any.
_RFC822_ZONE = re.compile(r"\d{1,2}:\d{2}(?::\d{2})?(?:\s+(?P<zone>[A-Za-z]+|[+-]\d{2}:?\d{2}))?\s*$")
_NUMERIC_ZONE = re.compile(r"(?P<sign>[+-])(?P<h>\d{2}):?(?P<m>\d{2})")
_RFC822_DAY = re.compile(r"(?P<date>(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{4})\s*")
_RFC822_NAMES = {"UT", "UTC", "GMT", "Z", "EST", "EDT", "CST", "CDT", "MST", "MDT", "PST", "PDT"}
# The end of a date in another shape that says its offset: numeric, "Z" or an RFC 822 name.
_NAMES_ZONE = re.compile(r"(?:[+-]\d{2}:?\d{2}|\dZ|\b(?:" + "|".join(sorted(_RFC822_NAMES)) + r"))\s*$",
                         re.IGNORECASE)


def _image(entry: Any, caption: str | None, base: str | None = None) -> dict[str, Any] | None:
    """The entry's lead image: the Media RSS content marked isDefault="true", else an image
    enclosure, else Media RSS content that is an image, else its Media RSS thumbnail, else
    the item's <itunes:image> (episode art; the first usable one, in document order). A
    relative URL ("/img/lead.jpg") is read against ``base``, the entry's link or else the
    site's (it cost the image). Every other usable image of the entry, content or
    thumbnail, is a rendition: feeds give one picture at
    several sizes this way (feedparser flattens media:group, so the pictures of one group
    cannot be told from another's). Widths and heights come from the Media RSS element of
    the same URL; the credit from the first media:credit, the caption from ``caption``.

    An enclosure or media:content without a type is an image when its URL's extension says so
    (``.jpg``, ``.webp``), and takes that type; one that declares another type is not.
    """
    candidates: list[tuple[Any, str | None, Any, Any, Any]] = []
    defaulted = False
    for link in entry.get("links", []):
        if link.get("rel") == "enclosure":
            stated = str(link.get("type") or "").strip()
            media_type = payload.image_type(stated or _guess_type(link.get("href")))
            if media_type is not None or _says_image(stated):
                candidates.append((link.get("href"), media_type, link.get("length"), None, None))
    for media in entry.get("media_content", []):
        stated = str(media.get("type") or "").strip()
        media_type = payload.image_type(stated or (None if media.get("medium") else _guess_type(media.get("url"))))
        if str(media.get("medium") or "").strip().lower() == "image" or media_type is not None or _says_image(stated):
            candidate = (media.get("url"), media_type, media.get("filesize"), media.get("width"),
                         media.get("height"))
            # Media RSS: the isDefault one of a group is "the default object": the lead.
            if not defaulted and str(media.get("isdefault", "")).strip().lower() == "true":
                candidates.insert(0, candidate)
                defaulted = True
            else:
                candidates.append(candidate)
    candidates += [(thumb.get("url"), None, None, thumb.get("width"), thumb.get("height"))
                   for thumb in entry.get("media_thumbnail", [])]
    art = entry.get("image")  # feedparser's name for an item's itunes:image
    if isinstance(art, Mapping) and art.get("href"):
        candidates.append((art.get("href"), _guess_type(art.get("href")), None, None, None))
    pictures: dict[str, dict[str, Any]] = {}
    for url, media_type, length, width, height in candidates:
        uri = payload.as_uri(_absolute(str(url or "").strip(), base))
        if uri is None or len(uri) > payload.MAX_URL:
            continue  # a relative or broken image link costs the image, not the entry
        # An enclosure's length and type are advisory (RSS 2.0 asks for them, "0" is the
        # RSS Advisory Board's "unknown"): a length that is no byte count ("²" raised a
        # ValueError, "99999999999" is past the column) or a type with parameters cost the
        # whole entry (issue 12). Unusable ones, and sizes that are no pixel count, are left out.
        media_type = str(media_type or "").split(";", 1)[0].strip()
        found = {"url": uri,
                 "type": media_type if re.fullmatch(payload.MEDIA_TYPE, media_type)
                 and len(media_type) <= payload.MAX_MEDIA_TYPE else None,
                 "width": _whole(width, payload.MAX_PIXELS, low=1),
                 "height": _whole(height, payload.MAX_PIXELS, low=1),
                 "length": _whole(length, payload.MAX_BYTES, low=1)}  # "0": unknown
        known = pictures.setdefault(uri, found)
        for name, value in found.items():  # the enclosure's type, the media:content's size
            if known[name] is None:
                known[name] = value
    if not pictures:
        return None
    lead, *renditions = pictures.values()
    credits = [plain_text(str(c.get("content") or "")) for c in entry.get("media_credit", [])]
    credit = next((c for c in credits if c), None)
    return lead | {
        "credit": credit[:payload.MAX_CREDIT] if credit else None,
        "caption": caption[:payload.MAX_CAPTION] if caption else None,
        "renditions": renditions[:payload.MAX_RENDITIONS]}


def _says_image(stated: str) -> bool:
    """Whether a declared type names a picture though it is no type to keep (``image/``): the
    file is still the entry's picture, kept without a type (payload.image_type decides the type)."""
    return stated.lower().startswith("image/")


def _absolute(url: str, base: str | None) -> str:
    """``url`` read against ``base`` when it is relative and there is one; else as it is."""
    if not url or base is None or re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", url):
        return url
    try:
        return urljoin(base, url)
    except ValueError:
        return url


def _whole(value: Any, high: int, *, low: int) -> int | None:
    text = str(value or "").strip()
    return int(text) if re.fullmatch(r"[0-9]{1,10}", text) and low <= int(text) <= high else None


@functools.cache
def _media_types() -> mimetypes.MimeTypes:
    """Python's own table of extensions (not the machine's /etc/mime.types, so the guess is the
    same everywhere), with WebP, which it lacks before Python 3.13."""
    types = mimetypes.MimeTypes()
    if types.guess_type("a.webp")[0] is None:
        types.add_type("image/webp", ".webp")
    return types


def _guess_type(url: Any) -> str | None:
    """The media type a URL's extension names (its path's: "?w=640" does not hide ".jpg")."""
    try:
        path = urlsplit(str(url or "")).path
    except ValueError:
        return None
    return _media_types().guess_type(path, strict=True)[0]


def _struct_time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    year, month, day, hour, minute, second = value[:6]
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)
