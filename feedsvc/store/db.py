"""The database: engine, sessions, the aware-UTC column type, migrations and ``feedsvc db``."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from flask import Flask, current_app, g
from flask.cli import AppGroup
from sqlalchemy import Connection, DateTime, Engine, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.types import TypeDecorator

from feedsvc.errors import redact

T = TypeVar("T")
MIGRATIONS = Path(__file__).parent / "migrations"


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A datetime column that takes and gives only aware UTC values, on SQLite as on PostgreSQL.

    SQLite keeps no zone, so values are stored as naive UTC and made aware again on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def make_engine(url: str, pool_size: int = 20) -> Engine:
    """An engine with the settings feedsvc relies on for the given database.

    ``pool_size`` connections are kept (``feedsvc serve`` sizes it from its threads and its
    worker's, see size_pool), a few more may open for a moment, and a thread that finds none
    free waits at most 5 s before its request is a 503 with Retry-After (errors.py).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               pool_size=pool_size, max_overflow=10, pool_timeout=5)
        _sqlite_settings(engine)
        return engine
    # Fail fast when PostgreSQL is down: a request answers 503 in seconds instead of holding
    # a thread (connect_timeout), and no thread waits long for a pooled connection.
    return create_engine(url, pool_size=pool_size, max_overflow=10, pool_pre_ping=True,
                         pool_timeout=5, connect_args={"connect_timeout": 3})


def size_pool(app: Flask, connections: int) -> Engine:
    """Give the app an engine whose pool keeps ``connections``: one for each thread that may use
    one at a time (the server's and the WebSub worker's), so none waits for another's.

    Call before anything holds the old engine's connections; the old engine is disposed.
    """
    old = app.extensions["feedsvc.engine"]
    engine = make_engine(app.config["DATABASE_URL"], pool_size=connections)
    app.extensions["feedsvc.engine"] = engine
    old.dispose()
    return engine


def _sqlite_settings(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def connect(dbapi_connection: Any, record: Any) -> None:
        # Take transaction control from pysqlite so that a write can start with BEGIN IMMEDIATE:
        # a deferred transaction that reads and then writes fails with SQLITE_BUSY when another
        # writer got there first, and busy_timeout cannot wait that conflict out.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("feedsvc_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def get_engine(app: Flask | None = None) -> Engine:
    app = app or current_app
    return app.extensions["feedsvc.engine"]  # type: ignore[no-any-return]


def get_session() -> Session:
    """The request's read session, closed when the request ends."""
    if "db_session" not in g:
        g.db_session = Session(get_engine(), expire_on_commit=False)
    return g.db_session  # type: ignore[no-any-return]


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """One write transaction: committed when the block ends, rolled back on any error."""
    factory = sessionmaker(engine.execution_options(feedsvc_write=True), expire_on_commit=False)
    with factory() as session, session.begin():
        yield session


def run_write(engine: Engine, work: Callable[[Session], T], attempts: int = 4) -> T:
    """Run ``work`` in a write transaction, again from the start when it lost a race.

    Two writers creating the same section, or PostgreSQL breaking a deadlock, surface as an
    IntegrityError or an OperationalError; the second attempt sees the winner's rows.
    """
    for attempt in range(attempts):
        try:
            with write_session(engine) as session:
                return work(session)
        except (DBAPIError, StaleDataError) as exc:
            if attempt == attempts - 1 or not _retryable(exc):
                raise
    raise AssertionError("unreachable")


def _retryable(exc: DBAPIError | StaleDataError) -> bool:
    # StaleDataError: another writer bumped the article's version between our read and write.
    if isinstance(exc, IntegrityError | StaleDataError):
        return True
    code = getattr(exc.orig, "sqlstate", None)
    return code in {"40001", "40P01"}  # serialization failure, deadlock detected


def dialect_insert(session: Session) -> Any:
    """The session's dialect's INSERT, which has ON CONFLICT (PostgreSQL and SQLite alike)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def insert_ignore(session: Session, model: type[Any], values: dict[str, Any]) -> None:
    """INSERT that does nothing when a unique constraint already holds the row (any writer)."""
    session.execute(dialect_insert(session)(model).values(**values).on_conflict_do_nothing())


def _alembic_config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@functools.cache  # the package's migrations do not change while it runs
def code_revision() -> str:
    """The newest migration this code ships (an Alembic revision id)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head() or ""


def is_newer(revision: str | None) -> bool:
    """Whether ``revision`` is feedsvc's but later than any this code ships: a later release
    migrated the database. Migrations only add, so this code still runs on it (a rolling
    upgrade). feedsvc's revisions are numbered ("0006"); any other is another program's."""
    return revision is not None and revision.isdigit() and int(revision) > int(code_revision())


def is_behind(revision: str | None) -> bool:
    """Whether a schema at ``revision`` needs `feedsvc db upgrade` before this code runs on it:
    none at all, or one older than the code's (one a later release migrated serves too)."""
    return revision != code_revision() and not is_newer(revision)


def _refuse_folder(path: Path) -> None:
    if path.is_dir():
        raise click.ClickException(f"{path} is a folder, not a SQLite database: check DATABASE_URL or "
                                   "FEEDSVC_INSTANCE_PATH")


def _check_known(engine: Engine, stored: str | None) -> None:
    """Refuse a database another program migrated (an Alembic revision that is not feedsvc's)."""
    if stored is not None and not stored.isdigit():
        raise click.ClickException(f"the database at {where(engine)} belongs to another program (its "
                                   f"schema is at {stored!r}, not one of feedsvc's): give feedsvc a "
                                   "database of its own")


def stored_revision(connection: Connection) -> str | None:
    """The revision the database's schema is at; None for a database without one."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the schema to the newest migration, creating the database (and a SQLite file's
    folder) when there is none; return the revisions before and after.

    On PostgreSQL, processes upgrading at once take turns (an advisory lock held to the commit).
    """
    from alembic import command

    path = sqlite_path(engine)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise click.ClickException(f"cannot make the folder {path.parent} for the database: "
                                       f"{exc.strerror}") from None
        _refuse_folder(path)
    cfg = _alembic_config()
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # Several processes start at once (systemd at boot): one migrates, the others wait
            # for its commit and then find nothing to do, instead of racing to CREATE TABLE.
            connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('feedsvc.migrations'))"))
        before = stored_revision(connection)
        _check_known(engine, before)
        if before is not None and is_newer(before):
            return before, before  # nothing to do: a later release migrated it
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")
    return before, code_revision()


def sqlite_path(engine: Engine) -> Path | None:
    """The file of a SQLite database, None for an in-memory one or another database."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return None
    return Path(engine.url.database).absolute()  # type: ignore[arg-type]


def where(engine: Engine) -> str:
    """The database as a message names it: a SQLite file's path, else its URL without password."""
    path = sqlite_path(engine)
    return str(path) if path is not None else redact(engine.url.render_as_string(hide_password=True))


def require_schema(engine: Engine) -> None:
    """Stop a command that needs the database as ``serve`` left it, before it creates anything.

    A schema newer than the code's passes: a later release migrated it (see is_newer).

    Raises click.ClickException, one line naming what to do: when the SQLite file does not exist
    (connecting would create it, and its folder, wherever the command ran), when the schema is
    missing or behind the code's. A database that cannot be reached raises DBAPIError.
    """
    path = sqlite_path(engine)
    if path is not None:
        _refuse_folder(path)
    if path is not None and not path.exists():
        raise click.ClickException(
            f"no database at {path}: run feedsvc where `feedsvc serve` ran (beside its instance/ "
            "folder), or set FEEDSVC_INSTANCE_PATH or FEEDSVC_DATABASE_URL; `feedsvc db upgrade` "
            "creates a new one")
    with engine.connect() as connection:
        stored = stored_revision(connection)
    _check_known(engine, stored)
    if is_behind(stored):
        state = "has no schema" if stored is None else f"has schema {stored}"
        raise click.ClickException(f"the database at {where(engine)} {state}; this feedsvc needs "
                                   f"{code_revision()}: run `feedsvc db upgrade`")


def close_session(exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def init_app(app: Flask) -> None:
    app.extensions["feedsvc.engine"] = make_engine(app.config["DATABASE_URL"])
    app.teardown_appcontext(close_session)


@click.group("db", cls=AppGroup, short_help="Create or upgrade the database schema.",
             help="The database schema (Alembic migrations shipped in the package).")
def db_cli() -> None:
    pass


@db_cli.command("upgrade", help="Create the database or bring its schema to this version's "
                                 "(serve and import do it too).")
def upgrade_command() -> None:
    engine = get_engine()
    before, after = upgrade(engine)
    if before is None:
        click.echo(f"created the schema at {after} in {where(engine)}")
    elif is_newer(before):
        click.echo(f"the schema of {where(engine)} is at {before}, newer than this version's "
                   f"{code_revision()}: nothing to do (upgrade feedsvc to match)")
    elif before != after:
        click.echo(f"upgraded the schema of {where(engine)} from {before} to {after}")
    else:
        click.echo(f"the schema of {where(engine)} is already at {after}, this version's")
