"""The article JSON of the contract, checked field by field into plain values.

Every problem is collected and reported at once, each with a JSON pointer (RFC 9457 section 3
suggests an "errors" extension member); nothing is stored unless every field is right.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from . import timestamps
from .errors import Invalid
from .sanitize import is_http_url, plain_text
from .slugs import KEY_PATTERN

FIELDS = {"key", "title", "section", "topics", "authors", "summary", "content", "published",
          "updated", "url", "image", "language"}
# What a GET adds; a client may send a fetched article back unchanged, so these are ignored.
READ_ONLY = {"id", "status", "section_slug", "topic_slugs", "author_slugs", "links", "page_url",
             "feeds", "deleted", "etag"}
MAX_TITLE = 2000
MAX_NAME = 200
MAX_TOPICS = 100
MAX_AUTHORS = 50
MAX_SUMMARY = 20_000
MAX_URL = 2000
_LANGUAGE = re.compile(r"[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*")
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class Byline:
    name: str
    email: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Image:
    url: str
    type: str | None = None
    length: int | None = None


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
        except ValueError as exc:
            errors.append(_error(f"/{name}", str(exc)))
    if not partial:
        errors += [_error(f"/{name}", "is required") for name in ("title", "section")
                   if name not in data]
    if "published" in out and "updated" in out and None not in (out["published"], out["updated"]):
        if out["updated"] < out["published"]:
            errors.append(_error("/updated", "must not be earlier than published"))
    if errors:
        raise Invalid(f"{len(errors)} field(s) of the article are not valid.", errors)
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
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_URL or not is_http_url(value.strip()):
        raise ValueError(f"must be an absolute http(s) URL of at most {MAX_URL} characters, or null")
    if any(ch.isspace() or ord(ch) < 0x20 for ch in value.strip()):
        raise ValueError("must not contain spaces or control characters")
    return value.strip()


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
        extra = sorted(set(item) - {"name", "email", "url"})
        if extra:
            raise ValueError(f"item {i} has unknown field(s): {', '.join(map(plain_text, extra))}")
        try:
            name = _required_text(item.get("name"), MAX_NAME)
            email = _optional_text(item.get("email"), 320)
            if email is not None and not _EMAIL.fullmatch(email):
                raise ValueError("email is not an email address")
            url = _optional_url(item.get("url"))
        except ValueError as exc:
            raise ValueError(f"item {i}: {exc}") from None
        bylines.setdefault(name, Byline(name, email, url))
    return tuple(bylines.values())


def _image(value: Any, zone: ZoneInfo) -> Image | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("must be an object {url, type, length} or null")
    extra = sorted(set(value) - {"url", "type", "length"})
    if extra:
        raise ValueError(f"has unknown field(s): {', '.join(map(plain_text, extra))}")
    url = _optional_url(value.get("url"))
    if url is None:
        raise ValueError("url is required")
    media_type = value.get("type")
    if media_type is not None and (not isinstance(media_type, str)
                                   or not _MEDIA_TYPE.fullmatch(media_type)):
        raise ValueError("type must be a media type such as image/jpeg")
    length = value.get("length")
    if length is not None and (not isinstance(length, int) or isinstance(length, bool)
                               or not 0 <= length < 2**31):
        raise ValueError("length must be a whole number of bytes")
    return Image(url, media_type, length)


def _language(value: Any, zone: ZoneInfo) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _LANGUAGE.fullmatch(value) or len(value) > 35:
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
