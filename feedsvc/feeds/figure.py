"""The lead image in an entry's HTML body, for readers that show only the body (issue 17).

NetNewsWire, Feedly and most readers' article views take images from the body alone, so the
lead picture goes at its top as ``<figure><img><figcaption>caption — credit</figcaption>
</figure>``, unless the body already shows it (any of its files). Alt, caption and credit are
plain text: escaped here, so markup in a caption shows as the text it is.
"""

from __future__ import annotations

from html import escape
from html.parser import HTMLParser

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
    srcset, a <source> srcset), compared as URIs."""
    if not content:
        return False
    finder = _Sources()
    finder.feed(content)
    finder.close()
    wanted = {picture.url for picture in image.pictures}
    return any(as_uri(url) in wanted for url in finder.urls)


def with_figure(content: str | None, image: LeadImage | None) -> str | None:
    """``content`` with the image's figure at its top, unless it shows the image already."""
    if image is None or shows(content, image):
        return content
    return figure(image) + (content or "")


class _Sources(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("img", "source"):
            return
        for name, value in attrs:
            if value and name == "src":
                self.urls.append(value.strip())
            elif value and name == "srcset":
                # "url 480w, url 2x": each candidate's URL is its first word (HTML 4.8.4.2.1).
                self.urls += [part.split()[0] for part in value.split(",") if part.split()]
