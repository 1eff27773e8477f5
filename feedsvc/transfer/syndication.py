"""RSS 2.0 and Atom feeds in: each entry, read by feedparser, as an import record."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import parsedate_tz
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from feedsvc.errors import FeedsvcError
from feedsvc.store import payload, timestamps
from feedsvc.store.sanitize import html_text, plain_text
from feedsvc.store.slugs import key_from_title
from feedsvc.store.timestamps import format_utc
from feedsvc.transfer import bylines
from feedsvc.transfer.records import Failure, Record, skip_reason


def records_from_feed(data: bytes, zone: ZoneInfo) -> Iterator[Record | Failure]:
    """Entries of an RSS or Atom document, read by feedparser, as records.

    The entry's own id is kept when it is an absolute IRI, so readers that already know the old
    feed see no duplicates after a move to feedsvc. The key is derived from the link (or the
    title) and settled when it is written (records.settle_keys): plain unless another entry
    holds it, and the same on every run.
    """
    import feedparser

    parsed = feedparser.parse(data)
    if not parsed.entries and parsed.get("bozo"):
        yield Failure(0, f"not a feed: {parsed.get('bozo_exception')}", "document")
        return
    version = str(parsed.get("version") or "")
    if not version:  # well-formed, but HTML or some other XML
        yield Failure(0, "not an RSS or Atom feed (no <rss>, <feed> or <rdf:RDF> at its root)",
                      "document")
        return
    rss = not version.startswith("atom")
    feed_title = _text(parsed.feed, "title") or "News"
    raw_authors = bylines.raw_rss_authors(data) if rss else None
    if raw_authors is not None and len(raw_authors) != len(parsed.entries):
        raw_authors = None  # not the items feedparser saw: its own reading, checked, instead
    media = raw_media(data)
    if media is not None and len(media) != len(parsed.entries):
        media = None
    feed = _Feed(
        title=feed_title,
        # RFC 4287 4.2.1: an Atom entry without an author has the feed's. RSS's managingEditor
        # names whoever answers for the channel's content, not a byline: not inherited.
        authors=[] if rss else bylines.feed_authors(parsed.feed),
        language=_language(parsed.feed.get("language")),
        zone=zone, rss=rss)
    for number, entry in enumerate(parsed.entries, start=1):
        try:
            raw = raw_authors[number - 1] if raw_authors is not None else None
            item: Record | Failure = _record_from_entry(
                number, entry, feed, raw, media[number - 1] if media is not None else RawMedia())
        except Exception as exc:  # as for a line: one entry's error skips that entry alone
            item = Failure(number, skip_reason(exc), "entry")
        yield item


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


def _record_from_entry(number: int, entry: Any, feed: _Feed,
                       raw_authors: list[str | dict[str, str]] | None, media: RawMedia) -> Record:
    source_id = entry.get("id") or entry.get("link")
    if not source_id:
        raise FeedsvcError("the entry has neither an id nor a link")
    title = _text(entry, "title") or "Untitled"
    link = entry.get("link") if str(entry.get("link", "")).lower().startswith(
        ("http://", "https://")) else None  # an Atom entry's urn: id stands in as its link
    tags = [t.get("term") for t in entry.get("tags", []) if t.get("term")]
    offsetless = 0
    # dict.get: feedparser's own get() maps a missing updated to published, with a warning.
    published, missing = _instant(entry, "published", feed.zone)
    offsetless += missing
    updated, missing = _instant(entry, "updated", feed.zone)
    offsetless += missing
    published = published or updated
    updated = updated or published
    if published and updated and updated < published:
        updated = published
    content = entry["content"][0].get("value") if entry.get("content") else None
    summary = _text(entry, "summary") if entry.get("summary") else None
    if media.misread:  # feedparser took the caption for the summary or the body
        content = media.encoded or None
        summary = html_text(media.description) if media.description else None
        if content is None:
            content, summary = media.description, None
    elif content is None:
        content, summary = entry.get("summary"), None
    authors = bylines.entry_authors(entry, raw_authors, rss=feed.rss) or feed.authors
    data = {
        "title": title,
        "section": tags[0] if tags else feed.title, "topics": tags[1:],
        "authors": authors,
        "summary": summary[:payload.MAX_SUMMARY] if summary else None,
        "content": content, "url": link, "image": _image(entry, media.caption),
        "published": format_utc(published) if published else None,
        "updated": format_utc(updated) if updated else None,
        "language": _entry_language(entry, feed),
    }
    fields = payload.parse(data, feed.zone, partial=False)
    try:  # the entry's own id when it can be one of ours (see payload.check_entry_id)
        uid: str | None = payload.check_entry_id(source_id)
    except ValueError:
        uid = None
    return Record(number, plain_key(link, title), fields, uid, unit="entry", source=source_id,
                  offsetless=offsetless)


def plain_key(link: str | None, title: str) -> str:
    """A readable key: the slug of the link's last path segment, else of the title.

    "https://old.example/news/first-story.html" -> "first-story"; a link ending in "/" or
    "?p=12" has no segment, and the title "42 points & turnover rises" gives
    "42-points-turnover-rises". ASCII, as every key is (slugs.KEY_PATTERN).
    """
    last = unquote(urlsplit(link).path.rstrip("/").rsplit("/", 1)[-1]) if link else ""
    last = _PAGE_SUFFIX.sub("", last)
    for text in (last, title):
        if any(ch.isascii() and ch.isalnum() for ch in unicodedata.normalize("NFKD", text)):
            return key_from_title(text)
    return "entry"


_PAGE_SUFFIX = re.compile(r"\.(html?|shtml|php|aspx?|jsp)$", re.IGNORECASE)


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


def _entry_language(entry: Any, feed: _Feed) -> str | None:
    """The language in scope of the entry (xml:lang on it or on the feed), else the channel's
    (RSS <language>). An entry that declares a bad tag gets none rather than the feed's."""
    declared = (entry.get("title_detail") or {}).get("language")
    return _language(declared) if declared else feed.language


def _language(value: Any) -> str | None:
    """A language tag that payload accepts, else None: a bad tag costs the tag, not the entry."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if payload.is_language(value) else None


def _instant(entry: Any, name: str, zone: ZoneInfo) -> tuple[dt.datetime | None, int]:
    """An entry's ``published`` or ``updated`` instant, and 1 if it was read in ``zone``.

    feedparser normalises dates to UTC and forgets whether an offset was given, so a wall time
    was read as UTC (issue 18): the raw string is read here. RFC 3339 (Atom) goes through
    timestamps.parse, the rule of the API; RFC 822 (RSS) through email.utils, its wall time then
    through the same rule. Other shapes feedparser knows are taken as it read them.
    """
    raw = dict.get(entry, name)
    if not isinstance(raw, str) or not raw.strip():
        return None, 0
    raw = raw.strip()
    short = _W3CDTF_SHORT.fullmatch(raw)
    if short:  # W3CDTF (RFC 3339's profile that Atom 0.3 and dc:date use) to the minute or day
        raw = f"{short['date']}T{short['time'] or '00:00'}:00{short['offset'] or ''}"
    try:
        if timestamps.is_rfc3339(raw):
            return timestamps.parse(raw, zone), int(timestamps.lacks_offset(raw))
        day = _RFC822_DAY.fullmatch(raw)
        if day:  # a date without a time ("Sun, 19 Jun 2022"): its midnight in the zone
            fields = parsedate_tz(f"{day['date']} 00:00:00")
            if fields is not None and fields[0] >= 1000:
                return timestamps.parse(dt.datetime(*fields[:6]).isoformat(), zone), 1
        zone_of = _RFC822_ZONE.search(raw)
        fields = parsedate_tz(raw[:zone_of.start("zone")] if zone_of and zone_of["zone"] else raw)
        if fields is not None and zone_of is not None and fields[0] >= 1000:
            wall = dt.datetime(*fields[:6])
            given = zone_of["zone"]
            if given is None:
                return timestamps.parse(wall.isoformat(), zone), 1
            numeric = _NUMERIC_ZONE.fullmatch(given)
            if numeric:  # +0600, and +06:00 as many feeds write it (email.utils reads that as UTC)
                sign = -1 if numeric["sign"] == "-" else 1
                offset = dt.timezone(sign * dt.timedelta(hours=int(numeric["h"]), minutes=int(numeric["m"])))
                return timestamps.parse(wall.replace(tzinfo=offset).isoformat(), zone), 0
            if given.upper() in _RFC822_NAMES:  # -0000 is UTC (RFC 5322 3.3)
                named = parsedate_tz(f"{raw[:zone_of.start('zone')]} {given}")
                offset = dt.timezone(dt.timedelta(seconds=(named[9] if named else 0) or 0))
                return timestamps.parse(wall.replace(tzinfo=offset).isoformat(), zone), 0
            # Another zone name ("BDT"): email.utils reads it as UTC; feedparser knows more.
    except ValueError as exc:
        said = str(exc) if raw[:19] in str(exc) else f"{raw[:100]}: {exc}"
        raise FeedsvcError(f"{name}: {said}") from None
    return _struct_time(dict.get(entry, f"{name}_parsed")), 0


_W3CDTF_SHORT = re.compile(r"(?P<date>\d{4}-\d{2}-\d{2})(?:[Tt ](?P<time>\d{2}:\d{2})"
                           r"(?P<offset>[Zz]|[+-]\d{2}:\d{2})?)?")
# The end of an RFC 822 date (RFC 822 section 5.1, RFC 5322 3.3): the time, then the zone if any.
_RFC822_ZONE = re.compile(r"\d{1,2}:\d{2}(?::\d{2})?(?:\s+(?P<zone>[A-Za-z]+|[+-]\d{2}:?\d{2}))?\s*$")
_NUMERIC_ZONE = re.compile(r"(?P<sign>[+-])(?P<h>\d{2}):?(?P<m>\d{2})")
_RFC822_DAY = re.compile(r"(?P<date>(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{4})\s*")
_RFC822_NAMES = {"UT", "UTC", "GMT", "Z", "EST", "EDT", "CST", "CDT", "MST", "MDT", "PST", "PDT"}


def _image(entry: Any, caption: str | None) -> dict[str, Any] | None:
    """The entry's lead image: an image enclosure, else Media RSS content that is an image,
    else its Media RSS thumbnail (the first usable one, in document order). Every other usable
    image of the entry, content or thumbnail, is a rendition: feeds give one picture at
    several sizes this way (feedparser flattens media:group, so the pictures of one group
    cannot be told from another's). Widths and heights come from the Media RSS element of
    the same URL; the credit from the first media:credit, the caption from ``caption``."""
    candidates = [(link.get("href"), link.get("type"), link.get("length"), None, None)
                  for link in entry.get("links", [])
                  if link.get("rel") == "enclosure" and str(link.get("type", "")).startswith("image/")]
    candidates += [(media.get("url"), media.get("type"), media.get("filesize"), media.get("width"),
                    media.get("height"))
                   for media in entry.get("media_content", [])
                   if media.get("medium") == "image" or str(media.get("type", "")).startswith("image/")]
    candidates += [(thumb.get("url"), None, None, thumb.get("width"), thumb.get("height"))
                   for thumb in entry.get("media_thumbnail", [])]
    pictures: dict[str, dict[str, Any]] = {}
    for url, media_type, length, width, height in candidates:
        uri = payload.as_uri(str(url or "").strip())
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


def _whole(value: Any, high: int, *, low: int) -> int | None:
    text = str(value or "").strip()
    return int(text) if re.fullmatch(r"[0-9]{1,10}", text) and low <= int(text) <= high else None


def _struct_time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    year, month, day, hour, minute, second = value[:6]
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)
