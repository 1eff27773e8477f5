"""Caches in front: stale-* directives, the shared caches' lifetime, surrogate keys, and the
purge every change sends through the outbox before its WebSub notification (issue 19)."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from feedsvc.config import load
from feedsvc.errors import ConfigError
from feedsvc.feeds.surrogate import PurgeTarget, parse_targets, scope_key
from feedsvc.store import db
from feedsvc.store.models import WebSubJob
from feedsvc.store.scopes import Scope
from feedsvc.web.polling import CachePolicy
from feedsvc.websub.sender import HttpSender, Reply, Request
from feedsvc.websub.worker import Worker

from conftest import Api, Clock, make_article, new_token

FEED = "/sections/world/feed.atom"
VARNISH = "http://127.0.0.1:6081/"


def directives(value: str) -> dict[str, str]:
    """A Cache-Control-like field as {directive: argument} (RFC 9111 5.2)."""
    parsed = {}
    for item in value.split(","):
        name, _, argument = item.strip().partition("=")
        parsed[name.lower()] = argument
    return parsed


# The fields, as a reader, a CDN and Varnish read them.

@pytest.fixture
def cdn_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(CDN_MAX_AGE=3600, CACHE_STALE_WHILE_REVALIDATE=20, CACHE_STALE_IF_ERROR=600,
                    CDN_PURGE=f"varnish:{VARNISH}")


@pytest.fixture
def cdn_api(cdn_app: Flask) -> Api:
    return Api(cdn_app.test_client(), {"Authorization": f"Bearer {new_token(cdn_app)}"})


def test_readers_keep_max_age_shared_caches_get_the_longer_lifetime(cdn_api: Api) -> None:
    cdn_api.put("a", make_article(key="a", topics=["Rivers"]))
    response = cdn_api.client.get(FEED)
    assert directives(response.headers["Cache-Control"]) == {
        "public": "", "max-age": "60", "stale-while-revalidate": "20", "stale-if-error": "600"}
    for field in ("CDN-Cache-Control", "Surrogate-Control"):
        assert directives(response.headers[field]) == {
            "max-age": "3600", "stale-while-revalidate": "20", "stale-if-error": "600"}
    assert response.headers["Surrogate-Key"] == "sections/world"
    assert response.headers["Cache-Tag"] == "sections/world"
    assert response.headers["xkey"] == "sections/world"
    assert cdn_api.client.get("/feed.json").headers["xkey"] == "site"
    assert cdn_api.client.get("/topics/rivers/feed.rss").headers["Surrogate-Key"] == "topics/rivers"


@pytest.mark.parametrize("validator", ["If-None-Match", "If-Modified-Since"])
def test_a_304_repeats_every_cache_field(cdn_api: Api, validator: str) -> None:
    cdn_api.put("a", make_article(key="a"))
    first = cdn_api.client.get(FEED)
    sent = first.headers["ETag" if validator == "If-None-Match" else "Last-Modified"]
    for _ in range(3):  # Flask's answer, then the fast path's
        again = cdn_api.client.get(FEED, headers={validator: sent})
        assert again.status_code == 304
        for field in ("Cache-Control", "CDN-Cache-Control", "Surrogate-Control", "Surrogate-Key",
                      "Cache-Tag", "xkey", "Vary", "ETag", "Last-Modified"):
            assert again.headers[field] == first.headers[field], field


def test_every_lifetime_ends_at_a_scheduled_instant(cdn_api: Api, clock: Clock) -> None:
    """An embargoed article appears at its instant behind a CDN too: neither the shared
    lifetime nor stale-while-revalidate reaches past it; a purge at the instant follows."""
    cdn_api.put("now", make_article(key="now"))
    due = clock.now + dt.timedelta(seconds=100)
    cdn_api.put("soon", make_article(key="soon", published=due.isoformat(), updated=None))
    response = cdn_api.client.get(FEED)
    assert directives(response.headers["Cache-Control"]) == {
        "public": "", "max-age": "60", "stale-while-revalidate": "20", "stale-if-error": "600"}
    assert directives(response.headers["CDN-Cache-Control"]) == {"max-age": "100", "stale-if-error": "600"}
    clock.advance(seconds=50)
    response = cdn_api.client.get(FEED)
    assert directives(response.headers["Cache-Control"])["max-age"] == "50"
    assert "stale-while-revalidate" not in directives(response.headers["Cache-Control"])
    assert directives(response.headers["Surrogate-Control"])["max-age"] == "50"


def test_no_shared_lifetime_unless_configured(client: Any, api: Api) -> None:
    api.put("a", make_article(key="a"))
    response = client.get(FEED)
    assert "CDN-Cache-Control" not in response.headers and "Surrogate-Control" not in response.headers
    assert response.headers["xkey"] == "sections/world"


def test_a_scheduled_articles_scope_is_named_nowhere_before_its_instant(cdn_api: Api, clock: Clock) -> None:
    """Keys are scopes' names, and a scope only a scheduled article names answers 404 without one."""
    cdn_api.put("a", make_article(key="a"))
    due = clock.now + dt.timedelta(days=1)
    cdn_api.put("secret", make_article(key="secret", section="Deals", topics=["Secret merger"],
                                       published=due.isoformat(), updated=None))
    for url in ("/sections/deals/feed.atom", "/topics/secret-merger/feed.json", "/articles/secret"):
        response = cdn_api.client.get(url)
        assert response.status_code == 404
        assert not {"Surrogate-Key", "Cache-Tag", "xkey"} & set(response.headers.keys())
    public = cdn_api.client.get("/feed.atom")
    assert "deals" not in public.headers["xkey"] and "secret" not in public.headers["Surrogate-Key"]
    clock.set(due)
    assert cdn_api.client.get("/sections/deals/feed.atom").headers["xkey"] == "sections/deals"


def test_pages_are_not_held_by_shared_caches(cdn_api: Api) -> None:
    """Pages stay no-cache (revalidated every time, cheap to render): no shared lifetime, no keys."""
    cdn_api.put("a", make_article(key="a"))
    page = cdn_api.client.get("/articles/a")
    assert page.headers["Cache-Control"] == "no-cache"
    assert not {"CDN-Cache-Control", "Surrogate-Control", "Surrogate-Key", "xkey"} & set(page.headers.keys())


@given(max_age=st.integers(0, 10**6), revalidate=st.integers(0, 10**6), error=st.integers(0, 10**6),
       shared=st.integers(0, 10**6), ahead=st.none() | st.floats(-100, 2 * 10**6))
def test_no_lifetime_reaches_past_until(max_age: int, revalidate: int, error: int, shared: int,
                                        ahead: float | None) -> None:
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    until = None if ahead is None else now + dt.timedelta(seconds=ahead)
    headers = dict(CachePolicy(max_age, revalidate, error, shared).headers(until, now))
    assert set(headers) == ({"Cache-Control", "CDN-Cache-Control", "Surrogate-Control"} if shared
                            else {"Cache-Control"})
    for field, ceiling in (("Cache-Control", max_age), ("CDN-Cache-Control", shared)):
        if field not in headers:
            continue
        parsed = directives(headers[field])
        lifetime = int(parsed["max-age"])
        assert 0 <= lifetime <= ceiling
        swr = int(parsed.get("stale-while-revalidate", "0"))
        assert swr <= revalidate
        if until is not None:
            assert lifetime + swr <= max(0.0, ahead or 0.0)
        else:
            assert lifetime == ceiling and swr == revalidate
        assert parsed.get("stale-if-error") == (str(error) if error else None)


@given(st.text(min_size=1, max_size=300))
def test_keys_are_one_token_of_printable_ascii(slug: str) -> None:
    for kind in ("sections", "topics", "authors"):
        key = scope_key(Scope(kind, slug))
        assert key.isascii() and key.isprintable() and len(key) <= 200
        assert not any(ch in key for ch in " ,\t\"")
        assert key.startswith(f"{kind}/")
    assert scope_key(Scope()) == "site"


def test_distinct_slugs_get_distinct_keys() -> None:
    slugs = ["world", "World", "w%6Frld", "wörld", "a,b", "a b", "x" * 300, "x" * 301]
    assert len({scope_key(Scope("topics", s)) for s in slugs}) == len(slugs)


@pytest.mark.parametrize(("value", "parsed"), [
    ("", ()),
    ("varnish:http://127.0.0.1:6081/", (PurgeTarget("varnish", "http://127.0.0.1:6081/"),)),
    ("varnish:http://a:1/, varnish:http://b/ fastly:SVC123 cloudflare:0123abcd",
     (PurgeTarget("varnish", "http://a:1/"), PurgeTarget("varnish", "http://b/"),
      PurgeTarget("fastly", "SVC123"), PurgeTarget("cloudflare", "0123abcd"))),
])
def test_cdn_purge_entries(value: str, parsed: tuple[PurgeTarget, ...]) -> None:
    assert parse_targets(value) == parsed


@pytest.mark.parametrize(("key", "value"), [
    ("CDN_PURGE", "varnish"), ("CDN_PURGE", "squid:http://x/"), ("CDN_PURGE", "varnish:ftp://x/"),
    ("CDN_PURGE", "varnish:http://x:99999/"), ("CDN_PURGE", "fastly:a/b"),
    ("CDN_PURGE", "fastly:SVC"),  # no FASTLY_API_TOKEN
    ("CDN_MAX_AGE", "-1"), ("CDN_MAX_AGE", "1.5"), ("CACHE_STALE_IF_ERROR", "forever"),
    ("CACHE_STALE_WHILE_REVALIDATE", "31536001"),
])
def test_bad_cache_settings_stop_the_start(tmp_path: Any, key: str, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, {f"FEEDSVC_{key}": value}, None)
    assert str(raised.value).startswith(f"configuration {key}:")


@given(key=st.sampled_from(["CDN_PURGE", "CDN_MAX_AGE", "CACHE_STALE_WHILE_REVALIDATE", "CACHE_STALE_IF_ERROR"]),
       value=st.text(max_size=80) | st.from_regex(r"(varnish|fastly|cloudflare):[ -~]{0,40}", fullmatch=True))
def test_any_cache_setting_is_taken_or_refused_by_name(key: str, value: str) -> None:
    """Whatever an operator writes, the start either takes it or names the key (never a traceback)."""
    try:
        loaded = load(Path("/nonexistent-instance"), {f"FEEDSVC_{key}": value}, None)
    except ConfigError as exc:
        assert str(exc).startswith(f"configuration {key}:")
        return
    if key == "CDN_PURGE":
        for target in loaded[key]:
            assert target.kind == "varnish" and target.target.isascii() and " " not in target.target
    else:
        assert 0 <= loaded[key] <= 31_536_000


def test_cdn_tokens_come_from_the_environment(tmp_path: Any) -> None:
    loaded = load(tmp_path, {"FEEDSVC_CDN_PURGE": "fastly:SVC cloudflare:ZONE", "FASTLY_API_TOKEN": "f",
                             "CLOUDFLARE_API_TOKEN": "c"}, None)
    assert loaded["CDN_PURGE"] == (PurgeTarget("fastly", "SVC"), PurgeTarget("cloudflare", "ZONE"))


# Purges through the outbox.

class Recorder:
    """The one outside seam, faked: a cache that purges and a subscriber that takes deliveries."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.purge_status = 200

    def send(self, request: Request) -> Reply:
        self.requests.append(request)
        if request.method == "PURGE":
            return Reply(self.purge_status)
        if request.method == "GET":  # a verification of intent: echo the challenge
            return Reply(200, request.url.split("hub.challenge=")[1].split("&")[0].encode())
        return Reply(204)

    def purged(self) -> list[str]:
        return sorted(r.headers["xkey-purge"] for r in self.requests if r.method == "PURGE")


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def purge_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(CDN_PURGE=f"varnish:{VARNISH}", WEBSUB_ALLOW_PRIVATE=True)


@pytest.fixture
def purge_api(purge_app: Flask) -> Api:
    return Api(purge_app.test_client(), {"Authorization": f"Bearer {new_token(purge_app)}"})


def test_every_change_purges_exactly_its_keys(purge_app: Flask, purge_api: Api, recorder: Recorder) -> None:
    worker = Worker(purge_app, recorder, threads=1)
    purge_api.put("a", make_article(key="a", section="World", topics=["Rivers", "Dams"],
                                    authors=[{"name": "Ada Lovelace"}]))
    worker.run_once()
    assert recorder.purged() == ["authors/ada-lovelace", "sections/world", "site", "topics/dams", "topics/rivers"]
    assert all(r.url == VARNISH for r in recorder.requests)
    recorder.requests.clear()
    purge_api.patch("a", {"topics": ["Rivers"]})  # Dams loses it; the others change too
    worker.run_once()
    assert recorder.purged() == ["authors/ada-lovelace", "sections/world", "site", "topics/dams", "topics/rivers"]
    recorder.requests.clear()
    purge_api.patch("a", {"section": "Science", "topics": ["Rivers"]})
    worker.run_once()
    assert "topics/dams" not in recorder.purged()
    assert {"sections/world", "sections/science"} <= set(recorder.purged())


def test_a_purge_goes_out_before_the_notification(purge_app: Flask, purge_api: Api, recorder: Recorder) -> None:
    worker = Worker(purge_app, recorder, threads=1)
    purge_api.put("a", make_article(key="a"))
    topic = "http://feeds.test/sections/world/feed.atom"
    assert purge_api.client.post("/websub", data={"hub.mode": "subscribe", "hub.topic": topic,
                                                  "hub.callback": "http://sub.test/cb"}).status_code == 202
    worker.run_once()
    recorder.requests.clear()
    purge_api.patch("a", {"title": "Changed"})
    worker.run_once()
    kinds = [(r.method, r.headers.get("xkey-purge")) for r in recorder.requests]
    delivered = kinds.index(("POST", None))
    assert ("PURGE", "sections/world") in kinds[:delivered]


def test_a_failed_purge_is_retried_with_backoff_and_holds_the_notification(
        purge_app: Flask, purge_api: Api, recorder: Recorder, clock: Clock) -> None:
    worker = Worker(purge_app, recorder, threads=1)
    purge_api.put("a", make_article(key="a"))
    topic = "http://feeds.test/sections/world/feed.atom"
    purge_api.client.post("/websub", data={"hub.mode": "subscribe", "hub.topic": topic,
                                           "hub.callback": "http://sub.test/cb"})
    worker.run_once()
    recorder.requests.clear()
    recorder.purge_status = 503
    purge_api.patch("a", {"title": "Changed"})
    worker.run_once()
    assert "sections/world" in recorder.purged()
    assert not [r for r in recorder.requests if r.method == "POST"]  # nothing notified yet
    recorder.requests.clear()
    worker.run_once()
    assert recorder.requests == []  # waits for its backoff
    recorder.purge_status = 200
    clock.advance(seconds=31)  # WEBSUB_RETRY_BASE
    worker.run_once()
    assert "sections/world" in recorder.purged()
    assert [r.url for r in recorder.requests if r.method == "POST"] == ["http://sub.test/cb"]


def test_an_embargo_is_purged_at_its_instant(purge_app: Flask, purge_api: Api, recorder: Recorder,
                                             clock: Clock) -> None:
    worker = Worker(purge_app, recorder, threads=1)
    due = clock.now + dt.timedelta(hours=1)
    purge_api.put("later", make_article(key="later", topics=["Secret"], published=due.isoformat(), updated=None))
    worker.run_once()
    assert recorder.purged() == []  # nothing public changed, and nothing tells the caches early
    clock.set(due)
    worker.run_once()
    assert recorder.purged() == ["authors/staff-correspondent", "sections/world", "site", "topics/secret"]


def test_an_embargo_weeks_ahead_is_still_retried_when_its_purge_fails(
        purge_app: Flask, purge_api: Api, recorder: Recorder, clock: Clock) -> None:
    """The day of retries counts from the first attempt, not from the write weeks before."""
    worker = Worker(purge_app, recorder, threads=1)
    due = clock.now + dt.timedelta(days=30)
    purge_api.put("later", make_article(key="later", topics=[], authors=[], published=due.isoformat(),
                                        updated=None))
    clock.set(due)
    recorder.purge_status = 500
    worker.run_once()
    assert recorder.purged() == ["sections/world", "site"]
    recorder.requests.clear()
    recorder.purge_status = 200
    clock.advance(seconds=31)
    worker.run_once()
    assert recorder.purged() == ["sections/world", "site"]
    recorder.requests.clear()
    clock.advance(seconds=3600)
    worker.run_once()
    assert recorder.requests == []  # purged once: done


def test_purges_are_given_up_after_a_day_and_the_change_goes_on(
        purge_app: Flask, purge_api: Api, recorder: Recorder, clock: Clock) -> None:
    worker = Worker(purge_app, recorder, threads=1)
    recorder.purge_status = 503
    purge_api.put("a", make_article(key="a", topics=[], authors=[]))
    for _ in range(60):
        worker.run_once()
        clock.advance(seconds=3601)
    recorder.requests.clear()
    clock.advance(seconds=3601)
    worker.run_once()
    assert recorder.requests == []  # nothing left to try


# Fastly and Cloudflare, against a fake of their APIs on this machine.

@pytest.fixture
def fake_api() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            seen.append({"path": self.path, "headers": dict(self.headers),
                         "body": self.rfile.read(length)})
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def test_fastly_and_cloudflare_purges(make_app: Callable[..., Flask], fake_api: tuple[str, list[dict[str, Any]]],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    base, seen = fake_api
    monkeypatch.setenv("FASTLY_API_TOKEN", "fastly-secret")
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "cf-secret")
    app = make_app(CDN_PURGE="fastly:SVC1 cloudflare:zone2",
                   CDN_PURGE_APIS={"fastly": base, "cloudflare": base})
    api = Api(app.test_client(), {"Authorization": f"Bearer {new_token(app)}"})
    api.put("a", make_article(key="a", topics=[], authors=[]))
    Worker(app, HttpSender(5), threads=1).run_once()  # the real sender: private address allowed
    fastly = sorted(s["headers"]["Surrogate-Key"] for s in seen if s["path"] == "/service/SVC1/purge")
    assert fastly == ["sections/world", "site"]
    assert {s["headers"]["Fastly-Key"] for s in seen if s["path"].startswith("/service/")} == {"fastly-secret"}
    cloudflare = [s for s in seen if s["path"] == "/client/v4/zones/zone2/purge_cache"]
    assert sorted(json.loads(s["body"])["tags"][0] for s in cloudflare) == ["sections/world", "site"]
    assert {s["headers"]["Authorization"] for s in cloudflare} == {"Bearer cf-secret"}


def test_a_purge_that_is_redirected_keeps_its_token(make_app: Callable[..., Flask],
                                                    fake_api: tuple[str, list[dict[str, Any]]],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A 307 from a purge target would repeat the POST, token and all, to wherever it points:
    a purge follows no redirect, fails, and is retried at its own target."""
    elsewhere, seen = fake_api

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(307)
            self.send_header("Location", elsewhere + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("FASTLY_API_TOKEN", "fastly-secret")
        app = make_app(CDN_PURGE="fastly:SVC1",
                       CDN_PURGE_APIS={"fastly": f"http://127.0.0.1:{server.server_address[1]}"})
        api = Api(app.test_client(), {"Authorization": f"Bearer {new_token(app)}"})
        api.put("a", make_article(key="a", topics=[], authors=[]))
        Worker(app, HttpSender(5), threads=1).run_once()
    finally:
        server.shutdown()
        server.server_close()
    assert seen == []  # the token never reached the other host
    with Session(db.get_engine(app)) as session:
        waiting = session.scalars(select(WebSubJob).where(WebSubJob.kind == "change")).all()
    assert waiting and all("not followed" in (job.last_error or "") for job in waiting)
