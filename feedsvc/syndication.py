"""The public feeds: /feed.*, /sections|topics|authors/<slug>/feed.*, and /feeds.opml.

HTTP in → scope and page → (render cache) → selection → document → bytes out.
"""

from __future__ import annotations

import datetime as dt
import functools
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

from flask import Blueprint, Flask, Response, current_app, request
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from . import cache, db, entries, errors, formats, params, polling, site, urls
from .address import FeedAddress
from .changes import Scope
from .document import Category, Enclosure, Entry, Feed, Person, Tombstone
from .models import Article, ArticleAuthor, ArticleTopic, Author, Section, Topic
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
    return urls.hub(base, current_app.config["WEBSUB_HUB"])


def feed_title(site_title: str, scope: entries.ScopeRow) -> str:
    return site_title if scope.name is None else f"{site_title}: {scope.name}"


def feed_id(authority: str, kind: str | None, slug: str | None, order: str) -> str:
    """The permanent tag URI (RFC 4151) of a feed: ASCII, so the slug is percent-encoded.

    Encoded as in the feed's URL (UTF-8, upper-case hex): a tag URI is ASCII, and the W3C
    validator rejects "feed:sections/বাংলাদেশ" (issue 12). An ASCII slug reads as before.
    """
    path = "site" if kind is None or slug is None else f"{kind}/{quote(slug, safe='')}"
    return f"tag:{authority},{FEED_ID_DATE}:feed:{path}" + (":updated" if order == "updated" else "")


def to_document(selection: entries.Selection, scope: entries.ScopeRow, address: FeedAddress, *,
                authority: str, site_title: str) -> Feed:
    """The feed document of one page of a scope: pure data, absolute URLs, UTC."""
    kind, slug, base, order = scope.scope.kind, scope.scope.slug, address.origin, address.order
    feed_url = address.feed_url()
    title = feed_title(site_title, scope)
    subtitle = (f"Latest articles from {site_title}" if scope.name is None
                else f"{site_title}: articles of the {LABELS[kind or '']} {scope.name}")
    if order == "updated":
        subtitle += ", most recently updated first"
    next_url = None
    if selection.next_cursor:
        next_url = feed_url + address.query(cursor=selection.next_cursor)
    languages = {a.language for a in selection.articles if a.language}
    return Feed(
        id=feed_id(authority, kind, slug, order),
        title=title, subtitle=subtitle,
        self_url=address.url(), feed_url=feed_url,
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


def serve_feed(scope: Scope, fmt: str) -> Response:
    """A feed for a poller: its current document as 200 or 304, identity or gzip.

    The address (a bad parameter is params' 400), then the document, rendered only when its
    scope changed since (cache.py), then the answer that the fast path gives too (polling.answer).
    """
    app, now, base = current_app, site.now(), site.base_url()
    address = FeedAddress.from_args(base, scope, fmt, request.args, max_limit=app.config["FEED_MAX_SIZE"])
    environ = request.environ
    links = polling.links(address, hub_url(base))
    zipped = polling.accepts_gzip_header(environ.get("HTTP_ACCEPT_ENCODING", ""))
    for _ in range(3):
        current = cache.get_cache(app).fetch(
            address.key(), scope, now, lambda session: render_feed(session, address, now=now),
            canonical=address.canonical)
        try:
            status, headers, body = polling.answer(
                current, links=links, zipped=zipped,
                head=False, if_none_match=environ.get("HTTP_IF_NONE_MATCH"),
                if_modified_since=environ.get("HTTP_IF_MODIFIED_SINCE"),
                ceiling=app.config["CACHE_MAX_AGE"], now=now)
        except cache.Changed:  # its stored bytes were replaced while this answer was made
            continue
        # One bytes object: waitress sends it in one write (many small chunks were ~4x slower).
        return FeedAnswer(body if status == 200 else None, status=status, headers=headers)
    return errors.unavailable()  # replaced under three answers in a row: the client tries again


class FeedAnswer(Response):
    """polling.answer's status and headers as they are, as the fast path sends them: werkzeug
    would strip a 304's Last-Modified (an RFC 2616 "entity header") and type a 304 text/html
    (which then drew the pages' Content-Security-Policy)."""

    default_mimetype = None

    def get_wsgi_headers(self, environ: Any) -> Any:
        if self.status_code == 304:
            return self.headers.copy()
        return super().get_wsgi_headers(environ)


def render_feed(session: Session, address: FeedAddress, *, now: dt.datetime) -> cache.Rendered:
    """Select, build and render one feed document; NotFound for an unknown or hidden scope."""
    config = current_app.config
    row = entries.resolve(session, address.scope, now)
    cursor = params.parse_cursor(address.cursor, address.order) if address.cursor else None
    selection = entries.select_entries(
        session, row, now=now, order=address.order, limit=address.limit or config["FEED_SIZE"],
        cursor=cursor, tombstone_days=config["TOMBSTONE_DAYS"],
        with_tombstones=address.fmt == "atom" and cursor is None)
    feed = to_document(selection, row, address, authority=site.authority(),
                       site_title=config["SITE_TITLE"])
    shown = [a.published for a in selection.articles] + [t.deleted for t in feed.tombstones]
    shown += [selection.aged_out] if selection.aged_out is not None else []
    return cache.Rendered(formats.render(feed, address.fmt), formats.CONTENT_TYPES[address.fmt],
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
