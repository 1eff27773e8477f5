"""Which feeds a write touches, recorded inside the write's own transaction.

Every write path (API, import, delete) reports the scopes an article was in before and after
the change; ``record`` runs in the same transaction, so whatever it writes (WebSub deliveries,
feed state) commits or rolls back together with the change itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from flask import Flask
from sqlalchemy.orm import Session

from .models import Article


@dataclass(frozen=True, order=True)
class Scope:
    """A feed's scope: the whole site (``kind`` None), or one section, topic or author."""

    kind: str | None = None  # "sections", "topics", "authors"
    slug: str | None = None


SITE = Scope()

# Called as listener(session, scopes, now) inside the write transaction.
Listener = Callable[[Session, frozenset[Scope], dt.datetime], None]


def scopes_of(article: Article | None) -> frozenset[Scope]:
    """Every scope whose feeds show (or showed) this article: site, section, topics, authors."""
    if article is None:
        return frozenset()
    scopes = {SITE, Scope("sections", article.section.slug)}
    scopes.update(Scope("topics", link.topic.slug) for link in article.topic_links)
    scopes.update(Scope("authors", link.author.slug) for link in article.author_links)
    return frozenset(scopes)


def listen(app: Flask, listener: Listener) -> None:
    """Register a function to run in every write transaction of this app that touches feeds."""
    app.extensions.setdefault("feedsvc.change_listeners", []).append(listener)


def record(app: Flask, session: Session, scopes: Iterable[Scope], now: dt.datetime) -> None:
    """Tell every listener which scopes a write touched (before and after scopes together)."""
    touched = frozenset(scopes)
    if not touched:
        return
    session.flush()
    for listener in app.extensions.get("feedsvc.change_listeners", []):
        listener(session, touched, now)
