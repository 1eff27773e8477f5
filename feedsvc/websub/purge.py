"""Purges of shared caches (``CDN_PURGE``): the requests that drop what a change made stale.

A change job (outbox.py) names one scope; before the worker expands it into WebSub
deliveries it sends each configured cache a purge of that scope's surrogate key
(feeds/surrogate.py), so a subscriber that refetches on a notification gets the new bytes.
A purge that fails there, and every article page's purge, is a "purge" job of its own, one
per cache, retried with the hub's backoff (outbox.record_purges).
Purge targets are the operator's own (trusted, unlike WebSub callbacks): private addresses
are allowed, the sender's timeouts still hold. Many keys go in several requests, as many as
each API takes in one: Fastly 256 keys, Cloudflare 30 tags, Varnish a header of 4,000 bytes.

- ``varnish:URL``: ``PURGE URL`` with ``xkey-purge: <keys>`` (deploy/varnish/default.vcl);
- ``fastly:SERVICE_ID``: ``POST /service/<id>/purge`` with ``Surrogate-Key: <keys>`` and the
  token of ``FASTLY_API_TOKEN`` (Fastly's purge by surrogate key, in bulk);
- ``cloudflare:ZONE_ID``: ``POST /client/v4/zones/<id>/purge_cache`` with ``{"tags": […]}``
  and ``CLOUDFLARE_API_TOKEN`` as a bearer token (Cloudflare's purge by cache tag).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from feedsvc.feeds.surrogate import PurgeTarget
from feedsvc.websub.sender import Request

FASTLY_API = "https://api.fastly.com"
CLOUDFLARE_API = "https://api.cloudflare.com"


# Keys per request, and bytes of keys per request, each API takes.
MOST_KEYS = {"varnish": 1000, "fastly": 256, "cloudflare": 30}
MOST_BYTES = 4000


def url(target: PurgeTarget, apis: Mapping[str, str] | None = None) -> str:
    """Where ``target``'s purges go. ``apis`` replaces the CDNs' API origins (tests)."""
    apis = apis or {}
    if target.kind == "fastly":
        return f"{apis.get('fastly', FASTLY_API)}/service/{target.target}/purge"
    if target.kind == "cloudflare":
        return f"{apis.get('cloudflare', CLOUDFLARE_API)}/client/v4/zones/{target.target}/purge_cache"
    return target.target


def requests(targets: tuple[PurgeTarget, ...], keys: tuple[str, ...], environ: Mapping[str, str],
             apis: Mapping[str, str] | None = None) -> list[Request]:
    """The purges of ``keys`` at each target, as few requests as its API takes them in."""
    made = []
    for target in targets:
        address = url(target, apis)
        for chunk in _chunks(keys, MOST_KEYS[target.kind]):
            if target.kind == "varnish":
                made.append(Request("PURGE", address, {"xkey-purge": " ".join(chunk)}, allow_private=True,
                                    follow_redirects=False))
            elif target.kind == "fastly":
                made.append(Request("POST", address, {"Fastly-Key": environ.get("FASTLY_API_TOKEN", ""),
                                                      "Surrogate-Key": " ".join(chunk), "Accept": "application/json"},
                                    allow_private=True, follow_redirects=False))
            else:
                made.append(Request("POST", address,
                                    {"Authorization": f"Bearer {environ.get('CLOUDFLARE_API_TOKEN', '')}",
                                     "Content-Type": "application/json"},
                                    json.dumps({"tags": list(chunk)}).encode(), allow_private=True,
                                    follow_redirects=False))
    return made


def _chunks(keys: tuple[str, ...], most: int) -> list[tuple[str, ...]]:
    """``keys`` in runs of at most ``most`` keys and MOST_BYTES bytes (a key is at most 200)."""
    chunks: list[tuple[str, ...]] = []
    run: list[str] = []
    size = 0
    for key in keys:
        if run and (len(run) == most or size + 1 + len(key) > MOST_BYTES):
            chunks.append(tuple(run))
            run, size = [], 0
        run.append(key)
        size += 1 + len(key)
    if run:
        chunks.append(tuple(run))
    return chunks
