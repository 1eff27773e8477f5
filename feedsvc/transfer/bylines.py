"""Authors of an imported feed entry: RSS author strings read from their raw value.

feedparser splits an RSS author such as ``sports@old.news.example (Sports Reporter)`` with a
pattern that allows top-level domains of two to four letters only, so ``.example`` and
``.online`` addresses came out as the name ``ple (Sports Reporter`` (issue 18). The raw
strings are read here instead, in the forms feeds use, and every result is checked against the
article's own rules (payload.py) before it is used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape
from typing import Any

from lxml import etree

from feedsvc.store import payload
from feedsvc.store.sanitize import html_text, plain_text

_DC_CREATOR = "{http://purl.org/dc/elements/1.1/}creator"
_ITUNES_AUTHOR = "{http://www.itunes.com/dtds/podcast-1.0.dtd}author"
_ATOM = "{http://www.w3.org/2005/Atom}"
_RSS1_ITEM = "{http://purl.org/rss/1.0/}item"
_RSS1_CHANNEL = "{http://purl.org/rss/1.0/}channel"
# The elements that name an item's (or a channel's) writers. A channel's managingEditor and
# webMaster name whoever answers for the channel, not a byline, and are not among them.
_STRING_AUTHORS = ("author", _DC_CREATOR, _ITUNES_AUTHOR)
# "sports@news.example (Sports Reporter)", RSS 2.0's own example form
_ADDRESS_NAME = re.compile(r"(?P<email>[^\s()<>]+@[^\s()<>]+)\s*\((?P<name>.*)\)")
# "Sports Reporter <sports@news.example>", the e-mail form (RFC 5322 name-addr)
_NAME_ADDRESS = re.compile(r"(?P<name>[^<>]*?)\s*<(?P<email>[^<>]*)>")
# "Sports Reporter (sports@news.example)", RSS 2.0's form turned round, as some CMSs write it
_NAME_PAREN_ADDRESS = re.compile(r"(?P<name>[^()<>]*?)\s*\((?P<email>[^\s()<>]+@[^\s()<>]+)\)")
# Where one mailbox of a list ends and the next begins: "a@x (A), b@y (B)", "A <a@x> and B
# <b@y>" (after its ")" or ">"), and "a@x, b@y" (addresses alone).
_AFTER_MAILBOX = re.compile(r"(?<=[>)])\s*(?:[,;&]|\band\b)\s*", re.IGNORECASE)
_BETWEEN_ADDRESSES = re.compile(r"\s*[,;]\s*|\s+(?:and|&)\s+", re.IGNORECASE)
# What joins the names of one byline: "A; B" always, and "A and B", "A & B", "A, B" (and
# Bengali "ও", "এবং") only when every name it gives has two words or more — "Staff and
# agencies", "Reuters, AFP" and "Staff Correspondent, Chattogram" stay one byline each.
_LIST = re.compile(r"\s*;\s*")
_JOINS = re.compile(r"\s*,\s*(?:and\s+)?|\s+(?:and|&|ও|এবং)\s+", re.IGNORECASE)
_BY = re.compile(r"by\s+", re.IGNORECASE)


def parse_author(raw: str) -> dict[str, str] | None:
    """A byline ``{name, email}`` from an author string, or None when it holds no name.

    Reads ``email (Name)``, ``Name <email>``, an address alone (which then is the name too) and
    a name alone. An e-mail is kept only when it is an address by payload's rule; otherwise
    the whole string is the name, as a reader would show it.
    """
    return _mailbox(_author_text(raw))


def _author_text(raw: str) -> str:
    """An author string as the text a reader sees: one with HTML tags in it (WordPress themes
    put the author's link in dc:creator: '<a href="/author/rahim">Rahim Uddin</a>') loses them,
    and character references are decoded once ("Rahim &amp; Ayesha Rahman" in a CDATA section
    was split at its ";" into "Rahim &amp" and "Ayesha Rahman")."""
    return html_text(raw) if _HTML_TAG.search(raw) else plain_text(unescape(raw))


# An HTML tag ("<a href=…>", "</b>", "<br/>"), never an address in angle brackets ("<a@b.example>")
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")


def _mailbox(text: str) -> dict[str, str] | None:
    """parse_author's reading of ``text``, already plain text."""
    name, email = text, None
    match = (_ADDRESS_NAME.fullmatch(text) or _NAME_ADDRESS.fullmatch(text)
             or _NAME_PAREN_ADDRESS.fullmatch(text))
    address = _address(match["email"]) if match else _address(text)
    if match and address:
        name, email = plain_text(match["name"]).strip().strip('"') or address, address
    elif address:
        name = email = address
    name = name[:payload.MAX_NAME].strip()
    if not name:
        return None
    return {"name": name, "email": email} if email else {"name": name}


def _address(value: str) -> str | None:
    """An author's e-mail address as payload takes it, or None: a "mailto:" before it dropped,
    and an internationalised domain ("bücher.example") as its ASCII form (RFC 5891), the only
    form an Atom or RSS address may take."""
    value = value.strip()
    if value[:7].lower() == "mailto:":
        value = value[7:]
    local, at, domain = value.rpartition("@")
    if at and not domain.isascii():
        labels = [label if label.isascii() else _ace(label) for label in domain.split(".")]
        if None in labels:
            return None
        value = f"{local}@{'.'.join(str(label) for label in labels)}"
    return value if payload.is_email(value) else None


def _ace(label: str) -> str | None:
    """A domain label's ASCII form ("bücher" -> "xn--bcher-kva"), or None when it has none or
    is not written as IDNA writes it back ("Bücher", "¹4": IDNA maps them to other letters, so
    the address would not be the one the feed gave)."""
    try:
        ace = label.encode("idna").decode("ascii")
        back = ace.encode("ascii").decode("idna")
    except UnicodeError:
        return None
    return ace if ace.startswith("xn--") and back == label else None


def _mailboxes(text: str) -> list[dict[str, str]]:
    """The bylines of a list of two or more mailboxes ("a@x (A), b@y (B)", "A <a@x> and B
    <b@y>", "a@x; b@y"), each with its address; none when any part of it is no mailbox."""
    for separator in (_AFTER_MAILBOX, _BETWEEN_ADDRESSES):
        parts = separator.split(text)
        found = [_mailbox(part) for part in parts]
        if len(parts) > 1 and all(b is not None and "email" in b for b in found):
            return [b for b in found if b is not None]
    return []


def parse_authors(raw: str) -> list[dict[str, str]]:
    """The bylines of one author string: ``parse_author``'s, one per name it lists.

    A list of mailboxes ("a@x (A), b@y (B)") is a byline each, with its address (they were
    read as one mailbox, named "A), b@y (B"). Another string with an address is one mailbox
    and names one byline (``desk@news.example (A and B)`` is the desk's). Otherwise "By " is
    dropped and the names are split as _JOINS says, each read again for an address of its
    own ("A B <a@x>, C D").
    """
    text = _author_text(raw)
    listed = _mailboxes(text)
    if listed:
        return listed
    byline = _mailbox(text)
    if byline is None or "email" in byline:
        return [byline] if byline else []
    names: list[str] = []
    for part in _LIST.split(_BY.sub("", byline["name"], count=1)):
        pieces = [p.strip() for p in _JOINS.split(part)]
        if len(pieces) > 1 and all(len(p.split()) >= 2 for p in pieces):
            names += pieces
        else:
            names.append(part.strip())
    found = [_mailbox(name) for name in names] if len(names) > 1 else [{"name": n} for n in names]
    return [b for b in found if b is not None and b["name"]]


@dataclass(frozen=True)
class RawAuthors:
    """The authors of a document as written: each item's, and the channel's own."""

    items: list[list[str | dict[str, str]]]
    channel: list[str | dict[str, str]]


def read_raw(data: bytes) -> Any:
    """The document's root element as lxml reads it, or None when even that finds none.

    A document that is not well-formed XML (feedparser then reads it loosely, and splits
    author strings itself) is read by lxml's recovering parser, as loosely. No entity is
    resolved and nothing is fetched.
    """
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True,
                             load_dtd=False, huge_tree=False)
    try:
        return etree.fromstring(data, parser)
    except (etree.XMLSyntaxError, ValueError):
        return None


def rss_items(root: Any) -> list[Any]:
    """The RSS 2.0 (or 1.0) items of a document read by read_raw, in document order."""
    return list(root.iter("item")) or list(root.iter(_RSS1_ITEM))


def raw_rss_authors(root: Any) -> RawAuthors:
    """Each RSS item's authors as written, in document order: the raw strings of ``<author>``,
    ``<dc:creator>`` and ``<itunes:author>`` (the elements feedparser reads as authors), and an
    ``<atom:author>``'s name, email and uri; and the same elements of the channel itself."""
    channel = next(iter(root.iter("channel", _RSS1_CHANNEL)), None)
    return RawAuthors([_authors_of(item) for item in rss_items(root)],
                      _authors_of(channel) if channel is not None else [])


def _authors_of(element: Any) -> list[str | dict[str, str]]:
    authors: list[str | dict[str, str]] = []
    for child in element:
        if child.tag in _STRING_AUTHORS and (child.text or "").strip():
            authors.append(child.text or "")
        elif child.tag == f"{_ATOM}author":
            authors.append({part: child.findtext(f"{_ATOM}{part}") or ""
                            for part in ("name", "email", "uri")})
    return authors


def from_raw(raw: list[str | dict[str, str]]) -> list[dict[str, str]]:
    """The bylines of raw authors (see raw_rss_authors), checked and without repeats."""
    found: list[dict[str, str]] = []
    for value in raw:
        if isinstance(value, str):
            found += parse_authors(value)
        else:
            byline = _from_detail(value)
            found += [byline] if byline else []
    return _unique(found)


def entry_authors(entry: Any, raw: list[str | dict[str, str]] | None, *,
                  rss: bool) -> list[dict[str, str]]:
    """An entry's bylines: from the raw RSS strings when known, else from feedparser's details.

    feedparser's details are sound for Atom, whose authors are elements (name, email, uri);
    for an RSS entry whose raw strings are unknown, an author that feedparser split on an
    address is left out unless it is the last one, whose raw string feedparser keeps as
    ``author``. An Atom entry without authors has its ``<source>``'s (RFC 4287 4.2.11);
    ``<contributor>`` is no author (4.2.3) and is not read.
    """
    if raw is not None:
        return from_raw(raw)
    details = list(entry.get("authors") or [])
    bylines: list[dict[str, str] | None] = []
    for i, detail in enumerate(details):
        if rss and detail.get("email"):
            # Split from a string: the raw one feedparser kept for the last, else put together.
            last = i == len(details) - 1 and isinstance(entry.get("author"), str)
            bylines += parse_authors(entry["author"]) if last else _unsplit(detail)
        elif rss and detail.get("name") and set(detail) == {"name"}:
            bylines += parse_authors(detail["name"])
        else:
            bylines.append(_from_detail(detail))
    found = _unique([b for b in bylines if b is not None])
    if not found and not rss and entry.get("source"):
        found = feed_authors(entry["source"])
    return found


def _unsplit(detail: Any) -> list[dict[str, str]]:
    """The byline of an RSS author string that feedparser split into ``detail``, or none.

    feedparser takes the address by a pattern that ends the domain's last label after four
    letters or three digits, cuts it out of the string and strips a "(" and a ")" from the
    ends of the rest: "a@b.online (A)" gave the e-mail "a@b.onli" and the name "ne (A", and
    "A <a@b.online>" the name "A <ne>". Such a rest is put back where it was cut and the
    string read again, kept only when its address is valid and longer than feedparser's.
    Otherwise, where the address could have been cut ("a@b.onli" and the name "ne" may be
    "a@b.online" alone or "a@b.onli (ne)"), the byline is left out: never a piece of an address.
    """
    email, name = str(detail.get("email") or ""), str(detail.get("name") or "").strip()
    paren, angle = _CUT_PAREN.fullmatch(name), _CUT_ANGLE.fullmatch(name)
    if paren:
        raw = f"{email}{paren['rest']} ({paren['name']})"
    elif angle:
        raw = f"{angle['name']} <{email}{angle['rest']}>"
    elif _MAY_BE_CUT.search(email) or any(not word[0].isalpha() for word in name.split()):
        return []
    else:
        # The address is whole unless what stood against it is in the name: a character
        # outside ASCII before it ("À0@b.com": feedparser's local part is ASCII), or a digit
        # or "-" after fewer than four letters ("a@b.co-op"). Then the name alone.
        whole = name.isascii() and not _AFTER_CUT.search(name)
        byline = _from_detail(detail if whole else {"name": name})
        return [byline] if byline else []
    byline = parse_author(raw)
    found = byline.get("email", "") if byline else ""
    return [byline] if byline and found.startswith(email) and len(found) > len(email) else []


# A last label feedparser may have cut: its pattern takes at most four letters or three digits
_MAY_BE_CUT = re.compile(r"\.(?:[A-Za-z]{4}|[0-9]{1,3})$")
_AFTER_CUT = re.compile(r"[0-9-]")
_CUT_PAREN = re.compile(r"(?P<rest>[A-Za-z0-9.-]+)\s+\((?P<name>.*)", re.DOTALL)
_CUT_ANGLE = re.compile(r"(?P<name>.*?)\s*<(?P<rest>[A-Za-z0-9.-]+)>", re.DOTALL)


def feed_authors(feed: Any) -> list[dict[str, str]]:
    """An Atom feed's (or source's) own authors (RFC 4287 4.2.1: they apply to entries that
    have none)."""
    return _unique([b for b in map(_from_detail, feed.get("authors") or []) if b is not None])


def _from_detail(detail: Any) -> dict[str, str] | None:
    """A byline from an Atom person (name, email, uri). One with an e-mail or a uri but no name
    is named by them, as a reader shows it: the address, else the uri."""
    name = plain_text(str(detail.get("name") or ""))[:payload.MAX_NAME].strip()
    email = _address(str(detail.get("email") or "")) or ""
    url = payload.as_uri(str(detail.get("href") or detail.get("uri") or "").strip())
    url = url if url and len(url) <= payload.MAX_URL else None
    name = name or email or (url or "")[:payload.MAX_NAME]
    if not name:
        return None
    byline = {"name": name}
    if email:
        byline["email"] = email
    if url:
        byline["url"] = url
    return byline


def _unique(bylines: list[dict[str, str]]) -> list[dict[str, str]]:
    """The first byline of each name, at most MAX_AUTHORS of them."""
    seen: dict[str, dict[str, str]] = {}
    for byline in bylines:
        seen.setdefault(byline["name"], byline)
    return list(seen.values())[:payload.MAX_AUTHORS]
