"""HTTP for pollers: the one function that turns a current feed document into an answer.

The Flask route (feed_routes.serve_feed) and the WSGI fast path (fastpoll.py) both call
``answer``, so a header is computed from the document, the request and the clock in one
place, and a change to it reaches every client at once: nothing is replayed from an earlier
answer.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Response, request
from werkzeug.http import quote_etag

from feedsvc.feeds.address import FeedAddress
from feedsvc.feeds.freshness import Current
from feedsvc.feeds.surrogate import key_headers, scope_key
from feedsvc.web.conditional import none_match, not_modified

Headers = list[tuple[str, str]]
# On every response (pages.py adds them to Flask's, answer to every feed's, both paths alike).
SECURITY_HEADERS: Headers = [("X-Content-Type-Options", "nosniff"),
                             ("Referrer-Policy", "strict-origin-when-cross-origin")]


@functools.lru_cache(maxsize=256)  # pollers send a handful of distinct values
def accepts_gzip_header(header: str) -> bool:
    """Whether an Accept-Encoding value admits gzip (a ``q=0`` refuses it, RFC 9110 12.5.3)."""
    for item in header.split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() in ("gzip", "x-gzip", "*"):
            q = params.strip().lower()
            if q.startswith("q="):
                try:
                    return float(q[2:]) > 0
                except ValueError:
                    return False
            return True
    return False


def max_age(until: dt.datetime | None, ceiling: int, now: dt.datetime) -> int:
    """``ceiling`` seconds, shortened so that no cache keeps the document past ``until`` (the
    instant time alone changes it, or the next embargo in its scope comes due)."""
    if until is None:
        return ceiling
    return max(0, min(ceiling, math.floor((until - now).total_seconds())))


def stale(until: dt.datetime | None, lifetime: int, allowance: int, now: dt.datetime) -> int:
    """Seconds of ``stale-while-revalidate`` after a ``lifetime``, shortened like max-age so
    that nothing stale is served past ``until``: a document that misses an embargoed article
    is not served after the article's instant, not even while a cache revalidates."""
    if until is None:
        return allowance
    return max(0, min(allowance, math.floor((until - now).total_seconds()) - lifetime))


@dataclass(frozen=True)
class CachePolicy:
    """How long caches may keep a feed (CACHE_MAX_AGE, CACHE_STALE_WHILE_REVALIDATE,
    CACHE_STALE_IF_ERROR, CDN_MAX_AGE), as one frozen value both paths hold."""

    max_age: int = 60
    stale_while_revalidate: int = 0
    stale_if_error: int = 0
    cdn_max_age: int = 0  # 0: no CDN-Cache-Control nor Surrogate-Control

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> CachePolicy:
        return cls(config["CACHE_MAX_AGE"], config["CACHE_STALE_WHILE_REVALIDATE"],
                   config["CACHE_STALE_IF_ERROR"], config["CDN_MAX_AGE"])

    def headers(self, until: dt.datetime | None, now: dt.datetime) -> Headers:
        """Cache-Control for every cache (RFC 9111 5.2, RFC 5861), and with CDN_MAX_AGE the
        longer lifetime of the shared caches that purge (RFC 9213 CDN-Cache-Control, and
        Surrogate-Control, which Fastly and Varnish setups read). Every lifetime ends at
        ``until``: an embargoed article appears everywhere at its instant.
        ``stale-if-error`` is not shortened: a cache that cannot reach feedsvc at all serves
        the last document rather than an error."""
        return [("Cache-Control", "public, " + self._directives(self.max_age, until, now)),
                *self.shared(until, now)]

    def shared(self, until: dt.datetime | None, now: dt.datetime) -> Headers:
        """CDN-Cache-Control and Surrogate-Control alone (none without CDN_MAX_AGE): the
        lifetime of the caches that purge, for pages whose readers keep ``no-cache``."""
        if not self.cdn_max_age:
            return []
        shared = self._directives(self.cdn_max_age, until, now)
        return [("CDN-Cache-Control", shared), ("Surrogate-Control", shared)]

    def _directives(self, ceiling: int, until: dt.datetime | None, now: dt.datetime) -> str:
        lifetime = max_age(until, ceiling, now)
        directives = f"max-age={lifetime}"
        revalidate = stale(until, lifetime, self.stale_while_revalidate, now)
        if revalidate:
            directives += f", stale-while-revalidate={revalidate}"
        if self.stale_if_error:
            directives += f", stale-if-error={self.stale_if_error}"
        return directives


def links(address: FeedAddress, hub: str) -> str:
    """The Link field of every answer for ``address``: its rel="self" and the hub (WebSub 4)."""
    return f'<{address.url()}>; rel="self", <{hub}>; rel="hub"'


def keys(address: FeedAddress) -> Headers:
    """The surrogate-key fields of every answer for ``address``: its scope's key
    (feeds/surrogate.py), which a change to the scope purges."""
    return key_headers((scope_key(address.scope),))


def answer(current: Current, *, links: str, keys: Headers, zipped: bool, head: bool,
           if_none_match: str | None, if_modified_since: str | None, policy: CachePolicy,
           now: dt.datetime) -> tuple[int, Headers, bytes]:
    """(status, headers, body) of a GET or HEAD for a current document (RFC 9110 13.2.2).

    Both encodings' ETags revalidate either encoding, since they name the same content; the
    answer carries the tag of the encoding it sends, and the same Last-Modified in both. A
    304 repeats the 200's ETag, Last-Modified, the caching fields, Vary, Link and the
    surrogate keys (RFC 9110 15.4.5: a cache updates its stored headers from it); a HEAD gets
    the 200's headers with no body. ``links`` and ``keys`` are as ``links`` and ``keys`` make them.
    """
    document = current.document
    etag = document.gzip_etag if zipped else document.etag
    headers: Headers = [
        ("ETag", etag),
        ("Last-Modified", document.http_date),
        *policy.headers(current.until, now),
        ("Vary", "Accept-Encoding"),
        ("Link", links),
        *keys,
        *SECURITY_HEADERS,
    ]
    # The usual revalidation sends back exactly the tag it was given: no parsing then.
    if if_none_match == etag or not_modified(if_none_match, if_modified_since,
                                             (document.etag, document.gzip_etag), document.last_modified):
        return 304, headers, b""
    body = document.gzipped if zipped else document.body
    headers += [("Content-Type", document.content_type), ("Content-Length", str(len(body)))]
    if zipped:
        headers.append(("Content-Encoding", "gzip"))
    return 200, headers, b"" if head else body


def hold_at_the_edge(response: Response, keys: tuple[str, ...], policy: CachePolicy,
                     now: dt.datetime) -> Response:
    """A page (or the OPML list) for the caches in front: its surrogate keys, and with
    CDN_MAX_AGE their lifetime, which a purge of those keys ends (feeds/surrogate.py).
    Browsers keep ``no-cache``: they revalidate, the edge answers."""
    response.headers.setdefault("Cache-Control", "no-cache")  # an error page: not kept either
    for name, value in [*key_headers(keys), *policy.shared(None, now)]:
        response.headers[name] = value
    return response


def validate_page(response: Response) -> Response:
    """A hash ETag and ``no-cache`` for an HTML page, and a 304 when the client has it already.

    Pages are rendered on every request (they are few and cheap next to feeds); ``no-cache``
    makes browsers and proxies revalidate, so a scheduled article shows on its page at its
    instant. Nothing is stored per URL: a page's query string is the visitor's to choose.
    """
    if request.method not in ("GET", "HEAD") or response.status_code != 200 \
            or response.mimetype != "text/html" or response.direct_passthrough:
        return response
    digest = hashlib.sha256(response.get_data()).hexdigest()[:32]
    response.headers["ETag"] = quote_etag(digest)
    response.headers["Cache-Control"] = "no-cache"
    if_none_match = request.environ.get("HTTP_IF_NONE_MATCH")
    if if_none_match is not None and none_match(if_none_match, (quote_etag(digest),)):
        response.status_code = 304
        response.set_data(b"")
        del response.headers["Content-Type"]  # a 304 carries no representation (RFC 9110 15.4.5)
    return response
