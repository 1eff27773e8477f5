"""The web: every request comes in here and every response goes out from here.

- ``hosts`` — the Host a request names, checked before anything reads it (outermost)
- ``fastpoll`` — a poll for a current feed answered before Flask
- ``feed_routes`` — the feed URLs and /feeds.opml through Flask
- ``polling`` — the one function that turns a current document into a poller's answer
- ``conditional`` — 200 or 304 (RFC 9110 section 13)
- ``api`` and ``openapi`` — the JSON API under /api and its description
- ``auth`` and ``limits`` — API tokens, and sliding-window limits per client
- ``pages`` — the HTML pages with feed autodiscovery
- ``problems`` — the one mapping of errors to RFC 9457 problem details
- ``health`` — ``/healthz`` (liveness) and ``/readyz`` (database reachable, schema current)
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Routes and handlers, then the two WSGI wrappers: the fast path around the finished Flask
    app, and the Host check around that, so that a bad Host is refused before the fast path."""
    from feedsvc.web import api, auth, fastpoll, feed_routes, health, hosts, pages, problems

    problems.init_app(app)
    health.init_app(app)
    auth.init_app(app)
    api.init_app(app)
    feed_routes.init_app(app)
    pages.init_app(app)
    fastpoll.init_app(app)
    hosts.init_app(app)
