"""The ``feedsvc`` command: a click group of the product's own commands.

Not Flask's CLI: no ``run``, ``shell``, ``--env-file`` or ``-A``. Each command builds the app
(configuration checked first) and runs inside its app context, so the commands in the wings
keep Flask's ``with_appcontext`` and ``AppGroup``. Ordinary mistakes end in one line on
standard error, ``feedsvc: <what is wrong and what to do>``, and a non-zero exit: 1 for a
command that failed, 2 for bad usage or configuration.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

import click
from alembic.util import CommandError as AlembicError
from flask import Flask
from flask.cli import ScriptInfo
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from feedsvc import create_app
from feedsvc.errors import ConfigError
from feedsvc.serve import serve_command
from feedsvc.store.db import db_cli
from feedsvc.transfer.commands import export_command, import_command
from feedsvc.web.auth import token_cli
from feedsvc.websub.hub import subscriptions_command
from feedsvc.websub.worker import worker_command

COMMANDS: Sequence[click.Command] = (serve_command, worker_command, db_cli, token_cli,
                                     import_command, export_command, subscriptions_command)


class Failure(click.ClickException):
    """A command's one-line failure: ``feedsvc: <message>`` on standard error."""

    def show(self, file: Any = None) -> None:
        click.echo(f"feedsvc: {self.format_message()}", err=True)


class ConfigFailure(Failure):
    """A bad setting: exit status 2, as for bad usage."""

    exit_code = 2


def _app() -> Flask:
    try:
        return create_app()
    except ConfigError as exc:
        raise ConfigFailure(str(exc)) from None


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            if isinstance(exc, Failure | click.UsageError):
                raise
            raise Failure(exc.format_message()) from None  # every other one exits 1 too
        except (OperationalError, InterfaceError, PoolTimeout) as exc:  # not a bug's IntegrityError
            raise Failure(_unreachable(ctx, exc)) from None
        except AlembicError as exc:  # e.g. an alembic_version table of two rows, edited by hand
            raise Failure(f"the database's migrations cannot be read: {exc}") from None


def _unreachable(ctx: click.Context, exc: OperationalError | InterfaceError | PoolTimeout) -> str:
    from feedsvc.store import db

    info = ctx.find_object(ScriptInfo)
    place = db.where(db.get_engine(info.load_app())) if info is not None else "the database"
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    check = ("that the file and its folder may be read and written" if place.startswith("/")
             else "that the database server runs")
    return f"cannot use the database at {place}: {reason} — check DATABASE_URL and {check}"


# Help wraps alike on every terminal, as the README reproduces it.
CONTEXT = {"terminal_width": 100, "max_content_width": 100}


@click.group(cls=_Group, name="feedsvc", context_settings=CONTEXT,
             help="feedsvc: Atom, RSS and JSON Feed for newsrooms. Configuration comes from "
                  "instance/feedsvc.toml and FEEDSVC_* variables (see the README).")
@click.version_option(version("feedsvc"), "-V", "--version", prog_name="feedsvc",
                      message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context) -> None:
    ctx.obj = ScriptInfo(create_app=_app, set_debug_flag=False, load_dotenv_defaults=False)


for _command in COMMANDS:
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> None:
    cli.main(args=argv, prog_name="feedsvc")


if __name__ == "__main__":
    main()
