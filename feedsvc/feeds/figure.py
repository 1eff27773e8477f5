"""The lead image in an entry's HTML body, for readers that show only the body (issue 17).

NetNewsWire, Feedly and most readers' article views take images from the body alone, so the
lead picture goes at its top as ``<figure><img><figcaption>caption — credit</figcaption>
</figure>``, unless the body already shows it (any of its files). Alt, caption and credit are
plain text: escaped here, so markup in a caption shows as the text it is. A lead whose type
is not an image (an audio enclosure stored before issue 17) gets no figure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from html import escape, unescape
from html.parser import HTMLParser
from urllib.parse import urlsplit, urlunsplit

from feedsvc.feeds.document import LeadImage
from feedsvc.store.payload import as_uri

# U+2068 FIRST STRONG ISOLATE ... U+2069 POP DIRECTIONAL ISOLATE around the caption and the
# credit each: a U+202E in a caption then reverses only the caption, never the " — credit"
# after it (UAX #9, rule X6a: a PDI closes every override opened inside the isolate). Not
# <bdi>: feedparser's sanitizer, and readers built on it, drop the element and keep its text.
_ISOLATE = "\u2068{}\u2069"


def figure(image: LeadImage) -> str:
    """The ``<figure>`` of ``image``: the lead file with its alt and size, and a caption."""
    lead = image.lead
    attributes = f' src="{escape(lead.url)}" alt="{escape(image.alt or "")}"'
    if lead.width is not None:
        attributes += f' width="{lead.width}"'
    if lead.height is not None:
        attributes += f' height="{lead.height}"'
    said = " — ".join(_ISOLATE.format(escape(text, quote=False))
                      for text in (image.caption, image.credit) if text)
    caption = f"<figcaption>{said}</figcaption>" if said else ""
    return f"<figure><img{attributes}>{caption}</figure>"


def same_file(url: str) -> str:
    """``url`` in the form two spellings of one file share (RFC 3986 section 6.2.2-6.2.3):
    scheme and host in lower case, no default port, percent escapes in upper case and none
    for an unreserved character. http and https stay apart: they are two resources to a
    reader (one of them may be blocked as mixed content), so neither stands in for the other.
    """
    uri = as_uri(url.strip(), public=False) or url
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port if parts.port not in (None, _DEFAULT_PORT.get(scheme)) else None
    netloc = host if port is None else f"{host}:{port}"
    rest = _ESCAPE.sub(_normal_escape, urlunsplit(("", "", parts.path or "/", parts.query, parts.fragment)))
    return f"{scheme}://{netloc}{rest}"


_DEFAULT_PORT = {"http": 80, "https": 443}
_ESCAPE = re.compile("%[0-9A-Fa-f]{2}")
_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]")


def _normal_escape(match: re.Match[str]) -> str:
    character = chr(int(match[0][1:], 16))
    return character if _UNRESERVED.fullmatch(character) else match[0].upper()


def shows(content: str | None, image: LeadImage) -> bool:
    """Whether the HTML ``content`` already shows one of the image's files as an ``<img
    src>``, compared as the same file (see same_file).

    Only ``src`` counts: ``content`` is sanitised HTML as nh3 serialises it (sanitize.clean_html),
    which keeps neither ``srcset`` nor ``<source>``, with every attribute in double quotes and
    "&" and '"' escaped, so a regular expression reads it exactly. with_figure takes 30 µs on
    the seed article's 3 kB body (60 µs with an <img> in it) where html.parser took 610 µs:
    30 ms of a 50-entry render.
    """
    if not content or "<img" not in content:
        return False
    wanted = {same_file(picture.url) for picture in image.pictures}
    return any(same_file(unescape(src)) in wanted for src in _IMG_SRC.findall(content))


_IMG_SRC = re.compile(r'<img\b[^>]*?\ssrc="([^"]*)"')


def with_figure(content: str | None, image: LeadImage | None) -> str | None:
    """``content`` with the image's figure at its top, unless it shows the image already or
    the image is no picture."""
    if image is None or not image.is_picture or shows(content, image):
        return content
    return figure(image) + (content or "")


def without_figure(content: str | None, files: Iterable[str]) -> tuple[str | None, str | None]:
    """``content`` without the figure ``with_figure`` put at its top, and that figure's alt.

    A feed of ours, imported again, carries its figure in every body; kept, it would become
    part of the article (stale after a caption edit, and hiding the page's own figure). Only
    a figure at the very top whose ``<img src>`` is one of the image's ``files`` goes.
    """
    match = _OUR_FIGURE.match(content or "")
    if content is None or match is None:
        return content, None
    reader = _ImgReader()
    reader.feed(match[1])
    reader.close()
    wanted = {same_file(url) for url in files}
    if reader.src is None or same_file(reader.src) not in wanted:
        return content, None
    return content[match.end():].lstrip() or None, reader.alt or None


# The figure as written above, in whatever spelling a parser gave back (feedparser's
# sanitizer, lxml): an <img> and an optional <figcaption> of plain text, nothing else.
_OUR_FIGURE = re.compile(r"\s*<figure>\s*(<img\b[^>]*>)\s*(?:</img>\s*)?"
                         r"(?:<figcaption>[^<]*</figcaption>\s*)?</figure>", re.IGNORECASE)


class _ImgReader(HTMLParser):
    """The src and alt of one <img> tag, its entities decoded."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.src: str | None = None
        self.alt: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img" and self.src is None:
            found = dict(attrs)
            self.src, self.alt = found.get("src"), found.get("alt")

    handle_startendtag = handle_starttag
