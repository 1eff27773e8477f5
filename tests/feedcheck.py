"""Reading feeds the way clients do: feedparser for Atom and RSS, json for JSON Feed."""

from __future__ import annotations

import calendar
import datetime as dt
import json
from typing import Any

import feedparser
from lxml import etree

FORMATS = ("atom", "rss", "json")
ATOM_NS = "{http://www.w3.org/2005/Atom}"


def instant(value: Any) -> dt.datetime:
    """A feedparser struct_time or an RFC 3339 string as an aware UTC datetime."""
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(dt.UTC)
    return dt.datetime.fromtimestamp(calendar.timegm(value), dt.UTC)


def read(body: bytes, fmt: str) -> list[dict[str, Any]]:
    """Entries as (id, title, published, updated, link), checking the document is well formed."""
    if fmt == "json":
        document = json.loads(body)
        assert document["version"] == "https://jsonfeed.org/version/1.1"
        return [{"id": item["id"], "title": item["title"],
                 "published": instant(item["date_published"]),
                 "updated": instant(item["date_modified"]), "link": item["url"]}
                for item in document["items"]]
    etree.fromstring(body)  # well-formed XML, or this raises
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    return [{"id": entry.id, "title": entry.title,
             "published": instant(entry.published_parsed),
             "updated": instant(dict.get(entry, "updated_parsed")), "link": entry.link}
            for entry in parsed.entries]


def next_link(body: bytes, fmt: str) -> str | None:
    if fmt == "json":
        return json.loads(body).get("next_url")  # type: ignore[no-any-return]
    for link in feedparser.parse(body).feed.get("links", []):
        if link.get("rel") == "next":
            return link["href"]  # type: ignore[no-any-return]
    return None
