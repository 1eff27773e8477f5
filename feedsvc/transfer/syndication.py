"""RSS 2.0 and Atom feeds in: each entry, read by feedparser, as an import record."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from feedsvc.errors import FeedsvcError
from feedsvc.store import payload
from feedsvc.store.sanitize import plain_text
from feedsvc.store.timestamps import format_utc
from feedsvc.transfer.records import Failure, Record, skip_reason


def records_from_feed(data: bytes, zone: ZoneInfo) -> Iterator[Record | Failure]:
    """Entries of an RSS or Atom document, read by feedparser, as records.

    The entry's own id is kept when it is an absolute IRI, so readers that already know the old
    feed see no duplicates after a move to feedsvc; the key is stable across runs.
    """
    import feedparser

    parsed = feedparser.parse(data)
    if not parsed.entries and parsed.get("bozo"):
        yield Failure(0, f"not a feed: {parsed.get('bozo_exception')}", "document")
        return
    if not parsed.get("version"):  # well-formed, but HTML or some other XML
        yield Failure(0, "not an RSS or Atom feed (no <rss>, <feed> or <rdf:RDF> at its root)",
                      "document")
        return
    feed_title = plain_text(parsed.feed.get("title", "")) or "News"
    for number, entry in enumerate(parsed.entries, start=1):
        try:
            item: Record | Failure = _record_from_entry(number, entry, feed_title, zone)
        except Exception as exc:  # as for a line: one entry's error skips that entry alone
            item = Failure(number, skip_reason(exc), "entry")
        yield item


def _record_from_entry(number: int, entry: Any, feed_title: str, zone: ZoneInfo) -> Record:
    source_id = entry.get("id") or entry.get("link")
    if not source_id:
        raise FeedsvcError("the entry has neither an id nor a link")
    last = urlsplit(entry.get("link") or source_id).path.rstrip("/").rsplit("/", 1)[-1]
    stem = re.sub(r"[^A-Za-z0-9._~-]+", "-", last).strip("-.")[:120] or "entry"
    key = f"{stem}-{hashlib.sha256(source_id.encode()).hexdigest()[:10]}"
    tags = [t.get("term") for t in entry.get("tags", []) if t.get("term")]
    # dict.get: feedparser's own get() maps a missing updated to published, with a warning.
    published = _struct_time(dict.get(entry, "published_parsed")
                             or dict.get(entry, "updated_parsed"))
    updated = _struct_time(dict.get(entry, "updated_parsed")) or published
    if published and updated and updated < published:
        updated = published
    content = entry["content"][0].get("value") if entry.get("content") else None
    summary = entry.get("summary")
    if content is None:
        content, summary = summary, None
    image = None
    for link in entry.get("links", []):
        if link.get("rel") == "enclosure" and str(link.get("type", "")).startswith("image/"):
            # An enclosure's length and type are advisory (RSS 2.0 asks for them, "0" is the
            # RSS Advisory Board's "unknown"): a length that is no byte count ("²" raised a
            # ValueError, "99999999999" is past the column) or a type with parameters cost the
            # whole entry (issue 12). Unusable ones are left out instead.
            length = str(link.get("length") or "").strip()
            media_type = str(link.get("type")).split(";", 1)[0].strip()
            image = {"url": link.get("href"),
                     "type": media_type if re.fullmatch(payload.MEDIA_TYPE, media_type)
                     and len(media_type) <= payload.MAX_MEDIA_TYPE else None,
                     "length": int(length) if re.fullmatch(r"[0-9]{1,10}", length)
                     and int(length) <= payload.MAX_BYTES else None}
            break
    data = {
        "key": key, "title": entry.get("title") or "Untitled",
        "section": tags[0] if tags else feed_title, "topics": tags[1:],
        "authors": [{"name": a["name"]} for a in entry.get("authors", []) if a.get("name")],
        "summary": plain_text(re.sub(r"<[^>]*>", " ", summary)) if summary else None,
        "content": content, "url": entry.get("link"), "image": image,
        "published": format_utc(published) if published else None,
        "updated": format_utc(updated) if updated else None,
        "language": None,
    }
    fields = payload.parse(data, zone, partial=False)
    try:  # the entry's own id when it can be one of ours (see payload.check_entry_id)
        uid: str | None = payload.check_entry_id(source_id)
    except ValueError:
        uid = None
    return Record(number, key, fields, uid, unit="entry")


def _struct_time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    year, month, day, hour, minute, second = value[:6]
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)
