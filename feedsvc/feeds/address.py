"""A feed's address: the one grammar of feed URLs, shared by the routes, the fast path, the hub
and OPML.

``/feed.atom``, ``/sections/<slug>/feed.rss``, ``/topics/<slug>/feed.json?order=updated`` …:
an origin, a scope, a format, and the page parameters a client may add (``order``, ``limit``,
``cursor``; params.py parses each). ``key()`` names the document's bytes for the caches,
``url()`` is its rel="self".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from werkzeug.datastructures import MultiDict

from feedsvc.errors import FeedsvcError
from feedsvc.feeds import urls
from feedsvc.store import params
from feedsvc.store.scopes import KINDS, Scope

MAX_FEED_SIZE = 10_000  # entries in one feed document, whatever ?limit= asks

# The path of every feed; the slug is one path segment (percent-decoded in a request's path).
_FEED = rf"/(?:({'|'.join(KINDS)})/([^/\x00]+)/)?feed\.({'|'.join(urls.FORMATS)})"
PATH = re.compile(_FEED)
# The same grammar as the web wing's routing rules (werkzeug), for the feed routes.
SITE_RULE = f"/feed.<any({', '.join(urls.FORMATS)}):fmt>"
SCOPE_RULE = f"/<any({', '.join(KINDS)}):kind>/<slug>/feed.<any({', '.join(urls.FORMATS)}):fmt>"
# The same at the end of a whole URL's path (the slug still percent-encoded), after the origin's.
_URL_PATH = re.compile(f"(.*?){_FEED}")


@dataclass(frozen=True)
class FeedAddress:
    """One feed document's address. ``limit`` is as the client gave it (None: FEED_SIZE), since
    it shows in rel="self"; ``cursor`` is the encoded cursor of a later page."""

    origin: str
    scope: Scope
    fmt: str
    order: str = "published"
    limit: int | None = None
    cursor: str | None = None

    @classmethod
    def from_path(cls, origin: str, path: str, args: MultiDict[str, str] | None = None, *,
                  max_limit: int) -> FeedAddress | None:
        """The address of a request for ``path`` (decoded) with query ``args``; None when the
        path names no feed. A bad parameter is params' 400 problem naming it."""
        match = PATH.fullmatch(path)
        if match is None:
            return None
        kind, slug, fmt = match.groups()
        return cls.from_args(origin, Scope(kind, slug), fmt, args, max_limit=max_limit)

    @classmethod
    def from_args(cls, origin: str, scope: Scope, fmt: str, args: MultiDict[str, str] | None, *,
                  max_limit: int) -> FeedAddress:
        """The address of ``scope``'s feed in ``fmt`` with the page parameters of ``args``."""
        args = args if args is not None else MultiDict()
        order = params.order(args)
        limit = params.limit(args, default=0, maximum=max_limit) or None
        cursor = params.cursor(args, order)
        return cls(origin, scope, fmt, order, limit, cursor.encode() if cursor is not None else None)

    @classmethod
    def from_url(cls, url: str, *, max_limit: int) -> FeedAddress | None:
        """The address a whole URL names when it is exactly a feed's own spelling of it (as in
        its rel="self"), else None: the hub's topics must be the feeds' own URLs."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return None
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
            return None
        match = _URL_PATH.fullmatch(parts.path)
        if match is None:
            return None
        prefix, kind, slug, fmt = match.groups()
        slug = unquote(slug) if slug else None
        if slug is not None and "\x00" in slug:
            return None  # no slug holds one, and PostgreSQL cannot compare it (a 500 there)
        origin = f"{parts.scheme}://{parts.netloc}{prefix}"
        try:
            address = cls.from_args(origin, Scope(kind, slug), fmt,
                                    MultiDict(parse_qsl(parts.query, keep_blank_values=True)),
                                    max_limit=max_limit)
        except FeedsvcError:  # a bad parameter: not a feed's own URL
            return None
        return address if address.url() == url else None

    @property
    def canonical(self) -> bool:
        """A document a poller polls (no cursor, no explicit limit): kept where every process sees it."""
        return self.cursor is None and self.limit is None

    def feed_url(self) -> str:
        """The feed's own URL: first page, default order."""
        return urls.feed(self.origin, self.scope.kind, self.scope.slug, self.fmt)

    def query(self, cursor: str | None = None) -> str:
        """The query string of this page (or of the page at ``cursor``), parameters in one order."""
        cursor = self.cursor if cursor is None else cursor
        pairs = [(k, v) for k, v in (("order", self.order if self.order != "published" else None),
                                     ("limit", str(self.limit) if self.limit else None),
                                     ("cursor", cursor)) if v]
        return f"?{urlencode(pairs)}" if pairs else ""

    def url(self) -> str:
        """This document's URL, its rel="self"."""
        return self.feed_url() + self.query()

    def key(self) -> str:
        """What the document's bytes depend on, as one string (the caches' name for it)."""
        return "|".join(map(str, (self.origin, self.scope.kind, self.scope.slug, self.fmt,
                                  self.order, self.limit, self.cursor)))

