"""Which articles a feed shows: one selection for every scope, order and page.

Each scope walks its own index newest first — articles(published, id) for the site,
articles(section_id, published, id) for a section, and the (scope_id, published, article_id)
indexes of article_topics and article_authors, which carry the article's dates for exactly
this — so a page costs the same at a thousand articles as at a million.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, bindparam, exists, func, null, or_, select
from sqlalchemy.orm import Session

from feedsvc.errors import NotFound
from feedsvc.store import directory, visibility
from feedsvc.store.articles import cursor_position
from feedsvc.store.models import IMAGE_COLUMNS, Article, ArticleAuthor, ArticleTopic, Author, Section, Topic, image_of
from feedsvc.store.params import Cursor
from feedsvc.store.payload import Image
from feedsvc.store.scopes import KINDS, Scope


@dataclass(frozen=True)
class ScopeRow:
    """A scope as a feed needs it: what it is, its display name and its row id (None: site)."""

    scope: Scope
    name: str | None
    id: int | None


@dataclass(frozen=True)
class EntryRow:
    """An article as a feed shows it, in plain values: read with three queries and no ORM
    objects, whose per-object cost was most of a 50-entry render."""

    uid: str
    key: str
    title: str
    url: str | None
    summary: str | None
    content: str | None
    published: dt.datetime
    updated: dt.datetime
    image: Image | None
    language: str | None
    section: tuple[str, str]  # name, slug
    topics: tuple[tuple[str, str], ...]  # (name, slug) in the article's order
    authors: tuple[tuple[str, str | None, str | None], ...]  # (name, email, url) in its order


@dataclass(frozen=True)
class Deletion:
    """A deleted article a feed still reports (RFC 6721): its id and when it was deleted."""

    uid: str
    deleted: dt.datetime


@dataclass(frozen=True)
class Selection:
    articles: list[EntryRow]
    next_cursor: str | None
    tombstones: list[Deletion]
    next_change: dt.datetime | None  # the next instant time alone changes this selection
    aged_out: dt.datetime | None = None  # the last instant time alone changed it (a tombstone expired)


# Every statement of a feed is built once per shape (scope kind, order, first or later page,
# dialect) with bound parameters: building one cost more than running it (bench/render).
_SCOPE_ID: Any = bindparam("scope_id")
_NOW: Any = bindparam("now")


def resolve(session: Session, scope: Scope, now: dt.datetime) -> ScopeRow:
    """The scope's row, or NotFound when it is unknown or shows nothing public yet.

    A topic whose only article is still embargoed must not reveal even its name: one query
    answers for an unknown scope and for an embargoed one alike, so not even the time a 404
    takes tells them apart.
    """
    if scope.kind is None:
        return ScopeRow(scope, None, None)
    row = session.connection().execute(_resolving(scope.kind), {"slug": scope.slug, "now": now}).first()
    if row is None:
        raise NotFound(f"There is no {KINDS[scope.kind].noun} {scope.slug!r}.")
    return ScopeRow(scope, row.name, row.id)


@functools.cache
def _resolving(kind: str) -> Select[Any]:
    model = KINDS[kind].model
    return select(model.id, model.name).where(model.slug == bindparam("slug"),
                                              directory.shown_clause(kind, model.id, _NOW))


def _index(kind: str | None, order: str, scope_id: Any = _SCOPE_ID) -> tuple[Any, Any, Any, list[Any]]:
    """The sort column, id column, published column and filters of the scope's index."""
    found = KINDS[kind] if kind is not None else None
    if found is not None and found.link is not None:
        link = found.link
        return getattr(link, order), link.article_id, link.published, [found.link_key == scope_id]
    filters = [found.link_key == scope_id] if found is not None else []
    return getattr(Article, order), Article.id, Article.published, filters


def _joined(query: Select[Any], id_column: Any) -> Select[Any]:
    """The query over the scope's index table, joined to articles when that is another table."""
    if id_column is Article.id:
        return query
    return query.select_from(id_column.table).join(Article, Article.id == id_column)


def _filter_only(column: Any, sqlite: bool) -> Any:
    """On SQLite, the column in a form no index can serve: the term filters, never picks the walk.

    Without ANALYZE statistics SQLite took ``deleted IS NULL`` for a selective equality on
    ix_articles_deleted, read every live article through it and sorted them all (3 s a site
    feed at a million articles, bench/render); in the updated order it took ``published <=
    now`` for the range to walk and sorted the scope. Inside coalesce() neither term can use
    an index, so the index in the page's own order is walked and stops at the page's end.
    PostgreSQL keeps statistics and plans well with the bare column, but misjudges coalesce()
    (it then sorted a whole topic: 160 ms at a million), so it gets the bare column.
    """
    return func.coalesce(column, null()) if sqlite else column


@dataclass(frozen=True)
class _Statements:
    page: Select[Any]  # (id, sort value) of one page and one row more, newest first
    upcoming: Select[Any]  # the next scheduled publication of the scope
    tombstones: Select[Any]
    expired: Select[Any]  # the latest deletion that is no longer reported


@functools.cache
def _statements(kind: str | None, order: str, paged: bool, sqlite: bool) -> _Statements:
    sort, id_column, published, filters = _index(kind, order)
    deleted = _filter_only(Article.deleted, sqlite)
    due = published if order == "published" else _filter_only(published, sqlite)
    keyset = []
    if paged:
        # (sort, id) < (when, last_id), with a plain bound on sort so that the index walk
        # starts at the cursor: both planners only filter with the OR (and SQLite with a row
        # value), and a page half-way down a million articles read 500,000 rows first.
        # In the published order :shown_until is also the cursor's instant when that is earlier
        # than now: one bound on the walked column, as SQLite uses just one.
        when: Any = bindparam("when")
        last_id: Any = bindparam("last_id")
        keyset = [sort <= when, or_(sort < when, id_column < last_id)]
    page = (_joined(select(id_column, sort), id_column)
            .where(*filters, visibility.public_clause(bindparam("shown_until"), due, deleted), *keyset)
            .order_by(sort.desc(), id_column.desc()).limit(bindparam("limit")))
    upcoming = _joined(select(func.min(published)), id_column).where(
        *filters, visibility.scheduled_clause(_NOW, published, deleted))
    return _Statements(page, upcoming, _tombstones(kind), _expired(kind))


def select_entries(session: Session, scope: ScopeRow, *, now: dt.datetime, order: str,
                   limit: int, cursor: Cursor | None, tombstone_days: int,
                   with_tombstones: bool) -> Selection:
    """Published articles of the scope, newest ``order`` first (ties by id), one page.

    ``cursor`` (from params.cursor, of this ``order``) is resolved as a public one: see
    store.articles.cursor_position, which keeps a scheduled article's key from placing the page.
    """
    connection = session.connection()
    statements = _statements(scope.scope.kind, order, cursor is not None,
                             connection.dialect.name == "sqlite")
    params: dict[str, Any] = {"scope_id": scope.id, "now": now, "shown_until": now, "limit": limit + 1}
    if cursor is not None:
        when, last_id = cursor_position(connection, cursor, now=now, public=True)
        params |= {"when": when, "last_id": last_id}
        if order == "published":
            params["shown_until"] = min(now, when)
    rows = connection.execute(statements.page, params).all()
    articles = _load(connection, [row[0] for row in rows[:limit]])
    next_cursor = None
    if len(rows) > limit:  # the page's last entry, by its key: no row id leaves the service
        next_cursor = Cursor(order, rows[limit - 1][1], articles[-1].key).encode()
    tombstones: list[Deletion] = []
    aged_out = None
    if with_tombstones and tombstone_days > 0:
        days = dt.timedelta(days=tombstone_days)
        tombstones = [Deletion(uid, deleted) for uid, deleted in connection.execute(
            statements.tombstones, params | {"since": now - days, "limit": limit})]
        # A tombstone that aged out changed the bytes with no write: that instant is when the
        # document last changed, in every process alike (its Last-Modified, feeds/freshness.py).
        expired = connection.scalar(statements.expired, params | {"since": now - days, "before": now - 2 * days})
        aged_out = None if expired is None else expired + days
    upcoming = connection.scalar(statements.upcoming, params)
    expiries = [t.deleted + dt.timedelta(days=tombstone_days) for t in tombstones]
    next_change = min([when for when in [upcoming, *expiries] if when is not None], default=None)
    return Selection(articles, next_cursor, tombstones, next_change, aged_out)


def _tombstones(kind: str | None) -> Select[Any]:
    """Articles deleted since :since that had been public (RFC 6721 section 2), at most :limit.

    One deleted before its embargo ended was never public: it leaves no trace at all.
    Recent deletions are few and a scope's articles many, so the walk is over
    ix_articles_deleted and the scope only a filter: "section_id + 0" and a correlated EXISTS
    keep SQLite (without statistics) from walking the scope's index instead.
    """
    query: Any = select(Article.uid, Article.deleted).where(
        visibility.left_tombstone_clause(), Article.deleted > bindparam("since"),
        Article.deleted <= _NOW)
    return _deleted_in_scope(query, kind).order_by(Article.deleted.desc(), Article.id.desc()).limit(
        bindparam("limit"))


def _expired(kind: str | None) -> Select[Any]:
    """The latest deletion in (:before, :since] of an article that had been public: its
    tombstone is no longer reported (RFC 6721 section 2). The walk is bounded like
    _tombstones' (recent deletions only): one that aged out longer ago than TOMBSTONE_DAYS
    has long been followed by a write or a render that the Last-Modified already shows."""
    query: Any = select(func.max(Article.deleted)).where(
        visibility.left_tombstone_clause(), Article.deleted > bindparam("before"),
        Article.deleted <= bindparam("since"))
    return _deleted_in_scope(query, kind)


def _deleted_in_scope(query: Any, kind: str | None) -> Any:
    """A walk over ix_articles_deleted kept to the scope by a filter only: "section_id + 0" and
    a correlated EXISTS keep SQLite (without statistics) from walking the scope's index instead."""
    if kind is None:
        return query
    found = KINDS[kind]
    if found.link is None:
        return query.where(found.link_key + 0 == _SCOPE_ID)
    return query.where(exists().where(found.link.article_id == Article.id, found.link_key == _SCOPE_ID))


_IDS: Any = bindparam("ids", expanding=True)
# Built once: constructing a statement costs more than running it (bench/render).
_TOPICS_OF = (select(ArticleTopic.article_id, Topic.name, Topic.slug)
              .join(Topic, Topic.id == ArticleTopic.topic_id).where(ArticleTopic.article_id.in_(_IDS))
              .order_by(ArticleTopic.article_id, ArticleTopic.position))
_AUTHORS_OF = (select(ArticleAuthor.article_id, Author.name, ArticleAuthor.email, ArticleAuthor.url)
               .join(Author, Author.id == ArticleAuthor.author_id)
               .where(ArticleAuthor.article_id.in_(_IDS))
               .order_by(ArticleAuthor.article_id, ArticleAuthor.position))
_ARTICLES = (select(Article.id, Article.uid, Article.key, Article.title, Article.url,
                    Article.summary, Article.content, Article.published, Article.updated,
                    Article.language, Section.name, Section.slug, *IMAGE_COLUMNS)
             .join(Section, Section.id == Article.section_id).where(Article.id.in_(_IDS)))


def _load(connection: Connection, ids: list[int]) -> list[EntryRow]:
    """The articles of ``ids``, in that order: three Core queries."""
    if not ids:
        return []
    params = {"ids": ids}
    topics: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for article_id, name, slug in connection.execute(_TOPICS_OF, params).all():
        topics[article_id].append((name, slug))
    authors: dict[int, list[tuple[str, str | None, str | None]]] = defaultdict(list)
    for article_id, name, email, url in connection.execute(_AUTHORS_OF, params).all():
        authors[article_id].append((name, email, url))
    by_id = {}
    for (article_id, uid, key, title, url, summary, content, published, updated, language, section,
         section_slug, *image) in connection.execute(_ARTICLES, params).all():
        by_id[article_id] = EntryRow(uid, key, title, url, summary, content, published, updated,
                                  image_of(image), language,
                                  (section, section_slug), tuple(topics[article_id]),
                                  tuple(authors[article_id]))
    return [by_id[i] for i in ids]
