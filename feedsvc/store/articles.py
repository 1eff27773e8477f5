"""Queries and writes of articles. Every function takes a session first and never commits."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, Select, and_, bindparam, insert, or_, select
from sqlalchemy.orm import Session, selectinload

from feedsvc.errors import Conflict, FeedsvcError, Gone, Invalid, NotFound, PreconditionFailed
from feedsvc.store import db, payload, visibility
from feedsvc.store.changes import due_scopes, pages_of, public_scopes_of, scheduled_for, withdrawn_of
from feedsvc.store.models import (
    Article,
    ArticleAuthor,
    ArticleTopic,
    Author,
    Section,
    Setting,
    Topic,
    article_image,
    image_columns,
)
from feedsvc.store.params import Cursor
from feedsvc.store.payload import Byline
from feedsvc.store.sanitize import clean_html
from feedsvc.store.scopes import KIND_OF_MODEL, KINDS, Scope
from feedsvc.store.slugs import key_from_title, slugify

NamedModel = TypeVar("NamedModel", Section, Topic, Author)


def id_authority(session: Session, configured: str | None) -> str:
    """The tag-URI authority recorded at first start; later configuration cannot change it."""
    stored = session.get(Setting, "id_authority")
    if stored is not None:
        return stored.value
    db.insert_ignore(session, Setting, {"name": "id_authority", "value": configured or "localhost"})
    stored = session.get(Setting, "id_authority", populate_existing=True)
    assert stored is not None
    return stored.value


def tag_uri(authority: str, published: dt.datetime, key: str) -> str:
    """The permanent id (RFC 4151): fixed at creation, so no later edit or move changes it."""
    return f"tag:{authority},{published.astimezone(dt.UTC):%Y-%m-%d}:article:{key}"


def get_article(session: Session, key: str) -> Article | None:
    return session.scalar(_with_links(select(Article).where(Article.key == key)))


def get_public_article(session: Session, key: str, now: dt.datetime) -> Article | None:
    """The article under ``key`` if the public ever saw it (live, or deleted since: a 410), else
    None — decided in the first statement, so a scheduled key costs exactly what an unknown one
    does (nothing of it is loaded) and no timing tells them apart (issue 15)."""
    return session.scalar(_with_links(select(Article).where(
        Article.key == key, visibility.was_public_clause(now))))


def get_live_article(session: Session, key: str) -> Article:
    """The article under ``key`` for the API: NotFound when there is none, Gone when deleted."""
    article = get_article(session, key)
    if article is None:
        raise NotFound(f"There is no article with the key {key!r}.")
    if article.deleted is not None:
        raise Gone(f"The article {key!r} was deleted.")
    return article


def _with_links(query: Select[Any]) -> Select[Any]:
    return query.options(selectinload(Article.topic_links), selectinload(Article.author_links))


def free_key(session: Session, title: str) -> str:
    """A key derived from the title, numbered when it is taken: "floods", "floods-2", ..."""
    base = key_from_title(title)
    taken = set(session.scalars(select(Article.key).where(
        or_(Article.key == base, Article.key.like(f"{base}-%")))))
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def named(session: Session, model: type[NamedModel], name: str) -> NamedModel:
    """The section, topic or author called ``name``, created with a free slug if new.

    Two names that fold to one slug ("C#" and "C") get "c" and "c-2"; a slug, once given, is
    kept forever. Concurrent creators are settled by the unique constraints: the loser of an
    insert race finds the winner's row on the next look-up.
    """
    for _ in range(50):
        row = session.scalar(select(model).where(model.name == name))
        if row is not None:
            return row
        base = slugify(name)
        taken = set(session.scalars(select(model.slug).where(
            or_(model.slug == base, model.slug.like(f"{base}-%")))))
        slug, n = base, 2
        while slug in taken:
            slug, n = f"{base}-{n}", n + 1
        db.insert_ignore(session, model, {"name": name, "slug": slug})
    raise Conflict(f"Could not give {name!r} a slug; try again.")


@dataclass(frozen=True)
class Saved:
    article: Article
    created: bool
    changed: bool
    touched: frozenset[Scope] = frozenset()  # scopes changed in public, before and after
    due: dict[Scope, dt.datetime] = field(default_factory=dict)  # an embargoed one's scopes
    pages: tuple[tuple[str, dt.datetime], ...] = ()  # its page: (key, instant it changes)
    withdrawn: tuple[tuple[str, dt.datetime], ...] = ()  # (key, instant it no longer changes)


def save_article(session: Session, key: str, fields: dict[str, Any], *, now: dt.datetime,
                 authority: str, replace: bool, if_match: int | None = None,
                 must_exist: bool = False, must_not_exist: bool = False,
                 uid: str | None = None, sanitised: Sanitised | None = None) -> Saved:
    """Create or change the article ``key`` from checked ``fields`` (see payload.parse).

    ``replace`` (PUT) resets every field the body leaves out, except ``published`` and
    ``updated``, which keep their stored values; otherwise (PATCH) only given fields change.
    ``uid`` gives a new article a known id (an import of an export); by default it is minted.
    ``sanitised``: the fields' content already cleaned (see Sanitised), else it is cleaned here.
    ``updated`` never goes below ``published``: when the client does not send it and a new
    ``published`` passes it, it moves along. A deleted article given new content comes back
    with its old id.
    """
    article = get_article(session, key)
    if if_match is not None and (article is None or article.version != if_match
                                 or article.deleted is not None):
        raise PreconditionFailed("The article has changed since you read it (If-Match).")
    if article is not None and must_not_exist:
        raise Conflict(f"An article with the key {key!r} exists; PUT to it to replace it.")
    if article is None or article.deleted is not None:
        if must_exist:
            raise (NotFound if article is None else Gone)(f"There is no article {key!r}.")
        before = public_scopes_of(article, now)
        created = _create(session, key, fields, now, authority, article, uid, sanitised)
        return _saved(created, True, before, None, now)
    state = _state(article)
    target = _target(state, fields, replace, sanitised)
    if target == state:
        return Saved(article, False, False)
    before, scheduled = public_scopes_of(article, now), scheduled_for(article, now)
    _apply(session, article, target)
    article.modified = now
    return _saved(article, False, before, scheduled, now)


def _saved(article: Article, created: bool, before: frozenset[Scope], scheduled: dt.datetime | None,
           now: dt.datetime) -> Saved:
    touched, due = before | public_scopes_of(article, now), due_scopes(article, now)
    return Saved(article, created, True, touched, due, pages_of(article, touched, due, now),
                 withdrawn_of(article, scheduled))


# What an article holds where nothing was given: the creation defaults, and what a PUT resets.
_BLANK: dict[str, Any] = {"title": None, "section": None, "topics": (), "authors": (), "summary": None,
                          "content": None, "url": None, "image": None, "language": None}


def _target(state: dict[str, Any], fields: dict[str, Any], replace: bool,
            sanitised: Sanitised | None = None) -> dict[str, Any]:
    """What the stored ``state`` becomes under a PUT (``replace``) or PATCH of ``fields``."""
    target = dict(state) if not replace else _BLANK | {
        "published": state["published"], "updated": state["updated"]}
    for name, value in fields.items():
        # A null date means "not given": the stored one stays (see the README).
        if name != "key" and not (name in ("published", "updated") and value is None):
            target[name] = value
    if fields.get("updated") is None:
        target["updated"] = max(state["updated"], target["published"])
    _check_dates(target)
    target["content"] = _stored_content(target, sanitised)
    return target


def live_articles(session: Session, keys: Iterable[str]) -> dict[str, Article]:
    """The live (not deleted) articles under ``keys``, with everything ``_state`` reads, in a few
    queries (the importer's check for records that change nothing)."""
    keys = set(keys)
    if not keys:
        # No statement: SQLite answers an empty IN by walking every live article through
        # ix_articles_deleted (57 ms at 20,000 articles, and growing), which every batch of a
        # fresh import asked for once (bench/import).
        return {}
    return {article.key: article for article in session.scalars(_with_links(select(Article).where(
        Article.key.in_(keys), Article.deleted.is_(None))))}


def put_changes_nothing(article: Article, fields: dict[str, Any],
                        sanitised: Sanitised | None = None) -> bool:
    """Whether a PUT of ``fields`` (their content cleaned ahead as ``sanitised``, if given)
    would leave the live ``article`` exactly as it is."""
    try:
        state = _state(article)
        return _target(state, fields, replace=True, sanitised=sanitised) == state
    except FeedsvcError:
        return False  # let the ordinary path refuse it, with its reason


@dataclass(frozen=True)
class Sanitised:
    """An article's content already made what it is stored as (``clean_content`` of its fields),
    for instance while the importer's child process read it (transfer/ahead.py), with the
    content and url it was made from (the fields' own objects: no copy, nor in a pickle).

    It stands in for cleaning an article whose content and url are those (see _stored_content):
    a new article's or a PUT's of the same fields, on creation and update alike, so each
    imported record's HTML is sanitised once.
    """

    html: str | None
    content: str | None
    url: str | None

    @classmethod
    def of(cls, fields: Mapping[str, Any]) -> Sanitised:
        """``fields``' content cleaned now (clean_content)."""
        return cls(clean_content(fields), fields.get("content"), fields.get("url"))


def _stored_content(target: Mapping[str, Any], sanitised: Sanitised | None) -> str | None:
    """The content ``target`` stores: ``sanitised``'s when it was made from the target's own
    content and url, else cleaned now (a PATCH that keeps the stored url, say)."""
    if sanitised is not None and (sanitised.content, sanitised.url) == (target["content"], target["url"]):
        return sanitised.html
    return clean_content(target)


def _new_state(fields: dict[str, Any], now: dt.datetime,
               sanitised: Sanitised | None = None) -> dict[str, Any]:
    """A new article's whole state from checked ``fields``: ``_BLANK`` where nothing was given,
    ``published`` now (whole seconds) and ``updated`` = ``published`` by default, the content
    cleaned (or ``sanitised`` given). Invalid without a title or a section, or with ``updated``
    before ``published``."""
    published = fields.get("published") or now.replace(microsecond=0)
    target = _BLANK | {name: fields[name] for name in _BLANK if name in fields}
    target |= {"published": published, "updated": fields.get("updated") or published}
    missing = [name for name in payload.REQUIRED if target[name] is None]
    if missing:
        raise Invalid("A new article needs a title and a section.", [
            {"pointer": f"#/{name}", "detail": "is required"} for name in missing])
    _check_dates(target)
    target["content"] = _stored_content(target, sanitised)
    return target


def _create(session: Session, key: str, fields: dict[str, Any], now: dt.datetime,
            authority: str, tombstone: Article | None, uid: str | None,
            sanitised: Sanitised | None = None) -> Article:
    target = _new_state(fields, now, sanitised)
    published = target["published"]
    if tombstone is not None:
        article = tombstone
        article.deleted = None
    else:
        article = Article(key=key, uid=uid or tag_uri(authority, published, key),
                          topic_links=[], author_links=[])
    _apply(session, article, target)
    article.modified = now
    session.add(article)
    return article


def _check_dates(target: dict[str, Any]) -> None:
    problem = payload.dates_problem(target["published"], target["updated"])
    if problem:
        raise Invalid("updated is earlier than published.", problem)


def clean_content(fields: Mapping[str, Any]) -> str | None:
    """The content an article with these fields stores: sanitised, its links made absolute
    against its ``url`` (clean_html); None for none."""
    content = fields.get("content")
    return clean_html(content, fields.get("url")) or None if content else None


def _state(article: Article) -> dict[str, Any]:
    """The stored article in the shape ``payload.parse`` gives, for comparison and export."""
    image = article_image(article)
    return {
        "title": article.title, "section": article.section.name,
        "topics": tuple(link.topic.name for link in article.topic_links),
        "authors": tuple(Byline(link.author.name, link.email, link.url)
                         for link in article.author_links),
        "summary": article.summary, "content": article.content,
        "published": article.published, "updated": article.updated, "url": article.url,
        "image": image, "language": article.language,
    }


def _apply(session: Session, article: Article, target: dict[str, Any]) -> None:
    # Look the names up before touching the article: a query autoflushes, and a half-filled
    # new article must not reach the database.
    section = named(session, Section, target["section"])
    topics = [named(session, Topic, name) for name in target["topics"]]
    authors = [(named(session, Author, b.name), b) for b in target["authors"]]
    article.title = target["title"]
    article.section = section
    article.summary = target["summary"]
    article.content = target["content"]
    article.published = target["published"]
    article.updated = target["updated"]
    article.url = target["url"]
    for name, value in image_columns(target["image"]).items():
        setattr(article, name, value)
    article.language = target["language"]
    dates = {"published": article.published, "updated": article.updated}
    old_topics = {link.topic_id: link for link in article.topic_links}
    article.topic_links = [
        _relink(old_topics.get(topic.id), ArticleTopic, topic=topic, position=i, **dates)
        for i, topic in enumerate(topics)]
    old_authors = {link.author_id: link for link in article.author_links}
    article.author_links = [
        _relink(old_authors.get(author.id), ArticleAuthor, author=author, position=i,
                email=byline.email, url=byline.url, **dates)
        for i, (author, byline) in enumerate(authors)]


L = TypeVar("L", ArticleTopic, ArticleAuthor)


def _relink(link: L | None, model: type[L], **values: Any) -> L:
    if link is None:
        return model(**values)
    for name, value in values.items():
        setattr(link, name, value)
    return link


def delete_article(session: Session, key: str, *, now: dt.datetime,
                   if_match: int | None = None) -> Article:
    """Turn the article into a tombstone; its row, id and links stay for RFC 6721 and export."""
    article = get_live_article(session, key)
    if if_match is not None and article.version != if_match:
        raise PreconditionFailed("The article has changed since you read it (If-Match).")
    article.deleted = now.replace(microsecond=0)  # shown in feeds (RFC 6721 when=): whole seconds
    article.modified = now
    return article


@dataclass(frozen=True)
class Page:
    articles: Sequence[Article]
    next_cursor: str | None


def list_articles(session: Session, *, now: dt.datetime, limit: int, public: bool,
                  within: Mapping[str, str | None] | None = None,
                  status: visibility.Status | None = None, cursor: Cursor | None = None) -> Page:
    """Articles newest ``published`` first (ties by id), filtered, from a cursor on.

    ``public`` (the pages) resolves the cursor as every public listing does, see
    ``cursor_position``; the API (not ``public``) lists scheduled articles, so any key will do.
    ``within`` maps scope kinds (``"sections"``…) to the slug each article must be in (None:
    any). ``status`` is one of params.STATUSES or None for every live article.
    """
    query = _with_links(select(Article))
    for segment, slug in (within or {}).items():
        if slug is None:
            continue
        kind = KINDS[segment]
        named = select(kind.model.id).where(kind.model.slug == slug).scalar_subquery()
        if kind.link is None:
            query = query.where(kind.link_key == named)
        else:
            query = query.where(Article.id.in_(select(kind.link.article_id).where(kind.link_key == named)))
    query = query.where(visibility.status_clause(status, now))
    if cursor is not None:
        published, last_id = cursor_position(session.connection(), cursor, now=now, public=public)
        query = query.where(or_(Article.published < published,
                                and_(Article.published == published, Article.id < last_id)))
    rows = list(session.scalars(
        query.order_by(Article.published.desc(), Article.id.desc()).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        next_cursor = Cursor("published", rows[limit - 1].published, rows[limit - 1].key).encode()
    return Page(rows[:limit], next_cursor)


# A cursor names its article by key (params.Cursor); its row id, the keyset's tie-breaker, is
# one look-up of the unique index on key. For a public listing the article must have been
# public at some time by now, so the key of a scheduled article (or of one deleted before its
# instant) resolves exactly as an unknown key does, and the page is the same: one statement
# either way, a hidden key reading the one row an unknown key has not (as feeds.selection.resolve
# does for scopes; only a covering index on (key, published, deleted) would even that out).
# A deleted or edited article still resolves, so a reader walking history keeps going.
_ROW_OF_KEY = select(Article.id).where(Article.key == bindparam("key"))
_NOW: Any = bindparam("now")
_ROW_OF_PUBLIC_KEY = _ROW_OF_KEY.where(visibility.was_public_clause(_NOW))
# The position just after every entry of an instant: both databases keep microseconds, and
# no row id is below 1. (A "largest id" would not do: PostgreSQL casts it to the column's int4.)
_NEXT_INSTANT = dt.timedelta(microseconds=1)


def cursor_position(connection: Connection, cursor: Cursor, *, now: dt.datetime,
                    public: bool) -> tuple[dt.datetime, int]:
    """The keyset position (sort instant, row id) after which the cursor's page starts.

    A key that does not resolve (unknown, not public, or public once and since rescheduled)
    is no error: the page then starts at the cursor's instant itself, and at worst repeats the
    entries that share that instant, rather than refuse a reader whose cursor was good. So
    no answer, 200 or 400, tells a hidden key from an unknown one.
    """
    if public:
        row_id = connection.scalar(_ROW_OF_PUBLIC_KEY, {"key": cursor.key, "now": now})
    else:
        row_id = connection.scalar(_ROW_OF_KEY, {"key": cursor.key})
    if row_id is None:
        return cursor.when + _NEXT_INSTANT, 0
    return cursor.when, row_id


def export_state(article: Article) -> dict[str, Any]:
    """Every stored field of an article, tombstone included, for ``feedsvc export``."""
    return _state(article) | {"key": article.key, "id": article.uid,
                              "deleted": article.deleted}


@dataclass(frozen=True)
class NewArticle:
    """An article known not to exist yet, for ``create_many``."""

    key: str
    fields: dict[str, Any]
    uid: str | None = None
    deleted: dt.datetime | None = None
    sanitised: Sanitised | None = None  # its content cleaned ahead, if it was


def create_many(session: Session, items: Sequence[NewArticle], *, now: dt.datetime,
                authority: str) -> frozenset[Scope]:
    """Insert many new articles in a few statements: the bulk path of ``feedsvc import``.

    The caller guarantees that no key or uid exists yet and that none repeats; the rules are
    those of ``_create``. The ORM unit of work costs milliseconds an article, which a bulk
    load of a newsroom's archive cannot afford. Returns the scopes the new articles are in.
    """
    if not items:
        return frozenset()
    states = [_new_state(item.fields, now, item.sanitised) for item in items]
    names: dict[type[Any], set[str]] = {Section: set(), Topic: set(), Author: set()}
    for state in states:
        names[Section].add(state["section"])
        names[Topic].update(state["topics"])
        names[Author].update(b.name for b in state["authors"])
    found = {model: _ids_by_name(session, model, wanted) for model, wanted in names.items()}
    ids = {model: {name: id_ for name, (id_, _) in rows.items()} for model, rows in found.items()}
    rows: list[dict[str, Any]] = []
    for item, state in zip(items, states, strict=True):
        rows.append({
            "key": item.key, "uid": item.uid or tag_uri(authority, state["published"], item.key),
            "title": state["title"], "section_id": ids[Section][state["section"]],
            "summary": state["summary"], "content": state["content"],
            "published": state["published"], "updated": state["updated"], "url": state["url"],
            **image_columns(state["image"]),
            "language": state["language"], "deleted": item.deleted, "modified": now,
            "version": 1})
    # Core executemany on the session's connection: the ORM's bulk path handled each row in
    # Python again, and an ordered RETURNING made SQLite insert one row a statement (together
    # ~1 ms an article under cProfile, bench/import). Rows come back with their keys, in any order.
    connection = session.connection()
    article_ids: dict[str, int] = {key: id_ for key, id_ in connection.execute(
        insert(Article).returning(Article.key, Article.id), rows)}
    topic_rows, author_rows = [], []
    for item, state in zip(items, states, strict=True):
        article_id = article_ids[item.key]
        topic_rows += [{"article_id": article_id, "topic_id": ids[Topic][name], "position": i}
                       for i, name in enumerate(state["topics"])]
        author_rows += [{"article_id": article_id, "author_id": ids[Author][b.name], "position": i,
                         "email": b.email, "url": b.url}
                        for i, b in enumerate(state["authors"])]
    if topic_rows:
        connection.execute(_insert_link(ArticleTopic, "topic_id"), topic_rows)
    if author_rows:
        connection.execute(_insert_link(ArticleAuthor, "author_id", "email", "url"), author_rows)
    return frozenset({Scope()} | {Scope(KIND_OF_MODEL[model], slug) for model, rows in found.items()
                                  for _, slug in rows.values()})


def _insert_link(model: type[ArticleTopic | ArticleAuthor], *columns: str) -> Any:
    """An INSERT of a link row whose dates are copied from its article's row in the database.

    Each link repeats its article's ``published`` and ``updated`` (for the feeds' order); read
    by the statement instead of sent with every link, they cost no bind processing: the
    aware-UTC check and SQLite's date formatting ran ~9 times an article, 0.1 ms of the
    importer's ~0.7 ms an article (cProfile, bench/import, 20,000 articles).
    """
    names = ("article_id", "position", *columns)
    table = model.__table__.c
    values = select(*(bindparam(name, type_=table[name].type) for name in names),
                    Article.published, Article.updated)
    return insert(model).from_select(
        [*names, "published", "updated"],
        values.where(Article.id == bindparam("article_id")))


def _ids_by_name(session: Session, model: type[NamedModel],
                 wanted: set[str]) -> dict[str, tuple[int, str]]:
    """``name -> (id, slug)`` for every wanted name, created where missing."""
    found: dict[str, tuple[int, str]] = {}
    chunk = sorted(wanted)
    for start in range(0, len(chunk), 500):
        part = chunk[start:start + 500]
        found.update((name, (id_, slug)) for name, id_, slug in session.execute(
            select(model.name, model.id, model.slug).where(model.name.in_(part))))
    missing = sorted(wanted - set(found))
    if missing:
        _create_named(session, model, missing)
        for start in range(0, len(missing), 500):
            part = missing[start:start + 500]
            found.update((name, (id_, slug)) for name, id_, slug in session.execute(
                select(model.name, model.id, model.slug).where(model.name.in_(part))))
    for name in wanted - set(found):  # another writer took a slug meanwhile: one at a time
        row = named(session, model, name)
        found[name] = (row.id, row.slug)
    return found


def _create_named(session: Session, model: type[NamedModel], names: list[str]) -> None:
    """Insert ``names`` (none of them stored) with the slugs ``named`` would give them in this
    order, in a few statements: the first batches of an archive bring thousands of new topics,
    and ``named`` costs three statements each (2 ms; 4.5 s of a 20,000-article import)."""
    bases = {name: slugify(name) for name in names}
    wanted = sorted(set(bases.values()))
    taken: set[str] = set()
    for start in range(0, len(wanted), 500):
        taken.update(session.scalars(select(model.slug).where(model.slug.in_(wanted[start:start + 500]))))
    # A base already held, or wanted twice here, gets numbered: read what is numbered already.
    crowded = taken | {base for base, count in Counter(bases.values()).items() if count > 1}
    for base in sorted(crowded):
        taken.update(session.scalars(select(model.slug).where(model.slug.like(f"{base}-%"))))
    rows = []
    for name in names:
        slug, n = bases[name], 2
        while slug in taken:
            slug, n = f"{bases[name]}-{n}", n + 1
        taken.add(slug)
        rows.append({"name": name, "slug": slug})
    session.connection().execute(db.dialect_insert(session)(model).on_conflict_do_nothing(), rows)
