"""The hub in one process: requests, verification, the outbox and the worker, with a fake sender.

The fake stands at the one outside seam (the sender); everything behind it is real: the
database, the change listener, the planner and the worker's claim and settle.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from feedsvc.errors import ConfigError
from feedsvc.feeds import service
from feedsvc.store import db
from feedsvc.store.models import WebSubJob, WebSubSubscription
from feedsvc.store.scopes import Scope
from feedsvc.websub import outbox
from feedsvc.websub.sender import Reply, Request
from feedsvc.websub.worker import Worker

from conftest import Api, Clock, make_article, table_counts

BASE = "http://feeds.test"
WORLD = f"{BASE}/sections/world/feed.atom"
CALLBACK = "http://sub.test/callback"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class FakeSender:
    """Answers like a well-behaved subscriber unless told otherwise; remembers every request."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.answer: Callable[[Request], Reply] = self.subscriber
        self.lock = threading.Lock()

    @staticmethod
    def subscriber(request: Request) -> Reply:
        if request.method == "GET":
            return Reply(200, parse_qs(urlsplit(request.url).query)["hub.challenge"][0].encode())
        return Reply(204)

    def send(self, request: Request) -> Reply:
        with self.lock:
            self.requests.append(request)
        return self.answer(request)

    def posts(self) -> list[Request]:
        return [r for r in self.requests if r.method == "POST"]

    def gets(self) -> list[Request]:
        return [r for r in self.requests if r.method == "GET"]


@pytest.fixture
def hub_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(WEBSUB_ALLOW_PRIVATE=True, WEBSUB_LEASE_MIN=10)


@pytest.fixture
def fake() -> FakeSender:
    return FakeSender()


@pytest.fixture
def worker(hub_app: Flask, fake: FakeSender) -> Worker:
    return Worker(hub_app, fake, threads=1)


@pytest.fixture
def hub_api(hub_app: Flask) -> Api:
    from conftest import new_token

    return Api(hub_app.test_client(), {"Authorization": f"Bearer {new_token(hub_app)}"})


def post_hub(client: FlaskClient, **params: str) -> Any:
    return client.post("/websub", data={f"hub.{k}": v for k, v in params.items()}, headers=FORM)


def subscribe(client: FlaskClient, topic: str = WORLD, callback: str = CALLBACK,
              **params: str) -> Any:
    return post_hub(client, mode="subscribe", topic=topic, callback=callback, **params)


def subscriptions(app: Flask) -> list[WebSubSubscription]:
    with db.write_session(db.get_engine(app)) as session:
        return list(session.scalars(select(WebSubSubscription).order_by(WebSubSubscription.id)))


def jobs(app: Flask, kind: str | None = None) -> list[WebSubJob]:
    """The outbox's jobs to send (of ``kind``): verifications, deliveries, pings; the changes a
    write records for the worker to expand are counted apart (``changes_waiting``)."""
    with db.write_session(db.get_engine(app)) as session:
        query = select(WebSubJob).order_by(WebSubJob.id)
        query = query.where(WebSubJob.kind == kind) if kind else query.where(WebSubJob.kind != "change")
        return list(session.scalars(query))


def signed(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def subscribed(hub_app: Flask, hub_api: Api, worker: Worker, fake: FakeSender) -> Api:
    """An article in World, and CALLBACK subscribed to the World Atom feed with a secret."""
    hub_api.put("first", make_article(key="first"))
    assert subscribe(hub_api.client, secret="s3cret").status_code == 202
    worker.run_once()
    assert [s.state for s in subscriptions(hub_app)] == ["active"]
    fake.requests.clear()
    return hub_api


# Requests the hub refuses: 4xx, a reason naming the parameter, and nothing created.

PRIVATE = ["http://127.0.0.1/cb", "http://10.1.2.3/cb", "http://169.254.169.254/latest",
           "http://[::1]/cb", "http://224.0.0.1/cb", "http://localhost:8080/cb",
           "http://[::ffff:127.0.0.1]/cb", "http://[fe80::1]/cb", "http://0.0.0.0/cb",
           "http://192.168.1.1/cb", "http://100.64.0.1/cb", "http://[fec0::1]/"]
GOOD = {"mode": "subscribe", "topic": WORLD, "callback": "http://93.184.216.34/cb"}


BAD: list[tuple[dict[str, Any], str]] = [
    ({"topic": WORLD, "callback": GOOD["callback"]}, "hub.mode"),
    (GOOD | {"mode": "publish"}, "hub.mode"),
    (GOOD | {"mode": "Subscribe"}, "hub.mode"),
    ({"mode": "subscribe", "callback": GOOD["callback"]}, "hub.topic"),
    (GOOD | {"topic": "http://elsewhere.example/feed.atom"}, "hub.topic"),
    (GOOD | {"topic": f"{BASE}/articles/first"}, "hub.topic"),
    (GOOD | {"topic": f"{BASE}/sections/nowhere/feed.atom"}, "hub.topic"),
    (GOOD | {"topic": f"{BASE}/feed.xml"}, "hub.topic"),
    (GOOD | {"topic": f"{BASE}/feed.atom?limit=5"}, "hub.topic"),
    (GOOD | {"topic": f"{BASE}/feed.atom#x"}, "hub.topic"),
    (GOOD | {"topic": "https://feeds.test/feed.atom"}, "hub.topic"),
    ({"mode": "subscribe", "topic": WORLD}, "hub.callback"),
    (GOOD | {"callback": "not a url"}, "hub.callback"),
    (GOOD | {"callback": "ftp://93.184.216.34/cb"}, "hub.callback"),
    (GOOD | {"callback": "/relative/cb"}, "hub.callback"),
    (GOOD | {"callback": "http://93.184.216.34/cb#part"}, "hub.callback"),
    (GOOD | {"callback": "http://me:pw@93.184.216.34/cb"}, "hub.callback"),
    (GOOD | {"callback": "http://93.184.216.34:99999/cb"}, "hub.callback"),
    (GOOD | {"callback": "http://93.184.216.34/" + "x" * 2000}, "hub.callback"),
    *[(GOOD | {"callback": url}, "hub.callback") for url in PRIVATE],
    (GOOD | {"secret": "x" * 200}, "hub.secret"),
    (GOOD | {"secret": "é" * 100}, "hub.secret"),  # 100 characters, 200 bytes
    *[(GOOD | {"lease_seconds": junk}, "hub.lease_seconds")
      for junk in ["abc", "-5", "0", "1.5", "1e3", " 10", "٣٠٠", "9" * 20]],
    (GOOD | {"mode": ["subscribe", "unsubscribe"]}, "hub.mode"),
]


def test_bad_requests_are_refused_and_create_nothing(app: Flask, api: Api,
                                                      subtests: pytest.Subtests) -> None:
    api.put("first", make_article(key="first"))
    before = table_counts(app)
    for params, parameter in BAD:
        with subtests.test(msg=parameter, params=params):
            response = app.test_client().post(
                "/websub", data={f"hub.{k}": v for k, v in params.items()}, headers=FORM)
            assert response.status_code == 400
            problem = response.get_json()
            assert response.content_type == "application/problem+json"
            assert parameter in problem["detail"]
            assert parameter in [error["parameter"] for error in problem["errors"]]
            assert table_counts(app) == before


def test_the_hub_takes_forms_only(app: Flask, api: Api) -> None:
    api.put("first", make_article(key="first"))
    before = table_counts(app)
    client = app.test_client()
    assert client.post("/websub", json={"hub.mode": "subscribe"}).status_code == 415
    assert client.get("/websub").status_code == 405
    assert table_counts(app) == before


def test_a_public_callback_is_accepted_without_allow_private(app: Flask, api: Api) -> None:
    api.put("first", make_article(key="first"))
    response = post_hub(app.test_client(), **GOOD)
    assert response.status_code == 202
    [job] = jobs(app)
    assert (job.kind, job.mode, job.callback, job.topic) == ("verify", "subscribe", GOOD["callback"], WORLD)


def test_leases_are_kept_within_bounds(hub_app: Flask, hub_api: Api,
                                       subtests: pytest.Subtests) -> None:
    hub_api.put("first", make_article(key="first"))
    for asked, granted in [(None, 864000), ("", 864000), ("5", 10), ("10", 10), ("3600", 3600),
                           ("999999999999", 2592000)]:
        with subtests.test(asked=asked):
            params = {} if asked is None else {"lease_seconds": asked}
            assert subscribe(hub_api.client, **params).status_code == 202
            [job] = jobs(hub_app)  # the newest request replaced the one before
            assert job.lease_seconds == granted


def test_lease_bounds_are_checked_at_startup(make_app: Callable[..., Flask]) -> None:
    with pytest.raises(ConfigError, match="WEBSUB_LEASE_DEFAULT"):
        make_app(WEBSUB_LEASE_MIN=100, WEBSUB_LEASE_DEFAULT=50)


@pytest.mark.parametrize(("url", "parsed"), [
    (f"{BASE}/feed.atom", (Scope(), "atom", "published")),
    (f"{BASE}/feed.json?order=updated", (Scope(), "json", "updated")),
    (f"{BASE}/sections/world/feed.rss", (Scope("sections", "world"), "rss", "published")),
    (f"{BASE}/topics/%E0%A6%AC%E0%A6%BE/feed.atom", (Scope("topics", "বা"), "atom", "published")),
    (f"{BASE}/authors/ann/feed.atom?order=published", None),
    (f"{BASE}/topics/a%2Fb/feed.atom", (Scope("topics", "a/b"), "atom", "published")),
    (f"{BASE}/topics/a/b/feed.atom", None),
    (f"{BASE}/places/x/feed.atom", None),
    (f"{BASE}/sections/world/feed.atom?cursor=x", None),
    ("feed.atom", None),
])
def test_topics_are_the_feeds_own_urls(url: str, parsed: tuple[Scope, str, str] | None) -> None:
    topic = outbox.parse_topic(url)
    if parsed is None:
        assert topic is None or topic.base != BASE  # not a feed of this service's origin
    else:
        assert topic is not None and (topic.scope, topic.fmt, topic.order) == parsed
        assert topic.base == BASE


# Verification of intent.

def test_subscription_is_active_only_after_the_challenge_is_echoed(
        hub_app: Flask, hub_api: Api, worker: Worker, fake: FakeSender, clock: Clock) -> None:
    hub_api.put("first", make_article(key="first"))
    assert subscribe(hub_api.client, lease_seconds="3600", secret="s").status_code == 202
    assert subscriptions(hub_app) == []  # accepted, not active
    worker.run_once()
    [get] = fake.gets()
    query = parse_qs(urlsplit(get.url).query)
    assert get.url.startswith(CALLBACK + "?")
    assert query["hub.mode"] == ["subscribe"] and query["hub.topic"] == [WORLD]
    assert query["hub.lease_seconds"] == ["3600"] and len(query["hub.challenge"][0]) >= 20
    [sub] = subscriptions(hub_app)
    assert (sub.state, sub.secret, sub.topic, sub.callback) == ("active", "s", WORLD, CALLBACK)
    assert sub.expires == clock.now + dt.timedelta(seconds=3600)
    assert jobs(hub_app) == []


def test_a_callback_with_a_query_keeps_it(hub_app: Flask, hub_api: Api, worker: Worker,
                                           fake: FakeSender) -> None:
    hub_api.put("first", make_article(key="first"))
    subscribe(hub_api.client, callback="http://sub.test/cb?user=7")
    worker.run_once()
    query = parse_qs(urlsplit(fake.gets()[0].url).query)
    assert query["user"] == ["7"] and "hub.challenge" in query


@pytest.mark.parametrize("answer", [
    Reply(404, b"no"), Reply(200, b"wrong challenge"), Reply(500), Reply(None, error="timed out"),
    Reply(200, b""),
])
def test_a_denial_or_failed_verification_leaves_nothing_active(
        hub_app: Flask, hub_api: Api, worker: Worker, fake: FakeSender, answer: Reply) -> None:
    hub_api.put("first", make_article(key="first"))
    fake.answer = lambda request: answer
    subscribe(hub_api.client)
    worker.run_once()
    assert subscriptions(hub_app) == []
    assert jobs(hub_app) == []  # not retried: the subscriber asks again if it wants to


def test_a_failed_renewal_keeps_the_subscription(hub_app: Flask, subscribed: Api,
                                                 worker: Worker, fake: FakeSender) -> None:
    fake.answer = lambda request: Reply(404)
    subscribe(subscribed.client, secret="other")
    worker.run_once()
    [sub] = subscriptions(hub_app)
    assert (sub.state, sub.secret) == ("active", "s3cret")


def test_renewal_extends_the_lease(hub_app: Flask, subscribed: Api, worker: Worker,
                                   clock: Clock) -> None:
    [before] = subscriptions(hub_app)
    clock.advance(days=3)
    subscribe(subscribed.client, secret="new")
    worker.run_once()
    [after] = subscriptions(hub_app)
    assert after.id == before.id
    assert after.expires == clock.now + dt.timedelta(seconds=864000) > before.expires
    assert after.secret == "new"


def test_a_newer_request_replaces_a_waiting_one(hub_app: Flask, hub_api: Api, worker: Worker,
                                                 fake: FakeSender) -> None:
    hub_api.put("first", make_article(key="first"))
    subscribe(hub_api.client)
    post_hub(hub_api.client, mode="unsubscribe", topic=WORLD, callback=CALLBACK)
    assert [job.mode for job in jobs(hub_app)] == ["unsubscribe"]
    worker.run_once()
    assert subscriptions(hub_app) == []


# Content distribution.

def changes_waiting(app: Flask) -> dict[tuple[str, str], int]:
    """(scope kind, slug) -> revision of each change a write recorded and no worker expanded."""
    with db.write_session(db.get_engine(app)) as session:
        return {(job.scope_kind or "", job.scope_slug or ""): job.revision
                for job in session.scalars(select(WebSubJob).where(WebSubJob.kind == "change"))}


SECOND_SCOPES = {("", ""), ("sections", "world"), ("topics", "climate"),
                 ("authors", "staff-correspondent")}


def test_a_change_is_recorded_in_its_own_transaction(hub_app: Flask, subscribed: Api,
                                                     worker: Worker, fake: FakeSender) -> None:
    """The write records one change per scope it touched, and nothing per subscriber; the
    worker expands it into the delivery."""
    subscribed.put("second", make_article(key="second"))
    assert set(changes_waiting(hub_app)) == SECOND_SCOPES and jobs(hub_app) == []

    from feedsvc.store import changes

    def broken(*args: Any) -> None:
        raise RuntimeError("after the outbox")

    changes.listen(hub_app, changes.Stage.WEBSUB, broken)
    assert subscribed.put("third", make_article(key="third", topics=["Elsewhere"])).status_code == 500
    assert subscribed.get("third").status_code == 404
    assert set(changes_waiting(hub_app)) == SECOND_SCOPES  # no change of "third" was kept
    assert worker.run_once() == 1
    [post] = fake.posts()
    assert post.url == CALLBACK and b"second" in post.body and b"third" not in post.body


def test_delivery_carries_the_document_links_and_signature(
        hub_app: Flask, subscribed: Api, worker: Worker, fake: FakeSender, clock: Clock) -> None:
    subscribed.put("second", make_article(key="second", title="Breaking"))
    assert worker.run_once() == 1
    [post] = fake.posts()
    topic = outbox.parse_topic(WORLD)
    assert topic is not None
    with hub_app.app_context(), db.write_session(db.get_engine(hub_app)) as session:
        # what a poller gets (see the live tests)
        current = outbox.document(session, topic, service.settings_for(hub_app), clock.now)
    assert current is not None
    assert post.url == CALLBACK and post.body == current[0] and b"Breaking" in post.body
    assert post.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    assert post.headers["Link"] == f'<{BASE}/websub>; rel="hub", <{WORLD}>; rel="self"'
    assert post.headers["X-Hub-Signature"] == signed("s3cret", post.body)
    assert jobs(hub_app) == []
    [sub] = subscriptions(hub_app)
    assert sub.last_outcome == "delivered (204)"


def test_no_secret_no_signature(hub_app: Flask, hub_api: Api, worker: Worker,
                                fake: FakeSender) -> None:
    hub_api.put("first", make_article(key="first"))
    subscribe(hub_api.client, topic=f"{BASE}/feed.json")
    worker.run_once()
    hub_api.put("second", make_article(key="second"))
    worker.run_once()
    [post] = fake.posts()
    assert "X-Hub-Signature" not in post.headers
    assert post.headers["Content-Type"] == "application/feed+json; charset=utf-8"


def test_an_unchanged_document_is_not_delivered(make_app: Callable[..., Flask],
                                                fake: FakeSender) -> None:
    app = make_app(WEBSUB_ALLOW_PRIVATE=True, FEED_SIZE=1)
    from conftest import new_token

    api = Api(app.test_client(), {"Authorization": f"Bearer {new_token(app)}"})
    worker = Worker(app, fake, threads=1)
    api.put("old", make_article(key="old", published="2026-01-01T00:00:00Z",
                                updated="2026-01-01T00:00:00Z"))
    api.put("new", make_article(key="new", published="2026-10-01T00:00:00Z"))
    subscribe(api.client)
    worker.run_once()
    fake.requests.clear()
    api.patch("old", {"title": "Old, corrected"})  # below the first page: the feed is the same
    assert worker.run_once() == 0 and fake.posts() == []
    api.patch("new", {"title": "New, corrected"})
    assert worker.run_once() == 1 and len(fake.posts()) == 1


def test_the_corrections_view_is_a_topic_of_its_own(hub_app: Flask, hub_api: Api, worker: Worker,
                                                     fake: FakeSender) -> None:
    hub_api.put("first", make_article(key="first"))
    subscribe(hub_api.client, topic=f"{WORLD}?order=updated", callback="http://sub.test/updated")
    worker.run_once()
    hub_api.patch("first", {"updated": "2026-10-20T00:00:00Z", "summary": "Corrected"})
    worker.run_once()
    [post] = fake.posts()
    assert post.url == "http://sub.test/updated"
    assert f'<{WORLD}?order=updated>; rel="self"' in post.headers["Link"]
    assert b"Corrected" in post.body and b"most recently updated first" in post.body


def test_changes_fold_into_one_pending_delivery(hub_app: Flask, subscribed: Api, worker: Worker,
                                                fake: FakeSender) -> None:
    for n in range(3):
        subscribed.put(f"burst-{n}", make_article(key=f"burst-{n}", title=f"Burst {n}"))
    assert changes_waiting(hub_app)[("sections", "world")] == 2  # one change, taken in twice
    worker.run_once()
    [post] = fake.posts()
    assert b"Burst 2" in post.body and b"Burst 0" in post.body


def test_a_change_during_a_send_is_sent_after_it(hub_app: Flask, subscribed: Api,
                                                 worker: Worker, fake: FakeSender) -> None:
    def meanwhile(request: Request) -> Reply:
        if len(fake.posts()) == 1:  # while the first delivery is on its way, another edit
            subscribed.put("late", make_article(key="late", title="Late news"))
        return FakeSender.subscriber(request)

    fake.answer = meanwhile
    subscribed.put("second", make_article(key="second"))
    worker.run_once()
    first, second = fake.posts()
    assert b"Late news" not in first.body and b"Late news" in second.body
    assert jobs(hub_app) == []


def test_failures_are_retried_with_backoff(hub_app: Flask, subscribed: Api, worker: Worker,
                                           fake: FakeSender, clock: Clock) -> None:
    fake.answer = lambda request: Reply(503)
    subscribed.put("second", make_article(key="second"))
    worker.run_once()
    [job] = jobs(hub_app)
    assert job.attempts == 1 and job.last_error == "HTTP 503 (attempt 1)"
    wait = (job.due - clock.now).total_seconds()
    assert 15 <= wait < 30  # WEBSUB_RETRY_BASE 30: half to all of it
    assert worker.run_once() == 0  # not due yet
    clock.advance(seconds=wait)
    fake.answer = FakeSender.subscriber
    assert worker.run_once() == 1
    assert jobs(hub_app) == [] and len(fake.posts()) == 2
    assert subscriptions(hub_app)[0].last_outcome == "delivered (204)"


def test_410_ends_the_subscription(hub_app: Flask, subscribed: Api, worker: Worker,
                                   fake: FakeSender) -> None:
    fake.answer = lambda request: Reply(410)
    subscribed.put("second", make_article(key="second"))
    worker.run_once()
    [sub] = subscriptions(hub_app)
    assert sub.state == "gone"
    subscribed.put("third", make_article(key="third"))
    assert jobs(hub_app) == []


def test_retries_end_with_the_lease(hub_app: Flask, hub_api: Api, worker: Worker,
                                    fake: FakeSender, clock: Clock) -> None:
    hub_api.put("first", make_article(key="first"))
    subscribe(hub_api.client, lease_seconds="100")
    worker.run_once()
    fake.answer = lambda request: Reply(None, error="connection refused")
    hub_api.put("second", make_article(key="second"))
    for _ in range(5):
        worker.run_once()
        clock.advance(seconds=60)
    assert jobs(hub_app) == []
    [sub] = subscriptions(hub_app)
    assert "connection refused" in (sub.last_outcome or "")
    assert "lease ends" in (sub.last_outcome or "") or "lease ended" in (sub.last_outcome or "")
    assert 2 <= len(fake.posts()) <= 3


def test_expired_and_unsubscribed_get_nothing(hub_app: Flask, subscribed: Api, worker: Worker,
                                              fake: FakeSender, clock: Clock) -> None:
    subscribe(subscribed.client, callback="http://sub.test/short", lease_seconds="10")
    subscribe(subscribed.client, callback="http://sub.test/leaving")
    worker.run_once()
    post_hub(subscribed.client, mode="unsubscribe", topic=WORLD, callback="http://sub.test/leaving")
    worker.run_once()
    assert "hub.mode=unsubscribe" in fake.gets()[-1].url
    clock.advance(seconds=11)
    subscribed.put("second", make_article(key="second"))
    worker.run_once()
    assert [r.url for r in fake.posts()] == [CALLBACK]
    states = {s.callback: s.state for s in subscriptions(hub_app)}
    assert states == {CALLBACK: "active", "http://sub.test/short": "active",
                      "http://sub.test/leaving": "unsubscribed"}
    result = hub_app.test_cli_runner().invoke(args=["subscriptions"])
    lines = {line.split()[-1]: line for line in result.output.splitlines()[1:]}
    assert " expired " in lines["http://sub.test/short"]
    assert " unsubscribed " in lines["http://sub.test/leaving"]
    assert "delivered (204)" in lines[CALLBACK]


def test_unsubscribing_drops_waiting_deliveries(hub_app: Flask, subscribed: Api, worker: Worker,
                                                fake: FakeSender) -> None:
    fake.answer = lambda request: Reply(500) if request.method == "POST" else FakeSender.subscriber(request)
    subscribed.put("second", make_article(key="second"))
    worker.run_once()
    assert [job.attempts for job in jobs(hub_app)] == [1]  # waiting to be retried
    post_hub(subscribed.client, mode="unsubscribe", topic=WORLD, callback=CALLBACK)
    worker.run_once()
    assert jobs(hub_app) == []
    assert subscriptions(hub_app)[0].state == "unsubscribed"


def test_a_scheduled_article_coming_due_is_delivered(hub_app: Flask, subscribed: Api,
                                                     worker: Worker, fake: FakeSender,
                                                     clock: Clock) -> None:
    due = clock.now + dt.timedelta(hours=1)
    subscribed.put("embargoed", make_article(key="embargoed", title="Embargoed",
                                             published=due.isoformat(), updated=due.isoformat()))
    assert jobs(hub_app) == []  # the feed does not show it yet: nothing changed
    worker.run_once()
    assert fake.posts() == []
    clock.set(due + dt.timedelta(seconds=1))
    worker.run_once()
    [post] = fake.posts()
    assert b"Embargoed" in post.body
    worker.run_once()
    assert len(fake.posts()) == 1  # once


def test_an_outside_hub_gets_publish_pings(make_app: Callable[..., Flask], fake: FakeSender) -> None:
    app = make_app(WEBSUB_HUB="http://hub.example/")
    from conftest import new_token

    api = Api(app.test_client(), {"Authorization": f"Bearer {new_token(app)}"})
    api.put("a", make_article(key="a", topics=[], authors=[]))
    api.put("b", make_article(key="b", topics=[], authors=[]))  # folds into the same pings
    assert subscribe(app.test_client()).status_code == 404
    expected = {f"{BASE}/feed.{fmt}" for fmt in ("atom", "rss", "json")} | {
        f"{BASE}/sections/world/feed.{fmt}" for fmt in ("atom", "rss", "json")}
    assert changes_waiting(app) == {("", ""): 1, ("sections", "world"): 1}
    fake.answer = lambda request: Reply(204)
    Worker(app, fake, threads=1).run_once()
    assert {parse_qs(r.body.decode())["hub.url"][0] for r in fake.posts()} == expected
    for request in fake.posts():
        form = parse_qs(request.body.decode())
        assert request.url == "http://hub.example/"
        assert form["hub.mode"] == ["publish"] and form["hub.topic"] == form["hub.url"]
    assert jobs(app) == []


def test_subscriptions_lists_pending_verifications(hub_app: Flask, hub_api: Api) -> None:
    hub_api.put("first", make_article(key="first"))
    subscribe(hub_api.client)
    result = hub_app.test_cli_runner().invoke(args=["subscriptions"])
    assert result.exit_code == 0
    assert "verifying" in result.output and CALLBACK in result.output
    with db.write_session(db.get_engine(hub_app)) as session:
        assert session.scalar(select(func.count()).select_from(WebSubSubscription)) == 0


def test_one_worker_per_sqlite_database(hub_app: Flask, fake: FakeSender) -> None:
    sqlite = db.get_engine(hub_app).dialect.name == "sqlite"
    stop = threading.Event()
    running = threading.Thread(target=Worker(hub_app, fake, threads=1).run, args=(stop,))
    running.start()
    try:
        time.sleep(0.2)
        result = hub_app.test_cli_runner().invoke(args=["worker", "--once"])
        if sqlite:
            assert result.exit_code == 1
            assert "another WebSub worker is running" in result.output
        else:  # PostgreSQL: workers share the jobs
            assert result.exit_code == 0
    finally:
        stop.set()
        outbox.signal(hub_app).notify()
        running.join(5)
    assert hub_app.test_cli_runner().invoke(args=["worker", "--once"]).exit_code == 0
