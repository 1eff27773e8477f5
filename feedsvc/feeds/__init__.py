"""The feeds: from the store to the bytes of one feed document, and knowing when it is current.

- ``address`` — ``FeedAddress``, the one grammar of feed URLs (routes, fast path, hub, OPML)
- ``urls`` — the public URLs of pages and feeds, built from an origin
- ``selection`` — which entries and tombstones a page of a feed shows
- ``document`` — the pure feed document every format renders
- ``figure`` — the lead image as a ``<figure>`` atop an entry's HTML body
- ``formats`` — Atom 1.0, RSS 2.0 and JSON Feed 1.1 bytes (the only importer of feedgen)
- ``service`` — ``render(session, address, settings, now)``: selection → document → bytes
- ``surrogate`` — the surrogate keys shared caches purge by, and the CDN_PURGE targets
- ``freshness`` — scope versions and stored documents: rendered once per change, shared by
  every process, trusted until the next commit
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """The document cache, and the listener that moves a scope's version on every change."""
    from feedsvc.feeds import freshness

    freshness.init_app(app)
