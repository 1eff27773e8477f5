"""The HTML pages: latest articles, a page per section, topic and author, articles, the feed directory.

Pages are where people find feeds: each names its own scope's feeds first and then the site's
in ``<link rel="alternate">`` (autodiscovery), and the directory lists every feed ready to copy.
Only what is public shows: listings ask the store for published articles, and a scheduled
article, or a scope only scheduled articles name, answers exactly as an unknown one does.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, current_app, render_template, request
from markupsafe import Markup
from sqlalchemy.exc import SQLAlchemyError

from feedsvc.errors import Gone, NotFound
from feedsvc.feeds import figure, formats, surrogate, urls
from feedsvc.feeds.document import LeadImage
from feedsvc.feeds.service import absolute_body, lead_image
from feedsvc.store import articles, db, directory, params, site
from feedsvc.store.directory import ScopeInfo
from feedsvc.store.models import article_image
from feedsvc.store.sanitize import clean_html
from feedsvc.store.scopes import KINDS, Scope, named_of
from feedsvc.web import polling

bp = Blueprint("pages", __name__)

# Format name, media type for autodiscovery (JSON Feed 1.1 asks for application/feed+json).
HEADINGS = {400: "This link does not work", 404: "Page not found", 410: "This article was deleted"}

# Pages run no inline code and load nothing from elsewhere; article bodies may show images
# from the newsroom's own host, hence img-src https:.
CSP = ("default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' https: data:; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


@dataclass(frozen=True)
class FeedLink:
    """One feed of a scope, as autodiscovery and the pages name it."""

    title: str
    type: str
    href: str
    format: str  # "atom", "rss", "json"
    label: str  # "Atom", "RSS", "JSON Feed"
    scope: str  # what the feed holds, for link text: "World", "all articles"


def feed_links(kind: str | None, slug: str | None, name: str | None = None) -> list[FeedLink]:
    """The three feeds of a scope (the site when ``kind`` is None), with titles a reader shows."""
    title = current_app.config["SITE_TITLE"]
    scope = "all articles" if kind is None or name is None else KINDS[kind].phrase.format(name=name)
    base = site.base_url()
    return [FeedLink(f"{title}: {scope} ({label})", media, urls.feed(base, kind, slug, fmt), fmt,
                     label, scope)
            for fmt, label in formats.LABELS.items() for media in [formats.MEDIA_TYPES[fmt]]]


def alternates(scope: ScopeInfo | None) -> list[FeedLink]:
    """Autodiscovery links: the page's own scope first, then the whole site."""
    own = feed_links(scope.kind, scope.slug, scope.name) if scope and scope.kind else []
    return own + feed_links(None, None)


def _listing(kind: str | None = None, slug: str | None = None) -> tuple[articles.Page, bool]:
    """One page of a listing from ``?cursor=`` (params.cursor), and whether it is the first."""
    within = {kind: slug} if kind and slug else {}
    cursor = params.cursor(request.args)
    page = articles.list_articles(db.get_session(), now=site.now(), limit=current_app.config["PAGE_SIZE"],
                               public=True, status="published", cursor=cursor, within=within)
    return page, cursor is None


@bp.get("/")
def home() -> str:
    page, first = _listing()
    return render_template(
        "pages/home.html", page=page, first=first, nav="home", feeds=alternates(None),
        sections=directory.public_sections(db.get_session(), site.now()),
        empty=first and not page.articles, base=site.base_url())


def _scope_page(kind: str, slug: str) -> str:
    scope = directory.scope(db.get_session(), kind, slug, site.now())
    if scope is None:
        raise NotFound(f"There is no {KINDS[kind].noun} at this address.")
    page, first = _listing(kind, slug)
    return render_template(
        "pages/scope.html", scope=scope, kind_label=KINDS[kind].label, page=page,
        first=first, feeds=alternates(scope),
        own_feeds=feed_links(kind, slug, scope.name))


@bp.get(f"/<any({', '.join(KINDS)}):kind>/<slug>/")
def scope_page(kind: str, slug: str) -> str:
    return _scope_page(kind, slug)


@bp.get("/articles/<key>")
def article(key: str) -> str:
    # A scheduled article answers exactly as an unknown key does, in what and in how long: its
    # existence is news too. So does one deleted before its instant, which was never public.
    found = articles.get_public_article(db.get_session(), key, site.now())
    if found is None:
        raise NotFound("There is no article at this address.")
    if found.deleted is not None:
        raise Gone("This article was deleted.")
    section = found.section
    scope = ScopeInfo("sections", section.slug, section.name, 0, None)
    follow = [(kind.label, named.name, feed_links(kind.segment, named.slug, named.name))
              for kind, named in named_of(found)]
    image = lead_image(article_image(found))
    page = urls.article_page(site.base_url(), found.key)
    if image is not None and (not image.is_picture or figure.shows(
            absolute_body(found.content, found.url, page), image)):
        image = None  # no picture, or the body shows it already: as in the feeds (feeds/figure.py)
    return render_template(
        "pages/article.html", article=found, body=article_body(found.content, found.url),
        image=image, srcset=srcset(image),
        feeds=alternates(scope), follow=follow,
        source_host=urlsplit(found.url).hostname if found.url else None,
        # The newsroom's own page when the article has one (this page mirrors it), else this one.
        canonical=found.url or page)


def srcset(image: LeadImage | None) -> str | None:
    """Every file of the picture whose width is known, for the browser to choose from (HTML
    4.8.4.2.1 width descriptors); None unless there are two."""
    if image is None:
        return None
    sized = sorted({p.width: p.url for p in reversed(image.pictures) if p.width}.items())
    return ", ".join(f"{_candidate_url(url)} {width}w" for width, url in sized) if len(sized) > 1 else None


def _candidate_url(url: str) -> str:
    """``url`` as a srcset candidate reads it back. HTML's parser (4.8.4.3.10) takes a URL up
    to whitespace, so a "," inside one is kept (Chromium loads "b,640.jpg"), but it drops
    commas that end a URL: those go as %2C. Inner ones stay: RFC 3986 2.2 lets a server
    tell "," from "%2C", and image CDNs put commas in paths ("w_640,c_fill")."""
    stripped = url.rstrip(",")
    return stripped + "%2C" * (len(url) - len(stripped))


_HEADING = re.compile(r"<(/?)h([1-6])(?=[\s>])")


def article_body(content: str | None, url: str | None) -> Markup:
    """The stored body, sanitised again on the way out, its headings fitted under the title.

    The body was cleaned when it was saved; cleaning again costs little and keeps a row
    written by any other path harmless. The page's title is its only h1, so the body's top
    heading level becomes h2 and the others keep their distance from it (h1/h2 becomes h2/h3,
    h3/h4 becomes h2/h3), as the outline of the page needs.
    """
    if not content:
        return Markup("")
    cleaned = clean_html(content, url)
    # nh3 serialises every tag as "<h2" or "</h2" and escapes "<" in text, so this only
    # ever meets real heading tags.
    levels = [int(m[2]) for m in _HEADING.finditer(cleaned)]
    if not levels:
        return Markup(cleaned)
    shift = 2 - min(levels)
    return Markup(_HEADING.sub(lambda m: f"<{m[1]}h{min(int(m[2]) + shift, 6)}", cleaned))


@dataclass(frozen=True)
class DirectoryRow:
    """One scope's row in the feed directory; ``shown`` is False when ``?q=`` leaves it out."""

    scope: ScopeInfo
    anchor: str  # the row's id: feed-site, feed-topics-climate
    page: str
    feeds: list[FeedLink]
    key: str  # directory.search_key, for the page's script to match as a reader types
    shown: bool


@dataclass(frozen=True)
class DirectoryGroup:
    """The rows of one kind of scope, with how many of them the filter shows."""

    kind: str
    heading: str
    rows: list[DirectoryRow]

    @property
    def shown(self) -> int:
        return sum(row.shown for row in self.rows)


def directory_row(scope: ScopeInfo, query: str) -> DirectoryRow:
    """The row of ``scope``, shown when every word of the folded ``query`` is in its key."""
    key = directory.search_key(scope)
    anchor = "feed-" + (f"{scope.kind}-{scope.slug}" if scope.kind else "site")
    return DirectoryRow(scope, anchor, page_url(scope.kind, scope.slug),
                        feed_links(scope.kind, scope.slug, scope.name), key,
                        directory.matches(key, query))


@bp.get("/feeds")
def feeds() -> str:
    # Every row is rendered and ?q= only hides those it leaves out, so that the page's script
    # can widen a filter the server applied (static/filter.js). Four queries, however many
    # scopes there are.
    query = params.search(request.args)
    folded = directory.fold(query)
    session, now = db.get_session(), site.now()
    title = current_app.config["SITE_TITLE"]
    groups = [DirectoryGroup(kind.segment, kind.plural_label,
                             [directory_row(scope, folded)
                              for scope in directory.scopes(session, kind.segment, now)])
              for kind in KINDS.values()]
    return render_template(
        "pages/feeds.html", nav="feeds", feeds=alternates(None), query=query,
        max_query=params.MAX_SEARCH,
        whole=directory_row(directory.site(session, f"All of {title}", now), ""),
        groups=groups, total=sum(len(group.rows) for group in groups),
        shown=sum(group.shown for group in groups), opml=f"{site.base_url()}/feeds.opml")


def error_page(status: int, title: str, detail: str) -> Response | None:
    """An HTML error page when a person is asking, else None (the caller answers problem+json).

    Page routes always answer in HTML. A URL that matched no route gets HTML only when the
    client prefers it (a browser), never under /api/: scripts keep problem+json.
    """
    if request.blueprint != "pages":
        if request.url_rule is not None or status != 404 or request.path.startswith("/api/"):
            return None
        wanted = request.accept_mimetypes.best_match(
            ["application/problem+json", "application/json", "text/html"])
        if wanted != "text/html":
            return None
    sections = []
    if status != 503:  # a 503 says the database is away: asking it again would only wait
        try:
            sections = directory.public_sections(db.get_session(), site.now())
        except SQLAlchemyError:  # the error page must not fail because the database does
            current_app.logger.exception("error page without sections")
    heading = HEADINGS.get(status, title)
    html = render_template("pages/error.html", status=status, heading=heading, detail=detail,
                           sections=sections, feeds=alternates(None))
    return current_app.response_class(html, status=status, mimetype="text/html")


def _security_headers(response: Response) -> Response:
    for name, value in polling.SECURITY_HEADERS:
        response.headers.setdefault(name, value)
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CSP)
    return response


def _local(value: dt.datetime) -> dt.datetime:
    return value.astimezone(site.zone())


def rfc3339(value: dt.datetime) -> str:
    """The instant in TIMEZONE with its offset, for ``<time datetime>``."""
    return _local(value).isoformat(timespec="seconds")


def human(value: dt.datetime) -> str:
    """The date as a reader in TIMEZONE reads it: 19 June 2022, 02:17 +06."""
    local = _local(value)
    return f"{local.day} {local:%B %Y, %H:%M} {local.tzname()}"


def day(value: dt.datetime) -> str:
    """The date alone, short, in TIMEZONE: 19 Jun 2022 (the directory's rows)."""
    local = _local(value)
    return f"{local.day} {local:%b %Y}"


def article_url(key: str) -> str:
    """The path of an article's page (navigation stays on whatever host the reader used)."""
    return urls.article_page("", key)


def site_feeds() -> list[FeedLink]:
    return feed_links(None, None)


def page_url(kind: str | None, slug: str | None) -> str:
    return urls.scope_page("", kind, slug)


def init_app(app: Flask) -> None:
    # Pages get a hash ETag and no-cache, nothing stored per URL (issue 13): polling.validate_page.
    app.after_request(_validate_pages)
    app.register_blueprint(bp)
    app.extensions["feedsvc.error_page"] = error_page
    app.after_request(_security_headers)
    app.add_template_filter(rfc3339)
    app.add_template_filter(human)
    app.add_template_filter(day)
    app.add_template_global(article_url)
    app.add_template_global(page_url)
    app.add_template_global(site_feeds)
    app.add_template_global(feed_links)


def _validate_pages(response: Response) -> Response:
    if request.blueprint != "pages":
        return response
    response = polling.validate_page(response)
    keys = _surrogate_keys(response.status_code)
    if keys:
        polling.hold_at_the_edge(response, keys, polling.CachePolicy.from_config(current_app.config), site.now())
    return response


# The parameters each page reads; with any other, a page is not kept at the edge.
_PAGE_PARAMS = {"pages.home": {"cursor"}, "pages.scope_page": {"cursor"}, "pages.feeds": {"q"}}


def _surrogate_keys(status: int) -> tuple[str, ...]:
    """What a page shows, as surrogate keys (feeds/surrogate.py), for the answers a cache may
    keep until a change purges them: a page (200, 304), and an article's 404 or 410, which
    its key's purge ends when it is published (its key is its URL's: it says nothing the URL
    did not, the same for a scheduled article as for none). Other errors, and a page asked
    with a parameter it does not read: none."""
    endpoint, args = request.endpoint, request.view_args or {}
    if not set(request.args) <= _PAGE_PARAMS.get(endpoint or "", set()):
        return ()  # a query string of the visitor's own: not one more object for the edge to keep
    if endpoint == "pages.article" and status in (200, 304, 404, 410):
        # An error page lists the sections: the site's key too.
        return surrogate.page_keys(args["key"]) + (() if status < 400 else (surrogate.SITE_KEY,))
    if status not in (200, 304):
        return ()
    if endpoint == "pages.scope_page":
        return (surrogate.scope_key(Scope(args["kind"], args["slug"])),)
    if endpoint in ("pages.home", "pages.feeds"):
        return (surrogate.SITE_KEY,)
    return ()
