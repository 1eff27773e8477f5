"""What the pages know about feed scopes: their names, how many articles, their last update.

Every query function takes a session first and never commits. Only what the public may see
counts: an article is shown from its ``published`` instant on and until it is deleted, so a
section, topic or author that only scheduled articles name stays unknown to the pages until
then (a topic can be news in itself). The directory's filter (``fold``, ``matches``) is here too.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from feedsvc.store import visibility
from feedsvc.store.models import Article, Section
from feedsvc.store.scopes import KINDS


@dataclass(frozen=True)
class ScopeInfo:
    """One feed scope as the directory lists it; ``kind`` and ``slug`` are None for the site."""

    kind: str | None
    slug: str | None
    name: str
    count: int  # published articles, not deleted
    updated: dt.datetime | None  # the latest ``updated`` among them


Row = tuple[str, str, int, dt.datetime | None]


def fold(text: str) -> str:
    """Text as the directory's filter compares it: NFKC, lower case, words one space apart.

    The filter of /feeds runs twice, on the server for ``?q=`` and in the page's script
    (feedsvc/static/filter.js) as a reader types, and both must narrow to the same rows. Every
    row's ``data-key`` is folded here; the script folds what is typed with
    ``normalize("NFKC").toLowerCase()``, the same Unicode mappings as ``str.lower()``.
    Not ``casefold()``: JavaScript has none, and "Straße" would match on one side only.
    """
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


def search_key(scope: ScopeInfo) -> str:
    """What the filter looks in: the scope's name and its slug (as a URL shows it), folded."""
    return fold(f"{scope.name} {scope.slug or ''}")


def matches(key: str, query: str) -> bool:
    """Whether every word of the folded ``query`` occurs in ``key``; an empty query matches all."""
    return all(word in key for word in query.split())


def _stats(session: Session, kind: str, now: dt.datetime, slug: str | None = None) -> list[Row]:
    """slug, name, live article count and their latest ``updated``, of each scope ever shown.

    The feeds of a scope whose articles were all deleted still exist (Atom keeps tombstones,
    and /feeds.opml lists them), so the directory lists it too, with a count of 0.
    """
    live = visibility.public_clause(now)
    columns = (func.count(case((live, Article.id))), func.max(case((live, Article.updated))))
    if kind not in KINDS:
        raise ValueError(f"unknown scope kind {kind!r}")
    model, link, key = KINDS[kind].model, KINDS[kind].link, KINDS[kind].link_key
    query = select(model.slug, model.name, *columns)
    if link is None:
        query = query.join(Article, Article.section_id == model.id)
    else:
        query = query.join(link, key == model.id).join(Article, Article.id == link.article_id)
    query = query.group_by(model.id, model.slug, model.name)
    if slug is not None:
        query = query.where(model.slug == slug)
    return [(s, name, count, updated) for s, name, count, updated
            in session.execute(query.where(visibility.was_public_clause(now)))]


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
    news in itself. The feeds answer the same (feeds.selection.resolve).
    """
    if kind not in KINDS:
        return None
    # Decided in the first statement, by one probe of the scope's index: the counts below are
    # read only for a scope the public has seen, so one named only by scheduled articles costs
    # what an unknown slug does, however many it has (issue 15).
    model = KINDS[kind].model
    if session.scalar(select(model.id).where(model.slug == slug, shown_clause(kind, model.id, now))) is None:
        return None
    rows = _stats(session, kind, now, slug)
    if not rows:
        return None
    _, name, count, updated = rows[0]
    return ScopeInfo(kind, slug, name, count, updated)


class ScopeName(NamedTuple):
    slug: str
    name: str


def public_sections(session: Session, now: dt.datetime) -> list[ScopeName]:
    """The sections with a published article, for navigation: one index probe per section."""
    live = (select(Article.id).where(Article.section_id == Section.id, visibility.public_clause(now))
            .correlate(Section).exists())
    rows = session.execute(select(Section.slug, Section.name).where(live))
    return sorted((ScopeName(slug, name) for slug, name in rows), key=lambda s: (s.name.casefold(), s.slug))


def site(session: Session, name: str, now: dt.datetime) -> ScopeInfo:
    """The whole site as one scope."""
    count, updated = session.execute(
        select(func.count(Article.id), func.max(Article.updated)).where(visibility.public_clause(now))).one()
    return ScopeInfo(None, None, name, count, updated)


def shown_clause(kind: str, scope_id: Any, now: Any) -> ColumnElement[bool]:
    """SQL: EXISTS an article of the scope ``scope_id`` of ``kind`` that the public has seen by
    ``now`` (visibility.was_public), answered by the first row of the scope's (scope, published)
    index — the link table's copy of the dates for topics and authors."""
    found = KINDS[kind]
    published = Article.published if found.link is None else found.link.published
    seen = select(Article.id).where(found.link_key == scope_id,
                                    visibility.was_public_clause(now, published))
    if found.link is not None:
        seen = seen.select_from(found.link).join(Article, Article.id == found.link.article_id)
    return seen.exists()


def named_scopes(session: Session, kind: str, now: dt.datetime) -> list[ScopeName]:
    """(slug, name) of every scope of ``kind`` with an article ever public, by name.

    One EXISTS per scope (``shown_clause``): the cost follows the number of scopes, not of
    articles (an IN over every public article took 8 s at a million, bench/render).
    """
    model = KINDS[kind].model
    rows = session.execute(select(model.slug, model.name)
                           .where(shown_clause(kind, model.id, now)).order_by(model.name))
    return [ScopeName(slug, name) for slug, name in rows]
