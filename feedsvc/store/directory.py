"""What the pages know about feed scopes: their names, how many articles, their last update.

Every function takes a session first and never commits. Only what the public may see counts:
an article is shown from its ``published`` instant on and until it is deleted, so a section,
topic or author that only scheduled articles name stays unknown to the pages until then (a
topic can be news in itself).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from feedsvc.store.models import Article, ArticleAuthor, ArticleTopic, Author, Section, Topic

KINDS = ("sections", "topics", "authors")


@dataclass(frozen=True)
class ScopeInfo:
    """One feed scope as the directory lists it; ``kind`` and ``slug`` are None for the site."""

    kind: str | None
    slug: str | None
    name: str
    count: int  # published articles, not deleted
    updated: dt.datetime | None  # the latest ``updated`` among them


# kind -> (scope model, link table or None for sections, the link's scope column)
_SCOPES: dict[str, tuple[Any, Any, Any]] = {
    "sections": (Section, None, None),
    "topics": (Topic, ArticleTopic, ArticleTopic.topic_id),
    "authors": (Author, ArticleAuthor, ArticleAuthor.author_id),
}

def _live(now: dt.datetime) -> ColumnElement[bool]:
    """Shown now: published, and not deleted."""
    return and_(Article.deleted.is_(None), Article.published <= now)


def _ever_shown(now: dt.datetime) -> ColumnElement[bool]:
    """Shown at some time: published by now, and not deleted before its published instant."""
    return and_(Article.published <= now,
                or_(Article.deleted.is_(None), Article.published <= Article.deleted))


Row = tuple[str, str, int, dt.datetime | None]


def _stats(session: Session, kind: str, now: dt.datetime, slug: str | None = None) -> list[Row]:
    """slug, name, live article count and their latest ``updated``, of each scope ever shown.

    The feeds of a scope whose articles were all deleted still exist (Atom keeps tombstones,
    and /feeds.opml lists them), so the directory lists it too, with a count of 0.
    """
    live = _live(now)
    columns = (func.count(case((live, Article.id))), func.max(case((live, Article.updated))))
    if kind not in _SCOPES:
        raise ValueError(f"unknown scope kind {kind!r}")
    model, link, key = _SCOPES[kind]
    query = select(model.slug, model.name, *columns)
    if link is None:
        query = query.join(Article, Article.section_id == model.id)
    else:
        query = query.join(link, key == model.id).join(Article, Article.id == link.article_id)
    query = query.group_by(model.id, model.slug, model.name)
    if slug is not None:
        query = query.where(model.slug == slug)
    return [(s, name, count, updated) for s, name, count, updated
            in session.execute(query.where(_ever_shown(now)))]


def scopes(session: Session, kind: str, now: dt.datetime) -> list[ScopeInfo]:
    """Every scope of ``kind`` the public has seen an article in, in alphabetical order."""
    found = [ScopeInfo(kind, slug, name, count, updated)
             for slug, name, count, updated in _stats(session, kind, now)]
    # Sorted here, not in SQL: SQLite and PostgreSQL collate differently, and "Ölpreis"
    # belongs beside "oil" for a reader whatever the database.
    return sorted(found, key=lambda s: (s.name.casefold(), s.slug or ""))


def scope(session: Session, kind: str, slug: str, now: dt.datetime) -> ScopeInfo | None:
    """The scope ``kind``/``slug`` if the public has ever seen an article in it, else None.

    A scope whose articles were all deleted is still known (its name was public); one named
    only by scheduled articles is not, until the first of them is published: a topic can be
    news in itself. The feeds answer the same (entries.resolve).
    """
    if kind not in KINDS:
        return None
    rows = _stats(session, kind, now, slug)
    if not rows:
        return None
    _, name, count, updated = rows[0]
    return ScopeInfo(kind, slug, name, count, updated)


class Named(NamedTuple):
    slug: str
    name: str


def live_sections(session: Session, now: dt.datetime) -> list[Named]:
    """The sections with a published article, for navigation: one index probe per section."""
    live = (select(Article.id).where(Article.section_id == Section.id, _live(now))
            .correlate(Section).exists())
    rows = session.execute(select(Section.slug, Section.name).where(live))
    return sorted((Named(slug, name) for slug, name in rows), key=lambda s: (s.name.casefold(), s.slug))


def site(session: Session, name: str, now: dt.datetime) -> ScopeInfo:
    """The whole site as one scope."""
    count, updated = session.execute(
        select(func.count(Article.id), func.max(Article.updated)).where(_live(now))).one()
    return ScopeInfo(None, None, name, count, updated)
