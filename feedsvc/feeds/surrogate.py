"""What shared caches in front (a CDN, Varnish) are told: surrogate keys, and where to purge.

A feed document depends on one scope's articles, so its one surrogate key names that scope:
``site`` for the whole site's feeds, ``sections/world``, ``topics/china``, ``authors/<slug>``
(the slug percent-encoded: keys are ASCII without spaces or commas, which Fastly's
``Surrogate-Key``, Cloudflare's ``Cache-Tag`` and Varnish's ``xkey`` all separate by). Pages
carry the same: the home page and the directory ``site``, a scope's page its scope's key, and
an article's page ``articles/<key>`` with ``articles``, the key of every article page (a purge
of more pages than one request should name drops them all). Every write records a change per
scope it touched (websub/outbox.py), and the worker purges that scope's key; a write also
purges the pages of the articles it made or unmade public (``articles/<key>``), at once or at
a scheduled article's instant: exactly the keys a change touched. No key is a secret: a
scope's or an article's URL names it already, and only what is public answers with its key
(an article's page answers with its key whether or not the article exists, a 404 included,
so the key tells nothing the URL did not).

``CDN_PURGE`` names the caches to purge, each ``kind:target``: ``varnish:URL`` (an xkey
purge, deploy/varnish/default.vcl), ``fastly:SERVICE_ID``, ``cloudflare:ZONE_ID``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from feedsvc.store.scopes import Scope
from feedsvc.store.slugs import MAX_KEY

SITE_KEY = "site"
# Cloudflare takes tags of at most 1024 characters; a key stays far below it (a long slug by its hash).
_LONGEST = 200


def scope_key(scope: Scope) -> str:
    """The surrogate key of ``scope``'s feeds (see the module docstring)."""
    if scope.kind is None:
        return SITE_KEY
    return _named(scope.kind, scope.slug or "")


def _named(prefix: str, name: str, longest: int = _LONGEST) -> str:
    """``prefix/name``, the name percent-encoded; a long one by its hash."""
    key = f"{prefix}/{quote(name, safe='')}"
    if len(key) > longest:
        key = f"{prefix}/~{hashlib.sha256(key.encode()).hexdigest()[:40]}"
    return key


ARTICLES_KEY = "articles"


_ARTICLE_PREFIX = ARTICLES_KEY + "/"


def article_key(key: str) -> str:
    """The surrogate key of the page of the article whose key is ``key`` (see the module
    docstring). An article's key (``[A-Za-z0-9._~-]{1,200}``) is kept whole, readable in a
    cache's tools; only a longer URL's is hashed."""
    return _named(ARTICLES_KEY, key, len(_ARTICLE_PREFIX) + MAX_KEY)


def page_keys(key: str) -> tuple[str, ...]:
    """The keys an article's page answers with: its own, and the key of every article page."""
    return (article_key(key), ARTICLES_KEY)


def key_headers(keys: tuple[str, ...]) -> list[tuple[str, str]]:
    """The same keys in the header each cache reads: Fastly (and others) ``Surrogate-Key``,
    space-separated; Cloudflare ``Cache-Tag``, comma-separated; Varnish's xkey vmod ``xkey``."""
    spaced = " ".join(keys)
    return [("Surrogate-Key", spaced), ("Cache-Tag", ",".join(keys)), ("xkey", spaced)]


KINDS = ("varnish", "fastly", "cloudflare")
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class PurgeTarget:
    """One cache to purge: ``kind`` one of KINDS, ``target`` its URL, service or zone."""

    kind: str
    target: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}"


def parse_targets(text: str) -> tuple[PurgeTarget, ...]:
    """``CDN_PURGE``'s entries, separated by spaces or commas; ValueError naming a bad one."""
    targets = []
    for entry in re.split(r"[\s,]+", text.strip()):
        if not entry:
            continue
        kind, _, target = entry.partition(":")
        if kind not in KINDS or not target:
            raise ValueError(f"{entry!r} is not varnish:URL, fastly:SERVICE_ID or cloudflare:ZONE_ID")
        if kind == "varnish":
            try:
                parts = urlsplit(target)
                ok = parts.scheme in ("http", "https") and parts.hostname is not None
                parts.port  # noqa: B018  (a port out of range: ValueError)
            except ValueError:
                ok = False
            if not ok or not target.isascii():
                raise ValueError(f"{entry!r}: varnish: needs an http(s) URL such as varnish:http://127.0.0.1:6081/")
        elif not _ID.fullmatch(target):
            raise ValueError(f"{entry!r}: {kind}: needs the {'service' if kind == 'fastly' else 'zone'} "
                             "id (letters, digits, - and _)")
        if PurgeTarget(kind, target) not in targets:
            targets.append(PurgeTarget(kind, target))
    return tuple(targets)
