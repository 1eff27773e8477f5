"""Conditional GET (RFC 9110 section 13): the pure decision between 200 and 304."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from email.utils import format_datetime, parsedate_to_datetime


def http_date(when: dt.datetime) -> str:
    """An IMF-fixdate (RFC 9110 5.6.7), whole seconds."""
    return format_datetime(when.astimezone(dt.UTC).replace(microsecond=0), usegmt=True)


def parse_http_date(text: str | None) -> dt.datetime | None:
    """The instant of an HTTP date, or None when it is absent or malformed (then ignored)."""
    if not text:
        return None
    try:
        when = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def _opaque(tag: str) -> str:
    """The opaque part of an entity-tag, for the weak comparison (RFC 9110 8.8.3.2)."""
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def none_match(header: str, etags: Iterable[str]) -> bool:
    """Whether If-None-Match matches any of ``etags`` (weak comparison; ``*`` matches any)."""
    wanted = {_opaque(tag) for tag in etags}
    listed = [_opaque(tag) for tag in header.split(",") if tag.strip()]
    return "*" in listed or any(tag in wanted for tag in listed)


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
