"""A poll for a current feed document, answered before Flask: the hot path of an aggregator's day.

Most polls ask for a feed's document and find it unchanged. Through Flask that costs a few
hundred microseconds; this WSGI middleware parses the address, asks the feed cache for the
current document (one indexed read, freshness.py) and answers through the same function as the
Flask route (polling.answer), in about a tenth of that. Anything else — another method, a
bad parameter, a document to render, an unknown scope — goes through Flask.

Feed requests without validators are also where POLL_LIMIT is applied, before any work.

The addresses of short feed URLs that named a current document are kept parsed (at most
``_ADDRESSES`` of them, all forgotten when full): a hot feed's poll then parses nothing, and
what a client sends grows nothing past that bound.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from flask import Flask
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.datastructures import MultiDict

from feedsvc.errors import FeedsvcError
from feedsvc.feeds import freshness, urls
from feedsvc.feeds.address import PATH, FeedAddress
from feedsvc.store import site
from feedsvc.web import limits, polling, problems

StartResponse = Callable[..., Any]
Environ = dict[str, Any]
_STATUS = {200: "200 OK", 304: "304 Not Modified"}
_ADDRESSES = 16_384  # parsed addresses kept (see the module docstring): a newsroom has thousands of feeds
_SHORT = 512  # characters of origin, path and query together, at most, for an address to be kept


class _Parsed:
    """A feed URL parsed once: its address, its document's stored name, its Link field and
    its surrogate keys."""

    __slots__ = ("address", "variant", "links", "keys")

    def __init__(self, address: FeedAddress, hub: str) -> None:
        self.address, self.links, self.keys = address, polling.links(address, hub), polling.keys(address)
        self.variant = freshness.variant_of(address.key())


class FastPolls:
    """WSGI middleware over the Flask app; see the module docstring."""

    def __init__(self, app: Flask, wsgi_app: Callable[[Environ, StartResponse], Iterable[bytes]]):
        self.app, self.wsgi_app = app, wsgi_app
        self.cache: freshness.FeedCache = freshness.get_cache(app)
        self.base_url: str | None = app.config["BASE_URL"]
        self.policy = polling.CachePolicy.from_config(app.config)
        self.max_limit = app.config["FEED_MAX_SIZE"]
        self.hub: str | None = app.config["WEBSUB_HUB"]
        # Unconditional polls per client and feed URL (POLL_LIMIT); conditional ones never count.
        limit = app.config["POLL_LIMIT"]
        self.polls = limits.Throttle(limit, app.config["POLL_WINDOW"]) if limit else None
        self._parsed: dict[tuple[str, str, str], _Parsed] = {}

    def _limit(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes] | None:
        """A 429 if this client has polled this feed URL without validators too often, else None."""
        assert self.polls is not None
        url = environ.get("PATH_INFO", "") + "?" + environ.get("QUERY_STRING", "")
        # The URL by its digest: a long query string costs the table no more than a short one.
        key = f"{environ.get('REMOTE_ADDR', 'unknown')} {hashlib.sha256(url.encode('latin-1')).hexdigest()[:32]}"
        clock = time.monotonic()
        wait = self.polls.wait(key, clock)
        if wait > 0:
            refusal = problems.problem(
                429, "Too Many Requests", "Too many polls of this feed without If-None-Match or "
                "If-Modified-Since; send the validators of your last response, or try again later.")
            refusal.headers.update({"Retry-After": str(max(1, math.ceil(wait))), "Cache-Control": "no-store"})
            return refusal(environ, start_response)  # type: ignore[no-any-return]
        self.polls.add(key, clock)
        return None

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if method not in ("GET", "HEAD"):
            return self.wsgi_app(environ, start_response)
        path = environ.get("PATH_INFO", "")
        if PATH.fullmatch(path) is None:
            return self.wsgi_app(environ, start_response)
        if_none_match = environ.get("HTTP_IF_NONE_MATCH")
        if_modified_since = environ.get("HTTP_IF_MODIFIED_SINCE")
        if self.polls is not None and not (if_none_match or if_modified_since):
            refused = self._limit(environ, start_response)
            if refused is not None:
                return refused
        host = environ.get("HTTP_HOST")
        if host is None and self.base_url is None:
            return self.wsgi_app(environ, start_response)
        origin = self.base_url or f"{environ.get('wsgi.url_scheme', 'http')}://{host}"
        query = environ.get("QUERY_STRING", "")
        name = (origin, path, query)
        parsed = self._parsed.get(name)
        if parsed is None:
            try:  # WSGI hands the path over as latin-1; it is UTF-8 (PEP 3333)
                args = MultiDict(parse_qsl(query, keep_blank_values=True)) if query else None
                address = FeedAddress.from_path(origin, path.encode("latin-1").decode("utf-8"), args,
                                                max_limit=self.max_limit)
            except (UnicodeError, FeedsvcError):  # Flask answers these, with the same parsers
                return self.wsgi_app(environ, start_response)
            assert address is not None
            parsed = _Parsed(address, urls.hub(origin, self.hub))
        address = parsed.address
        now = site.now(self.app)
        try:
            current = self.cache.lookup_variant(parsed.variant, address.scope, now,
                                                canonical=address.canonical)
        except (OperationalError, InterfaceError, PoolTimeout) as exc:
            # Outside Flask, so its error handler never sees this: the same 503 it would give
            # (issue 7), not waitress's 500.
            self.app.logger.error("database unavailable: %s", exc)
            return problems.unavailable()(environ, start_response)  # type: ignore[no-any-return]
        if current is None:
            return self.wsgi_app(environ, start_response)
        if name not in self._parsed and len(origin) + len(path) + len(query) <= _SHORT:
            if len(self._parsed) >= _ADDRESSES:
                self._parsed.clear()
            self._parsed[name] = parsed
        try:
            status, headers, body = polling.answer(
                current, links=parsed.links, keys=parsed.keys,
                zipped=polling.accepts_gzip_header(environ.get("HTTP_ACCEPT_ENCODING", "")),
                head=method == "HEAD", if_none_match=if_none_match,
                if_modified_since=if_modified_since, policy=self.policy, now=now)
        except freshness.Changed:  # replaced while its bytes were read: Flask's route reads again
            return self.wsgi_app(environ, start_response)
        except (OperationalError, InterfaceError, PoolTimeout) as exc:
            self.app.logger.error("database unavailable: %s", exc)
            return problems.unavailable()(environ, start_response)  # type: ignore[no-any-return]
        start_response(_STATUS[status], headers)
        # One bytes object: waitress writes it at once (many small chunks cost ~4x).
        return [body]


def init_app(app: Flask) -> None:
    app.wsgi_app = FastPolls(app, app.wsgi_app)  # type: ignore[method-assign]
