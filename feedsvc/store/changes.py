"""Which feeds a write touches, recorded inside the write's own transaction.

Every write path (API, import, delete) reports the scopes an article was in before and after
the change; ``record`` runs in the same transaction, so whatever it writes (WebSub deliveries,
feed state) commits or rolls back together with the change itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from flask import Flask
from sqlalchemy.orm import Session

from feedsvc.store.models import Article


@dataclass(frozen=True, order=True)
class Scope:
    """A feed's scope: the whole site (``kind`` None), or one section, topic or author."""

    kind: str | None = None  # "sections", "topics", "authors"
    slug: str | None = None


SITE = Scope()

# Called as listener(session, scopes, now) inside the write transaction.
Listener = Callable[[Session, frozenset[Scope], dt.datetime], None]
# Called as listener(session, {scope: instant}, now) for scheduled articles written.
DueListener = Callable[[Session, Mapping[Scope, dt.datetime], dt.datetime], None]


def scopes_of(article: Article | None) -> frozenset[Scope]:
    """Every scope whose feeds show (or showed) this article: site, section, topics, authors."""
    if article is None:
        return frozenset()
    scopes = {SITE, Scope("sections", article.section.slug)}
    scopes.update(Scope("topics", link.topic.slug) for link in article.topic_links)
    scopes.update(Scope("authors", link.author.slug) for link in article.author_links)
    return frozenset(scopes)


def is_public(article: Article, now: dt.datetime) -> bool:
    """Whether some feed may show the article now: published, or the tombstone of one that was.

    One deleted before its embargo ended never was public (RFC 6721 tombstones only for those).
    """
    return article.published <= now and (article.deleted is None or article.published <= article.deleted)


def public_scopes(article: Article | None, now: dt.datetime) -> frozenset[Scope]:
    """The scopes whose public feeds show the article (or its tombstone) now; none if embargoed."""
    return scopes_of(article) if article is not None and is_public(article, now) else frozenset()


def due_scopes(article: Article, now: dt.datetime) -> dict[Scope, dt.datetime]:
    """For a live embargoed article, each of its scopes and the instant it comes due there."""
    if article.deleted is not None or article.published <= now:
        return {}
    return dict.fromkeys(scopes_of(article), article.published)


def listen(app: Flask, listener: Listener, due: DueListener | None = None) -> None:
    """Register functions to run in every write transaction of this app that touches feeds:
    ``listener`` for public changes, ``due`` for embargoed articles written."""
    app.extensions.setdefault("feedsvc.change_listeners", []).append(listener)
    if due is not None:
        app.extensions.setdefault("feedsvc.due_listeners", []).append(due)


def record(app: Flask, session: Session, scopes: Iterable[Scope], now: dt.datetime,
           due: Mapping[Scope, dt.datetime] | None = None) -> None:
    """Tell every listener which scopes a write changed in public (before and after together),
    and, apart, the scopes of embargoed articles it wrote, which change nothing public yet:
    telling those to the public side (a new version, a new render) would tell it they exist."""
    touched = frozenset(scopes)
    if not touched and not due:
        return
    session.flush()
    if touched:
        for listener in app.extensions.get("feedsvc.change_listeners", []):
            listener(session, touched, now)
    if due:
        for due_listener in app.extensions.get("feedsvc.due_listeners", []):
            due_listener(session, due, now)
