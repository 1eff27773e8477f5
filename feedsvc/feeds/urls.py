"""Public URLs of pages and feeds, built from an origin so links never depend on a request."""

from __future__ import annotations

import functools
from urllib.parse import quote

FORMATS = ("atom", "rss", "json")


def hub(base: str, configured: str | None) -> str:
    """The WebSub hub feeds name: WEBSUB_HUB when set, else the built-in one at ``base``."""
    return configured or f"{base}/websub"


def article_page(base: str, key: str) -> str:
    return f"{base}/articles/{quote(key)}"


@functools.lru_cache(maxsize=4096)  # a feed names a few scopes fifty times; quote() is slow
def scope_page(base: str, scope: str | None, slug: str | None) -> str:
    """The HTML page of a scope; the home page for the whole site (``scope`` None)."""
    if scope is None or slug is None:
        return f"{base}/"
    return f"{base}/{scope}/{quote(slug, safe='')}/"


def feed(base: str, scope: str | None, slug: str | None, fmt: str) -> str:
    if scope is None or slug is None:
        return f"{base}/feed.{fmt}"
    return f"{base}/{scope}/{quote(slug, safe='')}/feed.{fmt}"
