"""Authors of an imported feed entry: RSS ``<author>`` strings read from the raw value.

feedparser splits an RSS author such as ``sports@old.news.example (Sports Reporter)`` with a
pattern that allows top-level domains of two to four letters only, so ``.example`` and
``.online`` addresses came out as the name ``ple (Sports Reporter`` (issue 18). The raw
strings are read here instead, in the forms feeds use, and every result is checked against the
article's own rules (payload.py) before it is used.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from feedsvc.store import payload
from feedsvc.store.sanitize import plain_text

_DC_CREATOR = "{http://purl.org/dc/elements/1.1/}creator"
_ITUNES_AUTHOR = "{http://www.itunes.com/dtds/podcast-1.0.dtd}author"
_ATOM = "{http://www.w3.org/2005/Atom}"
_RSS1_ITEM = "{http://purl.org/rss/1.0/}item"
# "sports@news.example (Sports Reporter)", RSS 2.0's own example form
_ADDRESS_NAME = re.compile(r"(?P<email>[^\s()<>]+@[^\s()<>]+)\s*\((?P<name>.*)\)")
# "Sports Reporter <sports@news.example>", the e-mail form (RFC 5322 name-addr)
_NAME_ADDRESS = re.compile(r"(?P<name>[^<>]*?)\s*<(?P<email>[^<>]*)>")


def parse_author(raw: str) -> dict[str, str] | None:
    """A byline ``{name, email}`` from an author string, or None when it holds no name.

    Reads ``email (Name)``, ``Name <email>``, an address alone (which then is the name too) and
    a name alone. An e-mail is kept only when it is an address by payload's rule; otherwise
    the whole string is the name, as a reader would show it.
    """
    text = plain_text(raw)
    name, email = text, None
    match = _ADDRESS_NAME.fullmatch(text) or _NAME_ADDRESS.fullmatch(text)
    if match and payload.is_email(match["email"]):
        name, email = plain_text(match["name"]).strip('"') or match["email"], match["email"]
    elif payload.is_email(text):
        email = text
    name = name[:payload.MAX_NAME].strip()
    if not name:
        return None
    return {"name": name, "email": email} if email else {"name": name}


def raw_rss_authors(data: bytes) -> list[list[str | dict[str, str]]] | None:
    """Each RSS item's authors as written, in document order: the raw strings of ``<author>``,
    ``<dc:creator>`` and ``<itunes:author>`` (the elements feedparser reads as authors), and an
    ``<atom:author>``'s name, email and uri.

    None when the document is not well-formed XML (feedparser then read it loosely) or is not
    RSS; the caller falls back to feedparser's own reading. The standard library's parser
    resolves no external entities and limits entity expansion (expat 2.4).
    """
    try:
        root = ET.fromstring(data)
    except (ET.ParseError, ValueError):
        return None
    items = list(root.iter("item")) or list(root.iter(_RSS1_ITEM))
    found: list[list[str | dict[str, str]]] = []
    for item in items:
        authors: list[str | dict[str, str]] = []
        for child in item:
            if child.tag in ("author", _DC_CREATOR, _ITUNES_AUTHOR) and (child.text or "").strip():
                authors.append(child.text or "")
            elif child.tag == f"{_ATOM}author":
                authors.append({part: child.findtext(f"{_ATOM}{part}") or ""
                                for part in ("name", "email", "uri")})
        found.append(authors)
    return found


def entry_authors(entry: Any, raw: list[str | dict[str, str]] | None, *,
                  rss: bool) -> list[dict[str, str]]:
    """An entry's bylines: from the raw RSS strings when known, else from feedparser's details.

    feedparser's details are sound for Atom, whose authors are elements (name, email, uri);
    for an RSS entry read loosely, an author that feedparser split on an address is left out
    unless it is the last one, whose raw string feedparser keeps as ``author``.
    """
    if raw is not None:
        parsed = [parse_author(value) if isinstance(value, str) else _from_detail(value)
                  for value in raw]
        return _unique([b for b in parsed if b is not None])
    details = list(entry.get("authors") or [])
    bylines: list[dict[str, str] | None] = []
    for i, detail in enumerate(details):
        if rss and detail.get("email"):
            # Possibly split from a string: trust only the raw one feedparser kept.
            last = i == len(details) - 1 and isinstance(entry.get("author"), str)
            bylines.append(parse_author(entry["author"]) if last else None)
        else:
            bylines.append(_from_detail(detail))
    return _unique([b for b in bylines if b is not None])


def feed_authors(feed: Any) -> list[dict[str, str]]:
    """An Atom feed's own authors (RFC 4287 4.2.1: they apply to entries that have none)."""
    return _unique([b for b in map(_from_detail, feed.get("authors") or []) if b is not None])


def _from_detail(detail: Any) -> dict[str, str] | None:
    name = plain_text(str(detail.get("name") or ""))[:payload.MAX_NAME].strip()
    email = str(detail.get("email") or "").strip()
    email = email if payload.is_email(email) else ""
    url = payload.as_uri(str(detail.get("href") or detail.get("uri") or "").strip())
    if not name and not email:
        return None
    byline = {"name": name or email}
    if email:
        byline["email"] = email
    if url and len(url) <= payload.MAX_URL:
        byline["url"] = url
    return byline


def _unique(bylines: list[dict[str, str]]) -> list[dict[str, str]]:
    """The first byline of each name, at most MAX_AUTHORS of them."""
    seen: dict[str, dict[str, str]] = {}
    for byline in bylines:
        seen.setdefault(byline["name"], byline)
    return list(seen.values())[:payload.MAX_AUTHORS]
