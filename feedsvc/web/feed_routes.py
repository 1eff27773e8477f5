"""The feed routes: /feed.*, /sections|topics|authors/<slug>/feed.*, and /feeds.opml.

HTTP in → feed address → current document (feeds.freshness, rendered by feeds.service only
when its scope changed) → polling.answer → bytes out.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from flask import Blueprint, Flask, Response, current_app, request
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from feedsvc.feeds import freshness, service, urls
from feedsvc.feeds.address import FeedAddress
from feedsvc.store import db, site
from feedsvc.store.changes import Scope
from feedsvc.store.models import Article, ArticleAuthor, ArticleTopic, Author, Section, Topic
from feedsvc.web import polling, problems

bp = Blueprint("feeds", __name__)


def serve_feed(scope: Scope, fmt: str) -> Response:
    """A feed for a poller: its current document as 200 or 304, identity or gzip.

    The address (a bad parameter is params' 400), then the document, rendered only when its
    scope changed since (freshness.py), then the answer that the fast path gives too (polling.answer).
    """
    app, now, base = current_app, site.now(), site.base_url()
    address = FeedAddress.from_args(base, scope, fmt, request.args, max_limit=app.config["FEED_MAX_SIZE"])
    environ = request.environ
    settings = service.settings_for(app)  # type: ignore[arg-type]
    links = polling.links(address, settings.hub_url(base))
    zipped = polling.accepts_gzip_header(environ.get("HTTP_ACCEPT_ENCODING", ""))
    for _ in range(3):
        current = freshness.get_cache(app).fetch(
            address.key(), scope, now, lambda session: service.render(session, address, settings, now=now),
            canonical=address.canonical)
        try:
            status, headers, body = polling.answer(
                current, links=links, zipped=zipped,
                head=False, if_none_match=environ.get("HTTP_IF_NONE_MATCH"),
                if_modified_since=environ.get("HTTP_IF_MODIFIED_SINCE"),
                ceiling=app.config["CACHE_MAX_AGE"], now=now)
        except freshness.Changed:  # its stored bytes were replaced while this answer was made
            continue
        # One bytes object: waitress sends it in one write (many small chunks were ~4x slower).
        return FeedAnswer(body if status == 200 else None, status=status, headers=headers)
    return problems.unavailable()  # replaced under three answers in a row: the client tries again


class FeedAnswer(Response):
    """polling.answer's status and headers as they are, as the fast path sends them: werkzeug
    would strip a 304's Last-Modified (an RFC 2616 "entity header") and type a 304 text/html
    (which then drew the pages' Content-Security-Policy)."""

    default_mimetype = None

    def get_wsgi_headers(self, environ: Any) -> Any:
        if self.status_code == 304:
            return self.headers.copy()
        return super().get_wsgi_headers(environ)


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
