"""The Alembic migrations and the models describe the same schema."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url

from feedsvc.store import db
from feedsvc.store.models import Base

from conftest import PG_URL, make_article


def test_models_and_migrations_agree(app: Flask) -> None:
    engine = db.get_engine(app)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff: list[Any] = compare_metadata(context, Base.metadata)
    assert diff == []


def test_upgrade_is_repeatable(app: Flask) -> None:
    engine = db.get_engine(app)
    db.upgrade(engine)
    db.upgrade(engine)
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_sqlite_settings(make_app: Any, tmp_path: Any) -> None:
    app = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'pragmas.sqlite3'}")
    with db.get_engine(app).connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_indexes_serve_newest_first(app: Flask) -> None:
    engine = db.get_engine(app)
    wanted = {
        "articles": {("published", "id"), ("updated", "id"), ("section_id", "published", "id"),
                     ("section_id", "updated", "id")},
        "article_topics": {("topic_id", "published", "article_id"),
                           ("topic_id", "updated", "article_id")},
        "article_authors": {("author_id", "published", "article_id"),
                            ("author_id", "updated", "article_id")},
    }
    inspector = inspect(engine)
    for table, columns in wanted.items():
        have = {tuple(ix["column_names"]) for ix in inspector.get_indexes(table)}
        assert columns <= have, table


def test_0006_carries_scheduled_articles_and_waiting_jobs_over(app: Flask, api: Any) -> None:
    """Issue 15: the cursor over scheduled articles gives way to change jobs. An upgrade turns
    every article saved while scheduled whose instant is after the cursor into changes at its
    instant — one still to come, and one that came due while no worker looked — and gives the
    jobs already waiting the callback host the hub's limits count by."""
    import datetime as dt

    from alembic import command
    from alembic.config import Config
    from sqlalchemy import bindparam, select, text

    from feedsvc.store.models import WebSubJob

    real_now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def stamp(when: dt.datetime) -> str:
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")

    later, missed = real_now + dt.timedelta(days=1), real_now - dt.timedelta(hours=1)
    for key, when, topic in (("later", later, "Later"), ("missed", missed, "Missed")):
        response = api.put(key, make_article(key=key, topics=[topic], authors=[],
                                             published=stamp(when), updated=stamp(when)))
        assert response.get_json()["status"] == "scheduled"  # the app's clock is before both
    engine = db.get_engine(app)
    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS))
    instant = db.UTCDateTime(timezone=True)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM websub_jobs"))
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0005")
        connection.execute(text("INSERT INTO settings (name, value) VALUES ('websub_due_cursor', :v)"),
                           {"v": (real_now - dt.timedelta(hours=2)).isoformat()})
        connection.execute(text(
            "INSERT INTO websub_jobs (kind, topic, topic_key, callback, mode, lease_seconds, revision, "
            "attempts, due, created) VALUES ('verify', 't', 'k', :callback, 'subscribe', 60, 0, 0, "
            ":now, :now)").bindparams(bindparam("now", real_now, type_=instant),
                                     callback="http://Flood.TEST.:80/cb"))
    db.upgrade(engine)
    with engine.connect() as connection:
        changes = {(kind, slug): due for kind, slug, due in connection.execute(
            select(WebSubJob.scope_kind, WebSubJob.scope_slug, WebSubJob.due).where(WebSubJob.kind == "change"))}
        hosts = connection.execute(text("SELECT callback_host FROM websub_jobs WHERE kind = 'verify'")).scalars().all()
        cursor = connection.execute(text("SELECT count(*) FROM settings WHERE name = 'websub_due_cursor'")).scalar()
    assert changes[("topics", "later")] == later and changes[("topics", "missed")] == missed
    assert {("", ""), ("sections", "world")} <= set(changes)
    assert hosts == ["flood.test"] and cursor == 0


@pytest.mark.postgres_only
def test_processes_starting_at_once_on_an_empty_postgresql_take_turns_to_migrate() -> None:
    """systemd starts every `feedsvc serve` at boot, and each migrates first: on a new database
    they must not race to create the same tables (one would fail to start)."""
    name = f"feedsvc_migrate_{uuid.uuid4().hex[:12]}"
    admin = create_engine(make_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engines = [db.make_engine(make_url(PG_URL).set(database=name).render_as_string(hide_password=False))
               for _ in range(4)]
    try:
        start = threading.Barrier(len(engines))

        def migrate(engine: Engine) -> tuple[str | None, str]:
            start.wait()
            return db.upgrade(engine)

        with ThreadPoolExecutor(len(engines)) as pool:
            results = list(pool.map(migrate, engines))
        assert sorted(before or "" for before, _ in results) == ["", *[db.code_revision()] * 3]
        with engines[0].connect() as conn:
            assert db.stored_revision(conn) == db.code_revision()
    finally:
        for engine in engines:
            engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
