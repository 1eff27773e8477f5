"""Fixtures in the flaskr style: app, client, runner, plus a clock, a token and builders.

The database is a fresh SQLite file per test, or, when FEEDSVC_TEST_DATABASE_URL names a
PostgreSQL database, that database emptied before each test (migrated once per run).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import event, text

from feedsvc import create_app
from feedsvc.feeds import freshness
from feedsvc.store import db

PG_URL = os.environ.get("FEEDSVC_TEST_DATABASE_URL", "")
SHARED = Path(__file__).resolve().parents[2] / "shared"
FIXTURES = Path(__file__).parent / "fixtures"
START = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


def seed_article() -> dict[str, Any]:
    """The real article of ../shared/fixtures (a copy is kept in tests/fixtures for CI)."""
    for folder in (SHARED / "fixtures", FIXTURES):
        path = folder / "seed-article.json"
        if path.is_file():
            return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    raise FileNotFoundError("seed-article.json")


class Clock:
    """A controllable "now" handed to the app as its clock seam."""

    def __init__(self, start: dt.datetime = START) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now

    def set(self, when: dt.datetime) -> None:
        self.now = when


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL: set FEEDSVC_TEST_DATABASE_URL")
    for item in items:
        if "postgres_only" in item.keywords and not PG_URL:
            item.add_marker(skip_pg)


@pytest.fixture(scope="session")
def pg_migrated() -> bool:
    """Reset and migrate the PostgreSQL test database once per run."""
    if not PG_URL:
        return False
    engine = db.make_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    db.upgrade(engine)
    engine.dispose()
    return True


@pytest.fixture
def db_url(tmp_path: Path, pg_migrated: bool) -> str:
    if not PG_URL:
        return f"sqlite:///{tmp_path / 'feedsvc.sqlite3'}"
    engine = db.make_engine(PG_URL)
    with engine.begin() as conn:
        tables = conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename <> 'alembic_version'")).scalars().all()
        if tables:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return PG_URL


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_app(db_url: str, clock: Clock, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Flask]]:
    """Build an app over the test database; keyword arguments override configuration.

    Apps built in one test stand for processes of one deployment. On PostgreSQL, once there
    are two, each reads the database on every poll instead of trusting the notices of the
    others' writes, which are milliseconds on their way: these tests assert what holds once a
    change has reached every process, and tests/test_serving.py shows the notices at work."""
    monkeypatch.setenv("FEEDSVC_INSTANCE_PATH", str(tmp_path / "instance"))
    for key in list(os.environ):
        if key.startswith("FEEDSVC_") and key not in ("FEEDSVC_INSTANCE_PATH",
                                                      "FEEDSVC_TEST_DATABASE_URL"):
            monkeypatch.delenv(key)
    apps: list[Flask] = []

    def build(**config: Any) -> Flask:
        settings = {"TESTING": True, "DATABASE_URL": db_url, "NOW": clock,
                    "BASE_URL": "http://feeds.test"} | config
        app = create_app(settings)
        db.upgrade(db.get_engine(app))
        apps.append(app)
        if len(apps) > 1 and PG_URL:
            for each in apps:
                read_every_poll(freshness.get_cache(each))
        return app

    yield build
    for app in apps:
        freshness.get_cache(app).close()
        db.get_engine(app).dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


def new_token(app: Flask, name: str = "newsroom") -> str:
    from feedsvc.web import auth

    return db.run_write(db.get_engine(app), lambda s: auth.create_token(s, name, START))[1]


@pytest.fixture
def auth_headers(app: Flask) -> dict[str, str]:
    return {"Authorization": f"Bearer {new_token(app)}"}


class Api:
    """The JSON API as a newsroom script uses it, with its token."""

    def __init__(self, client: FlaskClient, headers: dict[str, str]) -> None:
        self.client, self.headers = client, headers

    def put(self, key: str, body: Any, **headers: str) -> Any:
        return self.client.put(f"/api/articles/{key}", json=body, headers=self.headers | headers)

    def patch(self, key: str, body: Any, **headers: str) -> Any:
        return self.client.patch(f"/api/articles/{key}", json=body,
                                 headers=self.headers | headers)

    def post(self, body: Any) -> Any:
        return self.client.post("/api/articles", json=body, headers=self.headers)

    def delete(self, key: str, **headers: str) -> Any:
        return self.client.delete(f"/api/articles/{key}", headers=self.headers | headers)

    def get(self, key: str) -> Any:
        return self.client.get(f"/api/articles/{key}", headers=self.headers)

    def list(self, **params: Any) -> Any:
        return self.client.get("/api/articles", query_string=params, headers=self.headers)


@pytest.fixture
def api(client: FlaskClient, auth_headers: dict[str, str]) -> Api:
    return Api(client, auth_headers)


_counter = iter(range(1, 10**9))


def make_article(**overrides: Any) -> dict[str, Any]:
    """An article body with readable defaults; numbered so keys never collide."""
    n = next(_counter)
    body: dict[str, Any] = {
        "key": f"article-{n}",
        "title": f"Article {n}",
        "section": "World",
        "topics": ["Climate"],
        "authors": [{"name": "Staff Correspondent", "email": None, "url": None}],
        "summary": f"Summary {n}",
        "content": f"<p>Body of article {n}</p>",
        "published": "2026-10-01T10:00:00Z",
        "updated": "2026-10-01T10:00:00Z",
        "url": f"https://news.example/world/article-{n}",
        "language": "en",
    }
    body.update(overrides)
    return body


# Names for a crowded newsroom: PLACES x SUBJECTS gives 2,000 distinct topics, in Bengali
# script too ("বাংলাদেশ floods") from the first 240 on.
PLACES = ["Dhaka", "Sylhet", "Chattogram", "Khulna", "Rajshahi", "বাংলাদেশ", "Rangpur",
          "Mymensingh", "Cumilla", "Gazipur", "Narayanganj", "Bogura", "Jashore", "Cox's Bazar",
          "Dinajpur", "Tangail", "Pabna", "Noakhali", "Feni", "Kushtia", "Delhi", "Kolkata",
          "Mumbai", "Karachi", "Lahore", "Colombo", "Kathmandu", "Yangon", "Bangkok", "Jakarta",
          "Manila", "Beijing", "Tokyo", "Seoul", "Dubai", "Riyadh", "Cairo", "Lagos", "Nairobi",
          "London", "Paris", "Berlin", "Kyiv", "Moscow", "Ankara", "Washington", "Ottawa",
          "Brasília", "Sydney", "Barishal"]
SUBJECTS = ["floods", "elections", "budget", "transport", "schools", "hospitals", "cricket",
            "football", "markets", "energy", "water", "housing", "courts", "police", "farming",
            "fisheries", "garments", "trade", "tourism", "weather", "culture", "film", "music",
            "books", "science", "health", "jobs", "prices", "roads", "rail", "aviation", "ports",
            "climate", "migration", "technology", "banking", "crime", "protests", "diplomacy",
            "rivers"]
FIRST_NAMES = ["Nadia", "Tom", "Priya", "Arif", "Sadia", "Jamal", "Mei", "Lena", "Omar",
               "Rina", "Kabir", "Sofia", "Tariq", "Anika", "David", "Farhana", "Yusuf", "Ines",
               "Rahul", "Grace"]
LAST_NAMES = ["Rahman", "Whitfield", "Natarajan", "Hossain", "Chowdhury", "Khan", "Lin",
              "Okafor", "Ahmed", "Das", "Müller", "Islam", "Sarkar", "Haque", "Begum"]


def crowd(app: Flask, now: dt.datetime, *, topics: int = 2000, authors: int = 300) -> list[str]:
    """A newsroom with ``topics`` topics and ``authors`` authors: one article per topic, by the
    bulk path of ``feedsvc import`` (seconds, where the API would take minutes). Returns the
    topic names, in the order of the articles, the newest first."""
    from feedsvc.store import articles
    from feedsvc.store.payload import Byline

    names = [f"{place} {subject}" for place in PLACES for subject in SUBJECTS][:topics]
    people = [f"{first} {last}" for last in LAST_NAMES for first in FIRST_NAMES][:authors]
    assert len(names) == topics and len(people) == authors, "not enough names"
    items = [articles.NewArticle(f"crowd-{n}", {
        "title": f"{name}: the latest", "section": PLACES[n % 12],
        "topics": (name,), "authors": (Byline(people[n % authors], None, None),),
        "published": now - dt.timedelta(minutes=n + 1), "updated": now - dt.timedelta(minutes=n + 1)})
        for n, name in enumerate(names)]
    db.run_write(db.get_engine(app), lambda s: articles.create_many(
        s, items, now=now, authority="feeds.test"))
    return names


def table_counts(app: Flask) -> dict[str, int]:
    """Rows per table: the database's state, to prove a refused request changed nothing."""
    from feedsvc.store.models import Base

    with db.get_engine(app).connect() as conn:
        return {name: conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
                for name in Base.metadata.tables}


def snapshot(app: Flask) -> list[tuple[Any, ...]]:
    """Every article row with its version: equal snapshots mean nothing was written."""
    with db.get_engine(app).connect() as conn:
        rows = conn.execute(text("SELECT * FROM articles ORDER BY id")).all()
        links = conn.execute(text(
            "SELECT * FROM article_topics ORDER BY article_id, topic_id")).all()
    return [tuple(r) for r in rows] + [tuple(r) for r in links] + [tuple(table_counts(app).items())]


@contextmanager
def recorded_statements(app: Flask) -> Iterator[list[str]]:
    """The SQL statements ``app``'s engine runs inside the block, in order (their text)."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        seen.append(statement)

    engine = db.get_engine(app)
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def live(db_url: str, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Real ``feedsvc serve`` processes on the test database (4 threads, an instance folder
    each), stopped after the test: ``live(*args, env={...}, **config)``."""
    from live import LiveServer

    servers: list[LiveServer] = []

    def start(*args: str, env: dict[str, str] | None = None, **config: str) -> LiveServer:
        servers.append(LiveServer(tmp_path / f"instance{len(servers)}", db_url, threads=4,
                                  args=args, env=env, **config))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def read_every_poll(feeds: freshness.FeedCache) -> None:
    """Make ``feeds`` read the database on every poll instead of trusting a read until it learns
    of a commit (a PostgreSQL notice from another process takes milliseconds to arrive)."""
    if feeds._watch is not None:
        feeds._watch.close()
    feeds._watch = None


def downgrade(app: Flask, revision: str) -> None:
    """Take ``app``'s database down to the schema ``revision`` with Alembic (``db.upgrade``
    brings it back)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(db.MIGRATIONS))
    with db.get_engine(app).begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
