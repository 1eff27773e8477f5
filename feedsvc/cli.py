"""The ``feedsvc`` command: Flask's CLI bound to this app (``serve``, ``db``, ``token``, ...)."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import FlaskGroup

from feedsvc import create_app
from feedsvc.errors import ConfigError


def _app() -> Flask:
    try:
        return create_app()
    except ConfigError as exc:
        click.echo(f"feedsvc: {exc}", err=True)
        sys.exit(2)


cli = FlaskGroup(name="feedsvc", create_app=_app, add_version_option=False,
                 load_dotenv=False, help="feedsvc: Atom, RSS and JSON Feed for newsrooms.")


def main() -> None:
    cli.main(prog_name="feedsvc")


if __name__ == "__main__":
    main()
