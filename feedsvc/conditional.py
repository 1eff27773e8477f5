"""Conditional GET (RFC 9110 section 13): the pure decision between 200 and 304."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from email.utils import format_datetime

from .params import entity_tags, parse_http_date


def http_date(when: dt.datetime) -> str:
    """An IMF-fixdate (RFC 9110 5.6.7), whole seconds."""
    return format_datetime(when.astimezone(dt.UTC).replace(microsecond=0), usegmt=True)


def none_match(header: str, etags: Iterable[str]) -> bool:
    """Whether If-None-Match matches any of ``etags`` (weak comparison; ``*`` matches any).

    A header that is not a list of entity-tags matches nothing: the client gets the full
    answer, which is always safe for a GET. A tag that occurs nowhere in the header's text
    cannot match, so a megabyte of other tags costs one substring search per tag of ours.
    """
    if header.strip() == "*":
        return True
    wanted = {tag.removeprefix("W/") for tag in etags}
    if not any(tag in header for tag in wanted):
        return False
    try:
        return sum(tag in wanted for _, tag in entity_tags(header)) > 0
    except ValueError:
        return False


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
