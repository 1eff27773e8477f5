"""Configuration: defaults, then instance/feedsvc.toml, then FEEDSVC_* variables, then test config.

Every value is checked once at startup; a bad one stops the app with a message naming its key.
"""

from __future__ import annotations

import difflib
import ipaddress
import logging
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from feedsvc.errors import ConfigError
from feedsvc.feeds.address import MAX_FEED_SIZE
from feedsvc.feeds.surrogate import PurgeTarget, parse_targets
from feedsvc.store.params import MAX_LISTING  # the one maximum the API, the pages and OpenAPI share
from feedsvc.store.payload import MAX_AUTHORITY, as_uri, is_language
from feedsvc.store.sanitize import has_forbidden


def instance_path() -> Path:
    """The instance folder: ``FEEDSVC_INSTANCE_PATH`` or ``./instance`` under the working directory."""
    return Path(os.environ.get("FEEDSVC_INSTANCE_PATH") or Path.cwd() / "instance").absolute()


def _size(key: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        m = re.fullmatch(r"\s*(\d+)\s*(B|KB|KiB|MB|MiB|GB|GiB)?\s*", str(value))
        if not m:
            raise ConfigError(key, f"{value!r} is not a size such as 2097152 or '2 MiB'")
        unit = {None: 1, "B": 1, "KB": 1000, "KiB": 1024, "MB": 10**6, "MiB": 2**20,
                "GB": 10**9, "GiB": 2**30}[m.group(2)]
        number = int(m.group(1)) * unit
    if number < 1024:
        raise ConfigError(key, "must be at least 1 KiB")
    return number


def _positive_int(key: str, value: Any) -> int:
    if isinstance(value, float):  # TOML's 1.9 (the environment's "1.9" fails int() below)
        raise ConfigError(key, f"{value!r} is not a whole number")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(key, f"{value!r} is not a whole number") from None
    if isinstance(value, bool) or number < 1:
        raise ConfigError(key, f"{value!r} must be a whole number of at least 1")
    return number


def _non_negative_int(key: str, value: Any) -> int:
    if str(value).strip() == "0":
        return 0
    return _positive_int(key, value)


def _seconds(key: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(key, f"{value!r} is not a number of seconds") from None
    if isinstance(value, bool) or not 0 < number < float("inf"):
        raise ConfigError(key, f"{value!r} must be a positive number of seconds")
    return number


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(key, f"{value!r} is not true or false")


def _timezone(key: str, value: Any) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "America" is a directory: IsADirectoryError
        raise ConfigError(key, f"{value!r} is not an IANA time zone such as 'Asia/Dhaka'") from None
    return str(value)


def _base_url(key: str, value: Any) -> str | None:
    if value in (None, ""):
        return None
    if not str(value).isascii():
        # Its host becomes the tag-URI authority of every id, recorded at first start, and a
        # tag URI is ASCII (RFC 4151); links in RSS must be URIs too (issue 12).
        raise ConfigError(key, f"{value!r} must be ASCII: an internationalised host in its punycode "
                               "form (xn--…), anything else percent-encoded")
    try:
        parts = urlsplit(str(value))
        host, _ = parts.hostname, parts.port  # port: ValueError when out of range
    except ValueError:
        host = None
    if host is None or parts.scheme not in ("http", "https") or parts.query or parts.fragment:
        raise ConfigError(key, f"{value!r} must be an http(s) origin such as https://news.example")
    if parts.path not in ("", "/"):
        # feedsvc serves from the root of its origin: every route, feed URL, hub topic and
        # page link starts at "/", so a path here would be in no URL (issue 16).
        raise ConfigError(key, f"{value!r} has a path, {parts.path!r}: feedsvc serves from the root of an "
                               f"origin; give {parts.scheme}://{parts.netloc} and serve it on a host of its own")
    if not _URI.fullmatch(str(value)) or "@" in parts.netloc:
        # Every link and rel=self starts with it: a space, a control, "<" or a user:password
        # in it made every feed invalid or published a credential (issue 12).
        raise ConfigError(key, f"{value!r} must be a URI: no spaces, controls, user:password "
                               "or characters a URI cannot hold")
    return str(value).rstrip("/")


# RFC 3986 section 2: the characters a URI may hold ("%" for escapes).
_URI = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")


def _link(text: str) -> str | None:
    """``text`` as the ASCII http(s) URI a feed can carry, or None (see payload.as_uri)."""
    if has_forbidden(text) or any(ch.isspace() or not ch.isprintable() for ch in text):
        return None
    return as_uri(text, public=False)


# RFC 4151 section 2.1: a tag's authority is a DNS name or an email address. Every id is
# "tag:<authority>,<date>:article:<key>" and must fit its column, hence the length.
_AUTHORITY = re.compile(r"([a-z0-9._%+-]+@)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")


def _authority(key: str, value: Any) -> str | None:
    if value in (None, ""):
        return None
    text = str(value).strip().lower()
    if not _AUTHORITY.fullmatch(text) or len(text) > MAX_AUTHORITY:
        raise ConfigError(key, f"{value!r} is not a DNS name or email address of at most "
                               f"{MAX_AUTHORITY} characters")
    return text


def _database_url(key: str, value: Any) -> str:
    """SQLite, or PostgreSQL through psycopg 3: the two databases feedsvc is tested on.

    ``postgresql://`` and ``postgres://`` name psycopg 3 (SQLAlchemy would look for psycopg2,
    which feedsvc does not install).
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    give = "give sqlite:///path/to/file.sqlite3 or postgresql+psycopg://user@host/database"
    try:
        url = make_url(str(value).strip())
        url.port  # noqa: B018  (a port that is not a number: ValueError)
    except (ArgumentError, ValueError):
        raise ConfigError(key, f"{value!r} is not a database URL: {give}") from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
        raise ConfigError(key, f"{url.drivername!r} is not a database feedsvc runs on: {give}")
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:") or url.host or url.username or url.query:
            # An in-memory database is gone when its connection closes, and each thread's is
            # another; a host, user or options mean nothing to a file.
            raise ConfigError(key, f"{value!r} is not a SQLite file: {give}")
        url = url.set(database=os.path.expanduser(url.database))  # "sqlite:///~/feeds.db"
    return url.render_as_string(hide_password=False)


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(key, f"{value!r} is not a string (in quotes, in TOML)")
    text = value.strip()
    if not text:
        raise ConfigError(key, "must not be empty")
    if has_forbidden(text):
        # SITE_TITLE is in every feed: "\x01" or "\uffff" made every Atom and RSS feed a 500
        # and the OPML not well-formed (issue 12).
        raise ConfigError(key, f"{value!r} holds a control character or one XML 1.0 forbids")
    return text


def _optional_url(key: str, value: Any) -> str | None:
    if value in (None, ""):
        return None
    uri = _link(str(value))
    if uri is None:
        raise ConfigError(key, f"{value!r} is not an http(s) URL (a URI: no spaces, controls, "
                               "user:password or characters a URI cannot hold)")
    return uri  # every feed names it: an IRI's other characters percent-encoded


def _optional_text(key: str, value: Any) -> str | None:
    if value in (None, ""):
        return None
    return _text(key, value)


FEED_CONTENTS = ("full", "summary")


def _feed_content(key: str, value: Any) -> str:
    """FEED_CONTENT: what the body of a public feed's entry carries (issue 17)."""
    text = value.strip().lower() if isinstance(value, str) else value
    if text not in FEED_CONTENTS:
        raise ConfigError(key, f"{value!r} is not one of {', '.join(FEED_CONTENTS)}")
    return str(text)


def _language(key: str, value: Any) -> str | None:
    """A BCP 47 tag by the rule the article's ``language`` follows (payload.is_language):
    every feed names it, and the W3C validator rejects what that rule refuses (issue 12)."""
    if value in (None, ""):
        return None
    text = value.strip() if isinstance(value, str) else value
    if not is_language(text):
        raise ConfigError(key, f"{value!r} is not a BCP 47 language tag such as 'en' or 'bn-BD'")
    return str(text)


def _proxy(key: str, value: Any) -> str | None:
    if value in (None, ""):
        return None
    text = str(value).strip()
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise ConfigError(key, f"{value!r} is not an IP address") from None
    return text


def _purge(key: str, value: Any) -> tuple[PurgeTarget, ...]:
    if value in (None, ""):
        return ()
    if isinstance(value, tuple):  # test_config, already parsed
        return value
    if not isinstance(value, str):
        raise ConfigError(key, f"{value!r} is not a string of entries such as 'varnish:http://127.0.0.1:6081/'")
    try:
        return parse_targets(value)
    except ValueError as exc:
        raise ConfigError(key, str(exc)) from None


MAX_TOMBSTONE_DAYS = 36_500
MAX_CACHE_SECONDS = 31_536_000  # a century of RFC 6721 deletions


# key -> (default, checker). A default of None means "derived" (see the README).
SETTINGS: dict[str, tuple[Any, Callable[[str, Any], Any]]] = {
    "DATABASE_URL": (None, _database_url),
    "BASE_URL": (None, _base_url),
    "ID_AUTHORITY": (None, _authority),
    "SITE_TITLE": ("feedsvc", _text),
    "TIMEZONE": ("UTC", _timezone),
    # Feed branding (issue 17): in every format's own element, see formats.py.
    "SITE_LOGO": (None, _optional_url),
    "SITE_ICON": (None, _optional_url),
    "SITE_RIGHTS": (None, _optional_text),
    "SITE_LANGUAGE": (None, _language),
    # What each entry's body carries (issue 17): see feeds/service.py and feeds/figure.py.
    "FEED_CONTENT": ("full", _feed_content),
    "FEED_LEAD_FIGURE": (True, _bool),
    "FEED_SIZE": (50, _positive_int),
    "FEED_MAX_SIZE": (200, _positive_int),
    "CACHE_MAX_AGE": (60, _non_negative_int),
    "CACHE_STALE_WHILE_REVALIDATE": (30, _non_negative_int),
    "CACHE_STALE_IF_ERROR": (86400, _non_negative_int),
    "CDN_MAX_AGE": (0, _non_negative_int),
    "CDN_PURGE": ("", _purge),
    "WEBSUB_HUB": (None, _optional_url),
    "WEBSUB_ALLOW_PRIVATE": (False, _bool),
    "WEBSUB_LEASE_DEFAULT": (864000, _positive_int),
    "WEBSUB_LEASE_MIN": (300, _positive_int),
    "WEBSUB_LEASE_MAX": (2592000, _positive_int),
    "WEBSUB_RETRY_BASE": (30, _seconds),
    "WEBSUB_RETRY_MAX": (3600, _seconds),
    "WEBSUB_TIMEOUT": (10, _seconds),
    "WEBSUB_WORKER_INTERVAL": (1, _seconds),
    "WEBSUB_WORKER_THREADS": (8, _positive_int),
    "WEBSUB_MAX_PER_HOST": (2, _positive_int),  # senders one callback host may hold at once
    "WEBSUB_MAX_PENDING": (10000, _positive_int),  # verifications waiting, in all
    "WEBSUB_MAX_PENDING_PER_HOST": (20, _positive_int),  # verifications waiting, per callback host
    "MAX_BODY": ("2 MiB", _size),
    "TOMBSTONE_DAYS": (30, _non_negative_int),
    "API_PAGE_SIZE": (50, _positive_int),
    "PAGE_SIZE": (20, _positive_int),
    "FEED_CACHE_BYTES": ("512 MiB", _size),
    "AUTH_FAILURE_LIMIT": (10, _positive_int),
    "AUTH_FAILURE_WINDOW": (60, _positive_int),
    "POLL_LIMIT": (0, _non_negative_int),
    "POLL_WINDOW": (60, _positive_int),
    "TRUSTED_PROXY": (None, _proxy),
}


def load(instance: Path, environ: Mapping[str, str], test_config: Mapping[str, Any] | None) -> dict[str, Any]:
    """Merge the four layers and check every value; raise ConfigError naming the first bad key."""
    raw: dict[str, Any] = {key: default for key, (default, _) in SETTINGS.items()}
    named = "FEEDSVC_CONFIG" if environ.get("FEEDSVC_CONFIG") else "file"
    path = Path(environ.get("FEEDSVC_CONFIG") or instance / "feedsvc.toml")
    if path.exists() and not path.is_file():
        raise ConfigError(named, f"{path} is not a file")
    if path.is_file():
        try:
            # A byte order mark, as some editors write, is not TOML but means no harm.
            data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(named, f"{path} is not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(named, f"{path} cannot be read: {exc.strerror}") from None
        unknown = sorted(set(data) - set(SETTINGS))
        if unknown:
            raise ConfigError(unknown[0], f"unknown key in {path}{_nearest(unknown[0])}")
        for key, value in data.items():
            if not isinstance(value, str | int | float):  # a table, an array, a date
                raise ConfigError(key, f"{value!r} in {path} is not a string or a number")
        raw.update(data)
    elif named == "FEEDSVC_CONFIG":
        raise ConfigError("FEEDSVC_CONFIG", f"{path} does not exist")
    for key in SETTINGS:
        if f"FEEDSVC_{key}" in environ:
            raw[key] = environ[f"FEEDSVC_{key}"]
    for name in sorted(environ):
        key = name.removeprefix("FEEDSVC_")
        if name.startswith("FEEDSVC_") and key not in SETTINGS and name not in ENVIRONMENT:
            # A typo in the TOML file stops the start; one in the environment cannot (other
            # programs share it), but it must not pass unseen either.
            _log.warning("feedsvc: %s is not a setting and is ignored%s", name,
                         _nearest(key, prefix="FEEDSVC_"))
    extra: dict[str, Any] = {}
    for key, value in (test_config or {}).items():
        if key in SETTINGS:
            raw[key] = value
        else:
            extra[key] = value  # TESTING, NOW and other non-user settings
    if raw["DATABASE_URL"] in (None, ""):
        raw["DATABASE_URL"] = f"sqlite:///{instance / 'feedsvc.sqlite3'}"
    checked = {key: SETTINGS[key][1](key, value) for key, value in raw.items()}
    _check_together(checked)
    for target in checked["CDN_PURGE"]:
        token = PURGE_TOKENS.get(target.kind)
        if token is not None and not environ.get(token):
            raise ConfigError("CDN_PURGE", f"{target} needs the API token in the environment variable {token}")
    checked.update(extra)
    return checked


# The API token each CDN's purge needs, read from the environment by the worker (never stored).
PURGE_TOKENS = {"fastly": "FASTLY_API_TOKEN", "cloudflare": "CLOUDFLARE_API_TOKEN"}
# FEEDSVC_* variables that are not settings: where the settings come from, and the tests' database.
ENVIRONMENT = frozenset({"FEEDSVC_CONFIG", "FEEDSVC_INSTANCE_PATH", "FEEDSVC_TEST_DATABASE_URL"})
_log = logging.getLogger(__name__)


def _nearest(key: str, prefix: str = "") -> str:
    """ " (did you mean …?)" naming the setting closest to a misspelt ``key``, or nothing."""
    close = difflib.get_close_matches(key.upper(), SETTINGS, n=1, cutoff=0.6)
    return f" (did you mean {prefix}{close[0]}?)" if close else ""


def _check_together(config: Mapping[str, Any]) -> None:
    """Rules between keys, and ceilings past which a request would fail instead of the start.

    An API_PAGE_SIZE above the largest ?limit= the API takes turned every plain listing into
    a 400 (issue 12); a TOMBSTONE_DAYS past datetime's range, every Atom feed into a 500.
    """
    rules = [
        ("FEED_SIZE", config["FEED_SIZE"] <= config["FEED_MAX_SIZE"], "must not exceed FEED_MAX_SIZE"),
        ("FEED_MAX_SIZE", config["FEED_MAX_SIZE"] <= MAX_FEED_SIZE, f"must not exceed {MAX_FEED_SIZE}"),
        ("API_PAGE_SIZE", config["API_PAGE_SIZE"] <= MAX_LISTING,
         f"must not exceed {MAX_LISTING}, the largest ?limit= of the API"),
        ("PAGE_SIZE", config["PAGE_SIZE"] <= MAX_LISTING, f"must not exceed {MAX_LISTING}"),
        ("TOMBSTONE_DAYS", config["TOMBSTONE_DAYS"] <= MAX_TOMBSTONE_DAYS,
         f"must not exceed {MAX_TOMBSTONE_DAYS}"),
        ("WEBSUB_RETRY_BASE", config["WEBSUB_RETRY_BASE"] <= config["WEBSUB_RETRY_MAX"],
         "must not exceed WEBSUB_RETRY_MAX"),
        ("WEBSUB_MAX_PENDING_PER_HOST", config["WEBSUB_MAX_PENDING_PER_HOST"] <= config["WEBSUB_MAX_PENDING"],
         "must not exceed WEBSUB_MAX_PENDING"),
    ]
    # A year at most: past that a cache would hold a feed nobody can purge (RFC 9111 1.2.2 asks
    # caches to cap lifetimes near 2^31 s; feeds need far less).
    for key in ("CACHE_MAX_AGE", "CACHE_STALE_WHILE_REVALIDATE", "CACHE_STALE_IF_ERROR", "CDN_MAX_AGE"):
        rules.append((key, config[key] <= MAX_CACHE_SECONDS, f"must not exceed {MAX_CACHE_SECONDS} (a year)"))
    if config["ID_AUTHORITY"] is None and config["BASE_URL"] is not None:
        # The id authority is then BASE_URL's host (site.authority): it must be one too.
        host = urlsplit(config["BASE_URL"]).hostname or ""
        rules.append(("BASE_URL", bool(_AUTHORITY.fullmatch(host)) and len(host) <= MAX_AUTHORITY,
                      f"has a host that cannot be a tag-URI authority (a DNS name of at most "
                      f"{MAX_AUTHORITY} characters): set ID_AUTHORITY"))
    for key, holds, message in rules:
        if not holds:
            raise ConfigError(key, f"{config[key]!r} {message}")
