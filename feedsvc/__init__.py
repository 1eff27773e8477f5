"""feedsvc: Atom, RSS and JSON Feed for newsrooms."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the WSGI app; nothing touches the database until a request or command does.

    The wings plug in from the bottom up: the store, the feeds (their change listener locks
    scope rows before WebSub's: see changes.listen), WebSub, then the web wing, which wraps the
    finished app in its fast path and Host check; the commands of ``cli`` go on ``app.cli`` too.
    """
    from feedsvc import cli, config, feeds, store, web, websub

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
    store.init_app(app)
    feeds.init_app(app)
    websub.init_app(app)
    for command in cli.COMMANDS:
        app.cli.add_command(command)  # for Flask's test_cli_runner
    web.init_app(app)
    return app
