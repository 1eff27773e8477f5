"""When the public may see an article: the one rule, in Python and in SQL, side by side.

An article is public from its ``published`` instant until it is deleted. One deleted at or
after that instant *was* public: the feeds keep its tombstone (RFC 6721) and its page answers
410. One deleted before its instant never was: it leaves no trace anywhere, so nothing tells an
outsider it existed. Scheduled (embargoed) articles are seen by the API alone.

Each SQL form takes the ``published`` column to compare with ``now``: the article's own, or
the copy the topic and author link tables keep so that a scope's index answers (feeds.selection).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, or_

from feedsvc.store.models import Article

Status = Literal["published", "scheduled", "deleted"]


def status(article: Article, now: dt.datetime) -> Status:
    """What the API calls the article's state: deleted, scheduled (before its instant), published."""
    if article.deleted is not None:
        return "deleted"
    return "scheduled" if article.published > now else "published"


def was_public(article: Article, now: dt.datetime) -> bool:
    """Shown at some time by ``now``: published, and not deleted before its instant (so live,
    or a tombstone)."""
    return article.published <= now and (article.deleted is None or article.published <= article.deleted)


def public_clause(now: Any, published: Any = Article.published, deleted: Any = Article.deleted
                  ) -> ColumnElement[bool]:
    """SQL of ``status(article, now) == "published"``: shown now. ``deleted`` may be the column
    in a form that only filters (a planner's hint, feeds.selection)."""
    return and_(deleted.is_(None), published <= now)


def status_clause(name: Status | None, now: Any) -> ColumnElement[bool]:
    """SQL of ``status(article, now) == name``; None: every article not deleted."""
    if name == "deleted":
        return Article.deleted.is_not(None)
    if name == "scheduled":
        return scheduled_clause(now)
    if name == "published":
        return public_clause(now)
    return Article.deleted.is_(None)


def scheduled_clause(now: Any, published: Any = Article.published, deleted: Any = Article.deleted
                     ) -> ColumnElement[bool]:
    """SQL of ``status(article, now) == "scheduled"``: live and not yet at its instant."""
    return and_(deleted.is_(None), published > now)


def left_tombstone_clause() -> ColumnElement[bool]:
    """SQL: deleted at or after its instant, so it had been public (RFC 6721 section 2)."""
    return and_(Article.deleted.is_not(None), Article.published <= Article.deleted)


def was_public_clause(now: Any, published: Any = Article.published) -> ColumnElement[bool]:
    """SQL of ``was_public``."""
    return and_(published <= now, or_(Article.deleted.is_(None), Article.published <= Article.deleted))
