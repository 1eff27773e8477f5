"""The feed routes: /feed.*, /sections|topics|authors/<slug>/feed.*, and /feeds.opml.

HTTP in → feed address → current document (feeds.freshness, rendered by feeds.service only
when its scope changed) → polling.answer → bytes out.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from lxml import etree

from feedsvc.errors import NotFound
from feedsvc.feeds import address, formats, freshness, service, surrogate, urls
from feedsvc.feeds.address import FeedAddress
from feedsvc.store import db, directory, params, site
from feedsvc.store.scopes import KINDS, Scope
from feedsvc.web import polling, problems

bp = Blueprint("feeds", __name__)


def serve_feed() -> Response:
    """A feed for a poller: its current document as 200 or 304, identity or gzip.

    The address (a bad parameter is params' 400), then the document, rendered only when its
    scope changed since (freshness.py), then the answer that the fast path gives too (polling.answer).
    """
    app, now, base = current_app, site.now(), site.base_url()
    address = FeedAddress.from_path(base, request.path, request.args, max_limit=app.config["FEED_MAX_SIZE"])
    if address is None:  # pragma: no cover - the rules admit feed paths only
        raise NotFound("There is no feed at this address.")
    environ = request.environ
    settings = service.settings_for(app)  # type: ignore[arg-type]
    links = polling.links(address, settings.hub_url(base))
    zipped = polling.accepts_gzip_header(environ.get("HTTP_ACCEPT_ENCODING", ""))
    for _ in range(3):
        current = freshness.get_cache(app).fetch(
            address.key(), address.scope, now, lambda session: service.render(session, address, settings, now=now),
            canonical=address.canonical)
        try:
            status, headers, body = polling.answer(
                current, links=links, keys=polling.keys(address), zipped=zipped,
                head=False, if_none_match=environ.get("HTTP_IF_NONE_MATCH"),
                if_modified_since=environ.get("HTTP_IF_MODIFIED_SINCE"),
                policy=polling.CachePolicy.from_config(app.config), now=now)
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


@bp.get(address.SITE_RULE)
@bp.get(address.SCOPE_RULE)
def feed(**_: str) -> Response:
    """Every feed URL: the address (FeedAddress.from_path) decides what it names."""
    return serve_feed()


@bp.get("/feeds.opml")
def opml() -> Response:
    """Every feed as OPML 2.0 (http://opml.org/spec2.opml), grouped by scope kind, by lxml.

    One outline per scope, in Atom: a reader importing the list subscribes to each feed once.
    ``?format=rss|json`` gives that format instead, ``?format=all`` all three (each titled with
    its format); anything else is params' 400 naming ``format``.
    """
    wanted = params.opml_format(request.args)
    chosen = urls.FORMATS if wanted == "all" else (wanted,)
    base, now = site.base_url(), site.now()
    title = current_app.config["SITE_TITLE"]
    root = etree.Element("opml", version="2.0")
    etree.SubElement(etree.SubElement(root, "head"), "title").text = f"{title} feeds"
    body = etree.SubElement(root, "body")

    def outlines(parent: etree._Element, scope: Scope, name: str) -> None:
        for fmt in chosen:
            text = f"{name} ({formats.LABELS[fmt]})" if len(chosen) > 1 else name
            # type="rss" is OPML's word for any feed with an xmlUrl, JSON Feed included.
            etree.SubElement(parent, "outline", type="rss", text=text, title=text,
                             xmlUrl=urls.feed(base, scope.kind, scope.slug, fmt),
                             htmlUrl=urls.scope_page(base, scope.kind, scope.slug))

    outlines(etree.SubElement(body, "outline", text=title), Scope(), title)
    session = db.get_session()
    for kind in KINDS.values():
        group = etree.SubElement(body, "outline", text=kind.plural_label)
        for named in directory.named_scopes(session, kind.segment, now):
            outlines(group, Scope(kind.segment, named.slug), f"{title}: {named.name}")
    document = etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)
    # It changes with the set of public scopes, so with the site's articles: the site's key.
    return polling.hold_at_the_edge(Response(document, content_type="text/x-opml; charset=utf-8"),
                                    (surrogate.SITE_KEY,), polling.CachePolicy.from_config(current_app.config), now)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
