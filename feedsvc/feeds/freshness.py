"""Feed documents: rendered once per change for the whole deployment, revalidated without a render.

Every write that touches a scope advances the scope's version in ``feed_scopes`` (``advance_versions``, inside
the write's transaction). A canonical document (a feed's first page as pollers poll it) is
stored in ``feed_documents`` with the version it was rendered at, its validators, the instant
time alone changes it (``valid_until``) and its gzipped bytes, where every process sees it. A
poll is then one indexed read of that row joined to its scope's: if the row is current, its
validators answer a conditional poll (304) and its bytes, from this process's memory or from
the row, answer the others. Only a document whose scope changed is rendered again, once, by
whichever process is asked first; the others read what it stored.

An embargoed article's write changes no public byte, so it moves no version (the next poll
must not render, or its time would tell); it records when the article comes due
(``due``/``settled``, read with the version), documents rendered before that instant go stale
at it, and every answer's ``max-age`` ends there (``Current.until``).

Validators belong to the bytes: the ETag is a hash of the document, and ``Last-Modified``
moves only when a render gives new bytes, and then always forward (RFC 9110 8.8), the same in
both encodings and in every process.

Other documents (later pages, an explicit ``?limit=``, every document when ``BASE_URL`` is not
set and each Host gets its own) are kept in this process only: nothing an anonymous client
sends adds a row. This process's memory holds at most ``max_bytes`` of documents, least
recently used out.

A read that found a document current stays good until something that changes a feed is
committed, and a process learns of that without a query: on SQLite from the wal-index header
in the ``-shm`` file, read from memory (``_Watch``: any commit of any process, at once); on
PostgreSQL from the NOTIFY every such write sends (``_Notices``: this process's own at once,
another's within milliseconds). A hot feed's polls then read nothing while nothing changes.
A document whose bodies went out of memory keeps its validators (a revalidation needs no
more), and stored bytes are read only when they are to be sent.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import mmap
import os
import select
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from flask import Flask
from sqlalchemy import Engine, and_, case, event, or_, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from werkzeug.http import http_date, quote_etag

from feedsvc import metrics
from feedsvc.feeds.document import EPOCH
from feedsvc.store import changes, db
from feedsvc.store.models import FeedDocument, FeedScope, Setting
from feedsvc.store.scopes import Scope

_OVERHEAD = 1200  # bytes a held document costs besides its bodies (measured: tests/test_review.py)


@dataclass(frozen=True)
class Rendered:
    """What a renderer gives: the bytes, and what the cache needs to know about them."""

    body: bytes
    content_type: str
    valid_until: dt.datetime | None = None  # the next instant time alone changes the document
    last_shown: dt.datetime | None = None  # the latest instant shown (an entry published, a deletion)


class Changed(Exception):
    """The stored bytes of a document were replaced before this process read them: ask again."""


class Document:
    """A document's bytes and validators. Its bodies are made when first asked for, in the
    encodings asked for: the gzip one compressed from the render, or read from the stored row
    (which is cheaper than compressing); the plain one rendered, or decompressed from the
    stored bytes (which are then not kept unless gzip is asked for too). A stored document may
    hold no body at all, only its validators: ``load`` reads its gzipped bytes (None when they
    were replaced meanwhile: ``Changed``). ``on_grow`` is told whenever a body is made."""

    def __init__(self, *, content_type: str, digest: str, last_modified: dt.datetime,
                 valid_until: dt.datetime | None, body: bytes | None = None,
                 gzipped: bytes | None = None, load: Callable[[], bytes | None] | None = None,
                 on_grow: Callable[[Document], None] | None = None) -> None:
        assert body is not None or gzipped is not None or load is not None
        self.content_type, self.last_modified, self.valid_until = content_type, last_modified, valid_until
        self.etag, self.gzip_etag = quote_etag(digest), quote_etag(f"{digest}-gzip")
        self.http_date = http_date(last_modified)  # formatted once, not on every answer
        self.digest = digest
        self._body, self._gzipped = body, gzipped
        self._load, self._on_grow = load, on_grow
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether a body is here (else only the validators, and ``load``)."""
        return self._body is not None or self._gzipped is not None

    def _stored(self) -> bytes:
        """The stored gzipped bytes (under _lock); ``Changed`` if they were replaced."""
        assert self._load is not None
        gzipped = self._load()
        if gzipped is None:
            raise Changed(self.digest)
        return gzipped

    def _grown(self) -> None:
        if self._on_grow is not None:
            self._on_grow(self)

    def load(self) -> None:
        """Make sure a body is here: the stored bytes read if none is; ``Changed`` if they were
        replaced."""
        if self.loaded:
            return
        with self._lock:
            if self.loaded:
                return
            self._gzipped = self._stored()
        self._grown()

    @property
    def body(self) -> bytes:
        if self._body is None:
            with self._lock:
                if self._body is not None:
                    return self._body
                self._body = gzip.decompress(self._gzipped if self._gzipped is not None
                                             else self._stored())
            self._grown()
        return self._body

    @property
    def gzipped(self) -> bytes:
        """The body gzipped (mtime 0: the same bytes everywhere)."""
        if self._gzipped is None:
            with self._lock:
                if self._gzipped is not None:
                    return self._gzipped
                self._gzipped = (self._stored() if self._load is not None
                                 else gzip.compress(self._body or b"", compresslevel=6, mtime=0))
            self._grown()
        return self._gzipped

    def revalidated(self, last_modified: dt.datetime, valid_until: dt.datetime | None) -> Document:
        """The same bytes under other validators (no copy of the bodies)."""
        return Document(content_type=self.content_type, digest=self.digest, last_modified=last_modified,
                        valid_until=valid_until, body=self._body, gzipped=self._gzipped,
                        load=self._load, on_grow=self._on_grow)

    def stripped(self) -> Document | None:
        """The same validators without the bodies, if they can be read again (else None)."""
        if self._load is None:
            return None
        return Document(content_type=self.content_type, digest=self.digest,
                        last_modified=self.last_modified, valid_until=self.valid_until,
                        load=self._load, on_grow=self._on_grow)

    @property
    def size(self) -> int:
        """Bytes this document holds: its bodies made so far, and what every document costs
        besides (its key, validators and bookkeeping: about a KiB, which small pages of
        ?limit=1 make count)."""
        return len(self._body or b"") + len(self._gzipped or b"") + _OVERHEAD


class Current(NamedTuple):
    """A current document, and the instant after which no cache may keep it: the earlier of
    its ``valid_until`` and the next embargo due in its scope (None: nothing scheduled).
    A named tuple: one is made for every poll, and a frozen dataclass costs twice as much."""

    document: Document
    until: dt.datetime | None


@dataclass(frozen=True)
class _Row:
    """What one read says of a document and its scope (or of a scope alone: ``version`` None)."""

    scope_version: int
    changed: Any
    due: int | None
    settled: int | None
    version: int | None = None
    digest: str | None = None
    last_modified: dt.datetime | None = None
    valid_until: dt.datetime | None = None
    rendered: dt.datetime | None = None
    content_type: str | None = None

    def serves(self, version: int, valid_until: dt.datetime | None, rendered: float,
               now: dt.datetime) -> bool:
        """Whether a document rendered (POSIX seconds) at scope ``version`` and good until
        ``valid_until`` is still current by this row: no write since, no instant of its own
        passed, no embargo come due after its render."""
        passed = self.stale_before(now)
        return (version == self.scope_version and (valid_until is None or now < valid_until)
                and (passed is None or rendered >= passed))

    def stale_before(self, now: dt.datetime) -> float | None:
        """The last instant at which an embargo recorded in the scope came due (POSIX
        seconds), if one did: documents rendered before it miss that article."""
        clock = now.timestamp()
        if self.due is not None and self.due <= clock:
            return float(self.due) if self.settled is None else float(max(self.due, self.settled))
        return float(self.settled) if self.settled is not None else None

    def until(self, valid_until: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
        if self.due is None or self.due <= now.timestamp():
            return valid_until
        upcoming = dt.datetime.fromtimestamp(self.due, dt.UTC)
        return upcoming if valid_until is None else min(valid_until, upcoming)


@dataclass
class _Held:
    version: int
    rendered: float  # POSIX seconds of the render's clock
    document: Document
    size: int
    # The last read that found the document current, and the watch's value before it
    # (``_Watch``, ``_Notices``): trusted while that value stays. One tuple, replaced whole,
    # so that a poll on another thread never pairs one read's row with another's value.
    trusted: tuple[_Row, bytes | int] | None = None


def variant_of(key: str) -> str:
    """The stored name of a document: the SHA-256 of its address key (unbounded in length)."""
    return hashlib.sha256(key.encode()).hexdigest()


def advance_versions(session: Session, scopes: Iterable[Scope], now: dt.datetime) -> None:
    """Advance the version of every scope a write touched (inside that write's transaction).

    Rows are touched in one order so that two writers never wait on each other in a cycle. One
    executemany (its rows in that order): an import's batch touches hundreds of scopes, and a
    statement each took 0.65 s of each import batch of 500 articles (bench/import, cProfile).
    """
    rows = [{"kind": kind, "slug": slug, "version": 1, "changed": now}
            for kind, slug in sorted(scope.key() for scope in scopes)]
    if rows:
        statement = db.dialect_insert(session)(FeedScope).on_conflict_do_update(
            index_elements=[FeedScope.kind, FeedScope.slug],
            set_={"version": FeedScope.version + 1, "changed": now})
        session.connection().execute(statement, rows)
    _notify(session)


def _notify(session: Session) -> None:
    """PostgreSQL: tell every process's ``_Notices`` at this transaction's commit (a NOTIFY is
    delivered then, and not at all on a rollback)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {_Notices.CHANNEL}"))


def record_due(session: Session, due: Mapping[Scope, dt.datetime], now: dt.datetime) -> None:
    """Record when embargoed articles come due in their scopes, leaving the versions alone.

    Every document rendered before such an instant is stale from it on. ``due`` keeps the
    earliest instant still to come; when a new one arrives after it passed, it moves to
    ``settled``, so documents rendered before it still know they are stale.
    """
    insert = db.dialect_insert(session)
    clock = int(now.timestamp())
    for scope, when in sorted(due.items(), key=lambda item: item[0].key()):
        kind, slug = scope.key()
        instant = int(when.timestamp())
        passed = and_(FeedScope.due.is_not(None), FeedScope.due <= clock)
        statement = insert(FeedScope).values(kind=kind, slug=slug, version=0, changed=EPOCH, due=instant)
        session.execute(statement.on_conflict_do_update(
            index_elements=[FeedScope.kind, FeedScope.slug],
            set_={"due": case((or_(FeedScope.due.is_(None), passed, FeedScope.due > instant), instant),
                              else_=FeedScope.due),
                  "settled": case((passed, FeedScope.due), else_=FeedScope.settled)}))
    _notify(session)


class FeedCache:
    """The feed documents of the deployment (see the module docstring), with this process's
    share of them in memory, at most ``max_bytes``."""

    def __init__(self, engine: Engine, max_bytes: int = 64 * 2**20, *, shared: bool = True,
                 settings_mark: Callable[[], str] | None = None) -> None:
        self.engine, self.max_bytes, self.shared = engine, max_bytes, shared
        # The render settings' digest (service.FeedSettings.mark), compared with the one the
        # stored documents were rendered under before this process's first read of them.
        self._settings_mark = settings_mark
        self._mark: str | None = None  # the mark this process renders under, once reconciled
        self._settings_lock = threading.Lock()
        self._watch: _Watch | _Notices | None = _Watch.of(engine) or _Notices.of(engine)
        self._postgres = engine.dialect.name == "postgresql"
        mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        self._scope_sql = ("SELECT version, changed, due, settled FROM feed_scopes"
                           f" WHERE kind = {mark} AND slug = {mark}")
        self._document_sql = (
            "SELECT s.version, s.changed, s.due, s.settled, d.version, d.etag, d.last_modified,"
            " d.valid_until, d.rendered, d.content_type FROM feed_documents d LEFT JOIN feed_scopes s"
            f" ON s.kind = d.kind AND s.slug = d.slug WHERE d.variant = {mark}")
        self._body_sql = f"SELECT body FROM feed_documents WHERE variant = {mark} AND etag = {mark}"
        self._held: OrderedDict[str, _Held] = OrderedDict()  # with bodies, at most max_bytes
        # Stored documents whose bodies went out of memory: validators only (a 304 needs no
        # more), the bodies read again when asked for. At most an eighth of max_bytes of them.
        self._known: OrderedDict[str, _Held] = OrderedDict()
        self._max_known = max(64, max_bytes // 8 // _OVERHEAD)
        self._bytes = 0
        self._lock = threading.Lock()
        self._rendering = [threading.Lock() for _ in range(64)]  # striped by variant
        self.renders = 0  # renders by this process, for tests and benchmarks

    # -- a poll: one read, no render ---------------------------------------------------------

    def lookup(self, key: str, scope: Scope, now: dt.datetime, *, canonical: bool) -> Current | None:
        """The current document of address ``key`` if there is one, else None (never renders).

        ``canonical`` documents are read from ``feed_documents`` (one indexed read with their
        scope's row); others only from this process's memory (one read of the scope's row).
        """
        return self.lookup_variant(variant_of(key), scope, now, canonical=canonical)

    def lookup_variant(self, variant: str, scope: Scope, now: dt.datetime, *,
                       canonical: bool) -> Current | None:
        """``lookup`` by the stored name of the address (``variant_of(key)``), for a caller
        that keeps it. A document found counts as a cache hit; none found counts nothing, as
        the caller goes on to ``fetch``, which counts."""
        current = self._lookup(variant, scope, now, canonical=canonical)
        if current is not None:
            metrics.get().cache_hit.inc()
        return current

    def _lookup(self, variant: str, scope: Scope, now: dt.datetime, *, canonical: bool) -> Current | None:
        if self._settings_mark is not None:
            self._reconcile_settings()
        seen = self._watch.version() if self._watch is not None else None  # before the read
        trusted = self._trusted(variant, seen, now)
        if trusted is not None:
            return trusted
        stored = canonical and self.shared
        row = self._read_document(variant) if stored else None
        if row is None:
            row = self._read_scope(scope)
            held = self._held_current(variant, row, now)
            if held is None:
                return None
            self._trust(variant, held, row, seen)
            return Current(held, row.until(held.valid_until, now))
        if not row.serves(row.version or 0, row.valid_until, (row.rendered or EPOCH).timestamp(), now):
            return None
        assert row.digest is not None and row.last_modified is not None and row.content_type is not None
        with self._lock:
            entry = self._entry(variant)
            document = entry.document if entry is not None and entry.document.digest == row.digest else None
        version, rendered = row.version or 0, (row.rendered or EPOCH).timestamp()
        if document is not None and document.last_modified != row.last_modified:
            # The same bytes again after others (A -> B -> A, rendered elsewhere): the row's
            # Last-Modified, later than B's, not the one this process kept from A's first time.
            document = document.revalidated(row.last_modified, row.valid_until)
            self._keep(variant, version, rendered, document)
        elif document is not None:
            self._touch(variant)
        if document is None:
            # Rendered by another process (or gone from memory here): its validators now, its
            # stored bytes only if a body is asked for (a 304 needs none).
            digest = row.digest
            document = Document(content_type=row.content_type, digest=digest,
                                last_modified=row.last_modified, valid_until=row.valid_until,
                                load=lambda: self._read_body(variant, digest),
                                on_grow=lambda grown: self._grown(variant, grown))
            self._keep(variant, version, rendered, document)
        self._trust(variant, document, row, seen)
        return Current(document, row.until(row.valid_until, now))

    def _trusted(self, variant: str, seen: bytes | int | None, now: dt.datetime) -> Current | None:
        """The held document of ``variant`` if a read found it current when the watch said
        ``seen`` (and still says it: nothing committed since) and no instant that read knew of
        has passed since."""
        entry = self._entry(variant)
        trusted = entry.trusted if entry is not None else None
        if seen is None or trusted is None or trusted[1] != seen:
            return None
        assert entry is not None
        row, document = trusted[0], entry.document
        if not row.serves(entry.version, document.valid_until, entry.rendered, now):
            return None
        self._touch(variant)
        return Current(document, row.until(document.valid_until, now))

    def _trust(self, variant: str, document: Document, row: _Row, seen: bytes | int | None) -> None:
        """Remember that ``row`` found the held ``document`` current, read after the database
        watch said ``seen`` (taken before the read, so that a commit during it is never
        trusted away)."""
        if seen is None:
            return
        with self._lock:
            entry = self._entry(variant)
            if entry is not None and entry.document is document:
                entry.trusted = (row, seen)

    def fetch(self, key: str, scope: Scope, now: dt.datetime, render: Callable[[Session], Rendered],
              *, canonical: bool) -> Current:
        """The current document of address ``key``, rendered (in a session of its own) when
        there is none. One render per variant at a time in this process: the polls that find
        a feed changed together wait for the first one's render instead of each rendering it.
        Its document holds a body (read from the stored row if need be). A cache hit, or a
        miss when it renders."""
        variant = variant_of(key)
        current = self._loaded_lookup(variant, scope, now, canonical)
        if current is not None:
            metrics.get().cache_hit.inc()
            return current
        with self._rendering[int(variant[:8], 16) % len(self._rendering)]:
            current = self._loaded_lookup(variant, scope, now, canonical)
            if current is not None:  # rendered by another thread meanwhile
                metrics.get().cache_hit.inc()
                return current
            metrics.get().cache_miss.inc()
            row = self._read_scope(scope)  # before the render: a write after it makes it stale
            with Session(self.engine) as session:
                rendered = render(session)
            self.renders += 1
            document = self._build(variant, scope, row, rendered, now, canonical and self.shared)
            return Current(document, row.until(document.valid_until, now))

    def _loaded_lookup(self, variant: str, scope: Scope, now: dt.datetime, canonical: bool) -> Current | None:
        """``lookup``, with the document's stored bytes read; None (render) if they keep
        changing under it."""
        for _ in range(3):
            current = self._lookup(variant, scope, now, canonical=canonical)
            if current is None:
                return None
            try:
                current.document.load()
            except Changed:
                continue
            return current
        return None

    def _reconcile_settings(self) -> None:
        """Once per process, before any stored document is served: see ``reconcile_settings``."""
        with self._settings_lock:
            if self._settings_mark is None:  # another thread did it meanwhile
                return
            mark = self._settings_mark()
            db.run_write(self.engine, lambda session: reconcile_settings(session, mark))
            self._mark, self._settings_mark = mark, None

    # -- reads ----------------------------------------------------------------------------------

    def _query(self, sql: str, args: tuple[Any, ...]) -> Any:
        """One row of a primary-key read on a pooled connection, skipping the ORM (whose session
        costs fifty times the query itself). The connection goes back to the pool at once."""
        try:
            connection = self.engine.raw_connection()
        except self.engine.dialect.loaded_dbapi.Error as exc:
            raise OperationalError(sql, None, exc) from exc
        dbapi = connection.dbapi_connection
        autocommit = self._postgres and dbapi is not None
        try:
            if autocommit:  # one round trip: no transaction to begin, and none to end
                dbapi.autocommit = True  # type: ignore[union-attr]
            cursor = connection.cursor()
            cursor.execute(sql, args)
            row = cursor.fetchone()
            cursor.close()
            if autocommit:  # back as the pool's other users expect it
                dbapi.autocommit = False  # type: ignore[union-attr]
            return row
        except self.engine.dialect.loaded_dbapi.Error as exc:
            connection.invalidate()
            raise OperationalError(sql, None, exc) from exc
        except BaseException:  # never back to the pool half-way (autocommit still on, say)
            connection.invalidate()
            raise
        finally:
            connection.close()

    def _read_scope(self, scope: Scope) -> _Row:
        row = self._query(self._scope_sql, scope.key())
        return _Row(0, None, None, None) if row is None else _Row(row[0], row[1], row[2], row[3])

    def _read_document(self, variant: str) -> _Row | None:
        row = self._query(self._document_sql, (variant,))
        if row is None:
            return None
        return _Row(row[0] or 0, row[1], row[2], row[3], row[4], row[5], _utc(row[6]),
                    _utc(row[7]) if row[7] is not None else None, _utc(row[8]), row[9])

    def _read_body(self, variant: str, digest: str) -> bytes | None:
        row = self._query(self._body_sql, (variant, digest))
        return None if row is None else bytes(row[0])

    def _held_current(self, variant: str, row: _Row, now: dt.datetime) -> Document | None:
        with self._lock:
            entry = self._held.get(variant)
            if entry is not None and row.serves(entry.version, entry.document.valid_until,
                                                entry.rendered, now):
                self._held.move_to_end(variant)
                return entry.document
        return None

    # -- after a render ---------------------------------------------------------------------------

    def _build(self, variant: str, scope: Scope, row: _Row, rendered: Rendered, now: dt.datetime,
              stored: bool) -> Document:
        digest = hashlib.sha256(rendered.body).hexdigest()[:32]
        changed = _utc(row.changed) if row.changed is not None else EPOCH
        # The instant these bytes came to be: the last write to the scope or the newest
        # instant the document shows (a scheduled article that came due), never in the future.
        candidate = min(max(changed, rendered.last_shown or EPOCH), now).replace(microsecond=0)
        gzipped = gzip.compress(rendered.body, compresslevel=6, mtime=0) if stored else None
        last_modified = candidate
        if stored:
            assert gzipped is not None
            last_modified = db.run_write(self.engine, lambda s: _store(
                s, variant, scope, row.scope_version, digest, candidate, rendered, now, gzipped,
                self._mark))
        document = Document(content_type=rendered.content_type, digest=digest,
                            last_modified=last_modified, valid_until=rendered.valid_until,
                            body=rendered.body, gzipped=gzipped,
                            load=(lambda: self._read_body(variant, digest)) if stored else None,
                            on_grow=lambda grown: self._grown(variant, grown))
        self._keep(variant, row.scope_version, now.timestamp(), document)
        return document

    # -- memory ------------------------------------------------------------------------------------

    def _entry(self, variant: str) -> _Held | None:
        """This process's entry for ``variant``, with bodies or validators only (a look: take
        _lock to act on it)."""
        return self._held.get(variant) or self._known.get(variant)

    def _touch(self, variant: str) -> None:
        """Mark ``variant`` as just used (least recently used goes first)."""
        with self._lock:
            for table in (self._held, self._known):
                if variant in table:
                    table.move_to_end(variant)

    def _keep(self, variant: str, version: int, rendered: float, document: Document) -> None:
        """Hold ``document`` as ``variant``'s: with its bodies if it has them, else its validators."""
        with self._lock:
            self._forget(variant)
            entry = _Held(version, rendered, document, document.size)
            if document.loaded:
                self._hold(variant, entry)
            else:
                self._remember(variant, entry)

    def _grown(self, variant: str, document: Document) -> None:
        """``document`` made a body: count it, if it is still this variant's (one held with
        validators only is held with its bodies from now; what was read about it stays)."""
        with self._lock:
            entry = self._held.get(variant)
            if entry is not None and entry.document is document:
                self._bytes += document.size - entry.size
                entry.size = document.size
                self._held.move_to_end(variant)
                self._shrink()
                return
            entry = self._known.get(variant)
            if entry is not None and entry.document is document:
                del self._known[variant]
                entry.size = document.size
                self._hold(variant, entry)

    def _forget(self, variant: str) -> None:
        old = self._held.pop(variant, None)
        if old is not None:
            self._bytes -= old.size
            metrics.get().cache_bytes.set(self._bytes)
        self._known.pop(variant, None)

    def _hold(self, variant: str, entry: _Held) -> None:
        """Under _lock: ``entry`` with its bodies, then the least recently used out of memory
        until max_bytes holds; those that can be read again keep their validators."""
        if entry.size > self.max_bytes:
            return
        self._held[variant] = entry
        self._bytes += entry.size
        self._shrink()

    def _shrink(self) -> None:
        """Under _lock: the least recently used out of memory until max_bytes holds."""
        while self._bytes > self.max_bytes and self._held:
            name, evicted = self._held.popitem(last=False)
            self._bytes -= evicted.size
            stripped = evicted.document.stripped()
            if stripped is not None:
                self._remember(name, _Held(evicted.version, evicted.rendered, stripped, _OVERHEAD,
                                           evicted.trusted))
        metrics.get().cache_bytes.set(self._bytes)  # every growth ends here

    def _remember(self, variant: str, entry: _Held) -> None:
        """Under _lock: ``entry`` with validators only, the least recently used such out past
        their bound."""
        self._known[variant] = entry
        while len(self._known) > self._max_known:
            self._known.popitem(last=False)

    @property
    def held_bytes(self) -> int:
        return self._bytes

    def written(self, session: Session) -> None:
        """Called inside a write that touches feeds: once it commits, this process trusts no
        earlier read (SQLite's watch sees any commit at once; PostgreSQL's notice may not be
        back yet)."""
        watch = self._watch
        if isinstance(watch, _Notices):
            event.listen(session, "after_commit", lambda _: watch.moved(), once=True)

    def close(self) -> None:
        """Close the watch's connection (SQLite's or PostgreSQL's listener); the rest is the pool's."""
        if self._watch is not None:
            self._watch.close()


class _Watch:
    """Whether anything was committed to a SQLite database since an earlier look, read from
    memory without a call into SQLite.

    In WAL mode (db.py sets it) every commit, by any connection of any process, rewrites the
    wal-index header at the start of the database's ``-shm`` file before it returns: the
    header's ``iChange`` counts transactions and ``mxFrame`` the frames in the WAL
    (https://sqlite.org/walformat.html, 2.1). Its 96 bytes (both copies), mapped read-only,
    are the value callers compare: equal bytes, no commit since. A look costs a copy of them
    (well under a microsecond, the GIL held), where ``PRAGMA data_version`` cost a query on a
    connection of the thread's own, and threads queued for the GIL behind it (bench/mix).

    The watch keeps a connection of its own open from its first look: SQLite deletes or
    truncates the ``-shm`` file only when the last connection to the database closes.
    """

    _HEADER = 96  # both copies of the wal-index header (48 bytes each)

    def __init__(self, database: str) -> None:
        self._database = database
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._header: mmap.mmap | None = None

    @classmethod
    def of(cls, engine: Engine) -> _Watch | None:
        """The watch of ``engine``'s database: None unless it is a SQLite file."""
        database = engine.url.database
        if engine.dialect.name != "sqlite" or not database or database == ":memory:" \
                or database.startswith("file:"):
            return None
        return cls(database)

    def version(self) -> bytes | None:
        """Bytes that differ from every earlier look's if anything was committed since it;
        None when the header cannot be mapped (not in WAL mode, say): then trust nothing."""
        header = self._header
        if header is None:
            header = self._map()
            if header is None:
                return None
        try:
            return header[:self._HEADER]
        except ValueError:  # closed meanwhile (the server stopping)
            return None

    def _map(self) -> mmap.mmap | None:
        with self._lock:
            if self._header is not None:
                return self._header
            try:
                connection = sqlite3.connect(self._database, check_same_thread=False,
                                             isolation_level=None)
                try:
                    mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
                    connection.execute("SELECT count(*) FROM sqlite_master").fetchone()  # maps it
                    if str(mode).lower() != "wal":
                        raise OSError(f"journal mode {mode}, not WAL")
                    with open(f"{self._database}-shm", "rb") as shm:
                        header = mmap.mmap(shm.fileno(), self._HEADER, access=mmap.ACCESS_READ)
                except BaseException:
                    connection.close()
                    raise
            except (sqlite3.Error, OSError, ValueError):
                return None
            self._connection, self._header = connection, header
            return header

    def close(self) -> None:
        with self._lock:
            if self._header is not None:
                self._header.close()
            if self._connection is not None:
                self._connection.close()
            self._header = self._connection = None


class _Notices:
    """Whether anything that changes a feed was committed to a PostgreSQL database since an
    earlier look, from any process: every such write NOTIFYs ``CHANNEL`` in its transaction
    (``advance_versions``, ``record_due``), PostgreSQL delivers it at the commit, and a thread of this process
    LISTENs on a connection of its own (outside the pool: a LISTEN belongs to its session) and
    moves ``generation`` for each delivery.

    A look needs no round trip: it is the generation, unless a delivery is in flight here —
    bytes waiting on the socket (one non-blocking select) or being read — when it trusts
    nothing. This process's own commits move it at once (``moved``, after the commit). What
    it cannot see is another process's notice still on its way: PostgreSQL signals the
    listening sessions within the commit, and they send it when the operating system next
    runs them — within milliseconds on a busy machine. While the connection is down, nothing
    is trusted (a silent one is found out by TCP keepalives within about 11 s).
    """

    CHANNEL = "feedsvc_feeds"

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.generation = 0
        self._socket: int | None = None  # the listening connection's, while it listens
        self._busy = False  # reading a delivery now
        self._stop = threading.Event()
        self._wake: tuple[int, int] | None = None  # a pipe: close() writes to it, the listener stops
        self._listening = threading.Event()  # set once the first LISTEN is in place
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @classmethod
    def of(cls, engine: Engine) -> _Notices | None:
        return cls(engine) if engine.dialect.name == "postgresql" else None

    def version(self) -> int | None:
        """A number that has moved if anything was committed since it was last returned; None
        when that cannot be told now (then trust nothing)."""
        if self._thread is None:
            self._start()
        generation, fd = self.generation, self._socket
        if fd is None:
            return None
        try:
            if select.select([fd], [], [], 0)[0]:
                return None
        except (OSError, ValueError):
            return None
        # Read after the socket: a delivery read off it meanwhile is still being counted, or
        # has moved the generation.
        if self._busy or self.generation != generation:
            return None
        return generation

    def _start(self) -> None:
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._wake = os.pipe()
                self._thread = threading.Thread(target=self._listen, name="feedsvc-notices", daemon=True)
                self._thread.start()
        self._listening.wait(2)  # the first look waits for the listener (a few ms), once

    def _listen(self) -> None:
        assert self._wake is not None
        wake = self._wake[0]  # close() closes it only after this thread has ended
        dialect = self._engine.dialect
        args, kwargs = dialect.create_connect_args(self._engine.url)
        while not self._stop.is_set():
            connection = None
            try:
                # TCP keepalives: a connection that died without a word (a silent network
                # partition) is found out within about 11 s and listened on again, instead of
                # leaving this process trusting reads that no notice will ever undo.
                connection = dialect.loaded_dbapi.connect(*args, **{
                    **kwargs, "connect_timeout": 3, "autocommit": True, "keepalives": 1,
                    "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3})
                connection.execute(f"LISTEN {self.CHANNEL}")
                pgconn = connection.pgconn
                with self._lock:
                    self.generation += 1  # whatever was sent while nobody listened
                    self._socket = pgconn.socket
                self._listening.set()
                while not self._stop.is_set():
                    if pgconn.socket not in select.select([pgconn.socket, wake], [], [])[0]:
                        continue
                    self._busy = True
                    try:
                        pgconn.consume_input()
                        delivered = False
                        while pgconn.notifies() is not None:
                            delivered = True
                        if delivered:
                            with self._lock:
                                self.generation += 1
                    finally:
                        self._busy = False
            except Exception:  # down, or gone: trust nothing, and listen again in a second
                self._socket = None
                self._listening.set()  # no look waits for it any longer
                self._stop.wait(1.0)
            finally:
                self._socket = None
                if connection is not None:
                    connection.close()

    def moved(self) -> None:
        """This process committed a change: no need to wait for its notice to come back."""
        with self._lock:
            self.generation += 1

    def close(self) -> None:
        with self._lock:
            self._stop.set()
            thread, wake, self._wake = self._thread, self._wake, None
        if wake is not None:
            os.write(wake[1], b"x")
        if thread is not None:
            thread.join(5)
        if wake is not None:
            for fd in wake:
                os.close(fd)


SETTINGS_MARK = "feed_settings"  # the row of ``settings`` naming what stored documents were rendered under


def reconcile_settings(session: Session, mark: str) -> bool:
    """Record ``mark`` (the render settings' digest); when it differs from the one recorded,
    every stored document goes stale, and whether it did.

    The bytes depend on the configuration (SITE_TITLE, SITE_LOGO, CACHE_MAX_AGE as RSS <ttl>,
    …) as well as on the scope's articles, but a restart with other settings moves no scope's
    version: without this, the documents stored before it were served (by the fast path
    too) until the next write to their scope. A stale document is rendered again at its next
    poll; its new bytes get a new ETag and a Last-Modified past the old one (``_store``).
    """
    row = session.get(Setting, SETTINGS_MARK, with_for_update=True)
    if row is not None and row.value == mark:
        return False
    if row is None:
        db.insert_ignore(session, Setting, {"name": SETTINGS_MARK, "value": mark})
        row = session.get(Setting, SETTINGS_MARK, with_for_update=True, populate_existing=True)
        assert row is not None
    row.value = mark
    # Version -1 is no scope's (they start at 0): no row of a scope serves it any more.
    session.execute(update(FeedDocument).values(version=-1))
    return True


def _store(session: Session, variant: str, scope: Scope, version: int, digest: str,
           candidate: dt.datetime, rendered: Rendered, now: dt.datetime, gzipped: bytes,
           mark: str | None = None) -> dt.datetime:
    """Store a render of ``variant``; its Last-Modified: kept while the bytes are the same,
    else moved to ``candidate`` and strictly past the previous one (If-Modified-Since sees it).
    A render of an older version than the stored one's changes nothing.

    A render under settings (``mark``) other than the ones the deployment recorded last — a
    process not yet restarted in a rolling restart that changed them — is stored as of no
    version: no process takes it for current, so the restarted ones render their own.
    """
    if mark is not None:
        recorded = session.get(Setting, SETTINGS_MARK)
        if recorded is not None and recorded.value != mark:
            version = -1
    kind, slug = scope.key()
    # Locked (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers): a concurrent
    # store of a newer version must be seen here, not overwritten after it committed.
    row = session.get(FeedDocument, variant, with_for_update=True, populate_existing=True)
    if row is None:
        db.insert_ignore(session, FeedDocument, {
            "variant": variant, "kind": kind, "slug": slug, "version": version, "etag": digest,
            "last_modified": candidate, "valid_until": rendered.valid_until, "rendered": now,
            "content_type": rendered.content_type, "body": gzipped})
        row = session.get(FeedDocument, variant, with_for_update=True, populate_existing=True)
        assert row is not None
    if row.version > version:
        return row.last_modified if row.etag == digest else candidate
    if row.etag != digest:
        row.etag, row.body = digest, gzipped
        row.last_modified = max(candidate, row.last_modified + dt.timedelta(seconds=1))
    row.version, row.valid_until, row.rendered = version, rendered.valid_until, now
    row.content_type = rendered.content_type
    return row.last_modified


def _utc(value: dt.datetime | str) -> dt.datetime:
    """A datetime as the DBAPI gives it (SQLite: naive UTC text) made aware UTC."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def get_cache(app: Flask) -> FeedCache:
    return app.extensions["feedsvc.feed_cache"]  # type: ignore[no-any-return]


def init_app(app: Flask) -> None:
    from feedsvc.feeds import service  # it renders with Rendered from here

    feeds = FeedCache(db.get_engine(app), app.config["FEED_CACHE_BYTES"],
                      shared=app.config["BASE_URL"] is not None,
                      settings_mark=lambda: service.settings_for(app).mark())
    app.extensions["feedsvc.feed_cache"] = feeds

    def changed(session: Session, scopes: frozenset[Scope], now: dt.datetime) -> None:
        advance_versions(session, scopes, now)
        feeds.written(session)

    def scheduled(session: Session, due: Mapping[Scope, dt.datetime], now: dt.datetime) -> None:
        record_due(session, due, now)
        feeds.written(session)

    changes.listen(app, changes.Stage.SCOPE_VERSIONS, changed, due=scheduled)
