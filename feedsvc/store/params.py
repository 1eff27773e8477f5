"""Public query parameters: one parser for each kind.

The feeds, the pages and the API listing read every parameter through this module, so a rule
such as "limit is 1 to N in ASCII digits" is written once, and a wrong value is a 400 problem
that names the parameter (an RFC 9457 ``errors`` member ``{"parameter": "limit", "in":
"query", "detail": ...}``), never a 500. Unknown parameters are ignored (readers append
tracking parameters); a known one given twice or empty is refused, as nothing says which
value was meant.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import typing
import unicodedata
from dataclasses import dataclass

from werkzeug.datastructures import MultiDict

from feedsvc.errors import BadRequest
from feedsvc.store import timestamps, visibility
from feedsvc.store.payload import MAX_NAME, MAX_SLUG
from feedsvc.store.scopes import KINDS
from feedsvc.store.slugs import KEY_PATTERN

MAX_LISTING = 200  # the most articles one API page or HTML page holds (config, OpenAPI follow)
ORDERS = ("published", "updated")
STATUSES: tuple[visibility.Status, ...] = typing.get_args(visibility.Status)
SCOPE_FILTERS = tuple(kind.noun for kind in KINDS.values())  # the API listing's filters, each a slug
MAX_CURSOR = 512  # characters; the longest one given out (a 200-character key) is about 330
_DIGITS = re.compile(r"[0-9]{1,9}")  # ASCII only: "²" and "٣" are digits to str.isdigit()


def problem(name: str, detail: str, where: str = "query") -> BadRequest:
    """The 400 for parameter ``name`` (or a header, ``where="header"``), named in ``errors``."""
    return BadRequest(f"{name} {detail}.", [{"parameter": name, "in": where, "detail": detail}])


def one(args: MultiDict[str, str], name: str) -> str | None:
    """The single non-empty value of ``name``, or None when it is absent."""
    values = args.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        raise problem(name, "must be given at most once")
    if not values[0]:
        raise problem(name, "must not be empty")
    return values[0]


def limit(args: MultiDict[str, str], *, default: int, maximum: int) -> int:
    """``?limit=``: a whole number from 1 to ``maximum`` in ASCII digits; ``default`` if absent."""
    text = one(args, "limit")
    if text is None:
        return default
    if _DIGITS.fullmatch(text) and 1 <= int(text) <= maximum:
        return int(text)
    raise problem("limit", f"must be a whole number from 1 to {maximum}")


def order(args: MultiDict[str, str]) -> str:
    """``?order=`` of a feed: published (the default) or updated."""
    text = one(args, "order")
    if text is None:
        return "published"
    if text not in ORDERS:
        raise problem("order", "must be 'published' or 'updated'")
    return text


OPML_FORMATS = ("atom", "rss", "json", "all")


def opml_format(args: MultiDict[str, str]) -> str:
    """``?format=`` of /feeds.opml: a feed format, or "all"; atom when absent."""
    text = one(args, "format")
    if text is None:
        return "atom"
    if text not in OPML_FORMATS:
        raise problem("format", f"must be one of {', '.join(OPML_FORMATS)}")
    return text


def status(args: MultiDict[str, str]) -> visibility.Status | None:
    """``?status=`` of the API listing: one of STATUSES, or None (every live article)."""
    text = one(args, "status")
    if text is None:
        return None
    for name in STATUSES:
        if text == name:
            return name
    raise problem("status", f"must be one of {', '.join(STATUSES)}")


def slug(args: MultiDict[str, str], name: str) -> str | None:
    """A scope filter (``?section=``, ``?topic=``, ``?author=``): a slug as the API gives them."""
    text = one(args, name)
    if text is not None and len(text) > MAX_SLUG:
        raise problem(name, f"must be a slug of at most {MAX_SLUG} characters")
    return text


MAX_SEARCH = MAX_NAME  # characters of ?q=: a longer text could match no name


def search(args: MultiDict[str, str]) -> str:
    """``?q=`` of the feed directory: the words a name must hold, spaces collapsed; "" for none.

    Empty is no filter rather than a mistake, unlike other parameters: a GET form sends
    ``q=`` when its box is left empty. Control characters are refused, as no name holds one.
    """
    values = args.getlist("q")
    if len(values) > 1:
        raise problem("q", "must be given at most once")
    text = values[0] if values else ""
    if len(text) > MAX_SEARCH:
        raise problem("q", f"must be at most {MAX_SEARCH} characters")
    if any(unicodedata.category(ch) == "Cc" and not ch.isspace() for ch in text):
        raise problem("q", "must not contain control characters")
    return " ".join(text.split())


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: its order, the last entry's sort instant and that article's key.

    The key, not the row id: ids count every article ever stored, scheduled and deleted ones
    included, and a cursor must not let a reader count those. The instant is the last shown
    entry's own, so it tells nothing the page did not. Both are public; the base64 only says
    "do not build these yourself".
    """

    order: str
    when: dt.datetime
    key: str

    def encode(self) -> str:
        when = self.when.astimezone(dt.UTC).replace(tzinfo=None).isoformat() + "Z"
        raw = json.dumps([self.order, when, self.key], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """The cursor ``encode`` wrote; ValueError for anything else, checked before it is used."""
        if len(text) > MAX_CURSOR or not re.fullmatch(r"[A-Za-z0-9_-]+", text):
            raise ValueError("not base64url")
        try:
            data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        except (binascii.Error, RecursionError) as exc:  # the length bounds the nesting anyway
            raise ValueError("not base64 JSON") from exc
        if not (isinstance(data, list) and len(data) == 3 and all(isinstance(x, str) for x in data)):
            raise ValueError("not [order, instant, key]")
        name, instant, key = data
        if name not in ORDERS or not KEY_PATTERN.fullmatch(key) or not re.fullmatch(
                r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z", instant, re.ASCII):
            raise ValueError("not an order, instant and key")
        when = dt.datetime.fromisoformat(instant)
        if not timestamps.in_range(when):
            raise ValueError("instant out of range")
        return cls(name, when, key)


def parse_cursor(text: str, in_order: str) -> Cursor:
    """A cursor for a listing in ``in_order``; the 400 naming ``cursor`` when it is not one."""
    try:
        found = Cursor.decode(text)
    except ValueError:
        raise problem("cursor", "is not a cursor this service gave out") from None
    if found.order != in_order:
        # Its instant is an instant of the other order: it would start the walk anywhere.
        raise problem("cursor", f"belongs to order={found.order}, not order={in_order}")
    return found


def cursor(args: MultiDict[str, str], in_order: str = "published") -> Cursor | None:
    """``?cursor=``: the place a page in ``in_order`` starts, from a next link; None if absent."""
    text = one(args, "cursor")
    return None if text is None else parse_cursor(text, in_order)
