"""Which feeds a write touches, recorded inside the write's own transaction.

Every write path (API, import, delete) reports the scopes an article was in before and after
the change; ``record`` runs in the same transaction, so whatever it writes (WebSub deliveries,
feed state) commits or rolls back together with the change itself.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Iterable, Mapping

from flask import Flask
from sqlalchemy.orm import Session

from feedsvc.store import visibility
from feedsvc.store.models import Article
from feedsvc.store.scopes import Scope, scopes_of

# Called as listener(session, scopes, now) inside the write transaction.
Listener = Callable[[Session, frozenset[Scope], dt.datetime], None]
# Called as listener(session, {scope: instant}, now) for scheduled articles written.
DueListener = Callable[[Session, Mapping[Scope, dt.datetime], dt.datetime], None]
# Called as listener(session, pages, withdrawn, now): [(article key, instant its page
# changes)], and [(article key, instant)] at which a page no longer changes.
Pages = tuple[tuple[str, dt.datetime], ...]
PageListener = Callable[[Session, Pages, Pages, dt.datetime], None]


def public_scopes_of(article: Article | None, now: dt.datetime) -> frozenset[Scope]:
    """The scopes whose public feeds show the article (or its tombstone) now; none if embargoed."""
    return scopes_of(article) if article is not None and visibility.was_public(article, now) else frozenset()


def pages_of(article: Article, touched: frozenset[Scope], due: Mapping[Scope, dt.datetime],
             now: dt.datetime) -> Pages:
    """When the article's page changes: now if it is or was public (``touched``, its public
    scopes before and after), and at its instant if it is embargoed (``due``). An embargoed
    article's page changes at no other moment: a purge of it now would tell that it exists."""
    return (((article.key, now),) if touched else ()) + (((article.key, article.published),) if due else ())


def scheduled_for(article: Article | None, now: dt.datetime) -> dt.datetime | None:
    """The instant a live embargoed article comes due; None for any other."""
    return article.published if article is not None and visibility.status(article, now) == "scheduled" else None


def withdrawn_of(article: Article, scheduled_before: dt.datetime | None) -> Pages:
    """The instant at which the article's page no longer changes: the one it was scheduled for
    before a write that deleted it or moved it (pages_of gives the new one)."""
    if scheduled_before is None or (article.deleted is None and article.published == scheduled_before):
        return ()
    return ((article.key, scheduled_before),)


def withdrawn_by_deletion(article: Article, now: dt.datetime) -> Pages:
    """withdrawn_of for an article just deleted at ``now``: the instant it was scheduled for,
    if it had not come yet (its ``published`` is untouched by the deletion)."""
    return withdrawn_of(article, article.published if article.published > now else None)


def due_scopes(article: Article, now: dt.datetime) -> dict[Scope, dt.datetime]:
    """For a live embargoed article, each of its scopes and the instant it comes due there."""
    if visibility.status(article, now) != "scheduled":
        return {}
    return dict.fromkeys(scopes_of(article), article.published)


class Stage(enum.IntEnum):
    """When a listener runs within a write, whatever order the wings registered in: each locks
    rows, and every writer must lock in one order or two writers can deadlock (PostgreSQL)."""

    SCOPE_VERSIONS = 1  # feeds.freshness: the scopes' feed_scopes rows
    WEBSUB = 2  # websub.outbox: topic rows, then jobs


def listen(app: Flask, stage: Stage, listener: Listener, due: DueListener | None = None) -> None:
    """Register functions to run in every write transaction of this app that touches feeds:
    ``listener`` for public changes, ``due`` for embargoed articles written; by ``stage``."""
    for name, function in (("feedsvc.change_listeners", listener), ("feedsvc.due_listeners", due)):
        if function is not None:
            registered = app.extensions.setdefault(name, [])
            registered.append((stage, function))
            registered.sort(key=lambda pair: pair[0])


def listen_pages(app: Flask, listener: PageListener) -> None:
    """Register a function to run in every write transaction that changes an article's page."""
    app.extensions.setdefault("feedsvc.page_listeners", []).append(listener)


def record(app: Flask, session: Session, scopes: Iterable[Scope], now: dt.datetime,
           due: Mapping[Scope, dt.datetime] | None = None,
           pages: Iterable[tuple[str, dt.datetime]] = (), withdrawn: Iterable[tuple[str, dt.datetime]] = ()) -> None:
    """Tell every listener which scopes a write changed in public (before and after together),
    and, apart, the scopes of embargoed articles it wrote, which change nothing public yet:
    telling those to the public side (a new version, a new render) would tell it they exist.
    ``pages`` are the article pages it changed, each with the instant it changes (pages_of);
    ``withdrawn`` the instants at which pages of embargoed articles no longer change (withdrawn_of)."""
    touched = frozenset(scopes)
    changed, taken_back = tuple(pages), tuple(withdrawn)
    if changed or taken_back:
        for page_listener in app.extensions.get("feedsvc.page_listeners", []):
            page_listener(session, changed, taken_back, now)
    if not touched and not due:
        return
    session.flush()
    if touched:
        for _, listener in app.extensions.get("feedsvc.change_listeners", []):
            listener(session, touched, now)
    if due:
        for _, due_listener in app.extensions.get("feedsvc.due_listeners", []):
            due_listener(session, due, now)
