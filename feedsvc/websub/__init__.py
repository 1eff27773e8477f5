"""WebSub (W3C Recommendation): a change reaches subscribers in seconds, and is never lost.

- ``hub`` — the built-in hub at /websub and ``feedsvc subscriptions``
- ``outbox`` — jobs written in the change's own transaction
- ``purge`` — the requests that purge shared caches (CDN_PURGE) before a notification
- ``planner`` — the pure decision of when a job is tried again
- ``sender`` — the one outside seam: an HTTP request to a callback or a hub
- ``worker`` — claims due jobs, sends them, carries out the plan (``feedsvc worker``)
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """The outbox's change listener and the hub's routes."""
    from feedsvc.websub import hub, outbox

    outbox.init_app(app)
    hub.init_app(app)
