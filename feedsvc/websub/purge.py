"""Purges of shared caches (``CDN_PURGE``): the requests that drop what a change made stale.

A change job (outbox.py) names one scope; before the worker expands it into WebSub
deliveries it sends each configured cache a purge of that scope's surrogate key
(feeds/surrogate.py), so a subscriber that refetches on a notification gets the new bytes.
Purge targets are the operator's own (trusted, unlike WebSub callbacks): private addresses
are allowed, the sender's timeouts still hold.

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


def requests(targets: tuple[PurgeTarget, ...], keys: tuple[str, ...], environ: Mapping[str, str],
             apis: Mapping[str, str] | None = None) -> list[Request]:
    """One purge of ``keys`` per target. ``apis`` replaces the CDNs' API origins (tests)."""
    apis = apis or {}
    made = []
    for target in targets:
        if target.kind == "varnish":
            made.append(Request("PURGE", target.target, {"xkey-purge": " ".join(keys)}, allow_private=True,
                                follow_redirects=False))
        elif target.kind == "fastly":
            api = apis.get("fastly", FASTLY_API)
            made.append(Request("POST", f"{api}/service/{target.target}/purge",
                                {"Fastly-Key": environ.get("FASTLY_API_TOKEN", ""),
                                 "Surrogate-Key": " ".join(keys), "Accept": "application/json"},
                                allow_private=True, follow_redirects=False))
        elif target.kind == "cloudflare":
            api = apis.get("cloudflare", CLOUDFLARE_API)
            made.append(Request("POST", f"{api}/client/v4/zones/{target.target}/purge_cache",
                                {"Authorization": f"Bearer {environ.get('CLOUDFLARE_API_TOKEN', '')}",
                                 "Content-Type": "application/json"},
                                json.dumps({"tags": list(keys)}).encode(), allow_private=True, follow_redirects=False))
    return made
