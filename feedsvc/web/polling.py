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

from flask import Response, request
from werkzeug.http import quote_etag

from feedsvc.feeds.address import FeedAddress
from feedsvc.feeds.freshness import Current
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


def links(address: FeedAddress, hub: str) -> str:
    """The Link field of every answer for ``address``: its rel="self" and the hub (WebSub 4)."""
    return f'<{address.url()}>; rel="self", <{hub}>; rel="hub"'


def answer(current: Current, *, links: str, zipped: bool, head: bool,
           if_none_match: str | None, if_modified_since: str | None, ceiling: int,
           now: dt.datetime) -> tuple[int, Headers, bytes]:
    """(status, headers, body) of a GET or HEAD for a current document (RFC 9110 13.2.2).

    Both encodings' ETags revalidate either encoding, since they name the same content; the
    answer carries the tag of the encoding it sends, and the same Last-Modified in both. A
    304 repeats the 200's ETag, Last-Modified, Cache-Control, Vary and Link (RFC 9110
    15.4.5); a HEAD gets the 200's headers with no body. ``links`` is the Link field, as ``links`` makes it.
    """
    document = current.document
    etag = document.gzip_etag if zipped else document.etag
    headers: Headers = [
        ("ETag", etag),
        ("Last-Modified", document.http_date),
        ("Cache-Control", f"public, max-age={max_age(current.until, ceiling, now)}"),
        ("Vary", "Accept-Encoding"),
        ("Link", links),
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
