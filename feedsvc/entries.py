"""Which articles a feed shows: one selection for every scope, order and page.

Each scope walks its own index newest first — articles(published, id) for the site,
articles(section_id, published, id) for a section, and the (scope_id, published, article_id)
indexes of article_topics and article_authors, which carry the article's dates for exactly
this — so a page costs the same at a thousand articles as at a million.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session, selectinload

from .changes import Scope
from .errors import NotFound
from .models import Article, ArticleAuthor, ArticleTopic, Author, Section, Topic
from .store import decode_cursor, encode_cursor

ORDERS = ("published", "updated")
_MODELS: dict[str, Any] = {"sections": Section, "topics": Topic, "authors": Author}


@dataclass(frozen=True)
class ScopeRow:
    """A scope as a feed needs it: what it is, its display name and its row id (None: site)."""

    scope: Scope
    name: str | None
    id: int | None


@dataclass(frozen=True)
class Selection:
    articles: list[Article]
    next_cursor: str | None
    tombstones: list[Article]
    next_change: dt.datetime | None  # the next instant time alone changes this selection


def resolve(session: Session, scope: Scope, now: dt.datetime) -> ScopeRow:
    """The scope's row, or NotFound when it is unknown or shows nothing public yet.

    A topic whose only article is still embargoed must not reveal even its name.
    """
    if scope.kind is None:
        return ScopeRow(scope, None, None)
    model = _MODELS[scope.kind]
    row = session.scalar(select(model).where(model.slug == scope.slug))
    if row is None or not _visible(session, ScopeRow(scope, row.name, row.id), now):
        raise NotFound(f"There is no {scope.kind[:-1]} {scope.slug!r}.")
    return ScopeRow(scope, row.name, row.id)


def _index(scope: ScopeRow, order: str) -> tuple[Any, Any, Any, list[Any]]:
    """The sort column, id column, published column and filters of the scope's index."""
    if scope.scope.kind == "topics":
        table: Any = ArticleTopic
        return (getattr(table, order), table.article_id, table.published,
                [table.topic_id == scope.id])
    if scope.scope.kind == "authors":
        table = ArticleAuthor
        return (getattr(table, order), table.article_id, table.published,
                [table.author_id == scope.id])
    filters = [Article.section_id == scope.id] if scope.scope.kind == "sections" else []
    return getattr(Article, order), Article.id, Article.published, filters


def _joined(query: Select[Any], id_column: Any) -> Select[Any]:
    """The query over the scope's index table, joined to articles when that is another table."""
    if id_column is Article.id:
        return query
    return query.select_from(id_column.table).join(Article, Article.id == id_column)


def _visible(session: Session, scope: ScopeRow, now: dt.datetime) -> bool:
    _, id_column, published, filters = _index(scope, "published")
    query = _joined(select(id_column), id_column).where(
        *filters, published <= now,
        or_(Article.deleted.is_(None), Article.published <= Article.deleted)).limit(1)
    return session.scalar(query) is not None


def select_entries(session: Session, scope: ScopeRow, *, now: dt.datetime, order: str,
                   limit: int, cursor: str | None, tombstone_days: int,
                   with_tombstones: bool) -> Selection:
    """Published articles of the scope, newest ``order`` first (ties by id), one page."""
    sort, id_column, published, filters = _index(scope, order)
    query = _joined(select(id_column, sort), id_column).where(
        *filters, published <= now, Article.deleted.is_(None))
    if cursor is not None:
        when, last_id = decode_cursor(cursor)
        query = query.where(or_(sort < when, and_(sort == when, id_column < last_id)))
    rows = session.execute(query.order_by(sort.desc(), id_column.desc()).limit(limit + 1)).all()
    next_cursor = encode_cursor(rows[limit - 1][1], rows[limit - 1][0]) if len(rows) > limit else None
    ids = [row[0] for row in rows[:limit]]
    articles = _load(session, ids)
    tombstones = _tombstones(session, scope, now, tombstone_days, limit) if with_tombstones else []
    upcoming = session.scalar(_joined(select(func.min(published)), id_column).where(
        *filters, published > now, Article.deleted.is_(None)))
    expiries = [t.deleted + dt.timedelta(days=tombstone_days) for t in tombstones
                if t.deleted is not None]
    next_change = min([when for when in [upcoming, *expiries] if when is not None], default=None)
    return Selection(articles, next_cursor, tombstones, next_change)


def _load(session: Session, ids: list[int]) -> list[Article]:
    if not ids:
        return []
    query = select(Article).where(Article.id.in_(ids)).options(
        selectinload(Article.topic_links), selectinload(Article.author_links))
    by_id = {article.id: article for article in session.scalars(query)}
    return [by_id[i] for i in ids]


def _tombstones(session: Session, scope: ScopeRow, now: dt.datetime, days: int,
                limit: int) -> list[Article]:
    """Articles deleted in the last ``days`` that had been public (RFC 6721 section 2).

    One deleted before its embargo ended was never public: it leaves no trace at all.
    """
    if days == 0:
        return []
    _, id_column, _, filters = _index(scope, "published")
    query = _joined(select(Article), id_column).where(
        *filters, Article.deleted.is_not(None), Article.deleted > now - dt.timedelta(days=days),
        Article.deleted <= now, Article.published <= Article.deleted)
    return list(session.scalars(query.order_by(Article.deleted.desc(), Article.id.desc())
                                .limit(limit)))
