"""Text, URLs and HTML made safe for every output: no forbidden XML characters, no active content.

The one cleaning rule of the article boundary (payload.py) lives here: prose loses what XML 1.0
forbids and what Unicode calls non-characters; identifiers (URLs, e-mails) that contain such
characters are refused instead, since a changed identifier would point somewhere else.
"""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import urljoin

import nh3

# XML 1.0 section 2.2: everything but TAB, LF, CR, U+0020-U+D7FF, U+E000-U+FFFD and the
# supplementary planes is forbidden. Lone surrogates arrive from JSON "\ud800" escapes. The C1
# controls U+0080-U+009F are only discouraged, but feedparser reads them as Windows-1252
# (U+0080 becomes "€"), so a reader would show another title than the one stored: out too.
# Unicode's 66 non-characters (U+FDD0-U+FDEF and the last two code points of every plane,
# Unicode 15 section 23.7) are "not for open interchange"; XML 1.0 section 2.2 discourages
# them, and a feed is open interchange: out as well (issue 12).
#
# Text is first matched whole against the characters allowed (nearly all text holds nothing
# else, and is returned as it is): 6 us for a 3 KB body, where searching it for the forbidden
# ones took 170 us, most of an import's time (bench/import), since a class that lists
# characters beyond the BMP one by one is tested item by item at every position. Only text that
# fails is cleaned, by the BMP class and, if it has characters beyond the BMP, that class.
# tests/test_input_cleaning.py holds ``xml_text`` and ``has_forbidden`` against the rule itself.
_ALLOWED = re.compile("[\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufdcf\ufdf0-\ufffd" + "".join(
    f"{chr(plane << 16)}-{chr(plane << 16 | 0xFFFD)}" for plane in range(1, 17)) + "]*")
_BMP_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_ASTRAL_FORBIDDEN = re.compile("[" + "".join(
    f"{chr(plane << 16 | 0xFFFE)}{chr(plane << 16 | 0xFFFF)}" for plane in range(1, 17)) + "]")
# Every attribute whose value is a URL (HTML Living Standard's attribute index); ammonia
# checks the scheme of some (href, src) but not of others (cite, issue 12).
_URL_ATTRIBUTES = frozenset({"href", "src", "cite", "poster", "longdesc", "usemap", "action",
                             "formaction", "background", "codebase", "data", "manifest",
                             "icon", "profile", "classid", "archive", "xlink:href", "ping"})
# The only schemes a link in a feed may keep: what a reader can safely open.
URL_SCHEMES = frozenset({"http", "https", "mailto"})
# WHATWG URL parsing drops these before it reads a scheme, so "java\tscript:" is javascript:.
_URL_IGNORED = re.compile("[\t\n\r]")


def xml_text(value: str) -> str:
    """The text with every character XML 1.0 forbids (and every non-character) removed."""
    if _ALLOWED.fullmatch(value):
        return value
    value = _BMP_FORBIDDEN.sub("", value)
    return _ASTRAL_FORBIDDEN.sub("", value) if _ASTRAL.search(value) else value


def has_forbidden(value: str) -> bool:
    """Whether the text holds a character that ``xml_text`` would remove."""
    return _ALLOWED.fullmatch(value) is None


def plain_text(value: str) -> str:
    """One-line plain text: forbidden characters removed, whitespace runs folded."""
    return " ".join(xml_text(value).split())


# Elements that separate words when a browser renders them: turned into spaces, not removed,
# so that "<p>One</p><p>Two</p>" reads "One Two" as plain text.
_BREAKS = {"address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
           "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header",
           "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr",
           "ul"}
_BREAK_TAG = re.compile("<[^>]*>")  # on nh3's output only: no attributes, every text "<" escaped


def html_text(html: str) -> str:
    """The plain text an HTML fragment shows: "42 points &amp; <b>up</b>" -> "42 points & up".

    ammonia (through nh3) parses the fragment as a browser would and drops every tag (script
    and style with their content); the entities are then decoded once, after the tags are gone,
    so an escaped "&lt;b&gt;" stays the text "<b>" instead of becoming a tag (issue 18).
    """
    kept = nh3.clean(html, tags=_BREAKS, attributes={}, link_rel=None)
    return plain_text(unescape(_BREAK_TAG.sub(" ", kept)))


def safe_scheme(url: str) -> bool:
    """Whether a link is relative or has one of URL_SCHEMES, read the way a browser reads it.

    Browsers strip leading C0 controls and spaces and every tab or newline before they look
    for a scheme (WHATWG URL "basic URL parser"), so "\\x01 java\\tscript:" is javascript:.
    """
    text = _URL_IGNORED.sub("", url).lstrip("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e"
                                            "\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a"
                                            "\x1b\x1c\x1d\x1e\x1f ")
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", text)
    return scheme is None or scheme.group(1).lower() in URL_SCHEMES


def clean_html(html: str, base_url: str | None) -> str:
    """Sanitised HTML: no scripts, handlers or scripting URLs; links absolute to ``base_url``.

    ammonia (through nh3) keeps a safe allow-list of tags; every URL-valued attribute keeps
    only http, https or mailto (or a relative link). Relative links would break in a feed
    reader, which has no page to resolve them against, so they are made absolute.
    """

    def url_attribute(tag: str, attribute: str, value: str) -> str | None:
        # ammonia decodes character references, so "&#1;" or "&#xFFFF;" arrive here (and in
        # text) as the characters themselves: removed before the scheme is read, so that
        # "java&#1;script:" is judged as the "javascript:" it becomes (issue 12).
        value = xml_text(value)
        if attribute not in _URL_ATTRIBUTES:
            return value
        if not safe_scheme(value):
            return None
        if base_url:
            try:
                value = urljoin(base_url, value)
            except ValueError:  # e.g. "http://[x": no link at all rather than a broken one
                return None
        return value if safe_scheme(value) else None

    # xml_text again on the output: a character reference in text ("&#xFFFF;", "&#1;") comes
    # out of ammonia as the character it names, which no XML feed can carry.
    return xml_text(nh3.clean(xml_text(html), attribute_filter=url_attribute,
                              url_schemes=set(URL_SCHEMES))).strip()
