"""The WebSub outbox: jobs written in the same transaction as the change that calls for them.

A change to feed scopes is expanded, for every topic of those scopes that has an active
subscriber, into the document the subscriber would fetch now; when its SHA-256 differs
from the last one distributed, the document is stored on the topic row and one delivery job is
queued per active subscriber. The job carries no body: the worker sends the topic's document as
it is at send time, so a subscriber that was failing gets the newest document on its next
attempt, never an older one after a newer, and a burst of changes folds into one pending job
per subscriber (its ``revision`` moves, so a worker that was sending an older document sends
again). The body is stored once per topic, not once per subscriber.

A write itself only records, per scope it touched, one "change" job due when its feeds change
(``record_changes``): now, or a scheduled article's instant. The worker expands a change
(``expand``): renders each subscribed topic, and queues the deliveries above — or, with an
outside hub (WEBSUB_HUB), a publish ping per feed of the scope.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Flask, has_request_context, request
from sqlalchemy import and_, bindparam, event, func, insert, or_, select, tuple_, update
from sqlalchemy.orm import Session

from feedsvc import metrics
from feedsvc.errors import NotFound
from feedsvc.feeds import selection, service, surrogate, urls
from feedsvc.feeds.address import MAX_FEED_SIZE, FeedAddress
from feedsvc.feeds.service import FeedSettings
from feedsvc.feeds.surrogate import PurgeTarget
from feedsvc.store import changes, db, site
from feedsvc.store.models import WebSubJob, WebSubSubscription, WebSubTopic
from feedsvc.store.scopes import Scope
from feedsvc.websub import purge

CHUNK = 500


@dataclass(frozen=True)
class FeedTopic:
    """A feed of this service as a WebSub topic: its URL and what it names."""

    url: str
    base: str
    scope: Scope
    fmt: str
    order: str  # "published" (the feed) or "updated" (its corrections view)

    @property
    def key(self) -> str:
        return digest(self.url)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def parse_topic(url: str) -> FeedTopic | None:
    """The feed a URL names, when it is exactly one of the URLs the feeds give as rel=self
    (a feed's first page, in either order: address.FeedAddress.from_url)."""
    address = FeedAddress.from_url(url, max_limit=MAX_FEED_SIZE)
    if address is None or not address.canonical:
        return None  # another spelling of the URL, or a page: subscribers use the feed's own
    return FeedTopic(url, address.origin, address.scope, address.fmt, address.order)


def document(session: Session, topic: FeedTopic, settings: FeedSettings, now: dt.datetime) -> tuple[bytes, str] | None:
    """The topic's document as a poller would get it now; None when the feed does not exist."""
    try:
        rendered = service.render(session, FeedAddress(topic.base, topic.scope, topic.fmt, topic.order),
                                  settings, now=now)
    except NotFound:
        return None
    return rendered.body, rendered.content_type


class Signal:
    """Wakes the worker threads of this process when a job was committed."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self.generation = 0

    def notify(self) -> None:
        with self._condition:
            self.generation += 1
            self._condition.notify_all()

    def wait(self, seen: int, timeout: float | None) -> None:
        with self._condition:
            self._condition.wait_for(lambda: self.generation != seen, timeout)


def signal(app: Flask) -> Signal:
    return app.extensions["feedsvc.websub.signal"]  # type: ignore[no-any-return]


def wake_after_commit(app: Flask, session: Session) -> None:
    event.listen(session, "after_commit", lambda _: signal(app).notify(), once=True)


def record_changes(app: Flask, session: Session, due: Mapping[Scope, dt.datetime], now: dt.datetime) -> None:
    """In a write's transaction: one "change" job per scope it touched, due at the instant its
    feeds change (now, or a scheduled article's ``published``). Nothing is rendered and no
    subscriber is read here: the worker expands each change (``expand``), so a write costs the
    same with a thousand subscribers as with none, and a change due later is a row like any
    other — no cursor a write still in flight could be passed by.

    A change already waiting for the same scope takes this one in (its revision moves): any
    one due by now, for a change due now (it will read what is committed when expanded), or
    one due at the same instant. One being expanded right now is locked on PostgreSQL and
    skipped, so this write never waits for it and adds its own. (Should a scope have two
    waiting, both stay locked to this write's commit; the worker skips locked jobs.)
    """
    if not due:
        return
    # In a few statements for all the scopes: an import's batch touches hundreds, and three
    # statements a scope took 1.3 s of each batch of 500 articles (bench/import, cProfile).
    for when in sorted(set(due.values())):
        keys = sorted(scope.key() for scope, instant in due.items() if instant == when)
        instant = WebSubJob.due <= now if when <= now else WebSubJob.due == when
        waiting: dict[tuple[str, str], int] = {}
        for start in range(0, len(keys), CHUNK):
            rows = session.execute(select(WebSubJob.id, WebSubJob.scope_kind, WebSubJob.scope_slug).where(
                WebSubJob.kind == "change",
                tuple_(WebSubJob.scope_kind, WebSubJob.scope_slug).in_(keys[start:start + CHUNK]),
                instant).order_by(WebSubJob.id).with_for_update(skip_locked=True))
            for job, kind, slug in rows:
                waiting.setdefault((kind or "", slug or ""), job)  # the first by id, as one query a scope took
        if waiting:
            session.connection().execute(
                update(WebSubJob).where(WebSubJob.id == bindparam("job")).values(revision=WebSubJob.revision + 1),
                [{"job": job} for job in sorted(waiting.values())])
        # ``topic`` keeps the origin the feeds are at, for pings to an outside hub when
        # BASE_URL is unset: the request knows it, the worker does not.
        origin = _origin(app) or ""
        new = [{"kind": "change", "topic": origin, "topic_key": "", "scope_kind": kind,
                "scope_slug": slug, "revision": 0, "attempts": 0, "due": when, "created": now}
               for kind, slug in keys if (kind, slug) not in waiting]
        if new:
            session.connection().execute(insert(WebSubJob), new)
    wake_after_commit(app, session)


# Article pages one purge job names before it names them all (surrogate.ARTICLES_KEY) instead:
# an import of thousands of articles costs each cache one purge, not thousands.
MOST_PAGES = 256


def record_purges(app: Flask, session: Session, keys: Iterable[str], due: dt.datetime, now: dt.datetime,
                  targets: Iterable[PurgeTarget] | None = None, failed: bool = False) -> None:
    """In a write's (or a change's) transaction: a "purge" job of ``keys`` per cache of
    CDN_PURGE (or ``targets``), due at ``due`` (now, or an embargoed article's instant).

    The job names its cache (``topic``, and its host in ``callback_host``, so the hub's
    per-host limit holds for purges too) and the keys (``purge_keys``). A purge already
    waiting for the same cache and due by then (or at the same instant) takes the keys in and
    its revision moves, as a change does (record_changes); past MOST_PAGES article pages it
    purges every article page instead. A purge due now (or ``failed``: keys a change could not
    purge, to try again at ``due``, its backoff) also joins the cache's purge that is backing
    off, which a purge due now brings forward: a cache that is down gathers one job, not one
    per change, and one that is back is purged at the next change. An embargo's purge joins
    only those due at the same instant, and nothing joins it. Nothing is written without
    CDN_PURGE.
    """
    keys = frozenset(keys)
    chosen = tuple(app.config["CDN_PURGE"] if targets is None else targets)
    if not keys or not chosen:
        return
    for target in chosen:
        name = str(target)
        if due > now and not failed:  # an embargo's: only with others due at that instant
            joins = and_(WebSubJob.attempts == 0, WebSubJob.due == due)
        else:  # due now, or backing off (the cache is failing): never an embargo's, early
            joins = or_(WebSubJob.due <= now, WebSubJob.attempts > 0)
        waiting = session.execute(select(WebSubJob.id, WebSubJob.purge_keys, WebSubJob.due).where(
            WebSubJob.kind == "purge", WebSubJob.topic_key == digest(name), WebSubJob.topic == name, joins)
            .order_by(WebSubJob.id).limit(1).with_for_update(skip_locked=True)).first()
        if waiting is not None:
            # Keys due sooner bring the job forward: none waits longer than its own due.
            merged = _fold(frozenset((waiting.purge_keys or "").split()) | keys)
            session.execute(update(WebSubJob).where(WebSubJob.id == waiting.id)
                            .values(purge_keys=merged, revision=WebSubJob.revision + 1, due=min(waiting.due, due)))
        else:
            session.add(WebSubJob(kind="purge", topic=name, topic_key=digest(name), purge_keys=_fold(keys),
                                  callback_host=purge_host(target, app.config.get("CDN_PURGE_APIS")),
                                  revision=0, attempts=int(failed), due=due, created=now))
    wake_after_commit(app, session)


def withdraw_purge(session: Session, key: str, instant: dt.datetime) -> None:
    """Take ``key`` out of the purges waiting for an embargo's ``instant`` (every cache's): its
    article was deleted or moved, and a purge of its page then would tell an observer of the
    cache that the key held something scheduled for that instant. A purge folded into every
    article page's key (MOST_PAGES) names no article, and stays."""
    for job in session.scalars(select(WebSubJob).where(
            WebSubJob.kind == "purge", WebSubJob.due == instant, WebSubJob.attempts == 0)
            .with_for_update(skip_locked=True)):
        kept = [name for name in (job.purge_keys or "").split() if name != key]
        if not kept:
            session.delete(job)
        else:
            job.purge_keys = " ".join(kept)


def _fold(keys: frozenset[str]) -> str:
    """The keys as one field, sorted; past MOST_PAGES article pages, the key of them all."""
    pages = {key for key in keys if key.startswith(surrogate.ARTICLES_KEY + "/")}
    if len(pages) > MOST_PAGES:
        keys = (keys - pages) | {surrogate.ARTICLES_KEY}
    return " ".join(sorted(keys))


def expand(app: Flask, session: Session, scope: Scope, now: dt.datetime, origin: str | None = None) -> bool:
    """In the worker: what a change to ``scope`` calls for — for each subscribed topic whose
    document changed, one delivery per subscriber, or a publish ping per feed to an outside
    hub (at ``origin`` when BASE_URL is unset). Whether anything was queued."""
    if app.config["WEBSUB_HUB"]:
        try:  # a scope that shows nothing public (an embargo cancelled) is named to nobody
            selection.resolve(session, scope, now)
        except NotFound:
            return False
        return _queue_pings(app, session, frozenset({scope}), now, origin)
    return _queue_deliveries(session, frozenset({scope}), service.settings_for(app), now)


def _origin(app: Flask) -> str | None:
    """The origin the feeds are at: BASE_URL, else the request's own; None outside a request."""
    return app.config["BASE_URL"] or (request.host_url.rstrip("/") if has_request_context() else None)


def _queue_deliveries(session: Session, scopes: frozenset[Scope], settings: FeedSettings,
                      now: dt.datetime) -> bool:
    keys = sorted(scope.key() for scope in scopes)
    subscribers: dict[str, list[WebSubSubscription]] = {}
    for start in range(0, len(keys), CHUNK):
        query = select(WebSubSubscription).where(
            tuple_(WebSubSubscription.scope_kind, WebSubSubscription.scope_slug).in_(
                keys[start:start + CHUNK]),
            WebSubSubscription.state == "active", WebSubSubscription.expires > now)
        for subscription in session.scalars(query):
            subscribers.setdefault(subscription.topic_key, []).append(subscription)
    queued = False
    for key in sorted(subscribers):  # one order of row locks for every writer: no deadlock
        topic = parse_topic(subscribers[key][0].topic)
        if topic is not None and store_document(session, topic, settings, now):
            _queue(session, "deliver", topic.url, key, [s.id for s in subscribers[key]], now,
                   {s.id: callback_host(s.callback) for s in subscribers[key]})
            queued = True
    return queued


def store_document(session: Session, topic: FeedTopic, settings: FeedSettings, now: dt.datetime) -> bool:
    """Render the topic and keep the document; whether it differs from the one kept before.

    The topic row is locked before rendering, so two writers of one topic take turns and the
    second renders with the first one's change in view (PostgreSQL, READ COMMITTED).
    """
    row = session.get(WebSubTopic, topic.key, with_for_update=True)
    if row is None:
        db.insert_ignore(session, WebSubTopic, {"key": topic.key, "topic": topic.url,
                                                "digest": "", "body": b"",
                                                "content_type": "", "changed": now})
        row = session.get(WebSubTopic, topic.key, with_for_update=True, populate_existing=True)
        assert row is not None
    rendered = document(session, topic, settings, now)
    if rendered is None:
        return False  # the feed is gone (its scope shows nothing public): nothing to send
    body, content_type = rendered
    new_digest = hashlib.sha256(body).hexdigest()
    if new_digest == row.digest:
        return False
    row.digest, row.body, row.content_type, row.changed = new_digest, body, content_type, now
    return True


def _queue(session: Session, kind: str, topic: str, key: str, subscriptions: list[int | None],
           now: dt.datetime, hosts: Mapping[int, str] | None = None) -> None:
    """One pending job per subscription (or one ping): fold into a waiting one, else add one.

    A job a worker is sending right now is locked on PostgreSQL and skipped here, so this
    write never waits for a slow subscriber; it gets a job of its own instead. On SQLite the
    waiting job's revision moves and the worker sends again after it finishes (worker.py).
    """
    pending: dict[int | None, int] = {}
    wanted = [s for s in subscriptions if s is not None]
    for start in range(0, max(len(wanted), 1), CHUNK):
        query = select(WebSubJob.id, WebSubJob.subscription_id).where(
            WebSubJob.kind == kind, WebSubJob.topic_key == key)
        if wanted:
            query = query.where(WebSubJob.subscription_id.in_(wanted[start:start + CHUNK]))
        for job_id, subscription_id in session.execute(
                query.order_by(WebSubJob.id).with_for_update(skip_locked=True)):
            pending.setdefault(subscription_id, job_id)
    if pending:
        ids = sorted(pending.values())
        for start in range(0, len(ids), CHUNK):
            session.execute(update(WebSubJob).where(WebSubJob.id.in_(ids[start:start + CHUNK]))
                            .values(revision=WebSubJob.revision + 1))
    new = [{"kind": kind, "topic": topic, "topic_key": key, "subscription_id": s,
            "callback_host": (hosts or {}).get(s) if s is not None else None,
            "revision": 0, "attempts": 0, "due": now, "created": now}
           for s in subscriptions if s not in pending]
    if new:
        session.execute(insert(WebSubJob), new)


def _queue_pings(app: Flask, session: Session, scopes: frozenset[Scope], now: dt.datetime,
                 origin: str | None = None) -> bool:
    base = _origin(app) or origin
    if base is None:
        app.logger.warning("websub: set BASE_URL so that changes found outside a request can "
                           "be published to %s", app.config["WEBSUB_HUB"])
        return False
    for scope in sorted(scopes, key=Scope.key):
        for fmt in urls.FORMATS:
            topic = urls.feed(base, scope.kind, scope.slug, fmt)
            _queue(session, "publish", topic, digest(topic), [None], now)
    return bool(scopes)


def request_verification(session: Session, topic: FeedTopic, callback: str, mode: str,
                         lease_seconds: int | None, secret: str | None, now: dt.datetime) -> None:
    """Queue the verification of intent of a (un)subscription request (W3C WebSub 5.3).

    A newer request for the same subscription replaces older ones not yet being verified.
    """
    stale = session.scalars(select(WebSubJob.id).where(
        WebSubJob.kind == "verify", WebSubJob.topic_key == topic.key,
        WebSubJob.callback == callback).with_for_update(skip_locked=True)).all()
    for job_id in stale:
        job = session.get(WebSubJob, job_id)
        if job is not None:
            session.delete(job)
    session.add(WebSubJob(kind="verify", topic=topic.url, topic_key=topic.key, callback=callback,
                          callback_host=callback_host(callback),
                          mode=mode, secret=secret, lease_seconds=lease_seconds, revision=0,
                          attempts=0, due=now, created=now))


def callback_host(url: str) -> str:
    """The host a callback URL names, as the hub's limits count it: the machine, whatever the
    port or scheme, in one spelling — lower case, no trailing dot, an IP address in its
    canonical form ("https://FLOOD.test.:8443" and "http://flood.test" are one host; so are
    "[2606:4700::1]" and "[2606:4700:0::1]")."""
    try:
        host = (urlsplit(url).hostname or "?").rstrip(".")
    except ValueError:
        return "?"
    try:
        address = ipaddress.ip_address(host.split("%")[0])
        host = f"[{address.compressed}]" if address.version == 6 else address.compressed
    except ValueError:
        pass
    return host[:300]


def purge_host(target: PurgeTarget, apis: Mapping[str, str] | None = None) -> str:
    """The host a cache's purges go to, as the hub's limits count it (callback_host)."""
    return callback_host(purge.url(target, apis))


def pending_verifications(session: Session, host: str | None = None) -> int:
    """Verifications waiting to be sent, in all or for one callback host (hub's limits)."""
    query = select(func.count()).select_from(WebSubJob).where(WebSubJob.kind == "verify")
    if host is not None:
        query = query.where(WebSubJob.callback_host == host)
    return session.scalar(query) or 0


def backlog(session: Session, now: dt.datetime) -> metrics.Backlog:
    """The jobs waiting, by kind and whether they are due at ``now``, and how long the
    longest-due one has waited (metrics: read at each scrape)."""
    is_due = WebSubJob.due <= now
    # One statement: two would see different commits (READ COMMITTED) and could count a
    # negative number waiting.
    counts = select(WebSubJob.kind, is_due, func.count(), func.min(WebSubJob.due)).group_by(WebSubJob.kind, is_due)
    jobs: dict[tuple[str, str], int] = {}
    oldest: dt.datetime | None = None
    for kind, due, count, first in session.execute(counts):
        jobs.setdefault((kind, "due"), 0)
        jobs.setdefault((kind, "waiting"), 0)
        jobs[(kind, "due" if due else "waiting")] += count
        if due and first is not None:  # min() keeps the column's type: aware UTC
            oldest = first if oldest is None else min(oldest, first)
    return metrics.Backlog(jobs, 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds()))


def backlog_reader(app: Flask) -> Callable[[], metrics.Backlog]:
    """``backlog`` now, in a session of its own (the metrics listener's thread)."""

    def read() -> metrics.Backlog:
        with Session(db.get_engine(app)) as session:
            return backlog(session, site.now(app))

    return read


def init_app(app: Flask) -> None:
    app.extensions["feedsvc.websub.signal"] = Signal()

    def changed(session: Session, scopes: frozenset[Scope], now: dt.datetime) -> None:
        record_changes(app, session, dict.fromkeys(scopes, now), now)

    def scheduled(session: Session, due: Mapping[Scope, dt.datetime], now: dt.datetime) -> None:
        record_changes(app, session, due, now)

    changes.listen(app, changes.Stage.WEBSUB, changed, due=scheduled)

    def pages(session: Session, changed: changes.Pages, withdrawn: changes.Pages, now: dt.datetime) -> None:
        if not app.config["CDN_PURGE"]:
            return
        for key, instant in withdrawn:
            withdraw_purge(session, surrogate.article_key(key), instant)
        by_instant: dict[dt.datetime, set[str]] = {}
        for key, instant in changed:
            by_instant.setdefault(max(instant, now), set()).add(surrogate.article_key(key))
        for instant, keys in sorted(by_instant.items()):
            record_purges(app, session, keys, instant, now)

    changes.listen_pages(app, pages)
