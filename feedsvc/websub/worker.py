"""The WebSub worker: takes due jobs from the outbox, sends them, and carries out the plan.

The decisions are planner.next_attempt's; this is the imperative shell around it, with one
injected sender. Claiming a job:
- PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED`` in a transaction held while the job is
  sent and settled. The row lock is the claim: no two workers (or threads) ever hold one job,
  and a worker that dies releases its jobs with its connection, at once.
- SQLite: one worker per database, made sure of by an exclusive lock on a file beside it; its
  threads claim in memory and settle in short write transactions, so the database is never
  held during a send. A killed worker leaves nothing claimed.
A change folded into a job while it was being sent moves the job's ``revision``; the worker
then keeps the job and sends again (the newer document), instead of deleting it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import hashlib
import hmac
import os
import secrets
import signal as signals
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import FrameType
from typing import IO, Any
from urllib.parse import urlencode, urlsplit

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import delete, or_, select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from feedsvc import metrics
from feedsvc.feeds import service
from feedsvc.feeds.surrogate import PurgeTarget, scope_key
from feedsvc.store import db, site
from feedsvc.store.models import WebSubJob, WebSubSubscription, WebSubTopic
from feedsvc.store.scopes import Scope
from feedsvc.websub import outbox, purge
from feedsvc.websub.planner import Decision, Job, Outcome, Policy, next_attempt
from feedsvc.websub.sender import HttpSender, Reply, Request, Sender


@dataclass(frozen=True)
class Plan:
    """A claimed job as the planner sees it, and the request that carries it out."""

    job: Job
    revision: int
    request: Request | None
    decision: Decision | None = None  # decided without sending anything
    challenge: str | None = None  # verification of intent
    # A change or a purge: the shared caches' purges (a cache's may take several requests),
    # and, for a change, the caches skipped (not answering lately), for a purge job of their own.
    purges: tuple[tuple[PurgeTarget, Request], ...] = ()
    skipped: tuple[PurgeTarget, ...] = ()


FAILING_FOR = 300.0  # seconds a host that gave no answer shares one share with the others
MAX_FAILING = 10_000


class Worker:
    def __init__(self, app: Flask, sender: Sender | None = None, threads: int | None = None) -> None:
        config = app.config
        self.app, self.engine = app, db.get_engine(app)
        self.sender = sender or HttpSender(config["WEBSUB_TIMEOUT"])
        self.threads = threads or config["WEBSUB_WORKER_THREADS"]
        self.interval = config["WEBSUB_WORKER_INTERVAL"]
        self.policy = Policy(base=config["WEBSUB_RETRY_BASE"], cap=config["WEBSUB_RETRY_MAX"])
        self.postgres = self.engine.dialect.name == "postgresql"
        self.signal = outbox.signal(app)
        self._claiming = threading.Lock()  # one claim at a time in this process
        self._claim_lock = threading.Lock()  # what this process holds: jobs, and per callback host
        self._per_host: dict[str, int] = {}
        self._failing: dict[str, float] = {}  # host -> until (monotonic): gave no answer lately
        self.per_host = config["WEBSUB_MAX_PER_HOST"]
        self._write_lock = threading.Lock()
        self._in_flight: set[int] = set()
        self._bodies: dict[tuple[str, str], bytes] = {}  # (topic key, digest): a few recent documents
        self._bodies_lock = threading.Lock()

    # The loop.

    def run_once(self) -> int:
        """Work off every job due now (and what comes due meanwhile); the number of attempts."""
        lock = self._exclusive(None)
        try:
            with self.app.app_context():
                site.authority(self.app)
            team = _Team()
            with ThreadPoolExecutor(self.threads) as pool:
                return sum(pool.map(lambda _: self._drain(None, team), range(self.threads)))
        finally:
            if lock is not None:
                lock.close()

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set: ``threads`` senders, woken by new jobs, and a clock.

        The senders sleep until a job is queued in this process (outbox.wake_after_commit, the
        hub) or the clock finds one due; the clock alone looks each ``interval`` for scheduled
        articles that came due, retries coming due and jobs queued by other processes. So an
        idle worker costs one thread's reads an interval, not every thread's, and no send in
        progress, however slow, delays that look.
        """
        lock = self._exclusive(stop)
        try:
            if stop.is_set():
                return
            threads = [threading.Thread(target=self._clock, args=(stop,), daemon=True,
                                        name="websub-clock")]
            threads += [threading.Thread(target=self._loop, args=(n, stop), daemon=True,
                                         name=f"websub-{n}") for n in range(self.threads)]
            for thread in threads:
                thread.start()
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.5)
                    if stop.is_set():
                        self.signal.notify()  # the senders wait for work without a timeout
        finally:
            if lock is not None:
                lock.close()

    def _clock(self, stop: threading.Event) -> None:
        """Each ``interval`` (or when the next job is due: a retry, a scheduled article's
        change): wake the senders if a job is due."""
        away = False  # the database is unreachable: said once, not on every look
        with self.app.app_context():
            while not stop.is_set():
                timeout = self.interval
                try:
                    if self._due_now():
                        self.signal.notify()
                    timeout = self._idle_time()
                    if away:
                        self.app.logger.warning("websub: the database is back")
                        away = False
                except (OperationalError, InterfaceError) as exc:  # away for a while: keep looking
                    if not away:
                        self.app.logger.error("websub: database unavailable (%s); looking again "
                                              "every %s s", exc.orig, self.interval)
                        away = True
                except Exception:
                    self.app.logger.exception("websub clock")
                stop.wait(timeout)

    def _due_now(self) -> bool:
        """Whether a job is due that no sender of this process is sending (on PostgreSQL, where
        the row lock marks one being sent, any job due: the senders skip the locked ones)."""
        now = site.now(self.app)
        query = self._claimable(select(WebSubJob.id).where(WebSubJob.due <= now))
        with Session(self.engine) as session:
            return session.scalar(query.limit(1)) is not None

    def _claimable(self, query: Any) -> Any:
        """``query`` without the jobs this process is sending, nor those to a callback host
        that already holds its share of the senders (WEBSUB_MAX_PER_HOST): a slow or failing
        host waits for its own, and every other subscriber keeps its pace. Hosts that failed
        lately (no answer, 429, a 5xx) share one such share between them, so a flood of
        subscriptions at many dead hosts cannot take the senders either."""
        with self._claim_lock:
            if self._in_flight:
                query = query.where(WebSubJob.id.not_in(self._in_flight))
            full = [host for host, count in self._per_host.items() if count >= self.per_host]
            failing = self._failing_now()
            if sum(self._per_host.get(host, 0) for host in failing) >= self.per_host:
                full += failing
        if full:
            query = query.where(or_(WebSubJob.callback_host.is_(None), WebSubJob.callback_host.not_in(full)))
        return query

    def _failing_now(self) -> list[str]:
        """The hosts that failed lately and are still remembered for it (``_claim_lock`` held)."""
        clock = time.monotonic()
        return [host for host, until in self._failing.items() if until > clock]

    def _hold(self, job: WebSubJob) -> None:
        with self._claim_lock:
            self._in_flight.add(job.id)
            if job.callback_host is not None:
                self._per_host[job.callback_host] = self._per_host.get(job.callback_host, 0) + 1

    def _heard(self, host: str | None, reply: Reply | None) -> None:
        """Remember for a while a host that failed — no answer, 429 or a 5xx — and forget it
        once it answers otherwise."""
        if host is None or reply is None:
            return
        with self._claim_lock:
            if reply.status is None or reply.status == 429 or reply.status >= 500:
                self._failing[host] = time.monotonic() + FAILING_FOR
                if len(self._failing) > MAX_FAILING:  # bounded: the longest-known go first
                    self._failing.pop(next(iter(self._failing)))
            else:
                self._failing.pop(host, None)

    def _release(self, job_id: int, host: str | None) -> None:
        with self._claim_lock:
            self._in_flight.discard(job_id)
            if host is not None:
                left = self._per_host.get(host, 1) - 1
                if left > 0:
                    self._per_host[host] = left
                else:
                    self._per_host.pop(host, None)

    def _loop(self, number: int, stop: threading.Event) -> None:
        """One sender: sends what is due, then sleeps until woken (see ``run``)."""
        away = False  # the database is unreachable: said once, not on every attempt
        with self.app.app_context():
            while not stop.is_set():
                seen = self.signal.generation
                try:
                    # Read (or recorded) before any render inside a write: on SQLite recording
                    # it then would wait for our own transaction.
                    site.authority(self.app)
                    self._drain(stop)
                    timeout = None
                    if away:
                        self.app.logger.warning("websub worker %d: the database is back", number)
                        away = False
                except (OperationalError, InterfaceError) as exc:  # away for a while: keep going
                    if not away:
                        self.app.logger.error("websub worker %d: database unavailable (%s); trying "
                                              "again every %s s", number, exc.orig, self.interval)
                        away = True
                    timeout = self.interval
                except Exception:
                    self.app.logger.exception("websub worker")
                    timeout = self.interval
                self.signal.wait(seen, timeout)

    def _drain(self, stop: threading.Event | None, team: _Team | None = None) -> int:
        """Work until nothing is due; the number of attempts (a change expanded is none).

        With a ``team`` (run_once), a sender that finds nothing waits while another is busy:
        a change being expanded is about to queue deliveries for all of them.
        """
        count = 0
        with self.app.app_context():
            while stop is None or not stop.is_set():
                seen = self.signal.generation
                with team or contextlib.nullcontext():
                    kind = self._work()
                if kind is not None:
                    count += kind != "change"
                elif team is None or not team.busy():
                    break
                else:
                    self.signal.wait(seen, 0.05)
        return count

    def _idle_time(self) -> float:
        """Until the next job is due, at most ``interval`` (scheduled articles are looked for then)."""
        now = site.now(self.app)
        with Session(self.engine) as session:
            due = session.scalar(select(WebSubJob.due).where(WebSubJob.due > now)
                                 .order_by(WebSubJob.due).limit(1))
        if due is None:
            return self.interval
        return max(0.0, min(self.interval, (due - now).total_seconds()))

    def _exclusive(self, stop: threading.Event | None) -> IO[str] | None:
        """SQLite: the lock file that makes this the database's only worker (None on PostgreSQL)."""
        url = self.engine.url
        if self.postgres or not url.database or url.database == ":memory:":
            return None
        handle = open(f"{url.database}.websub-lock", "a")  # noqa: SIM115 - held while working
        told = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return handle
            except BlockingIOError:
                if stop is None:
                    handle.close()
                    raise click.ClickException("another WebSub worker is running on this "
                                               "SQLite database") from None
                if not told:
                    self.app.logger.warning("websub: another worker holds %s; waiting", url.database)
                    told = True
                if stop.wait(1.0):
                    handle.close()
                    return None

    # One job.

    def work_one(self) -> bool:
        """Claim one due job, send it (or expand it: a change) and settle it; False when none is due."""
        return self._work() is not None

    def _work(self) -> str | None:
        """The kind of the job claimed and settled, or None when none is due."""
        return self._work_postgres() if self.postgres else self._work_sqlite()

    def _work_postgres(self) -> str | None:
        with db.write_session(self.engine) as session:
            # One claim of this process at a time, so that each sees the hosts the others hold.
            with self._claiming:
                now = site.now(self.app)
                job = session.scalars(self._claimable(select(WebSubJob).where(WebSubJob.due <= now))
                                      .order_by(WebSubJob.due, WebSubJob.id).limit(1)
                                      .with_for_update(skip_locked=True)).first()
                if job is None:
                    return None
                self._hold(job)
            held, host, kind = job.id, job.callback_host, job.kind
            try:
                plan = self._prepare(session, job)
                reply, failed = self._send(plan)
                self._heard(host, reply)
                settled = self._settle(session, job, plan, reply, failed)
            finally:
                self._release(held, host)
        _count(settled)  # committed
        return kind

    def _work_sqlite(self) -> str | None:
        with self._claiming, Session(self.engine) as session, session.begin():
            now = site.now(self.app)
            query = self._claimable(select(WebSubJob).where(WebSubJob.due <= now))
            job = session.scalars(query.order_by(WebSubJob.due, WebSubJob.id).limit(1)).first()
            if job is None:
                return None
            self._hold(job)
            host, kind = job.callback_host, job.kind
            try:
                plan = self._prepare(session, job)  # the same snapshot as the job's revision
            except BaseException:
                self._release(job.id, host)
                raise
        try:
            reply, failed = self._send(plan)
            self._heard(host, reply)
            # Threads take turns here rather than in SQLite, whose busy handler waits by
            # sleeping (up to 100 ms a try): contended, that halved the delivery rate.
            with self._write_lock:
                settled = db.run_write(self.engine, lambda s: self._settle(
                    s, s.get(WebSubJob, plan.job.id), plan, reply, failed))
        finally:
            self._release(plan.job.id, host)
        _count(settled)  # committed
        return kind

    def _send(self, plan: Plan) -> tuple[Reply | None, frozenset[PurgeTarget]]:
        """Send the plan's request, or its purges: every one of them, each cache purged as
        soon as it can be; the reply of the first that failed, else of the last, and the
        caches whose purge failed."""
        if plan.request is not None:
            return self.sender.send(plan.request), frozenset()
        first_failure, reply, failed = None, None, set()
        for target, request in plan.purges:
            if target in failed:
                continue  # the rest of its keys go with the retry
            reply = self.sender.send(request)
            if plan.job.kind == "change":  # a purge job's own host is heard by the caller
                self._heard(outbox.callback_host(request.url), reply)
            if not _outcome(plan, reply).ok:
                failed.add(target)
                first_failure = first_failure or dataclasses.replace(
                    reply, error=f"purge {request.url}: {reply.error or f'HTTP {reply.status}'}")
        return first_failure or reply, frozenset(failed)

    def _purges(self, targets: tuple[PurgeTarget, ...],
                keys: tuple[str, ...]) -> tuple[tuple[PurgeTarget, Request], ...]:
        """The requests that purge ``keys`` at each of ``targets``, with the cache each is for."""
        apis = self.app.config.get("CDN_PURGE_APIS")
        return tuple((target, request) for target in targets
                     for request in purge.requests((target,), keys, os.environ, apis))

    def _prepare(self, session: Session, job: WebSubJob) -> Plan:
        now, config = site.now(self.app), self.app.config
        seen = Job(job.id, job.kind, job.attempts, job.created)
        private = config["WEBSUB_ALLOW_PRIVATE"]
        if job.kind == "verify":
            # W3C WebSub 5.3: GET the callback with the challenge, which it must echo.
            challenge = secrets.token_urlsafe(24)
            params = {"hub.mode": job.mode or "", "hub.topic": job.topic, "hub.challenge": challenge}
            if job.mode == "subscribe":
                params["hub.lease_seconds"] = str(job.lease_seconds)
            callback = job.callback or ""
            joiner = "&" if urlsplit(callback).query else ("" if callback.endswith("?") else "?")
            return Plan(seen, job.revision, Request("GET", callback + joiner + urlencode(params),
                                                    allow_private=private), challenge=challenge)
        if job.kind == "change":  # expanded in _settle, in the transaction that settles it
            # The scope's surrogate key purged first (CDN_PURGE), so that a subscriber that
            # refetches on the notification gets the new bytes from the cache, not the old.
            # A cache that has not answered lately is left to a purge job: it would only hold
            # the notification up for its timeout.
            scope = Scope(job.scope_kind or None, job.scope_slug or None)
            with self._claim_lock:
                failing = set(self._failing_now())
            apis = config.get("CDN_PURGE_APIS")
            skipped = tuple(target for target in config["CDN_PURGE"] if outbox.purge_host(target, apis) in failing)
            answering = tuple(target for target in config["CDN_PURGE"] if target not in skipped)
            return Plan(seen, job.revision, None, Decision("done", reason="expanded"),
                        purges=self._purges(answering, (scope_key(scope),)), skipped=skipped)
        if job.kind == "purge":
            target = next((t for t in config["CDN_PURGE"] if str(t) == job.topic), None)
            if target is None:
                return Plan(seen, job.revision, None, Decision("give_up", reason="no longer in CDN_PURGE"))
            return Plan(seen, job.revision, None, purges=self._purges((target,), tuple((job.purge_keys or "").split())))
        if job.kind == "publish":
            hub = config["WEBSUB_HUB"]
            if not hub:
                return Plan(seen, job.revision, None, Decision("give_up", reason="no outside hub"))
            form = urlencode({"hub.mode": "publish", "hub.url": job.topic, "hub.topic": job.topic})
            return Plan(seen, job.revision, Request(
                "POST", hub, {"Content-Type": "application/x-www-form-urlencoded"},
                form.encode(), allow_private=True))  # the operator chose this hub
        subscription = session.get(WebSubSubscription, job.subscription_id)
        document = self._document(session, job.topic_key)
        parsed = outbox.parse_topic(job.topic)
        if subscription is None or subscription.state != "active":
            return Plan(seen, job.revision, None, Decision("give_up", reason="subscription ended"))
        if subscription.expires <= now:
            last = f"{subscription.last_outcome}; " if subscription.last_outcome else ""
            return Plan(seen, job.revision, None, Decision(
                "give_up", reason=f"{last}the lease ended before it was delivered"))
        if document is None or parsed is None:
            return Plan(seen, job.revision, None, Decision("give_up", reason="nothing to deliver"))
        # W3C WebSub 7: the new document, its type, the hub and self links, and the signature.
        body, content_type = document
        hub = service.settings_for(self.app).hub_url(parsed.base)
        headers = {"Content-Type": content_type, "Link": f'<{hub}>; rel="hub", <{job.topic}>; rel="self"'}
        if subscription.secret:
            signature = hmac.new(subscription.secret.encode(), body, hashlib.sha256)
            headers["X-Hub-Signature"] = f"sha256={signature.hexdigest()}"
        seen = dataclasses.replace(seen, lease_end=subscription.expires)
        return Plan(seen, job.revision, Request("POST", subscription.callback, headers,
                                                body, allow_private=private))

    def _document(self, session: Session, key: str) -> tuple[bytes, str] | None:
        """The topic's current document; its body read once per change, not once per subscriber."""
        row = session.execute(select(WebSubTopic.digest, WebSubTopic.content_type)
                              .where(WebSubTopic.key == key)).first()
        if row is None or not row.digest:
            return None
        with self._bodies_lock:
            body = self._bodies.get((key, row.digest))
        if body is None:
            body = session.scalar(select(WebSubTopic.body).where(WebSubTopic.key == key,
                                                                  WebSubTopic.digest == row.digest))
            if body is None:  # changed between the two reads: the next attempt sends the new one
                return None
            with self._bodies_lock:
                self._bodies[(key, row.digest)] = body
                while len(self._bodies) > 64:
                    self._bodies.pop(next(iter(self._bodies)))
        return body, row.content_type

    def _settle(self, session: Session, job: WebSubJob | None, plan: Plan,
                reply: Reply | None, failed: frozenset[PurgeTarget] = frozenset()) -> Settled | None:
        """Carry out the plan for ``job`` in ``session``; a delivery's outcome, to count once
        the transaction has committed. ``failed``: the caches whose purge failed."""
        if job is None:
            return None  # removed while it was sent (an unsubscription)
        now = site.now(self.app)
        if job.kind == "purge":
            self._settle_purge(session, job, plan, _outcome(plan, reply), now)
            return None
        if job.kind == "change":
            scope = Scope(job.scope_kind or None, job.scope_slug or None)
            if failed or plan.skipped:
                # Retried on their own, with the hub's backoff (at least once, for a day); the
                # notification does not wait for them: a delivery carries the new document.
                outcome = _outcome(plan, reply)
                retry = next_attempt(dataclasses.replace(plan.job, kind="purge", attempts=0, created=now),
                                     outcome, now, self.policy).at or now
                keys = (scope_key(scope),)
                outbox.record_purges(self.app, session, keys, retry, now, (*sorted(failed, key=str), *plan.skipped),
                                     failed=True)
                self.app.logger.warning("cdn: purging %s: %s; left to a purge job", scope,
                                        outcome.describe() if failed else "its caches failed lately")
            if plan.purges and job.revision != plan.revision:
                # A write was folded in after the purge (SQLite): a cache may have refetched
                # before it, so purge again before notifying anyone.
                job.due = now
                return None
            try:
                with session.begin_nested():  # folded changes included: it reads what is committed now
                    queued = outbox.expand(self.app, session, scope, now, job.topic or None)
            except Exception as exc:  # a render that fails must not hold up the jobs behind it
                self.app.logger.exception("websub: expanding a change of %s", scope)
                decision = next_attempt(plan.job, Outcome(None, f"expansion failed: {exc}"), now, self.policy)
                job.attempts, job.last_error = job.attempts + 1, decision.reason[:300]
                job.due = decision.at or now + dt.timedelta(seconds=self.policy.cap)
                return None
            session.delete(job)
            if queued:
                outbox.wake_after_commit(self.app, session)
            return None
        outcome = _outcome(plan, reply)
        decision = plan.decision or next_attempt(plan.job, outcome, now, self.policy)
        if job.kind == "verify":
            if decision.action == "done":
                self._verified(session, job)
            self.app.logger.info("websub: %s of %s for %s: %s", job.mode, job.callback,
                                 job.topic, decision.reason)
            session.delete(job)
            return None
        subscription = (session.get(WebSubSubscription, job.subscription_id)
                        if job.subscription_id is not None else None)
        if subscription is not None and (plan.request is not None or subscription.state == "active"):
            subscription.last_attempt, subscription.last_outcome = now, decision.reason[:300]
        if decision.action == "done" and job.revision != plan.revision:
            job.due, job.attempts, job.last_error = now, 0, None  # a newer document waits
        elif decision.action == "retry" and decision.at is not None:
            job.attempts, job.due, job.last_error = job.attempts + 1, decision.at, decision.reason[:300]
        else:
            session.delete(job)
            if decision.action == "end" and subscription is not None:
                subscription.state, subscription.changed = "gone", now
                _drop_deliveries(session, subscription.id)
        if job.kind != "deliver":
            return None
        waited = (now - job.created).total_seconds() if decision.action == "done" else None
        return Settled(decision.action, waited)

    def _settle_purge(self, session: Session, job: WebSubJob, plan: Plan, outcome: Outcome,
                      now: dt.datetime) -> None:
        """A purge job: done (sent again if keys were folded in meanwhile), retried with the
        hub's backoff for a day from its first attempt, or given up (the cache's own lifetime,
        CDN_MAX_AGE, ends what it holds)."""
        if plan.decision is None and outcome.ok:
            if job.revision != plan.revision:
                job.due, job.attempts, job.last_error = now, 0, None
                return
        elif plan.decision is None:
            if job.attempts == 0:
                job.created = now  # an embargo's purge is written long before it comes due
            decision = next_attempt(dataclasses.replace(plan.job, created=job.created), outcome, now, self.policy)
            if decision.action == "retry" and decision.at is not None:
                job.attempts, job.due, job.last_error = job.attempts + 1, decision.at, decision.reason[:300]
                return
            if job.revision != plan.revision:  # keys came in since it was sent: their own day
                job.attempts, job.created, job.due, job.last_error = 0, now, now, decision.reason[:300]
                return
            self.app.logger.error("cdn: gave up purging %s at %s: %s", job.purge_keys, job.topic, decision.reason)
        elif job.revision != plan.revision:  # nothing to send then; keys came in since
            job.due = now
            return
        elif plan.decision.action != "done":
            self.app.logger.warning("cdn: purge of %s at %s dropped: %s", job.purge_keys, job.topic,
                                    plan.decision.reason)
        session.delete(job)

    def _verified(self, session: Session, job: WebSubJob) -> None:
        """The subscriber confirmed: activate, renew or end its subscription."""
        now, topic = site.now(self.app), outbox.parse_topic(job.topic)
        callback = job.callback or ""
        if topic is None:
            return
        key = outbox.digest(f"{job.topic}\n{callback}")
        query = select(WebSubSubscription).where(WebSubSubscription.key == key).with_for_update()
        subscription = session.scalars(query).first()
        if job.mode == "unsubscribe":
            if subscription is not None and subscription.state == "active":
                subscription.state, subscription.changed = "unsubscribed", now
                _drop_deliveries(session, subscription.id)
            return
        lease = job.lease_seconds or self.app.config["WEBSUB_LEASE_DEFAULT"]
        others = session.scalar(select(WebSubSubscription.id).where(
            WebSubSubscription.topic_key == topic.key, WebSubSubscription.key != key,
            WebSubSubscription.state == "active", WebSubSubscription.expires > now).limit(1))
        renewal = subscription is not None and subscription.state == "active" and subscription.expires > now
        if others is None and not renewal:
            # Nobody was following this topic: what it shows now is the baseline the next
            # change is compared with. Not on a renewal: a change not yet expanded would be
            # taken into the baseline and never delivered.
            outbox.store_document(session, topic, service.settings_for(self.app), now)
        if subscription is None:
            db.insert_ignore(session, WebSubSubscription, {
                "key": key, "topic": job.topic, "topic_key": topic.key, "callback": callback,
                "scope_kind": topic.scope.key()[0], "scope_slug": topic.scope.key()[1],
                "state": "active", "secret": job.secret, "lease_seconds": lease,
                "expires": now, "created": now, "changed": now})
            subscription = session.scalars(query.execution_options(populate_existing=True)).one()
        subscription.state, subscription.secret, subscription.lease_seconds = "active", job.secret, lease
        subscription.expires = now + dt.timedelta(seconds=lease)
        subscription.changed = now


@dataclass(frozen=True)
class Settled:
    """What became of one delivery attempt (metrics)."""

    action: str  # planner.Action
    waited: float | None  # delivered: seconds since it was queued


def _count(settled: Settled | None) -> None:
    if settled is None:
        return
    counted = metrics.get()
    counted.deliveries.labels(settled.action).inc()
    if settled.waited is not None:
        counted.delivery_seconds.observe(max(0.0, settled.waited))


class _Team:
    """How many of run_once's senders are working on a job right now."""

    def __init__(self) -> None:
        self._lock, self._working = threading.Lock(), 0

    def __enter__(self) -> None:
        with self._lock:
            self._working += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._working -= 1

    def busy(self) -> bool:
        with self._lock:
            return self._working > 0


def _outcome(plan: Plan, reply: Reply | None) -> Outcome:
    if reply is None:
        return Outcome(None, "not sent")
    if plan.challenge is not None and reply.error is None and reply.status is not None \
            and 200 <= reply.status < 300 and reply.body.strip() != plan.challenge.encode():
        return Outcome(reply.status, "the callback did not echo hub.challenge")
    return Outcome(reply.status, reply.error, reply.retry_after)


def _drop_deliveries(session: Session, subscription_id: int) -> None:
    """Delete a subscription's waiting deliveries; one being sent right now is left to finish."""
    ids = session.scalars(select(WebSubJob.id).where(
        WebSubJob.subscription_id == subscription_id, WebSubJob.kind == "deliver")
        .with_for_update(skip_locked=True)).all()
    if ids:
        session.execute(delete(WebSubJob).where(WebSubJob.id.in_(ids)))


class Running:
    """A worker on a thread of ``feedsvc serve``."""

    def __init__(self, app: Flask) -> None:
        self.stop_event = threading.Event()
        self.signal = outbox.signal(app)
        self.thread = threading.Thread(target=Worker(app).run, args=(self.stop_event,),
                                       name="websub-worker", daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.stop_event.set()
        self.signal.notify()
        self.thread.join(timeout)


@click.command("worker", short_help="Run the WebSub delivery worker alone.",
               help="Run the WebSub delivery worker without the HTTP server (beside `feedsvc serve "
                    "--no-worker`). Several may share a PostgreSQL database; on SQLite one runs per "
                    "database. Needs the database as `serve` or `db upgrade` left it.")
@click.option("--once", is_flag=True, help="Work off the jobs due now, then exit.")
@click.option("--metrics-port", type=click.IntRange(0, 65535),
              help="Serve Prometheus metrics at /metrics on this port.")
@click.option("--metrics-host", default="127.0.0.1", show_default=True,
              help="The address the metrics port listens on.")
@with_appcontext
def worker_command(once: bool, metrics_port: int | None, metrics_host: str) -> None:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    db.require_schema(db.get_engine(app))  # serve or `db upgrade` creates it, not a worker
    exporter = metrics.start(metrics_host, metrics_port, outbox.backlog_reader(app))
    worker = Worker(app)
    if once:
        click.echo(f"websub: {worker.run_once()} attempt(s)", err=True)
        exporter.close()
        return
    stop = threading.Event()

    def finish(signum: int, frame: FrameType | None) -> None:
        stop.set()
        worker.signal.notify()

    signals.signal(signals.SIGTERM, finish)
    signals.signal(signals.SIGINT, finish)
    click.echo(f"feedsvc worker running with {worker.threads} threads", err=True)
    worker.run(stop)
    db.get_engine(app).dispose()
    exporter.close()
    click.echo("feedsvc worker stopped", err=True)
