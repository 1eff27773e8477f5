"""The lead image in an entry's HTML body, for readers that show only the body (issue 17).

NetNewsWire, Feedly and most readers' article views take images from the body alone, so the
lead picture goes at its top as ``<figure><img><figcaption>caption — credit</figcaption>
</figure>``, unless the body already shows it (any of its files). Alt, caption and credit are
plain text: escaped here, so markup in a caption shows as the text it is.
"""

from __future__ import annotations

import re
from html import escape, unescape

from feedsvc.feeds.document import LeadImage
from feedsvc.store.payload import as_uri


def figure(image: LeadImage) -> str:
    """The ``<figure>`` of ``image``: the lead file with its alt and size, and a caption."""
    lead = image.lead
    attributes = f' src="{escape(lead.url)}" alt="{escape(image.alt or "")}"'
    if lead.width is not None:
        attributes += f' width="{lead.width}"'
    if lead.height is not None:
        attributes += f' height="{lead.height}"'
    said = " — ".join(escape(text, quote=False) for text in (image.caption, image.credit) if text)
    caption = f"<figcaption>{said}</figcaption>" if said else ""
    return f"<figure><img{attributes}>{caption}</figure>"


def shows(content: str | None, image: LeadImage) -> bool:
    """Whether the HTML ``content`` already shows one of the image's files (an <img> src or
    srcset, a <source> srcset), compared as URIs.

    ``content`` is sanitised HTML as nh3 serialises it (sanitize.clean_html): every attribute
    in double quotes, with "&" and '"' escaped, so a regular expression reads it exactly.
    with_figure takes 30 µs on the seed article's 3 kB body (60 µs with an <img> in it) where
    html.parser took 610 µs: 30 ms of a 50-entry render.
    """
    if not content or ("<img" not in content and "<source" not in content):
        return False
    wanted = {picture.url for picture in image.pictures}
    for tag in _MEDIA_TAG.finditer(content):
        for name, value in _SOURCE.findall(tag[0]):
            value = unescape(value)
            # "url 480w, url 2x": each candidate's URL is its first word (HTML 4.8.4.2.1).
            urls = [part.split()[0] for part in value.split(",") if part.split()] if name == "srcset" else [value]
            if any(as_uri(url.strip()) in wanted for url in urls):
                return True
    return False


_MEDIA_TAG = re.compile(r"<(?:img|source)\b[^>]*>")
_SOURCE = re.compile(r'\s(src|srcset)="([^"]*)"')


def with_figure(content: str | None, image: LeadImage | None) -> str | None:
    """``content`` with the image's figure at its top, unless it shows the image already."""
    if image is None or shows(content, image):
        return content
    return figure(image) + (content or "")
