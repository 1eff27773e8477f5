"""The database: engine, sessions, the aware-UTC column type, migrations and ``feedsvc db``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from flask import Flask, current_app, g
from flask.cli import AppGroup
from sqlalchemy import DateTime, Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.types import TypeDecorator

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
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
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


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def close_session(exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def init_app(app: Flask) -> None:
    app.extensions["feedsvc.engine"] = make_engine(app.config["DATABASE_URL"])
    app.teardown_appcontext(close_session)
    app.cli.add_command(db_cli)


@click.group("db", cls=AppGroup, help="Database schema.")
def db_cli() -> None:
    pass


@db_cli.command("upgrade", help="Apply schema migrations.")
def upgrade_command() -> None:
    upgrade(get_engine())
    click.echo("database is up to date")
