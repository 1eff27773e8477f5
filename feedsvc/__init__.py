"""feedsvc: Atom, RSS and JSON Feed for newsrooms."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the WSGI app; nothing touches the database until a request or command does."""
    from . import (
        api,
        auth,
        cache,
        config,
        db,
        errors,
        fastpoll,
        hosts,
        hub,
        outbox,
        pages,
        serve,
        syndication,
        transfer,
        worker,
    )

    instance = config.instance_path()
    package = Path(__file__).parent
    # In a wheel the templates live inside the package; in a checkout, beside it.
    templates = package / "templates"
    if not templates.is_dir():
        templates = package.parent / "templates"
    app = Flask(__name__, instance_path=str(instance), instance_relative_config=True,
                template_folder=str(templates))
    app.config.update(config.load(instance, os.environ, test_config))
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    db.init_app(app)
    cache.init_app(app)
    errors.init_app(app)
    auth.init_app(app)
    api.init_app(app)
    syndication.init_app(app)
    pages.init_app(app)
    transfer.init_app(app)
    serve.init_app(app)
    outbox.init_app(app)  # after cache: listeners lock rows in registration order
    hub.init_app(app)
    worker.init_app(app)
    fastpoll.init_app(app)  # last: it wraps the finished WSGI app
    hosts.init_app(app)  # outermost: a bad Host is refused before the fast path
    return app
