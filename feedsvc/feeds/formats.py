"""Atom 1.0, RSS 2.0 and JSON Feed 1.1 bytes from one feed document.

The only module that imports feedgen. feedgen 1.0.0 has traps, each worked around here
through its extension API and pinned by a test in tests/test_formats.py:
- an Atom entry <link> keeps only its href (python-feedgen#135), so the enclosure link and
  the entry's xml:lang are written by an entry extension;
- RSS keeps only the rel="self" atom:link, so rel="hub" and rel="next" come from a feed
  extension, as do RFC 6721 tombstones in Atom;
- the RSS channel <link> is the last link added, so the page link goes in last;
- add_entry() prepends unless order="append";
- feed and entry dates default to now, so every one is set from the document.

Branding (issue 17) goes in each format's own element: Atom logo, icon, rights and the feed's
xml:lang; RSS image, copyright, language and ttl; JSON Feed icon, favicon and language.

The lead image (issue 17) is Media RSS in Atom and RSS, written here rather than by feedgen's
media extension: that one has no media:credit or media:description, and by default puts even
a single media:content in a media:group, which the W3C validator refuses ("media:group must
have multiple media:content children"). One media:group holds a media:content per file of
the picture (the lead first, isDefault), the thumbnail, the credit and the caption; a
picture of one file is a media:content holding the other three. Never directly in the item:
feedparser reads a media:description there as the entry's summary, replacing the real one.
The RSS enclosure and the Atom rel="enclosure" link stay for readers that read only those;
JSON Feed has image, banner_image and an attachment per file.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from feedsvc.feeds.document import Entry, Feed, LeadImage

ATOM = "http://www.w3.org/2005/Atom"
TOMBSTONES = "http://purl.org/atompub/tombstones/1.0"
MEDIA = "http://search.yahoo.com/mrss/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
MEDIA_TYPES = {"atom": "application/atom+xml", "rss": "application/rss+xml", "json": "application/feed+json"}
CONTENT_TYPES = {fmt: f"{media}; charset=utf-8" for fmt, media in MEDIA_TYPES.items()}
LABELS = {"atom": "Atom", "rss": "RSS", "json": "JSON Feed"}  # each format's name for people


class _AtomFeedExtension(BaseExtension):  # type: ignore[misc]
    """RFC 6721 tombstones, which feedgen does not know."""

    feed: Feed | None = None

    def extend_ns(self) -> dict[str, str]:
        # Declared only where used: validators warn about a namespace they do not know.
        names = {"at": TOMBSTONES} if self.feed is not None and self.feed.tombstones else {}
        return names | _media_ns(self.feed)

    def extend_atom(self, root: Any) -> Any:
        assert self.feed is not None
        for tombstone in self.feed.tombstones:
            # No atom:link inside: feedparser, not knowing RFC 6721, would take it for a link
            # of the feed itself, and some readers use the last alternate link as the site.
            etree.SubElement(root, f"{{{TOMBSTONES}}}deleted-entry", ref=tombstone.id,
                             when=_iso(tombstone.deleted))
        return root


class _RssFeedExtension(BaseExtension):  # type: ignore[misc]
    """rel="hub" and rel="next" as atom:link in the RSS channel; feedgen keeps only "self"."""

    feed: Feed | None = None

    def extend_ns(self) -> dict[str, str]:
        return {"atom": ATOM} | _media_ns(self.feed)

    def extend_rss(self, root: Any) -> Any:
        assert self.feed is not None
        channel = root[0]
        links = [("hub", self.feed.hub_url)]
        if self.feed.next_url:
            links.append(("next", self.feed.next_url))
        for rel, href in links:
            etree.SubElement(channel, f"{{{ATOM}}}link", rel=rel, href=href)
        return root


class _EntryExtension(BaseEntryExtension):  # type: ignore[misc]
    """Entry-level elements feedgen cannot write: the enclosure link, xml:lang, atom:updated."""

    entry: Entry | None = None

    def extend_ns(self) -> dict[str, str]:
        return {}

    def extend_atom(self, element: Any) -> Any:
        assert self.entry is not None
        if self.entry.language:
            element.set(XML_LANG, self.entry.language)
        image = self.entry.image
        if image is not None:
            # feedgen builds Atom from un-namespaced names under a default xmlns; so do we.
            link = etree.SubElement(element, "link", rel="enclosure", href=image.url)
            if image.lead.type:
                link.set("type", image.lead.type)
            if image.lead.length is not None:
                link.set("length", str(image.lead.length))
            _media(element, image)
        return element

    def extend_rss(self, element: Any) -> Any:
        assert self.entry is not None
        # RSS has no updated date; feedparser reads atom:updated in an item as "updated".
        updated = etree.SubElement(element, f"{{{ATOM}}}updated")
        updated.text = _iso(self.entry.updated)
        if self.entry.image is not None:
            _media(element, self.entry.image)
        return element


def _media_ns(feed: Feed | None) -> dict[str, str]:
    """The Media RSS prefix, declared on the root when some entry has an image."""
    return {"media": MEDIA} if feed is not None and any(e.image for e in feed.entries) else {}


def _media(element: Any, image: LeadImage) -> None:
    """The image as Media RSS (https://www.rssboard.org/media-rss): several files in one
    media:group, a single one as a media:content; the thumbnail, credit and caption inside."""
    several = len(image.pictures) > 1  # Media RSS: a group has more than one media:content
    holder = etree.SubElement(element, f"{{{MEDIA}}}group") if several else element
    for picture in image.pictures:
        content = etree.SubElement(holder, f"{{{MEDIA}}}content", url=picture.url)
        if picture.medium is not None:  # an audio enclosure of before issue 17 is no image
            content.set("medium", picture.medium)
        if several and picture is image.lead:
            content.set("isDefault", "true")
        _sized(content, picture.width, picture.height)
        if picture.type:
            content.set("type", picture.type)
        if picture.length is not None:
            content.set("fileSize", str(picture.length))
        if not several:
            holder = content
    thumbnail = image.thumbnail()
    if thumbnail is not None:
        _sized(etree.SubElement(holder, f"{{{MEDIA}}}thumbnail", url=thumbnail.url),
               thumbnail.width, thumbnail.height)
    if image.credit:
        etree.SubElement(holder, f"{{{MEDIA}}}credit").text = image.credit
    if image.caption:
        etree.SubElement(holder, f"{{{MEDIA}}}description", type="plain").text = image.caption


def _sized(element: Any, width: int | None, height: int | None) -> None:
    if width is not None:
        element.set("width", str(width))
    if height is not None:
        element.set("height", str(height))


def _iso(when: Any) -> str:
    return str(when.strftime("%Y-%m-%dT%H:%M:%SZ"))


def _generator(feed: Feed, fmt: str) -> FeedGenerator:
    fg = FeedGenerator()
    if fmt == "rss":  # every extension loaded is registered again on each entry
        fg.load_extension("dc", atom=False, rss=True)
    feed_extension = _AtomFeedExtension if fmt == "atom" else _RssFeedExtension
    fg.register_extension("feedsvc", feed_extension, _EntryExtension)
    fg.feedsvc.feed = feed
    fg.id(feed.id)
    fg.title(feed.title)
    fg.updated(feed.updated)
    name, version, uri = feed.generator
    fg.generator(name, version, uri)
    if feed.language:
        fg.language(feed.language)  # Atom: xml:lang on <feed>; RSS: <language>
    brand = feed.branding
    if brand.rights:
        fg.rights(brand.rights)  # Atom <rights>, RSS <copyright>
    kind = "application/atom+xml" if fmt == "atom" else "application/rss+xml"
    fg.link(href=feed.self_url, rel="self", type=kind)
    if fmt == "atom":
        fg.link(href=feed.hub_url, rel="hub")
        if feed.next_url:
            fg.link(href=feed.next_url, rel="next", type=kind)
        fg.subtitle(feed.subtitle)
        if any(not entry.authors for entry in feed.entries) or not feed.entries:
            # RFC 4287 4.1.1: without a feed author every entry needs one of its own.
            fg.author({"name": feed.site_title})
        if brand.icon:
            fg.icon(brand.icon)  # RFC 4287 4.2.5: square
        if brand.logo:
            fg.logo(brand.logo)  # RFC 4287 4.2.8: twice as wide as high
    else:
        fg.description(feed.subtitle)
        fg.lastBuildDate(feed.updated)
        if brand.logo or brand.icon:
            # RSS 2.0 requires url, title and link, and the RSS Advisory Board profile asks for
            # the channel's own title and link (the W3C validator warns otherwise). Miniflux
            # takes it as the feed's icon; publishers give a wide logo here.
            fg.image(url=brand.logo or brand.icon, title=feed.title, link=feed.alternate_url)
        if brand.ttl is not None:
            fg.ttl(brand.ttl)
    fg.link(href=feed.alternate_url, rel="alternate", type="text/html")  # last: the RSS <link>
    for entry in feed.entries:
        _add_entry(fg, entry, fmt, feed.language)
    return fg


def _add_entry(fg: FeedGenerator, entry: Entry, fmt: str, feed_language: str | None) -> None:
    fe = fg.add_entry(order="append")
    fe.feedsvc.entry = entry
    fe.id(entry.id)
    fe.title(entry.title)
    fe.published(entry.published)
    fe.updated(entry.updated)
    fe.link(href=entry.link, rel="alternate", type="text/html")
    # In one call: feedgen checks and rebuilds the whole list of categories on each one.
    # The scope's page as Atom scheme and RSS domain: the category resolves (issue 17).
    fe.category([{"term": c.term, "scheme": c.url, "label": c.term} for c in entry.categories])
    if fmt == "atom":
        for person in entry.authors:
            fe.author({k: v for k, v in {"name": person.name, "email": person.email,
                                          "uri": person.url}.items() if v})
        if entry.summary:
            fe.summary(entry.summary)
        if entry.content:
            fe.content(entry.content, type="html")
    else:
        fe.guid(entry.id, permalink=False)
        for person in entry.authors:
            fe.dc.dc_creator(person.name, replace=False)
        if entry.language and entry.language != feed_language:
            # RSS 2.0 has <language> for the channel only; Dublin Core's is the item's own.
            fe.dc.dc_language(entry.language)
        fe.description(entry.summary or entry.content or entry.title)
        if entry.content:
            fe.content(entry.content)  # escaped text, not CDATA: "]]>" may occur in HTML
        if entry.image is not None:
            # RSS 2.0 requires length and type; 0 is the RSS Advisory Board's "unknown".
            lead = entry.image.lead
            fe.enclosure(lead.url, str(lead.length or 0), lead.type or "application/octet-stream")


def atom(feed: Feed) -> bytes:
    return bytes(_generator(feed, "atom").atom_str(pretty=False, encoding="UTF-8"))


def rss(feed: Feed) -> bytes:
    text = bytes(_generator(feed, "rss").rss_str(pretty=False, encoding="UTF-8"))
    # The RSS Advisory Board profile asks for "&" and "<" in text as hexadecimal references,
    # which some RSS readers decode more reliably; the two spellings are the same XML.
    return text.replace(b"&amp;", b"&#x26;").replace(b"&lt;", b"&#x3C;")


def json_feed(feed: Feed) -> bytes:
    """JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/), keys in a fixed order."""
    document: dict[str, Any] = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": feed.title,
        "home_page_url": feed.alternate_url,
        "feed_url": feed.self_url,
        "description": feed.subtitle,
    }
    if feed.next_url:
        document["next_url"] = feed.next_url
    if feed.branding.icon:
        # JSON Feed 1.1 asks for a large square icon (512x512) and a small square favicon
        # (64x64): SITE_ICON is the one square image feedsvc knows, so it is both.
        document["icon"] = feed.branding.icon
        document["favicon"] = feed.branding.icon
    if feed.language:
        document["language"] = feed.language
    document["hubs"] = [{"type": "WebSub", "url": feed.hub_url}]
    document["items"] = [_json_item(entry) for entry in feed.entries]
    return (json.dumps(document, ensure_ascii=False, indent=1) + "\n").encode()


def _json_item(entry: Entry) -> dict[str, Any]:
    item: dict[str, Any] = {"id": entry.id, "url": entry.link, "title": entry.title}
    item["content_html"] = entry.content or ""
    if entry.summary:
        item["summary"] = entry.summary
    if entry.image is not None and entry.image.is_picture:  # JSON Feed: "the URL of the main image"
        item["image"] = entry.image.url
        item["banner_image"] = entry.image.widest().url
    item["date_published"] = _iso(entry.published)
    item["date_modified"] = _iso(entry.updated)
    if entry.authors:
        item["authors"] = [{k: v for k, v in {"name": p.name, "url": p.url}.items() if v}
                           for p in entry.authors]
    if entry.categories:
        item["tags"] = [category.term for category in entry.categories]
    if entry.language:
        item["language"] = entry.language
    if entry.image is not None:
        item["attachments"] = _attachments(entry.image, entry.title)
    return item


def _attachments(image: LeadImage, title: str) -> list[dict[str, Any]]:
    """Each file of the picture; one title for all, which JSON Feed 1.1 reads as "alternate
    representations of the same thing"."""
    name = image.alt or image.caption or title
    attachments = []
    for picture in image.pictures:
        attachment: dict[str, Any] = {"url": picture.url, "mime_type": picture.type or "application/octet-stream",
                                      "title": name}
        if picture.length is not None:
            attachment["size_in_bytes"] = picture.length
        attachments.append(attachment)
    return attachments


RENDERERS = {"atom": atom, "rss": rss, "json": json_feed}
log = logging.getLogger(__name__)


def render(feed: Feed, fmt: str) -> bytes:
    """The document's bytes in ``fmt`` ("atom", "rss" or "json").

    One entry that cannot be written (a character XML forbids that reached the store before
    the boundary cleaned every field, say) must not take the whole feed down with it (issue
    12): it is left out and logged with its key, and the rest is served. Finding it costs a
    render per entry, paid only when the whole render failed.
    """
    writer = RENDERERS[fmt]
    try:
        return writer(feed)
    except Exception:  # noqa: BLE001 - whatever lxml, feedgen or json raise, find the entry
        if not feed.entries:
            raise
    kept = []
    for entry in feed.entries:
        try:
            writer(dataclasses.replace(feed, entries=(entry,), tombstones=()))
        except Exception as exc:  # noqa: BLE001
            log.error("feed %s: entry %s (key %s) left out, it cannot be written as %s: %s",
                      feed.self_url, entry.id, entry.key, fmt, exc)
        else:
            kept.append(entry)
    return writer(dataclasses.replace(feed, entries=tuple(kept)))
