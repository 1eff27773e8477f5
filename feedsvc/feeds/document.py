"""A feed document: what every format renders, built without Flask, SQLAlchemy or feedgen.

All URLs are absolute and all datetimes aware UTC; entries are in their final order. The
same stored data gives the same document, so it renders the same bytes (no "now" in here).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Person:
    name: str
    email: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Category:
    """A section or topic of an entry (issue 17: categories that resolve)."""

    term: str  # the display name, what readers show
    url: str  # the scope's own page: RSS domain, Atom scheme, so a reader can follow it


@dataclass(frozen=True)
class Enclosure:
    """One picture file: the lead image itself or one of its renditions."""

    url: str
    type: str | None
    length: int | None  # bytes; None when unknown (a stored 0 means unknown too)
    width: int | None = None  # pixels
    height: int | None = None

    @property
    def medium(self) -> str | None:
        """Its Media RSS ``medium``: "image" for an image type or none (a picture, as every
        image was before issue 17), "audio" or "video" for those, else None (left out)."""
        kind = (self.type or "image/").split("/", 1)[0].lower()
        return kind if kind in ("image", "audio", "video") else None


# The narrowest picture a reader may still show as a thumbnail: Media RSS thumbnails of
# publishers' feeds run from 144 to 240 pixels wide, and readers' list views ask for about that.
THUMBNAIL_MIN_WIDTH = 150


@dataclass(frozen=True)
class LeadImage:
    """An entry's lead picture (issue 17): its file, its plain-text alt, caption and credit,
    and the same picture at other sizes."""

    lead: Enclosure
    alt: str | None = None
    caption: str | None = None
    credit: str | None = None
    renditions: tuple[Enclosure, ...] = ()

    @property
    def url(self) -> str:
        return self.lead.url

    @property
    def is_picture(self) -> bool:
        """Whether the lead is a picture to show: an image type, or none given. ``image`` took
        any media type before issue 17; an audio enclosure stays an enclosure, with no figure."""
        return self.lead.medium == "image"

    @property
    def pictures(self) -> tuple[Enclosure, ...]:
        """The lead, then each rendition as the article lists them."""
        return (self.lead, *self.renditions)

    def thumbnail(self) -> Enclosure | None:
        """The narrowest picture whose width is known and at least THUMBNAIL_MIN_WIDTH (the
        first of equals); None when no picture's width is known to be that wide (or none is an image)."""
        useful = [p for p in self.pictures
                  if p.medium == "image" and p.width is not None and p.width >= THUMBNAIL_MIN_WIDTH]
        return min(useful, key=lambda p: p.width or 0, default=None)

    def widest(self) -> Enclosure:
        """The widest picture whose width is known (the first of equals), else the lead."""
        known = [p for p in self.pictures if p.width is not None]
        return max(known, key=lambda p: p.width or 0, default=self.lead)


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    link: str  # the article's own URL, else its page here
    published: dt.datetime
    updated: dt.datetime
    authors: tuple[Person, ...]
    categories: tuple[Category, ...]
    summary: str | None
    content: str | None  # sanitised HTML: the body as every format shows it (figure.py)
    image: LeadImage | None
    language: str | None
    key: str | None = None  # the article's key, to name it in a log line; never rendered


@dataclass(frozen=True)
class Tombstone:
    """A deleted entry (RFC 6721): its permanent id and the instant of deletion."""

    id: str
    deleted: dt.datetime


@dataclass(frozen=True)
class Branding:
    """What the site's configuration adds to every feed (SITE_LOGO, SITE_ICON, SITE_RIGHTS)
    and how long RSS readers may cache it (CACHE_MAX_AGE as RSS ``<ttl>``)."""

    logo: str | None = None  # a wide image: Atom logo; the RSS image, when set
    icon: str | None = None  # a square image: Atom icon, JSON Feed icon and favicon
    rights: str | None = None  # plain text
    ttl: int | None = None  # minutes; None: no <ttl>


@dataclass(frozen=True)
class Feed:
    id: str
    title: str
    subtitle: str
    self_url: str  # this document, with its query
    feed_url: str  # the feed's canonical URL (first page, default order)
    hub_url: str
    alternate_url: str  # the HTML page of the same content
    next_url: str | None  # RFC 5005: the next older page
    language: str | None
    generator: tuple[str, str, str]  # name, version, uri
    site_title: str
    entries: tuple[Entry, ...]
    tombstones: tuple[Tombstone, ...] = ()
    branding: Branding = Branding()

    @property
    def updated(self) -> dt.datetime:
        """The latest updated among entries and tombstones (RFC 4287 4.2.15), never the clock."""
        instants = [e.updated for e in self.entries] + [t.deleted for t in self.tombstones]
        return max(instants, default=EPOCH)
