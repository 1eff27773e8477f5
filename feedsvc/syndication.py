"""The public feeds: /feed.*, /sections|topics|authors/<slug>/feed.*, and /feeds.opml.

HTTP in → scope and page → (render cache) → selection → document → bytes out.
"""

from __future__ import annotations

import datetime as dt
import functools
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import quote, urlencode
from xml.sax.saxutils import escape, quoteattr

from flask import Blueprint, Flask, Response, current_app, request
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from . import cache, db, entries, formats, params, site, urls
from .changes import Scope
from .document import Category, Enclosure, Entry, Feed, Person, Tombstone
from .models import Article, ArticleAuthor, ArticleTopic, Author, Section, Topic
from .polling import respond
from .sanitize import clean_html

bp = Blueprint("syndication", __name__)
FEED_ID_DATE = "2026"  # the tag date of every feed id: fixed, so ids never change
LABELS = {"sections": "section", "topics": "topic", "authors": "author"}


@functools.cache  # reading the installed package's metadata costs milliseconds
def _generator() -> tuple[str, str, str]:
    try:
        return ("feedsvc", version("feedsvc"), "https://github.com/feedsvc/feedsvc")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return ("feedsvc", "0", "https://github.com/feedsvc/feedsvc")


def hub_url(base: str) -> str:
    return current_app.config["WEBSUB_HUB"] or f"{base}/websub"


def feed_title(site_title: str, scope: entries.ScopeRow) -> str:
    return site_title if scope.name is None else f"{site_title}: {scope.name}"


def _query(order: str, limit: int | None, cursor: str | None) -> str:
    """The query string of a feed page, parameters in one fixed order (see params for each)."""
    query = {k: v for k, v in (("order", order if order != "published" else None),
                               ("limit", str(limit) if limit else None),
                               ("cursor", cursor)) if v}
    return f"?{urlencode(query)}" if query else ""


def feed_id(authority: str, kind: str | None, slug: str | None, order: str) -> str:
    """The permanent tag URI (RFC 4151) of a feed: ASCII, so the slug is percent-encoded.

    Encoded as in the feed's URL (UTF-8, upper-case hex): a tag URI is ASCII, and the W3C
    validator rejects "feed:sections/বাংলাদেশ" (issue 12). An ASCII slug reads as before.
    """
    path = "site" if kind is None or slug is None else f"{kind}/{quote(slug, safe='')}"
    return f"tag:{authority},{FEED_ID_DATE}:feed:{path}" + (":updated" if order == "updated" else "")


def to_document(selection: entries.Selection, scope: entries.ScopeRow, fmt: str, *, base: str,
                authority: str, site_title: str, order: str, limit: int | None,
                cursor: str | None) -> Feed:
    """The feed document of one page of a scope: pure data, absolute URLs, UTC."""
    kind, slug = scope.scope.kind, scope.scope.slug
    feed_url = urls.feed(base, kind, slug, fmt)
    title = feed_title(site_title, scope)
    subtitle = (f"Latest articles from {site_title}" if scope.name is None
                else f"{site_title}: articles of the {LABELS[kind or '']} {scope.name}")
    if order == "updated":
        subtitle += ", most recently updated first"
    next_url = None
    if selection.next_cursor:
        next_url = feed_url + _query(order, limit, selection.next_cursor)
    languages = {a.language for a in selection.articles if a.language}
    return Feed(
        id=feed_id(authority, kind, slug, order),
        title=title, subtitle=subtitle,
        self_url=feed_url + _query(order, limit, cursor), feed_url=feed_url,
        hub_url=hub_url(base), alternate_url=urls.scope_page(base, kind, slug),
        next_url=next_url, language=languages.pop() if len(languages) == 1 else None,
        generator=_generator(), site_title=site_title,
        entries=tuple(_entry(article, base) for article in selection.articles),
        tombstones=tuple(Tombstone(gone.uid, gone.deleted) for gone in selection.tombstones))


def _entry(article: entries.Shown, base: str) -> Entry:
    section, section_slug = article.section
    categories = [Category(section, f"{base}/sections/",
                           urls.scope_page(base, "sections", section_slug))]
    categories += [Category(name, f"{base}/topics/", urls.scope_page(base, "topics", slug))
                   for name, slug in article.topics]
    image = None
    if article.image_url:
        image = Enclosure(article.image_url, article.image_type, article.image_length)
    page = urls.article_page(base, article.key)
    content = article.content
    if content and article.url is None:
        # Saved without a URL, its relative links could not be resolved then: the article's
        # page here is its URL in the feed, so they resolve against that.
        content = clean_html(content, page)
    return Entry(
        id=article.uid, title=article.title, link=article.url or page,
        published=article.published, updated=article.updated,
        authors=tuple(Person(name, email, url) for name, email, url in article.authors),
        categories=tuple(categories), summary=article.summary, content=content,
        image=image, language=article.language, key=article.key)


def _params() -> tuple[str, int, params.Cursor | None]:
    """order, limit and cursor of a feed request; a bad one is a 400 before anything else."""
    args, config = request.args, current_app.config
    order = params.order(args)
    limit = params.limit(args, default=config["FEED_SIZE"], maximum=config["FEED_MAX_SIZE"])
    return order, limit, params.cursor(args, order)


def variant_key(base: str, scope: Scope, fmt: str, order: str, limit: int | None,
                cursor: str | None) -> str:
    """The render cache's name for one feed document: everything its bytes depend on.

    ``limit`` is the one the client gave (None without ?limit=): it shows in the rel="self"
    URL, so ``?limit=50`` and no limit are two documents even when FEED_SIZE is 50. The fast
    path (fastpoll.py) names the default document through this same function.
    """
    return "|".join(map(str, (base, scope.kind, scope.slug, fmt, order, limit, cursor)))


def serve_feed(scope: Scope, fmt: str) -> Response:
    """A feed for a poller: from the render cache, as 200 or 304, identity or gzip."""
    order, limit, cursor = _params()
    app, now, base = current_app, site.now(), site.base_url()
    explicit_limit = limit if "limit" in request.args else None
    # The cursor as this service writes it: another spelling of it is the same document.
    cursor_text = cursor.encode() if cursor else None
    variant = variant_key(base, scope, fmt, order, explicit_limit, cursor_text)

    def render() -> cache.Rendered:
        return render_feed(db.get_session(), scope, fmt, now=now, base=base, order=order,
                           limit=limit, cursor=cursor, explicit_limit=explicit_limit)

    document = cache.get_cache(app).fetch(variant, [scope], now, render)
    self_url = urls.feed(base, scope.kind, scope.slug, fmt) + _query(order, explicit_limit, cursor_text)
    links = [f'<{self_url}>; rel="self"', f'<{hub_url(base)}>; rel="hub"']
    return respond(request, document, ceiling=app.config["CACHE_MAX_AGE"], now=now, links=links)


def render_feed(session: Session, scope: Scope, fmt: str, *, now: dt.datetime, base: str,
                order: str = "published", limit: int | None = None,
                cursor: params.Cursor | None = None, explicit_limit: int | None = None) -> cache.Rendered:
    """Select, build and render one feed document; NotFound for an unknown or hidden scope."""
    config = current_app.config
    row = entries.resolve(session, scope, now)
    selection = entries.select_entries(
        session, row, now=now, order=order, limit=limit or config["FEED_SIZE"], cursor=cursor,
        tombstone_days=config["TOMBSTONE_DAYS"], with_tombstones=fmt == "atom" and cursor is None)
    feed = to_document(selection, row, fmt, base=base, authority=site.authority(),
                       site_title=config["SITE_TITLE"], order=order, limit=explicit_limit,
                       cursor=cursor.encode() if cursor else None)
    shown = [a.published for a in selection.articles] + [t.deleted for t in feed.tombstones]
    return cache.Rendered(formats.render(feed, fmt), formats.CONTENT_TYPES[fmt],
                          valid_until=selection.next_change, newest=max(shown, default=None))


@bp.get("/feed.<any(atom, rss, json):fmt>")
def site_feed(fmt: str) -> Response:
    return serve_feed(Scope(), fmt)


@bp.get("/<any(sections, topics, authors):kind>/<slug>/feed.<any(atom, rss, json):fmt>")
def scope_feed(kind: str, slug: str, fmt: str) -> Response:
    return serve_feed(Scope(kind, slug), fmt)


def public_scopes(session: Session, now: dt.datetime) -> list[tuple[str, str, str]]:
    """(kind, slug, name) of every section, topic and author with a public article, by name.

    One EXISTS per scope, answered by the first row of its (scope, published) index: the cost
    follows the number of scopes, not of articles (an IN over every public article took 8 s
    at a million, bench/render).
    """
    visible = (Article.deleted.is_(None) | (Article.published <= Article.deleted))
    found: list[tuple[str, str, str]] = []
    for kind, model, link in (("sections", Section, None), ("topics", Topic, ArticleTopic),
                              ("authors", Author, ArticleAuthor)):
        if link is None:
            seen = exists().where(Article.section_id == model.id, Article.published <= now,
                                  visible)
        else:
            key = link.topic_id if model is Topic else link.author_id  # type: ignore[union-attr]
            seen = exists().where(key == model.id, link.published <= now,
                                  Article.id == link.article_id, visible)
        rows = session.execute(select(model.slug, model.name).where(seen).order_by(model.name))
        found += [(kind, slug, name) for slug, name in rows]
    return found


@bp.get("/feeds.opml")
def opml() -> Response:
    """Every feed as OPML 2.0 (http://opml.org/spec2.opml), grouped by scope kind."""
    base, now = site.base_url(), site.now()
    title = current_app.config["SITE_TITLE"]
    scopes = public_scopes(db.get_session(), now)
    lines = ['<?xml version="1.0" encoding="utf-8"?>', '<opml version="2.0">',
             f"<head><title>{_x(title)} feeds</title></head>", "<body>"]

    def outlines(kind: str | None, slug: str | None, name: str) -> None:
        for fmt, label in (("atom", "Atom"), ("rss", "RSS"), ("json", "JSON Feed")):
            # type="rss" is OPML's word for any feed with an xmlUrl, JSON Feed included.
            lines.append(f'<outline type="rss" text={quoteattr(f"{name} ({label})")} '
                         f"title={quoteattr(f'{name} ({label})')} "
                         f"xmlUrl={quoteattr(urls.feed(base, kind, slug, fmt))} "
                         f"htmlUrl={quoteattr(urls.scope_page(base, kind, slug))}/>")

    lines.append(f"<outline text={quoteattr(title)}>")
    outlines(None, None, title)
    lines.append("</outline>")
    for kind in ("sections", "topics", "authors"):
        lines.append(f'<outline text="{kind.capitalize()}">')
        for scope_kind, slug, name in scopes:
            if scope_kind == kind:
                outlines(kind, slug, f"{title}: {name}")
        lines.append("</outline>")
    lines += ["</body>", "</opml>"]
    body = "\n".join(lines).encode()
    return Response(body, content_type="text/x-opml; charset=utf-8",
                    headers={"Cache-Control": "no-cache"})


def _x(text: str) -> str:
    return escape(text)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
