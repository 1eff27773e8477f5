"""The Alembic migrations and the models describe the same schema."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import inspect

from feedsvc.store import db
from feedsvc.store.models import Base


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
