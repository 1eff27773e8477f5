"""The render cache: each feed document is rendered once per change, and revalidated cheaply.

A request for a cached variant costs one primary-key read (the scope's version in
``feed_scopes``, bumped inside every write that touches the scope, by any process), so a
process never serves a document older than a write another process has acknowledged. A
document that time alone changes (a scheduled article coming due, a tombstone ageing out)
carries ``valid_until``, and is rendered again from that instant on.

Writing an embargoed article changes no public byte, so it moves no version: were the next
poll to re-render, a 304 slower than usual would tell that something is scheduled in the
scope. It records instead when the article comes due (``due``/``settled``, read with the
version), and documents rendered before that instant go stale at it.

Validators belong to the bytes: the ETag is a hash of the document, and ``Last-Modified``
is stored per variant in ``feed_validators`` and moves only when a render gives new bytes —
so every process answers with the same validators, and they change exactly when the document
does (RFC 9110 8.8).
"""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from flask import Flask
from sqlalchemy import Engine, and_, case, or_
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from . import changes, commits, db
from .changes import Scope
from .models import FeedScope, FeedValidator

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Rendered:
    """What a renderer gives: the bytes, and what the cache needs to know about them."""

    body: bytes
    content_type: str
    valid_until: dt.datetime | None = None  # the next instant time alone changes the document
    newest: dt.datetime | None = None  # the latest instant shown (an entry published, a deletion)


@dataclass(frozen=True)
class Document:
    """A cached document in both encodings, with the validators of each."""

    body: bytes
    content_type: str
    etag: str
    gzip_etag: str
    last_modified: dt.datetime
    valid_until: dt.datetime | None

    @functools.cached_property
    def gzipped(self) -> bytes:
        """The body gzipped, once, when a client first asks for it (not on the render's path)."""
        return gzip.compress(self.body, compresslevel=6, mtime=0)


@dataclass(frozen=True)
class _Entry:
    version: tuple[int, ...]
    document: Document
    rendered: float  # POSIX seconds of the render's clock


class _State(NamedTuple):
    """What one read of the scopes' rows says: their versions, and the last instant at which
    an embargoed article written since (without a version) came due, if one did. (A named
    tuple: a frozen dataclass cost about a microsecond of each poll to build.)"""

    version: tuple[int, ...]
    passed: float | None


class Mark(NamedTuple):
    """SQLite: a document is current while the commit counter stays at ``seen`` and the
    monotonic clock is before ``deadline`` (see FeedCache.peek_marked)."""

    seen: int
    deadline: float


def _scope_key(scope: Scope) -> tuple[str, str]:
    return (scope.kind or "", scope.slug or "")


def bump(session: Session, scopes: Iterable[Scope], now: dt.datetime) -> None:
    """Advance the version of every scope a write touched (inside that write's transaction).

    Rows are touched in one order so that two writers never wait on each other in a cycle.
    """
    commits.changed(session)
    insert = db.dialect_insert(session)
    for kind, slug in sorted(_scope_key(scope) for scope in scopes):
        statement = insert(FeedScope).values(kind=kind, slug=slug, version=1, changed=now)
        session.execute(statement.on_conflict_do_update(
            index_elements=[FeedScope.kind, FeedScope.slug],
            set_={"version": FeedScope.version + 1, "changed": now}))


def expect(session: Session, due: Mapping[Scope, dt.datetime], now: dt.datetime) -> None:
    """Record when embargoed articles come due in their scopes, leaving the versions alone.

    Every document rendered before such an instant is stale from it on. ``due`` keeps the
    earliest instant still to come; when a new one arrives after it passed, it moves to
    ``settled``, so documents rendered before it still know they are stale.
    """
    commits.changed(session)
    insert = db.dialect_insert(session)
    clock = int(now.timestamp())
    for scope, when in sorted(due.items(), key=lambda item: _scope_key(item[0])):
        kind, slug = _scope_key(scope)
        instant = int(when.timestamp())
        passed = and_(FeedScope.due.is_not(None), FeedScope.due <= clock)
        statement = insert(FeedScope).values(kind=kind, slug=slug, version=0, changed=EPOCH, due=instant)
        session.execute(statement.on_conflict_do_update(
            index_elements=[FeedScope.kind, FeedScope.slug],
            set_={"due": case((or_(FeedScope.due.is_(None), passed, FeedScope.due > instant), instant),
                              else_=FeedScope.due),
                  "settled": case((passed, FeedScope.due), else_=FeedScope.settled)}))


class FeedCache:
    """Rendered documents of this process, at most ``size`` of them, least recently used out."""

    def __init__(self, engine: Engine, size: int = 1000) -> None:
        self.engine, self.size = engine, size
        mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        self._version_sql = ("SELECT version, changed, due, settled FROM feed_scopes"
                             f" WHERE kind = {mark} AND slug = {mark}")
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._rendering = [threading.Lock() for _ in range(64)]  # striped by variant
        self._local = threading.local()
        self._kept: list[Any] = []  # every thread's kept connection, for close()
        # SQLite: scope rows read when the shared commit counter stood at a value (see commits)
        self._commits = commits.for_engine(engine)
        self._rows: dict[tuple[str, str], tuple[int, float, tuple[Any, ...]]] = {}

    def fetch(self, variant: str, scopes: Iterable[Scope], now: dt.datetime,
              render: Callable[[], Rendered]) -> Document:
        """The document of ``variant`` (a string naming scope, format, order, page, origin).

        ``scopes`` are those whose writes can change it (for feeds, their own scope). One
        read of their versions; ``render`` runs only when one moved or time ran out.
        """
        rows = [self._version(scope) for scope in scopes]
        state = _state(rows, now)
        fresh = self._fresh(variant, state, now)
        if fresh is not None:
            return fresh
        # One render per variant at a time: the polls that find a feed changed all at once
        # wait for the first one's render instead of each rendering it (and, sharing the GIL,
        # each taking as long as all of them together).
        with self._rendering[hash(variant) % len(self._rendering)]:
            fresh = self._fresh(variant, state, now)  # rendered meanwhile from this version
            if fresh is not None:
                return fresh
            changed = max([_as_utc(row[1]) for row in rows if row[1] is not None] + [EPOCH])
            document = self._build(variant, render(), changed, now)
            with self._lock:
                self._entries[variant] = _Entry(state.version, document, now.timestamp())
                self._entries.move_to_end(variant)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        return document

    def peek(self, variant: str, scopes: Iterable[Scope], now: dt.datetime) -> Document | None:
        """The cached document of ``variant`` if it is still current, else None (no render)."""
        return self._fresh(variant, _state([self._version(scope) for scope in scopes], now), now)

    def peek_marked(self, variant: str, scope: Scope,
                    now: dt.datetime) -> tuple[Document | None, Mark | None]:
        """``peek`` for a document of one scope, with the mark under which it stays current.

        The mark is the commit counter and the deadline of the scope's row as read for this very
        decision: while ``still(mark)``, the document is current without reading anything
        (SQLite). None on PostgreSQL, and for a document that time alone will change (an
        upcoming publication, an ageing tombstone, an embargo recorded in the scope not yet due).
        """
        if self._commits is None:
            return self.peek(variant, [scope], now), None
        seen, deadline, row = self._known(scope)
        document = self._fresh(variant, _state([row], now), now)
        due = row[2]
        if document is None or document.valid_until is not None or (
                due is not None and due > now.timestamp()):
            return document, None
        return document, Mark(seen, deadline)

    def still(self, mark: Mark) -> bool:
        """Whether no feed changed since ``mark`` was taken and its row is not due a re-read."""
        assert self._commits is not None
        return self._commits.read() == mark.seen and time.monotonic() < mark.deadline

    def _fresh(self, variant: str, state: _State, now: dt.datetime) -> Document | None:
        with self._lock:
            entry = self._entries.get(variant)
            if entry is not None and entry.version == state.version and (
                    entry.document.valid_until is None or now < entry.document.valid_until) and (
                    state.passed is None or entry.rendered >= state.passed):
                self._entries.move_to_end(variant)
                return entry.document
        return None

    def _version(self, scope: Scope) -> tuple[Any, ...]:
        """The scope's (version, changed, due, settled); on SQLite without a read while no feed
        has changed since the last one (see commits)."""
        if self._commits is None:
            return self._read(scope)
        return self._known(scope)[2]

    def _known(self, scope: Scope) -> tuple[int, float, tuple[Any, ...]]:
        """SQLite: (counter seen before the read, monotonic deadline, row) of the scope's row."""
        assert self._commits is not None
        key, seen = _scope_key(scope), self._commits.read()
        known = self._rows.get(key)
        if known is not None and known[0] == seen and time.monotonic() < known[1]:
            return known
        row = self._read(scope)
        if len(self._rows) > 4 * self.size:  # bounded under a spray of unknown slugs
            self._rows.clear()
        known = (seen, time.monotonic() + commits.RECHECK, row)  # seen before the read
        self._rows[key] = known
        return known

    def _read(self, scope: Scope) -> tuple[Any, ...]:
        """The scope's row: a primary-key read on this thread's kept connection.

        This is the whole cost of a poll for an unchanged feed, so it skips the ORM, whose
        session and identity map cost fifty times the query itself.
        """
        kept = getattr(self._local, "connection", None) is not None
        try:
            return self._read_version(scope)
        except self.engine.dialect.loaded_dbapi.Error as exc:
            if not kept:  # a new connection failed: the database is away (503)
                raise OperationalError(self._version_sql, None, exc) from exc
        # The kept connection broke (the database restarted since this thread last read through
        # it): a new one decides, so a restart between polls costs the poller nothing (issue 7).
        try:
            return self._read_version(scope)
        except self.engine.dialect.loaded_dbapi.Error as exc:
            raise OperationalError(self._version_sql, None, exc) from exc

    def _read_version(self, scope: Scope) -> tuple[Any, ...]:
        connection = getattr(self._local, "connection", None)
        try:
            if connection is None:
                connection = self._keep()
            cursor = connection.cursor()
            cursor.execute(self._version_sql, _scope_key(scope))
            row = cursor.fetchone()
            cursor.close()
        except self.engine.dialect.loaded_dbapi.Error:
            if connection is not None:  # broken: dropped, and the next read opens another
                self._local.connection = None
                with self._lock:
                    self._kept = [c for c in self._kept if c is not connection]
                connection.invalidate()
            raise
        # ``changed`` stays as the driver gave it: it is parsed only when a render needs it.
        return (0, None, None, None) if row is None else tuple(row)

    def _keep(self) -> Any:
        """This thread's connection, kept, in autocommit: no pool checkout, no transaction to end.

        ``raw_connection`` raises the driver's own errors, unwrapped, when the database is away.
        """
        connection = self.engine.raw_connection()
        if self.engine.dialect.name == "postgresql":
            connection.dbapi_connection.autocommit = True  # type: ignore[union-attr]
        self._local.connection = connection
        with self._lock:
            self._kept.append(connection)
        return connection

    def close(self) -> None:
        """Close the kept connections (they never go back to the pool: one is in autocommit)."""
        with self._lock:
            kept, self._kept = self._kept, []
        for connection in kept:
            if connection.dbapi_connection is not None:
                connection.invalidate()

    def _build(self, variant: str, rendered: Rendered, changed: dt.datetime,
               now: dt.datetime) -> Document:
        digest = hashlib.sha256(rendered.body).hexdigest()[:32]
        # The instant these bytes came to be: the last write to the scope or the newest
        # instant the document shows (a scheduled article that came due), never in the future.
        candidate = min(max(changed, rendered.newest or EPOCH), now).replace(microsecond=0)
        last_modified = stored_last_modified(self.engine, variant, digest, candidate)
        return Document(
            body=rendered.body,
            content_type=rendered.content_type,
            etag=f'"{digest}"',
            gzip_etag=f'"{digest}-gzip"',
            last_modified=last_modified,
            valid_until=rendered.valid_until)


def stored_last_modified(engine: Engine, variant: str, digest: str,
                         candidate: dt.datetime) -> dt.datetime:
    """The Last-Modified of ``variant`` while its bytes hash to ``digest``, shared by processes.

    A read when the bytes are known; a short write transaction only when they are new.
    """
    key = hashlib.sha256(variant.encode()).hexdigest()
    with Session(engine) as session:
        row = session.get(FeedValidator, key)
        if row is not None and row.etag == digest:
            return row.last_modified
    return db.run_write(engine, lambda s: _validators(s, key, digest, candidate))


def _state(rows: list[tuple[Any, ...]], now: dt.datetime) -> _State:
    if len(rows) == 1 and rows[0][2] is None and rows[0][3] is None:  # a feed's own scope, the usual
        return _State((rows[0][0],), None)
    if all(row[2] is None and row[3] is None for row in rows):  # nothing ever scheduled
        return _State(tuple(row[0] for row in rows), None)
    clock = now.timestamp()
    passed = [due if due is not None and due <= clock else settled for _, _, due, settled in rows]
    return _State(tuple(row[0] for row in rows), max((p for p in passed if p is not None), default=None))


def _as_utc(value: dt.datetime | str) -> dt.datetime:
    """A ``changed`` value as the DBAPI gives it (SQLite: naive UTC text) made aware UTC."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _validators(session: Session, variant: str, digest: str,
                candidate: dt.datetime) -> dt.datetime:
    """The stored Last-Modified of these bytes; a new one only when the bytes are new."""
    row = session.get(FeedValidator, variant)
    if row is None:
        db.insert_ignore(session, FeedValidator,
                         {"variant": variant, "etag": digest, "last_modified": candidate})
        row = session.get(FeedValidator, variant, populate_existing=True)
        assert row is not None
    if row.etag != digest:
        row.etag = digest
        # Strictly later than before, so If-Modified-Since sees the change.
        row.last_modified = max(candidate, row.last_modified + dt.timedelta(seconds=1))
    return row.last_modified


def get_cache(app: Flask) -> FeedCache:
    return app.extensions["feedsvc.cache"]  # type: ignore[no-any-return]


def init_app(app: Flask) -> None:
    app.extensions["feedsvc.cache"] = FeedCache(db.get_engine(app), app.config["FEED_CACHE_SIZE"])
    changes.listen(app, bump, due=expect)
