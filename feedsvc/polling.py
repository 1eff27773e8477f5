"""HTTP for pollers: one cached document answered as 200 or 304, in the encoding asked for."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import math

from flask import Request, Response, request

from . import db, site
from .cache import Document, stored_last_modified
from .conditional import http_date, not_modified


def accepts_gzip(request: Request) -> bool:
    """Whether the request's Accept-Encoding admits gzip."""
    return accepts_gzip_header(request.environ.get("HTTP_ACCEPT_ENCODING", ""))


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


def cache_control(document: Document, ceiling: int, now: dt.datetime) -> str:
    return f"public, max-age={max_age(document, ceiling, now)}"


def max_age(document: Document, ceiling: int, now: dt.datetime) -> int:
    """``ceiling`` seconds, shortened so no cache keeps the document past its ``valid_until``."""
    if document.valid_until is None:
        return ceiling
    return max(0, min(ceiling, math.floor((document.valid_until - now).total_seconds())))


def respond(request: Request, document: Document, *, ceiling: int, now: dt.datetime,
            links: list[str]) -> Response:
    """The 200 or 304 for this request (GET or HEAD; Flask drops the body of a HEAD).

    Both encodings' ETags revalidate either encoding, since they name the same content; the
    response carries the tag of the encoding it sends. A 304 repeats the 200's ETag,
    Cache-Control, Vary and Link (RFC 9110 15.4.5).
    """
    zipped = accepts_gzip(request)
    etag = document.gzip_etag if zipped else document.etag
    headers = {
        "ETag": etag,
        "Last-Modified": http_date(document.last_modified),
        "Cache-Control": cache_control(document, ceiling, now),
        "Vary": "Accept-Encoding",
        "Link": ", ".join(links),
    }
    # Read from the environ: werkzeug's headers.get() builds an exception for every absent
    # header, which on this path cost more than the database read.
    environ = request.environ
    if not_modified(environ.get("HTTP_IF_NONE_MATCH"), environ.get("HTTP_IF_MODIFIED_SINCE"),
                    (document.etag, document.gzip_etag), document.last_modified):
        return Response(status=304, headers=headers)
    # One bytes object: waitress sends it in one write (a body in many small chunks was ~4x slower).
    response = Response(document.gzipped if zipped else document.body, headers=headers,
                        content_type=document.content_type)
    if zipped:
        response.headers["Content-Encoding"] = "gzip"
    return response


def validate_page(response: Response) -> Response:
    """ETag and Last-Modified for an HTML page, and a 304 when the client has it already.

    Pages are rendered on every request (they are few and cheap next to feeds), but their
    validators follow the feeds' rule: the ETag is a hash of the bytes and Last-Modified moves
    only when the bytes do, stored per URL for every process. ``no-cache`` makes browsers and
    proxies revalidate, so a scheduled article shows on its page at its instant.
    """
    if request.method not in ("GET", "HEAD") or response.status_code != 200 \
            or response.mimetype != "text/html" or response.direct_passthrough:
        return response
    body = response.get_data()
    digest = hashlib.sha256(body).hexdigest()[:32]
    now = site.now()
    last_modified = stored_last_modified(db.get_engine(), f"page|{request.url}", digest,
                                         now.replace(microsecond=0))
    response.headers["ETag"] = f'"{digest}"'
    response.headers["Last-Modified"] = http_date(last_modified)
    response.headers["Cache-Control"] = "no-cache"
    environ = request.environ
    if not_modified(environ.get("HTTP_IF_NONE_MATCH"), environ.get("HTTP_IF_MODIFIED_SINCE"),
                    (f'"{digest}"',), last_modified):
        response.status_code = 304
        response.set_data(b"")
    return response
