"""Moving articles in and out: ``feedsvc import`` and ``feedsvc export``.

- ``commands`` — the two commands: JSON Lines both ways, and RSS or Atom in
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from feedsvc.transfer import commands

    commands.init_app(app)
