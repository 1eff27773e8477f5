"""A poll for an unchanged feed, answered before Flask: the hot path of an aggregator's day.

Most polls ask for a feed's default document and most find it unchanged. The Flask path
costs several hundred microseconds for that; this WSGI middleware answers it from the render
cache after the same one primary-key read (the scope's version), replaying the exact headers
that the Flask path sent for the same document, encoding and status. Anything else — another
method, a query string, a document not yet cached or changed since — goes through Flask, which
renders and records the headers for the next poll.

Feed requests without validators are also where POLL_LIMIT is applied, before any work.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from sqlalchemy.exc import InterfaceError, OperationalError

from . import cache, errors, limits, polling, site, syndication
from .changes import Scope
from .conditional import not_modified

# A slug with a NUL is left to Flask, which refuses it (errors.init_app): PostgreSQL cannot compare it.
_FEED_PATH = re.compile(r"/(?:(sections|topics|authors)/([^/\x00]+)/)?feed\.(atom|rss|json)")
# Headers that the replay recomputes or that waitress adds itself.
_LIVE = {"cache-control", "date", "server", "connection"}
_STATUS = {True: "304 Not Modified", False: "200 OK"}

StartResponse = Callable[..., Any]
Environ = dict[str, Any]


class FastPolls:
    """WSGI middleware over the Flask app; see the module docstring."""

    def __init__(self, app: Flask, wsgi_app: Callable[[Environ, StartResponse], Iterable[bytes]]):
        self.app, self.wsgi_app = app, wsgi_app
        self.cache: cache.FeedCache = cache.get_cache(app)
        self.base_url: str | None = app.config["BASE_URL"]
        self.ceiling = app.config["CACHE_MAX_AGE"]
        # (variant, gzip?, 304?) -> (ETag of the document, headers as Flask sent them)
        self._replays: dict[tuple[str, bool, bool], tuple[str, list[tuple[str, str]]]] = {}
        self._lock = threading.Lock()
        self._names: dict[tuple[str, str], tuple[Scope, str]] = {}  # (origin, path) -> named
        # SQLite: (scheme, Host, path, Accept-Encoding) -> (ETag, mark, headers) of a 304
        self._hot: dict[tuple[Any, ...], tuple[str, cache.Mark, list[tuple[str, str]]]] = {}
        # Unconditional polls per client and feed URL (POLL_LIMIT); conditional ones never count.
        limit = app.config["POLL_LIMIT"]
        self.polls = limits.Throttle(limit, app.config["POLL_WINDOW"]) if limit else None

    def _limit(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes] | None:
        """A 429 if this client has polled this feed URL without validators too often, else None."""
        assert self.polls is not None
        url = environ.get("PATH_INFO", "") + "?" + environ.get("QUERY_STRING", "")
        key, clock = f"{environ.get('REMOTE_ADDR', 'unknown')} {url}", time.monotonic()
        wait = self.polls.wait(key, clock)
        if wait > 0:
            refusal = errors.problem(
                429, "Too Many Requests", "Too many polls of this feed without If-None-Match or "
                "If-Modified-Since; send the validators of your last response, or try again later.")
            refusal.headers.update({"Retry-After": str(max(1, math.ceil(wait))), "Cache-Control": "no-store"})
            return refusal(environ, start_response)  # type: ignore[no-any-return]
        self.polls.add(key, clock)
        return None

    def _name(self, origin: str, match: re.Match[str]) -> tuple[Scope, str] | None:
        """The scope and variant key a feed path names at this origin (remembered), or None."""
        kind, raw_slug, fmt = match.groups()
        try:  # WSGI hands the path over as latin-1; the slug is UTF-8 (PEP 3333)
            slug = raw_slug.encode("latin-1").decode("utf-8") if raw_slug else None
        except UnicodeError:
            return None
        scope = Scope(kind, slug)
        named = scope, syndication.variant_key(origin, scope, fmt, "published", None, None)
        if len(self._names) > 8 * self.cache.size:  # bounded under a spray of slugs or hosts
            self._names.clear()
        self._names[(origin, match.group(0))] = named
        return named

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return self.wsgi_app(environ, start_response)
        if_none_match = environ.get("HTTP_IF_NONE_MATCH")
        if if_none_match is not None and not environ.get("QUERY_STRING"):
            # The revalidation this process answered 304 last time, under a mark still standing.
            hot = self._hot.get(_hot_key(environ))
            if hot is not None and hot[0] == if_none_match and self.cache.still(hot[1]):
                start_response("304 Not Modified", hot[2])
                return [b""]
        match = _FEED_PATH.fullmatch(environ.get("PATH_INFO", ""))
        if match is None:
            return self.wsgi_app(environ, start_response)
        if self.polls is not None and not (environ.get("HTTP_IF_NONE_MATCH")
                                           or environ.get("HTTP_IF_MODIFIED_SINCE")):
            refused = self._limit(environ, start_response)
            if refused is not None:
                return refused
        host = environ.get("HTTP_HOST")
        if environ.get("QUERY_STRING") or (host is None and self.base_url is None):
            return self.wsgi_app(environ, start_response)
        origin = self.base_url or f"{environ.get('wsgi.url_scheme', 'http')}://{host}"
        named = self._names.get((origin, match.group(0)))
        if named is None:
            named = self._name(origin, match)
            if named is None:
                return self.wsgi_app(environ, start_response)
        scope, variant = named
        now = site.now(self.app)
        zipped = polling.accepts_gzip_header(environ.get("HTTP_ACCEPT_ENCODING", ""))
        try:
            document, mark = self.cache.peek_marked(variant, scope, now)
        except (OperationalError, InterfaceError) as exc:
            # Outside Flask, so its error handler never sees this: the same 503 it would give
            # (issue 7), not waitress's 500.
            self.app.logger.error("database unavailable: %s", exc.orig)
            return errors.unavailable()(environ, start_response)  # type: ignore[no-any-return]
        if document is not None:
            etag = document.gzip_etag if zipped else document.etag
            # The usual revalidation sends back exactly the ETag it was given: no parsing.
            unchanged = if_none_match == etag or not_modified(
                if_none_match, environ.get("HTTP_IF_MODIFIED_SINCE"),
                (document.etag, document.gzip_etag), document.last_modified)
            replay = self._replays.get((variant, zipped, unchanged))
            # Replayed only for the very document Flask answered with (its ETag, this encoding).
            if replay is not None and replay[0] == etag:
                max_age = self.ceiling if document.valid_until is None else polling.max_age(
                    document, self.ceiling, now)
                headers = [*replay[1], ("Cache-Control", f"public, max-age={max_age}")]
                start_response(_STATUS[unchanged], headers)
                if unchanged and mark is not None and if_none_match == etag:
                    self._remember(environ, etag, mark, headers)
                if unchanged or environ["REQUEST_METHOD"] == "HEAD":
                    return [b""]
                # One bytes object: waitress writes it at once (many small chunks cost ~4x).
                return [document.gzipped if zipped else document.body]
        return self._through_flask(environ, start_response, variant, zipped)

    def _remember(self, environ: Environ, etag: str, mark: cache.Mark,
                  headers: list[tuple[str, str]]) -> None:
        """Keep this 304 for the same revalidation (same scheme, Host, path and Accept-Encoding)
        while ``mark`` stands: the next one is answered from a dict and the commit counter."""
        if len(self._hot) > 8 * self.cache.size:  # bounded under a spray of hosts or encodings
            self._hot.clear()
        self._hot[_hot_key(environ)] = (etag, mark, headers)

    def _through_flask(self, environ: Environ, start_response: StartResponse, variant: str,
                       zipped: bool) -> Iterable[bytes]:
        def recording(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            code = int(status.split(" ", 1)[0])
            etag = next((v for k, v in headers if k.lower() == "etag"), None)
            if code in (200, 304) and exc_info is None and etag is not None:
                kept = [(k, v) for k, v in headers if k.lower() not in _LIVE]
                with self._lock:
                    self._replays[(variant, zipped, code == 304)] = (etag, kept)
                    if len(self._replays) > 8 * self.cache.size:
                        self._replays.clear()
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, recording)


def _hot_key(environ: Environ) -> tuple[Any, ...]:
    """What a kept 304 is kept under: the request as sent, nothing parsed."""
    return (environ.get("wsgi.url_scheme"), environ.get("HTTP_HOST"), environ.get("PATH_INFO"),
            environ.get("HTTP_ACCEPT_ENCODING"))


def init_app(app: Flask) -> None:
    app.wsgi_app = FastPolls(app, app.wsgi_app)  # type: ignore[method-assign]
