"""The article JSON of the contract, checked field by field into plain values.

Every problem is collected and reported at once, each with a JSON pointer (RFC 9457 section 3
suggests an "errors" extension member); nothing is stored unless every field is right.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from feedsvc.errors import Invalid
from feedsvc.store import timestamps
from feedsvc.store.sanitize import has_forbidden, plain_text
from feedsvc.store.slugs import KEY_PATTERN, MAX_KEY

REQUIRED = ("title", "section")  # what a new article must be given
FIELDS = {"key", "title", "section", "topics", "authors", "summary", "content", "published",
          "updated", "url", "image", "language"}
# What a GET adds; a client may send a fetched article back unchanged, so these are ignored.
READ_ONLY = {"id", "status", "section_slug", "topic_slugs", "page_url", "feeds", "deleted"}
AUTHOR_READ_ONLY = {"slug"}  # each author's slug in a GET
# The shape of every field, in one place: the checks below, the OpenAPI document (openapi.py)
# and the column widths (models.py) all read these, and tests/test_shapes.py holds each
# against its column on both databases (issue 12: an image type the API took and a column
# could not hold was a 500 on PostgreSQL).
MAX_TITLE = 2000
MAX_NAME = 200  # a section, topic or author name
MAX_SLUG = MAX_NAME + 20  # a slug is at most MAX_NAME long, plus a "-NN" to tell twins apart
MAX_TOPICS = 100
MAX_AUTHORS = 50
MAX_SUMMARY = 20_000
MAX_URL = 2000
MAX_EMAIL = 320  # RFC 5321 section 4.5.3.1: 64 for the local part, 255 for the domain
MAX_MEDIA_TYPE = 100
MAX_LANGUAGE = 35  # RFC 5646 section 4.4.1 asks for at least 35 characters
MAX_ID = 300  # an entry id: ours ("tag:<authority>,<date>:article:<key>") or an imported one
MAX_BYTES = 2**31 - 1  # image length
# The lead image's other members (issue 17). 65,535 pixels is JPEG's largest side (and
# beyond what any reader shows); 20 sizes of one picture cover every srcset seen in
# publishers' feeds while keeping an item's Media RSS small.
MAX_PIXELS = 65_535
MAX_ALT = 1000
MAX_CAPTION = 5000
MAX_CREDIT = 500
MAX_RENDITIONS = 20
# The longest list of renditions read at all: repeats of one file count once towards
# MAX_RENDITIONS, and this bounds the work (and the errors named) for one request.
MAX_RENDITION_ITEMS = 5 * MAX_RENDITIONS
# The longest id authority that leaves room in MAX_ID for the date, "article" and any key.
MAX_AUTHORITY = MAX_ID - len("tag:,2000-01-01:article:") - MAX_KEY
# RFC 5646: a primary language subtag of 2 or 3 letters (ISO 639; the 4-8 letter forms are
# reserved and none is registered, "i-" tags are deprecated), or "x-" private use. "a" and
# "abcdefgh" were accepted and every feed holding them failed the W3C validator (issue 12).
LANGUAGE = r"([A-Za-z]{2,3}|[Xx])(-[A-Za-z0-9]{1,8})*"
_LANGUAGE = re.compile(LANGUAGE)
# RFC 6838 section 4.2 restricted names, together no longer than MAX_MEDIA_TYPE.
MEDIA_TYPE = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
# An ASCII addr-spec (RFC 5322 section 3.4.1, dot-atom form): what Atom's atom:email and RSS's
# author element hold, and what the W3C validator accepts.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
EMAIL = rf"{_ATOM}(\.{_ATOM})*@{_LABEL}(\.{_LABEL})+"
# An imported entry's own id, kept as it came: an absolute URI (RFC 3986 section 4.3) in ASCII.
# Atom allows IRIs in atom:id, but the W3C validator and some readers do not; an entry whose
# id is not such a URI gets an id of ours instead (feeds) or is refused (JSON Lines).
_URI_CHARACTERS = r"[A-Za-z0-9\-._~:/?#@!$&'()*+,;=]*"
ENTRY_ID = rf"[A-Za-z][A-Za-z0-9+.-]*:{_URI_CHARACTERS}(%[0-9A-Fa-f]{{2}}{_URI_CHARACTERS})*"
_MEDIA_TYPE = re.compile(MEDIA_TYPE)
_EMAIL = re.compile(EMAIL)
_ENTRY_ID = re.compile(ENTRY_ID)


@dataclass(frozen=True)
class Byline:
    name: str
    email: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Rendition:
    """One file of the lead picture: the lead itself, or the same picture at another size."""

    url: str
    type: str | None = None
    width: int | None = None  # pixels
    height: int | None = None
    length: int | None = None  # bytes


@dataclass(frozen=True)
class Image:
    """The article's lead picture: its file, what it shows (plain text) and its other sizes."""

    url: str
    type: str | None = None
    length: int | None = None
    width: int | None = None
    height: int | None = None
    alt: str | None = None
    caption: str | None = None
    credit: str | None = None
    renditions: tuple[Rendition, ...] = ()


IMAGE_FIELDS = ("url", "type", "length", "width", "height", "alt", "caption", "credit", "renditions")
RENDITION_FIELDS = ("url", "type", "width", "height", "length")


def image_json(image: Image | None) -> dict[str, Any] | None:
    """The image as the API answers and ``feedsvc export`` writes it: every member, null when unset."""
    if image is None:
        return None
    out: dict[str, Any] = {name: getattr(image, name) for name in IMAGE_FIELDS[:-1]}
    out["renditions"] = [rendition_json(r) for r in image.renditions]
    return out


def rendition_json(rendition: Rendition) -> dict[str, Any]:
    return {name: getattr(rendition, name) for name in RENDITION_FIELDS}


class _MemberError(ValueError):
    """A bad member of a field: ``path`` is its JSON pointer below the field ("/renditions/2/width")."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(detail)
        self.path = path


class _MemberErrors(ValueError):
    """Every bad member of one field, each a _MemberError."""

    def __init__(self, errors: list[_MemberError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


def check_key(key: Any, pointer: str = "/key") -> str:
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key) or set(key) == {"."}:
        raise Invalid("The key is not valid.", [_error(
            pointer, "must be 1-200 characters of A-Z a-z 0-9 . _ ~ - and not only dots")])
    return key


def parse(data: Any, zone: ZoneInfo, *, partial: bool) -> dict[str, Any]:
    """Check a request body; return only the fields it gave, normalised.

    ``partial`` (PATCH) allows any subset; otherwise ``title`` and ``section`` are required.
    Dates come back as aware UTC datetimes, topics and authors as tuples.
    """
    if not isinstance(data, dict):
        raise Invalid("The body must be a JSON object.", [_error("", "must be an object")])
    errors: list[dict[str, str]] = []
    unknown = sorted(set(data) - FIELDS - READ_ONLY)
    errors += [_error(f"/{_escape(name)}", "is not a field of an article") for name in unknown]
    out: dict[str, Any] = {}
    for name in sorted(FIELDS & set(data)):
        try:
            out[name] = _CHECKS[name](data[name], zone)
        except (_MemberError, _MemberErrors) as exc:
            # Each pointer names the member, each detail names it in the dotted form people
            # write: "image.renditions[2].width must be ...".
            for member in exc.errors if isinstance(exc, _MemberErrors) else [exc]:
                errors.append(_error(f"/{name}{member.path}", f"{_dotted(name, member.path)} {member}"))
        except ValueError as exc:
            errors.append(_error(f"/{name}", str(exc)))
    if not partial:
        errors += [_error(f"/{name}", "is required") for name in REQUIRED if name not in data]
    if "published" in out and "updated" in out and None not in (out["published"], out["updated"]):
        errors += dates_problem(out["published"], out["updated"])
    if errors:
        raise Invalid(f"{len(errors)} field(s) of the article are not valid.", errors)
    return out


def _dotted(name: str, path: str) -> str:
    """ "/renditions/2/width" below ``name`` as "image.renditions[2].width"."""
    out = name
    for part in path.strip("/").split("/"):
        out += f"[{part}]" if part.isdigit() else f".{part}"
    return out


def _error(pointer: str, detail: str) -> dict[str, str]:
    return {"pointer": f"#{pointer}", "detail": detail}


def _escape(name: str) -> str:
    return plain_text(name).replace("~", "~0").replace("/", "~1")[:100]


def _required_text(value: Any, limit: int) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    text = plain_text(value)
    if not text:
        raise ValueError("must not be empty")
    if len(text) > limit:
        raise ValueError(f"must be at most {limit} characters")
    return text


def _optional_text(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("must be a string or null")
    text = plain_text(value)
    if len(text) > limit:
        raise ValueError(f"must be at most {limit} characters")
    return text or None


def _optional_url(value: Any) -> str | None:
    """An absolute http(s) URL, as a URI: an IRI's other characters percent-encoded (RFC 3987
    section 3.1) and an internationalised host in its ASCII form, so every format can carry it.

    A URL is an identifier: one holding a character XML forbids, a non-character, a space or
    a control is refused rather than cleaned, since a cleaned URL would point elsewhere.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"must be an absolute http(s) URL of at most {MAX_URL} characters, or null")
    text = value.strip(" \t\r\n")  # str.strip() would also take U+001C-U+001F and U+0085
    # No space of any kind, no control: of the characters str.isspace() takes, only " " is
    # printable (tests/test_input_cleaning.py checks every code point), so two scans in C do
    # what a generator over the characters did at 15 us a URL (bench/import).
    if has_forbidden(text) or " " in text or not text.isprintable():
        raise ValueError("must not contain spaces, control characters or characters XML forbids")
    uri = as_uri(text)
    if uri is None or len(uri) > MAX_URL:
        raise ValueError(f"must be an absolute http(s) URL of at most {MAX_URL} characters, or null")
    return uri


# The host of a link a feed carries: a DNS name of letter-digit-hyphen labels, at least two of
# them (RFC 1123 section 2.1; an IPv4 address is such a name). urlsplit takes any characters
# in a host ("a\\b", "exa<mple", "a`b", "[v1.x]"); they made links that are not URIs, and the
# W3C validator also refuses IP-literals in RSS links and undotted hosts in enclosures
# (issue 12).
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+")
_LOCAL_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*")
# RFC 3986 section 2: every ASCII character that may stand in a URI's path, query and fragment,
# "%" for escapes included ("[" and "]" only in a host, so they are escaped here).
_URI_SAFE = "!#$%&'()*+,/:;=?@~"
_LONE_PERCENT = re.compile("%(?![0-9A-Fa-f]{2})")


def image_type(value: object) -> str | None:
    """``value`` as an image's media type, lower-cased (types are case-insensitive, RFC 2045
    section 5.1) and without parameters (``image/jpeg; q=1``): a well-formed type (MEDIA_TYPE,
    at most MAX_MEDIA_TYPE characters) whose top level is ``image``; None for anything else
    (another type, a malformed one, not a string). The one test of "this file is a picture"
    for every importer."""
    if not isinstance(value, str):
        return None
    media_type = value.split(";", 1)[0].strip().lower()
    if len(media_type) > MAX_MEDIA_TYPE or not media_type.startswith("image/") or not _MEDIA_TYPE.fullmatch(media_type):
        return None
    return media_type


def as_uri(text: str, *, public: bool = True) -> str | None:
    """The http(s) URL ``text`` as an ASCII URI, or None when it is not one (no host, bad port).

    ``public``: the host must be a dotted DNS name (see _HOST), as every link of an article
    must; otherwise (configuration such as BASE_URL) a single label such as localhost will do.
    """
    try:
        parts = urlsplit(text)
        host, port = parts.hostname, parts.port  # port: ValueError when out of range
    except ValueError:
        return None
    # A user name or password in a feed's link would publish a credential (RFC 9110 4.2.4).
    if parts.scheme.lower() not in ("http", "https") or not host or "@" in parts.netloc:
        return None
    if "[" in parts.netloc:  # an IP-literal: hostname drops the brackets, "[v1.x]" is "v1.x"
        return None
    try:
        ascii_host = host if host.isascii() else host.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    if not (_HOST if public else _LOCAL_HOST).fullmatch(ascii_host) or len(ascii_host) > 253:
        return None
    netloc = parts.netloc if parts.netloc.isascii() else (
        ascii_host if port is None else f"{ascii_host}:{port}")
    rest = urlunsplit(("", "", parts.path, parts.query, parts.fragment))
    rest = _LONE_PERCENT.sub("%25", rest)  # "%zz" is no escape (RFC 3986 2.1): a literal "%"
    return f"{parts.scheme.lower()}://{netloc}{quote(rest, safe=_URI_SAFE)}"


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


def check_entry_id(value: Any) -> str:
    """An imported entry's own id: an absolute ASCII URI of at most MAX_ID characters (see
    ENTRY_ID; it becomes the entry's <id> and <guid> for ever). ValueError if not."""
    if not isinstance(value, str) or len(value) > MAX_ID or not _ENTRY_ID.fullmatch(value):
        raise ValueError(f"id must be an absolute URI of at most {MAX_ID} ASCII characters")
    return value


def _timestamp(value: Any, zone: ZoneInfo) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 date-time string or null")
    return timestamps.parse(value, zone)


def _topics(value: Any, zone: ZoneInfo) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValueError("must be a list of names")
    if len(value) > MAX_TOPICS:
        raise ValueError(f"must have at most {MAX_TOPICS} topics")
    names: list[str] = []
    for i, item in enumerate(value):
        try:
            name = _required_text(item, MAX_NAME)
        except ValueError as exc:
            raise ValueError(f"item {i} {exc}") from None
        if name not in names:
            names.append(name)
    return tuple(names)


def dates_problem(published: dt.datetime, updated: dt.datetime) -> list[dict[str, str]]:
    """The error of ``updated`` before ``published`` (an entry cannot be updated before it was
    published, RFC 4287 4.2.15), as the one ``errors`` item; none when they are in order."""
    return [_error("/updated", "must not be earlier than published")] if updated < published else []


def _authors(value: Any, zone: ZoneInfo) -> tuple[Byline, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValueError("must be a list of {name, email, url} objects")
    if len(value) > MAX_AUTHORS:
        raise ValueError(f"must have at most {MAX_AUTHORS} authors")
    bylines: dict[str, Byline] = {}
    for i, item in enumerate(value):
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict):
            raise ValueError(f"item {i} must be an object with a name")
        extra = sorted(set(item) - {"name", "email", "url"} - AUTHOR_READ_ONLY)
        if extra:
            raise ValueError(f"item {i} has unknown field(s): {', '.join(map(plain_text, extra))}")
        try:
            name = _required_text(item.get("name"), MAX_NAME)
            email = _email(item.get("email"))
            url = _optional_url(item.get("url"))
        except ValueError as exc:
            raise ValueError(f"item {i}: {exc}") from None
        bylines.setdefault(name, Byline(name, email, url))
    return tuple(bylines.values())


def _email(value: Any) -> str | None:
    """An ASCII e-mail address (see EMAIL) of at most MAX_EMAIL characters, or None."""
    if value is None or value == "":
        return None
    text = value.strip(" \t\r\n") if isinstance(value, str) else None
    if text is None or not is_email(text):
        raise ValueError(f"email must be an e-mail address such as desk@news.example, at most "
                         f"{MAX_EMAIL} characters, or null")
    return text


def is_email(value: str) -> bool:
    """Whether ``value`` is an e-mail address an author may carry (the rule of ``_email``)."""
    return len(value) <= MAX_EMAIL and _EMAIL.fullmatch(value) is not None


def is_language(value: Any) -> bool:
    """Whether ``value`` is a language tag feedsvc writes: an article's ``language`` (the API,
    every importer) and SITE_LANGUAGE (config.py) all follow this one rule."""
    return isinstance(value, str) and len(value) <= MAX_LANGUAGE and _LANGUAGE.fullmatch(value) is not None


def _image(value: Any, zone: ZoneInfo) -> Image | None:
    """The lead image; every bad member of it and of its renditions is named at once."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("must be an object {url, type, length, width, height, alt, caption, "
                         "credit, renditions} or null")
    problems: list[_MemberError] = []
    problems += _unknown(value, IMAGE_FIELDS, "", "an image")
    lead = _rendition(value, "", problems)
    renditions = value.get("renditions")
    sizes: list[Rendition] = []
    if renditions is not None and not isinstance(renditions, list):
        problems.append(_MemberError("/renditions", "must be a list of {url, type, width, height, length} objects"))
    elif renditions is not None and len(renditions) > MAX_RENDITION_ITEMS:
        problems.append(_MemberError("/renditions", f"must have at most {MAX_RENDITIONS} items"))
        renditions = None
    for i, item in enumerate(renditions if isinstance(renditions, list) else []):
        if not isinstance(item, dict):
            problems.append(_MemberError(f"/renditions/{i}", "must be an object {url, type, width, height, length}"))
            continue
        problems += _unknown(item, RENDITION_FIELDS, f"/renditions/{i}", "a rendition")
        rendition = _rendition(item, f"/renditions/{i}", problems)
        # The same file twice (or the lead again) says nothing more: kept once.
        if rendition is not None and all(rendition.url != r.url for r in sizes) and (
                lead is None or rendition.url != lead.url):
            sizes.append(rendition)
    if len(sizes) > MAX_RENDITIONS:  # counted as kept: repeats of one file are no more sizes
        problems.append(_MemberError("/renditions", f"must have at most {MAX_RENDITIONS} items"))
    texts = {}
    for name, limit in (("alt", MAX_ALT), ("caption", MAX_CAPTION), ("credit", MAX_CREDIT)):
        try:
            texts[name] = _optional_text(value.get(name), limit)
        except ValueError as exc:
            problems.append(_MemberError(f"/{name}", str(exc)))
    if problems or lead is None:
        raise _MemberErrors(problems)
    return Image(lead.url, lead.type, lead.length, lead.width, lead.height,
                 texts["alt"], texts["caption"], texts["credit"], tuple(sizes))


def _unknown(value: dict[str, Any], known: tuple[str, ...], path: str, what: str) -> list[_MemberError]:
    """Each member of ``value`` not in ``known``, named by its own pointer, as an article's
    unknown fields are."""
    return [_MemberError(f"{path}/{_escape(str(name))}", f"is not a member of {what}")
            for name in sorted(set(value) - set(known), key=str)]


def _rendition(value: dict[str, Any], path: str, problems: list[_MemberError]) -> Rendition | None:
    """One picture file of ``value`` (the image itself, or one of its renditions); None, with
    each bad member added to ``problems``, when it has one."""
    before = len(problems)
    url = None
    try:
        url = _optional_url(value.get("url"))
        if url is None:
            problems.append(_MemberError(f"{path}/url", "is required"))
    except ValueError as exc:
        problems.append(_MemberError(f"{path}/url", str(exc)))
    media_type = value.get("type")
    if media_type is not None and (not isinstance(media_type, str) or len(media_type) > MAX_MEDIA_TYPE
                                   or not _MEDIA_TYPE.fullmatch(media_type)):
        problems.append(_MemberError(
            f"{path}/type", f"must be a media type such as image/jpeg, at most {MAX_MEDIA_TYPE} characters"))
    sizes = {}
    for name, low, high, unit in (("length", 0, MAX_BYTES, "bytes"), ("width", 1, MAX_PIXELS, "pixels"),
                                  ("height", 1, MAX_PIXELS, "pixels")):
        try:
            sizes[name] = _whole(value.get(name), low, high, f"{path}/{name}", unit)
        except _MemberError as exc:
            problems.append(exc)
    if len(problems) > before or url is None:
        return None
    return Rendition(url, media_type, sizes["width"], sizes["height"], sizes["length"])


def _whole(value: Any, low: int, high: int, path: str, unit: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _MemberError(path, f"must be a whole number of {unit} from {low} to {high}, or null")
    return value


def _language(value: Any, zone: ZoneInfo) -> str | None:
    if value is None:
        return None
    if not is_language(value):
        raise ValueError("must be a BCP 47 language tag such as en or bn-BD")
    return value


def _content(value: Any, zone: ZoneInfo) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("must be an HTML string or null")
    return value  # sanitised when stored, against the article's URL


_CHECKS: dict[str, Any] = {
    "key": lambda v, z: check_key(v),
    "title": lambda v, z: _required_text(v, MAX_TITLE),
    "section": lambda v, z: _required_text(v, MAX_NAME),
    "topics": _topics,
    "authors": _authors,
    "summary": lambda v, z: _optional_text(v, MAX_SUMMARY),
    "content": _content,
    "published": _timestamp,
    "updated": _timestamp,
    "url": lambda v, z: _optional_url(v),
    "image": _image,
    "language": _language,
}
