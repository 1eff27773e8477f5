"""Health checks (issue 16): /healthz says the process answers; /readyz that it can serve."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from feedsvc import create_app
from feedsvc.store import db

from conftest import downgrade, recorded_statements


def test_liveness_touches_nothing(app: Flask, client: FlaskClient) -> None:
    with recorded_statements(app) as seen:
        response = client.get("/healthz")
    assert response.status_code == 200 and response.data == b"ok\n"
    assert response.headers["Cache-Control"] == "no-store" and seen == []


def test_ready_when_the_schema_is_the_codes(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert response.data.startswith(f"ready: schema {db.code_revision()}".encode())


def test_not_ready_while_migrations_are_behind(app: Flask, client: FlaskClient) -> None:
    engine = db.get_engine(app)
    downgrade(app, "0005")
    try:
        response = client.get("/readyz")
        assert response.status_code == 503 and response.content_type == "application/problem+json"
        assert int(response.headers["Retry-After"]) > 0
        assert "0005" in response.get_json()["detail"] and db.code_revision() in response.get_json()["detail"]
        assert "feedsvc db upgrade" in response.get_json()["detail"]
    finally:
        db.upgrade(engine)
    assert client.get("/readyz").status_code == 200


def test_ready_on_a_schema_a_later_release_migrated(app: Flask, client: FlaskClient) -> None:
    """A rolling upgrade: `feedsvc db upgrade` of the new release ran, this process is of the
    old one and keeps serving (migrations only add) until it is restarted."""
    engine = db.get_engine(app)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    try:
        response = client.get("/readyz")
        assert response.status_code == 200
        assert response.data == f"ready: schema 9999 (newer than this code's {db.code_revision()})\n".encode()
        assert db.upgrade(engine) == ("9999", "9999")  # a restart of this process changes nothing
    finally:
        with engine.begin() as connection:
            connection.execute(text(f"UPDATE alembic_version SET version_num = '{db.code_revision()}'"))


def test_not_ready_while_the_database_is_unreachable(make_app: Callable[..., Flask]) -> None:
    """Nothing listens on port 9 (discard): the database is unreachable from the start.
    (``make_app`` is asked for its environment: the instance path, no FEEDSVC_* variables.)"""
    app = create_app({"TESTING": True, "BASE_URL": "http://feeds.test",
                      "DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:9/none"})
    client = app.test_client()
    response = client.get("/readyz")
    assert response.status_code == 503 and response.content_type == "application/problem+json"
    assert response.headers["Retry-After"] and response.headers["Cache-Control"] == "no-store"
    assert client.get("/healthz").status_code == 200  # alive all the same
    db.get_engine(app).dispose()
