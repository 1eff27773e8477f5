"""Text and HTML made safe for every output: no forbidden XML characters, no active content."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import nh3

# XML 1.0 section 2.2: everything but TAB, LF, CR, U+0020-U+D7FF, U+E000-U+FFFD and the
# supplementary planes is forbidden. Lone surrogates arrive from JSON "\ud800" escapes. The C1
# controls U+0080-U+009F are only discouraged, but feedparser reads them as Windows-1252
# (U+0080 becomes "€"), so a reader would show another title than the one stored: out too.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_URL_ATTRIBUTES = {"href", "src", "cite", "poster"}


def xml_text(value: str) -> str:
    """The text with every character XML 1.0 forbids removed."""
    return _XML_FORBIDDEN.sub("", value)


def plain_text(value: str) -> str:
    """One-line plain text: forbidden characters removed, whitespace runs folded."""
    return " ".join(xml_text(value).split())


def clean_html(html: str, base_url: str | None) -> str:
    """Sanitised HTML: no scripts, handlers or ``javascript:`` URLs; links absolute to ``base_url``.

    ammonia (through nh3) keeps a safe allow-list of tags and URL schemes. Relative links would
    break in a feed reader, which has no page to resolve them against, so they are made absolute.
    """

    def absolute(tag: str, attribute: str, value: str) -> str | None:
        if attribute in _URL_ATTRIBUTES and base_url:
            return urljoin(base_url, value)
        return value

    return nh3.clean(xml_text(html), attribute_filter=absolute).strip()


def is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)
