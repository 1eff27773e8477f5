"""The store: what a newsroom wrote, kept and checked. Every other wing reads and writes here.

- ``db`` — the engine, sessions, the aware-UTC column type, migrations, ``feedsvc db``
- ``models`` — the typed tables: articles with section, topics and authors; tokens; WebSub rows
- ``articles`` — queries and writes of articles (session first, never commits)
- ``visibility`` — when an article is public: the one rule, in Python and in SQL
- ``scopes`` — feed scopes (site, section, topic, author) and the one registry of their kinds
- ``changes`` — which scopes a write touched, told to listeners inside the write's transaction
- ``directory`` — what the pages and OPML list: scopes with names, counts, last update
- ``payload`` and ``params`` — the article JSON and the public query parameters, checked
- ``timestamps``, ``slugs``, ``sanitize`` — RFC 3339 times, keys and slugs, safe text and HTML
- ``site`` — the running site's clock, tag-URI authority and public origin
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """The engine and ``feedsvc db``; first, as every other wing reads through it."""
    from feedsvc.store import db

    db.init_app(app)
