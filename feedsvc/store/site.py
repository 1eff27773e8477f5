"""What the running site knows: its clock, its id authority and its public origin."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import Flask, current_app, request

from feedsvc.store import articles, db


def now(app: Flask | None = None) -> dt.datetime:
    """The current instant, aware UTC; tests replace it with ``create_app({"NOW": callable})``."""
    app = app or current_app
    clock = app.config.get("NOW")
    return clock() if clock else dt.datetime.now(dt.UTC)


def zone(app: Flask | None = None) -> ZoneInfo:
    return ZoneInfo((app or current_app).config["TIMEZONE"])


def authority(app: Flask | None = None) -> str:
    """The tag-URI authority, read from the database once per process."""
    app = app or current_app
    cached = app.extensions.get("feedsvc.authority")
    if cached is None:
        configured = configured_authority(app) or "localhost"
        cached = db.run_write(db.get_engine(app), lambda s: articles.id_authority(s, configured))
        app.extensions["feedsvc.authority"] = cached
    return cached  # type: ignore[no-any-return]


def authority_warning(app: Flask) -> str | None:
    """What to tell an operator whose configuration names an id authority other than the one
    the database recorded when it was first used (ids never change), or None."""
    recorded, configured = authority(app), configured_authority(app)
    if configured is None or configured == recorded:
        return None
    source = "ID_AUTHORITY" if app.config["ID_AUTHORITY"] else "BASE_URL"
    return (f"ids keep the authority {recorded!r} recorded when this database was first used, not "
            f"{configured!r} from {source}: an entry id never changes (README, Configuration)")


def configured_authority(app: Flask) -> str | None:
    """The authority the configuration names (ID_AUTHORITY, else BASE_URL's host), or None."""
    return app.config["ID_AUTHORITY"] or _host(app.config["BASE_URL"])


def _host(base_url: str | None) -> str | None:
    from urllib.parse import urlsplit

    return urlsplit(base_url).hostname if base_url else None


def base_url() -> str:
    """The public origin: ``BASE_URL`` if set, else the request's own (behind a proxy, set it)."""
    return current_app.config["BASE_URL"] or request.host_url.rstrip("/")
