"""Conditional requests (RFC 9110 section 13): the pure decision between 200 and 304, and
If-Match's strict reading.

Dates and If-None-Match are werkzeug's (``http_date``, ``parse_date``, ``parse_etags``); what
stays ours is the range of dates a store can hold, the two-encoding ETag rule (a tag of either
encoding revalidates, ``not_modified``) and If-Match's grammar, read strictly: a write must not
go ahead on a header read loosely (werkzeug takes an unquoted ``v3`` for a tag).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Iterable, Iterator

from werkzeug.http import http_date, parse_date, parse_etags

from feedsvc.store import timestamps

__all__ = ["entity_tags", "http_date", "none_match", "not_modified", "parse_http_date"]

# An entity-tag list (RFC 9110 8.8.3, 5.6.1): empty elements allowed, "," may sit in a tag.
_ENTITY_TAG = re.compile(r'[ \t]*(?:(W/)?("[\x21\x23-\x7e\x80-\xff]*"))?[ \t]*(,|\Z)')


def entity_tags(header: str) -> Iterator[tuple[bool, str]]:
    """(weak?, opaque tag with its quotes) of each entity-tag in an If-Match or If-None-Match.

    A generator, so a megabyte of tags is read without being held. ValueError at the first
    thing that is not an entity-tag; ``*`` is for the caller to test first.
    """
    position = 0
    while True:
        item = _ENTITY_TAG.match(header, position)
        if item is None:
            raise ValueError("not a list of entity-tags")
        if item[2] is not None:
            yield item[1] is not None, item[2]
        if not item[3]:
            return
        position = item.end()


def parse_http_date(text: str | None) -> dt.datetime | None:
    """The instant of If-Modified-Since as aware UTC; None when absent, malformed or out of range.

    RFC 9110 13.1.3: a field that is not a valid HTTP-date is ignored. Years outside the
    range of any stored instant (1900-9000) are treated so too: "9999" would otherwise answer
    304 for ever, and a year-1 date with an offset overflowed Python's datetime.
    """
    if not text or len(text) > 64:  # an IMF-fixdate is 29 characters
        return None
    try:
        when = parse_date(text.strip())  # aware; "-0000" (no zone known) read as GMT
    except (IndexError, OverflowError):
        return None
    return when.astimezone(dt.UTC) if when is not None and timestamps.in_range(when) else None


def none_match(header: str, etags: Iterable[str]) -> bool:
    """Whether If-None-Match matches any of ``etags`` (weak comparison; ``*`` matches any).

    A tag that occurs nowhere in the header's text cannot match, so a megabyte of other tags
    costs one substring search per tag of ours, and only a header naming one is parsed.
    """
    if header.strip() == "*":
        return True
    wanted = {tag.removeprefix("W/") for tag in etags}
    if not any(tag in header for tag in wanted):
        return False
    named = parse_etags(header)
    return any(named.contains_weak(tag[1:-1]) for tag in wanted)


def not_modified(if_none_match: str | None, if_modified_since: str | None,
                 etags: Collection[str], last_modified: dt.datetime) -> bool:
    """True when a GET or HEAD should be answered 304 (RFC 9110 13.2.2, steps 3 and 4).

    If-None-Match decides alone when present; If-Modified-Since counts only without it, and a
    malformed date is ignored. ``etags`` are every tag that names this content (one per
    encoding), so a validator from either encoding revalidates.
    """
    if if_none_match is not None:
        return if_none_match in etags or none_match(if_none_match, etags)  # the usual: one tag, as sent
    since = parse_http_date(if_modified_since)
    return since is not None and last_modified.replace(microsecond=0) <= since
