"""The feed service: one feed document rendered from the store, without Flask or a request.

address → scope row → selection → document → bytes. The routes, the WebSub outbox and the
worker all call ``render``; the settings a render reads go in as one frozen ``FeedSettings``
(built once per app by ``settings_for``), never from ``current_app``.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import math
import time
from dataclasses import dataclass
from html import escape
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import quote

from flask import Flask
from sqlalchemy.orm import Session

from feedsvc import metrics
from feedsvc.feeds import figure, formats, selection, urls
from feedsvc.feeds.address import FeedAddress
from feedsvc.feeds.document import Branding, Category, Enclosure, Entry, Feed, LeadImage, Person, Tombstone
from feedsvc.feeds.freshness import Rendered
from feedsvc.store import params, site
from feedsvc.store.payload import Image
from feedsvc.store.sanitize import clean_html
from feedsvc.store.scopes import KINDS

FEED_ID_DATE = "2026"  # the tag date of every feed id: fixed, so ids never change


@dataclass(frozen=True)
class FeedSettings:
    """What a render reads besides the store: the site's title, its tag-URI authority (RFC
    4151), the default and tombstone limits, the hub feeds name (None: the built-in one), the
    site's language and its branding (issue 17).

    Every field shows in the bytes or decides them, so ``mark()`` names the lot: stored
    documents rendered under another mark are stale (freshness.FeedCache, ``settings_mark``).
    """

    site_title: str
    authority: str
    feed_size: int  # entries on a page without ?limit=
    tombstone_days: int  # how long an Atom feed keeps a deletion (RFC 6721)
    hub: str | None  # WEBSUB_HUB
    language: str | None = None  # SITE_LANGUAGE
    branding: Branding = Branding()
    lead_figure: bool = True  # FEED_LEAD_FIGURE: the lead image as a <figure> atop each body
    content: str = "full"  # FEED_CONTENT: "full" bodies, or "summary" and a link to the article

    def hub_url(self, origin: str) -> str:
        """The WebSub hub the feeds at ``origin`` name in rel="hub"."""
        return urls.hub(origin, self.hub)

    def mark(self) -> str:
        """A digest of these settings and the generator, whose version every feed names."""
        return hashlib.sha256(repr((self, _generator())).encode()).hexdigest()


def rss_ttl(max_age: int) -> int | None:
    """CACHE_MAX_AGE (seconds) as RSS ``<ttl>`` (minutes): rounded up, so a reader never polls
    sooner than the feed's own Cache-Control allows; None (no <ttl>) when feeds are not cached."""
    return math.ceil(max_age / 60) if max_age > 0 else None


def settings_for(app: Flask) -> FeedSettings:
    """The app's FeedSettings, built on first use (the authority is read from the database)."""
    found = app.extensions.get("feedsvc.feed_settings")
    if found is None:
        config = app.config
        branding = Branding(logo=config["SITE_LOGO"], icon=config["SITE_ICON"],
                            rights=config["SITE_RIGHTS"], ttl=rss_ttl(config["CACHE_MAX_AGE"]))
        found = FeedSettings(config["SITE_TITLE"], site.authority(app), config["FEED_SIZE"],
                             config["TOMBSTONE_DAYS"], config["WEBSUB_HUB"],
                             language=config["SITE_LANGUAGE"], branding=branding,
                             lead_figure=config["FEED_LEAD_FIGURE"], content=config["FEED_CONTENT"])
        app.extensions["feedsvc.feed_settings"] = found
    return found  # type: ignore[no-any-return]


@functools.cache  # reading the installed package's metadata costs milliseconds
def _generator() -> tuple[str, str, str]:
    try:
        return ("feedsvc", version("feedsvc"), "https://github.com/feedsvc/feedsvc")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return ("feedsvc", "0", "https://github.com/feedsvc/feedsvc")


def feed_title(site_title: str, scope: selection.ScopeRow) -> str:
    return site_title if scope.name is None else f"{site_title}: {scope.name}"


def feed_id(authority: str, kind: str | None, slug: str | None, order: str) -> str:
    """The permanent tag URI (RFC 4151) of a feed: ASCII, so the slug is percent-encoded.

    Encoded as in the feed's URL (UTF-8, upper-case hex): a tag URI is ASCII, and the W3C
    validator rejects "feed:sections/বাংলাদেশ" (issue 12). An ASCII slug reads as before.
    """
    path = "site" if kind is None or slug is None else f"{kind}/{quote(slug, safe='')}"
    return f"tag:{authority},{FEED_ID_DATE}:feed:{path}" + (":updated" if order == "updated" else "")


def to_document(chosen: selection.Selection, scope: selection.ScopeRow, address: FeedAddress,
                settings: FeedSettings) -> Feed:
    """The feed document of one page of a scope: pure data, absolute URLs, UTC."""
    kind, slug, base, order = scope.scope.kind, scope.scope.slug, address.origin, address.order
    site_title = settings.site_title
    feed_url = address.feed_url()
    title = feed_title(site_title, scope)
    subtitle = (f"Latest articles from {site_title}" if scope.name is None
                else f"{site_title}: articles of the {KINDS[kind or ''].noun} {scope.name}")
    if order == "updated":
        subtitle += ", most recently updated first"
    next_url = None
    if chosen.next_cursor:
        next_url = feed_url + address.query(cursor=chosen.next_cursor)
    # SITE_LANGUAGE, when set, is every feed's language; an entry in another language says so
    # itself (Atom xml:lang, RSS dc:language, JSON Feed language: formats.py). Without it, the
    # one language all the entries share, if they do.
    languages = {a.language for a in chosen.articles if a.language}
    language = settings.language or (languages.pop() if len(languages) == 1 else None)
    return Feed(
        id=feed_id(settings.authority, kind, slug, order),
        title=title, subtitle=subtitle,
        self_url=address.url(), feed_url=feed_url,
        hub_url=settings.hub_url(base), alternate_url=urls.scope_page(base, kind, slug),
        next_url=next_url, language=language,
        generator=_generator(), site_title=site_title,
        entries=tuple(_entry(article, base, settings) for article in chosen.articles),
        tombstones=tuple(Tombstone(gone.uid, gone.deleted) for gone in chosen.tombstones),
        branding=settings.branding)


def _entry(article: selection.EntryRow, base: str, settings: FeedSettings) -> Entry:
    section, section_slug = article.section
    # Each with its page as RSS domain and Atom scheme: a reader can open the section or topic.
    categories = [Category(section, urls.scope_page(base, "sections", section_slug))]
    categories += [Category(name, urls.scope_page(base, "topics", slug)) for name, slug in article.topics]
    image = lead_image(article.image)
    page = urls.article_page(base, article.key)
    link = article.url or page
    content = absolute_body(article.content, article.url, page)
    if settings.content == "summary":
        content = teaser(article.summary, link)
    if settings.lead_figure:
        content = figure.with_figure(content, image)
    return Entry(
        id=article.uid, title=article.title, link=link,
        published=article.published, updated=article.updated,
        authors=tuple(Person(name, email, url) for name, email, url in article.authors),
        categories=tuple(categories), summary=article.summary, content=content,
        image=image, language=article.language, key=article.key)


def absolute_body(content: str | None, url: str | None, page: str) -> str | None:
    """The stored body as feeds carry it, every link absolute.

    Saved without a URL, its relative links could not be resolved then: the article's page
    here (``page``) is its URL in the feed, so they resolve against that. The article page
    asks figure.shows() of this same body, so page and feeds agree on the figure.
    """
    if content and url is None:
        return clean_html(content, page)
    return content


def lead_image(image: Image | None) -> LeadImage | None:
    """The stored image as a feed document carries it.

    A length of 0 is "unknown" (the RSS Advisory Board's reading of an enclosure's length,
    and what the importers read "0" as): no format writes it as a size, so it is None here.
    """
    if image is None:
        return None
    return LeadImage(
        Enclosure(image.url, image.type, image.length or None, image.width, image.height),
        image.alt, image.caption, image.credit,
        tuple(Enclosure(r.url, r.type, r.length or None, r.width, r.height) for r in image.renditions))


def teaser(summary: str | None, link: str) -> str:
    """The body of FEED_CONTENT=summary: the plain-text summary, then a link to the article."""
    text = f"<p>{escape(summary, quote=False)}</p>" if summary else ""
    return f'{text}<p><a href="{escape(link)}">Read the full article</a></p>'


def render(session: Session, address: FeedAddress, settings: FeedSettings, *,
           now: dt.datetime) -> Rendered:
    """Select, build and render one feed document; NotFound for an unknown or hidden scope."""
    started = time.perf_counter()
    row = selection.resolve(session, address.scope, now)
    cursor = params.parse_cursor(address.cursor, address.order) if address.cursor else None
    chosen = selection.select_entries(
        session, row, now=now, order=address.order, limit=address.limit or settings.feed_size,
        cursor=cursor, tombstone_days=settings.tombstone_days,
        with_tombstones=address.fmt == "atom" and cursor is None)
    feed = to_document(chosen, row, address, settings)
    shown = [a.published for a in chosen.articles] + [t.deleted for t in feed.tombstones]
    shown += [chosen.aged_out] if chosen.aged_out is not None else []
    body = formats.render(feed, address.fmt)
    metrics.get().render_seconds.labels(address.fmt).observe(time.perf_counter() - started)
    return Rendered(body, formats.CONTENT_TYPES[address.fmt],
                    valid_until=chosen.next_change, last_shown=max(shown, default=None))
