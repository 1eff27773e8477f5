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
from feedsvc.feeds.surrogate import PurgeTarget, article_key, parse_targets, scope_key
from feedsvc.store import db
from feedsvc.store.models import WebSubJob
from feedsvc.store.scopes import Scope
from feedsvc.web.polling import CachePolicy
from feedsvc.websub import purge
from feedsvc.websub.sender import HttpSender, Reply, Request
from feedsvc.websub.worker import Worker

from conftest import Api, Clock, downgrade, make_article, new_token

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
    """Keys are scopes' names, and a scope only a scheduled article names answers 404 without
    one; the scheduled article's page answers exactly as a key nobody used does."""
    cdn_api.put("a", make_article(key="a"))
    due = clock.now + dt.timedelta(days=1)
    cdn_api.put("secret", make_article(key="secret", section="Deals", topics=["Secret merger"],
                                       published=due.isoformat(), updated=None))
    for url in ("/sections/deals/feed.atom", "/topics/secret-merger/feed.json", "/sections/deals/"):
        response = cdn_api.client.get(url)
        assert response.status_code == 404
        assert not {"Surrogate-Key", "Cache-Tag", "xkey"} & set(response.headers.keys())
    secret, unknown = cdn_api.client.get("/articles/secret"), cdn_api.client.get("/articles/secrex")
    assert secret.status_code == unknown.status_code == 404
    assert secret.data == unknown.data.replace(b"secrex", b"secret")
    assert [(name, value.replace("secrex", "secret")) for name, value in unknown.headers.items()] \
        == list(secret.headers.items())
    public = cdn_api.client.get("/feed.atom")
    assert "deals" not in public.headers["xkey"] and "secret" not in public.headers["Surrogate-Key"]
    clock.set(due)
    assert cdn_api.client.get("/sections/deals/feed.atom").headers["xkey"] == "sections/deals"


PAGE_KEYS = [("/", "site"), ("/feeds", "site"), ("/feeds?q=world", "site"), ("/feeds.opml", "site"),
             ("/sections/world/", "sections/world"), ("/topics/climate/", "topics/climate"),
             ("/authors/staff-correspondent/", "authors/staff-correspondent"),
             ("/articles/a", "articles/a articles"), ("/articles/nobody", "articles/nobody articles site")]


@pytest.mark.parametrize(("url", "keys"), PAGE_KEYS)
def test_pages_are_held_by_shared_caches_until_purged(cdn_api: Api, url: str, keys: str) -> None:
    """Browsers revalidate every page (no-cache); the caches that purge keep it for CDN_MAX_AGE
    under the keys of what it shows, the 304 included, and an article's 404 too."""
    cdn_api.put("a", make_article(key="a", topics=["Climate"]))
    page = cdn_api.client.get(url)
    assert page.status_code == (404 if "nobody" in url else 200)
    assert page.headers["Cache-Control"] == "no-cache"
    assert directives(page.headers["CDN-Cache-Control"]) == {"max-age": "3600", "stale-while-revalidate": "20",
                                                             "stale-if-error": "600"}
    assert page.headers["Surrogate-Control"] == page.headers["CDN-Cache-Control"]
    assert (page.headers["Surrogate-Key"], page.headers["xkey"]) == (keys, keys)
    assert page.headers["Cache-Tag"] == keys.replace(" ", ",")
    if "ETag" in page.headers:
        again = cdn_api.client.get(url, headers={"If-None-Match": page.headers["ETag"]})
        assert again.status_code == 304
        assert [again.headers[name] for name in ("xkey", "CDN-Cache-Control")] == \
            [page.headers[name] for name in ("xkey", "CDN-Cache-Control")]


def test_pages_have_no_shared_lifetime_unless_configured(client: Any, api: Api) -> None:
    api.put("a", make_article(key="a"))
    page = client.get("/articles/a")
    assert page.headers["Cache-Control"] == "no-cache" and page.headers["xkey"] == "articles/a articles"
    assert not {"CDN-Cache-Control", "Surrogate-Control"} & set(page.headers.keys())


def test_other_errors_carry_no_keys(cdn_api: Api) -> None:
    for url in ("/sections/nowhere/", "/feeds?q=" + "x" * 5000, "/no/such/page"):
        response = cdn_api.client.get(url, headers={"Accept": "text/html"})
        assert response.status_code in (400, 404)
        assert not {"xkey", "CDN-Cache-Control", "Surrogate-Control"} & set(response.headers.keys())


@given(key=st.text(min_size=1, max_size=300))
def test_article_keys_are_one_token_of_printable_ascii(key: str) -> None:
    named = article_key(key)
    assert named.isascii() and named.isprintable() and len(named) <= 200
    assert not set(named) & set(" ,\t\r\n") and named.startswith("articles/")


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
        """Every key purged, in order of name (a key twice: purged twice)."""
        return sorted(key for r in self.requests if r.method == "PURGE" for key in r.headers["xkey-purge"].split())


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def subscribe_to_world(api: Api) -> None:
    """http://sub.test/cb asks the hub for the World section's Atom feed (verified by the worker)."""
    assert api.client.post("/websub", data={"hub.mode": "subscribe",
                                            "hub.topic": "http://feeds.test/sections/world/feed.atom",
                                            "hub.callback": "http://sub.test/cb"}).status_code == 202


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
    assert recorder.purged() == ["articles/a", "authors/ada-lovelace", "sections/world", "site", "topics/dams",
                                 "topics/rivers"]
    assert all(r.url == VARNISH for r in recorder.requests)
    recorder.requests.clear()
    purge_api.patch("a", {"topics": ["Rivers"]})  # Dams loses it; the others change too
    worker.run_once()
    assert recorder.purged() == ["articles/a", "authors/ada-lovelace", "sections/world", "site", "topics/dams",
                                 "topics/rivers"]
    recorder.requests.clear()
    purge_api.patch("a", {"section": "Science", "topics": ["Rivers"]})
    worker.run_once()
    assert "topics/dams" not in recorder.purged()
    assert {"sections/world", "sections/science", "articles/a"} <= set(recorder.purged())
    recorder.requests.clear()
    assert purge_api.client.delete("/api/articles/a", headers=purge_api.headers).status_code == 204
    worker.run_once()
    assert recorder.purged() == ["articles/a", "authors/ada-lovelace", "sections/science", "site", "topics/rivers"]
    recorder.requests.clear()
    purge_api.put("b", make_article(key="b", topics=[], authors=[]))
    purge_api.put("b", make_article(key="b", topics=[], authors=[]))  # changes nothing: purges nothing
    worker.run_once()
    assert recorder.purged() == ["articles/b", "sections/world", "site"]


def test_a_purge_goes_out_before_the_notification(purge_app: Flask, purge_api: Api, recorder: Recorder) -> None:
    worker = Worker(purge_app, recorder, threads=1)
    purge_api.put("a", make_article(key="a"))
    subscribe_to_world(purge_api)
    worker.run_once()
    recorder.requests.clear()
    purge_api.patch("a", {"title": "Changed"})
    worker.run_once()
    kinds = [(r.method, r.headers.get("xkey-purge")) for r in recorder.requests]
    delivered = kinds.index(("POST", None))
    assert ("PURGE", "sections/world") in kinds[:delivered]


def test_a_failed_purge_is_retried_with_backoff_and_does_not_hold_the_notification(
        purge_app: Flask, purge_api: Api, recorder: Recorder, clock: Clock) -> None:
    """The notification carries the new document itself: a cache that is down must not keep
    it from subscribers. Its purge is retried on its own, every key the change touched."""
    worker = Worker(purge_app, recorder, threads=1)
    purge_api.put("a", make_article(key="a", topics=[], authors=[]))
    subscribe_to_world(purge_api)
    worker.run_once()
    recorder.requests.clear()
    recorder.purge_status = 503
    purge_api.patch("a", {"title": "Changed"})
    worker.run_once()
    # Tried until the cache failed once; the rest is not sent to it while it fails.
    assert set(recorder.purged()) < {"articles/a", "sections/world", "site"}
    assert [r.url for r in recorder.requests if r.method == "POST"] == ["http://sub.test/cb"]
    recorder.requests.clear()
    worker.run_once()
    assert recorder.requests == []  # the purges wait for their backoff, in one job, as the cache's host
    with Session(db.get_engine(purge_app)) as session:
        assert session.scalars(select(WebSubJob.callback_host).where(WebSubJob.kind == "purge")).all() == \
            ["127.0.0.1"]
    recorder.purge_status = 200
    clock.advance(seconds=31)  # WEBSUB_RETRY_BASE
    worker.run_once()
    assert recorder.purged() == ["articles/a", "sections/world", "site"]  # folded into one job: one request
    assert len(recorder.requests) == 1
    with Session(db.get_engine(purge_app)) as session:
        assert session.scalars(select(WebSubJob).where(WebSubJob.kind == "purge")).all() == []
    recorder.requests.clear()
    clock.advance(seconds=3600)
    worker.run_once()
    assert recorder.requests == []  # purged: done


def test_an_embargo_is_purged_at_its_instant(purge_app: Flask, purge_api: Api, recorder: Recorder,
                                             clock: Clock) -> None:
    worker = Worker(purge_app, recorder, threads=1)
    due = clock.now + dt.timedelta(hours=1)
    purge_api.put("later", make_article(key="later", topics=["Secret"], published=due.isoformat(), updated=None))
    worker.run_once()
    assert recorder.purged() == []  # nothing public changed, and nothing tells the caches early
    clock.set(due - dt.timedelta(seconds=1))
    worker.run_once()
    assert recorder.purged() == []  # not its page either: a purge of it would tell that it exists
    clock.set(due)
    worker.run_once()
    assert recorder.purged() == ["articles/later", "authors/staff-correspondent", "sections/world", "site",
                                 "topics/secret"]


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
    assert recorder.purged() == ["articles/later"]  # failed: the other keys wait with it
    recorder.requests.clear()
    recorder.purge_status = 200
    clock.advance(seconds=31)
    worker.run_once()
    assert recorder.purged() == ["articles/later", "sections/world", "site"]
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
    assert fastly == ["articles/a", "sections/world", "site"]
    assert {s["headers"]["Fastly-Key"] for s in seen if s["path"].startswith("/service/")} == {"fastly-secret"}
    cloudflare = [s for s in seen if s["path"] == "/client/v4/zones/zone2/purge_cache"]
    assert sorted(tag for s in cloudflare for tag in json.loads(s["body"])["tags"]) == \
        ["articles/a", "sections/world", "site"]
    assert {s["headers"]["Authorization"] for s in cloudflare} == {"Bearer cf-secret"}


def test_many_keys_go_in_as_many_requests_as_each_api_takes() -> None:
    keys = tuple(f"topics/t{n:04}" for n in range(700))
    targets = parse_targets("varnish:http://127.0.0.1:6081/ fastly:SVC1 cloudflare:zone2")
    sent = purge.requests(targets, keys, {})
    by_kind: dict[str, list[list[str]]] = {"PURGE": [], "fastly": [], "cloudflare": []}
    for request in sent:
        if request.method == "PURGE":
            by_kind["PURGE"].append(request.headers["xkey-purge"].split())
        elif "/service/" in request.url:
            by_kind["fastly"].append(request.headers["Surrogate-Key"].split())
        else:
            by_kind["cloudflare"].append(json.loads(request.body)["tags"])
    for kind, most in (("PURGE", 1000), ("fastly", 256), ("cloudflare", 30)):
        chunks = by_kind[kind]
        assert [key for chunk in chunks for key in chunk] == list(keys)  # each once, in order
        assert all(len(chunk) <= most for chunk in chunks)
        assert all(len(" ".join(chunk)) <= purge.MOST_BYTES for chunk in chunks)
    assert len(by_kind["cloudflare"]) == 24 and len(by_kind["fastly"]) == 3


def test_an_import_purges_its_pages_at_once_or_all_pages(purge_app: Flask, recorder: Recorder, tmp_path: Path) -> None:
    """Each new page's 404 may be held by the cache: purged. Past MOST_PAGES pages in one
    purge, the key of every article page instead; a scheduled one's page only at its instant."""
    from feedsvc.websub.outbox import MOST_PAGES
    lines = [json.dumps(make_article(key=f"k{n}", topics=[], authors=[])) for n in range(MOST_PAGES + 5)]
    source = tmp_path / "many.jsonl"
    source.write_text("\n".join(lines) + "\n")
    runner = purge_app.test_cli_runner()
    assert runner.invoke(args=["import", "--quiet", str(source)]).exit_code == 0
    worker = Worker(purge_app, recorder, threads=1)
    worker.run_once()
    assert recorder.purged() == ["articles", "sections/world", "site"]
    recorder.requests.clear()
    few = tmp_path / "few.jsonl"
    few.write_text(json.dumps(make_article(key="one", topics=[], authors=[])) + "\n")
    assert runner.invoke(args=["import", "--quiet", str(few)]).exit_code == 0
    worker.run_once()
    assert recorder.purged() == ["articles/one", "sections/world", "site"]


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
        waiting = session.scalars(select(WebSubJob).where(WebSubJob.kind == "purge")).all()
    assert waiting and all("not followed" in (job.last_error or "") for job in waiting)


def test_an_imported_embargo_is_purged_and_notified_at_its_instant(purge_app: Flask, purge_api: Api,
                                                                    recorder: Recorder, clock: Clock,
                                                                    tmp_path: Path) -> None:
    worker = Worker(purge_app, recorder, threads=1)
    purge_api.put("a", make_article(key="a", topics=[], authors=[]))
    subscribe_to_world(purge_api)
    worker.run_once()
    recorder.requests.clear()
    due = clock.now + dt.timedelta(hours=2)
    source = tmp_path / "later.jsonl"
    source.write_text(json.dumps(make_article(key="later", topics=[], authors=[], published=due.isoformat(),
                                              updated=None)) + "\n")
    assert purge_app.test_cli_runner().invoke(args=["import", "--quiet", str(source)]).exit_code == 0
    worker.run_once()
    assert "articles/later" not in recorder.purged()
    assert not [r for r in recorder.requests if r.method == "POST"]  # nothing public changed
    recorder.requests.clear()
    clock.set(due)
    worker.run_once()
    assert recorder.purged() == ["articles/later", "sections/world", "site"]
    delivered = [r for r in recorder.requests if r.method == "POST"]
    assert len(delivered) == 1 and b"later" in delivered[0].body


def purge_jobs(app: Flask) -> list[tuple[str | None, dt.datetime, int]]:
    with Session(db.get_engine(app)) as session:
        return [(j.purge_keys, j.due, j.attempts) for j in session.scalars(
            select(WebSubJob).where(WebSubJob.kind == "purge").order_by(WebSubJob.id))]


def test_a_failed_purge_never_waits_for_an_embargos_instant(purge_app: Flask, purge_api: Api,
                                                           recorder: Recorder, clock: Clock) -> None:
    worker = Worker(purge_app, recorder, threads=1)
    due = clock.now + dt.timedelta(days=7)
    purge_api.put("later", make_article(key="later", topics=[], authors=[], published=due.isoformat(),
                                        updated=None))  # its page's purge waits a week
    worker.run_once()
    recorder.purge_status = 503
    purge_api.put("a", make_article(key="a", topics=[], authors=[]))
    worker.run_once()
    recorder.purge_status = 200
    recorder.requests.clear()
    clock.advance(hours=2)  # past any backoff
    worker.run_once()
    assert recorder.purged() == ["articles/a", "sections/world", "site"]
    assert purge_jobs(purge_app) == [("articles/later", due, 0)]  # the embargo's, untouched


def test_a_scheduled_articles_page_is_purged_at_no_instant_but_its_own(purge_app: Flask, purge_api: Api,
                                                                       recorder: Recorder, clock: Clock) -> None:
    """Deleted before its instant, or moved later: a purge at the old instant would tell an
    observer of the cache that the key held something scheduled then."""
    worker = Worker(purge_app, recorder, threads=1)
    due = clock.now + dt.timedelta(hours=1)
    for key in ("gone", "moved"):
        purge_api.put(key, make_article(key=key, topics=[], authors=[], published=due.isoformat(), updated=None))
    assert purge_api.client.delete("/api/articles/gone", headers=purge_api.headers).status_code == 204
    purge_api.patch("moved", {"published": (due + dt.timedelta(days=1)).isoformat()})
    clock.set(due)
    worker.run_once()
    assert not {"articles/gone", "articles/moved"} & set(recorder.purged())
    clock.set(due + dt.timedelta(days=1))
    worker.run_once()
    assert "articles/moved" in recorder.purged() and "articles/gone" not in recorder.purged()


def test_an_imported_tombstone_of_a_public_article_purges_its_page(purge_app: Flask, purge_api: Api,
                                                                     recorder: Recorder, clock: Clock,
                                                                     tmp_path: Path) -> None:
    worker = Worker(purge_app, recorder, threads=1)
    purge_api.put("a", make_article(key="a", topics=[], authors=[]))
    worker.run_once()
    recorder.requests.clear()
    later = clock.now + dt.timedelta(days=1)  # the line also moves published later than its deletion
    record = make_article(key="a", topics=[], authors=[], published=later.isoformat(), updated=None)
    source = tmp_path / "t.jsonl"
    source.write_text(json.dumps(record | {"deleted": clock.now.isoformat()}) + "\n")
    assert purge_app.test_cli_runner().invoke(args=["import", "--quiet", str(source)]).exit_code == 0
    assert purge_api.client.get("/articles/a").status_code != 200
    worker.run_once()
    assert "articles/a" in recorder.purged()


def test_purge_jobs_are_in_the_backlog_metric(purge_app: Flask, purge_api: Api, clock: Clock) -> None:
    from feedsvc import metrics
    from feedsvc.websub import outbox
    due = clock.now + dt.timedelta(hours=1)
    purge_api.put("later", make_article(key="later", topics=[], authors=[], published=due.isoformat(), updated=None))
    read = outbox.backlog_reader(purge_app)
    assert read().jobs.get(("purge", "waiting")) == 1
    family = next(metrics._BacklogCollector(read).collect())
    assert ("purge", "waiting") in {(s.labels["kind"], s.labels["state"]) for s in family.samples}


def test_keys_that_join_a_purge_on_its_last_attempt_get_a_day_of_their_own(
        purge_app: Flask, purge_api: Api, recorder: Recorder, clock: Clock) -> None:
    worker = Worker(purge_app, recorder, threads=1)
    recorder.purge_status = 503
    purge_api.put("a", make_article(key="a", topics=[], authors=[]))
    start = clock.now
    worker.run_once()
    clock.set(start + dt.timedelta(days=1, seconds=-1))  # its last attempt
    send = recorder.send
    wrote = []

    def send_and_write(request: Request) -> Reply:  # a write lands while that attempt is on the wire
        if request.method == "PURGE" and not wrote:
            wrote.append(True)
            assert purge_api.put("b", make_article(key="b", topics=[], authors=[])).status_code in (200, 201)
        return send(request)

    recorder.send = send_and_write  # type: ignore[method-assign]
    worker.run_once()
    recorder.send = send  # type: ignore[method-assign]
    recorder.purge_status = 200
    recorder.requests.clear()
    for _ in range(5):
        clock.advance(seconds=3601)
        worker.run_once()
    assert "articles/b" in recorder.purged()


def test_purges_while_a_cache_fails_are_gathered_into_one_job(purge_app: Flask, purge_api: Api,
                                                              recorder: Recorder, clock: Clock) -> None:
    """One job for the failing cache, each change bringing it forward (a recovered cache is
    purged at once), never one job per change."""
    worker = Worker(purge_app, recorder, threads=1)
    recorder.purge_status = 503
    purge_api.put("a", make_article(key="a", topics=[], authors=[]))
    worker.run_once()
    recorder.requests.clear()
    for n in range(5):
        purge_api.put(f"k{n}", make_article(key=f"k{n}", topics=[], authors=[]))
        clock.advance(seconds=1)
        worker.run_once()
    jobs = purge_jobs(purge_app)
    assert len(jobs) == 1 and {f"articles/k{n}" for n in range(5)} <= set((jobs[0][0] or "").split())
    assert len([r for r in recorder.requests if r.method == "PURGE"]) <= 5
    recorder.purge_status = 200
    purge_api.put("last", make_article(key="last", topics=[], authors=[]))
    worker.run_once()
    assert {"articles/a", "articles/last", "articles/k4"} <= set(recorder.purged())
    assert purge_jobs(purge_app) == []


def test_pages_asked_with_parameters_they_do_not_read_are_not_kept(cdn_api: Api) -> None:
    cdn_api.put("a", make_article(key="a"))
    for url in ("/?x=1", "/articles/a?utm_source=feed", "/sections/world/?q=z", "/feeds?cursor=1"):
        page = cdn_api.client.get(url)
        assert page.status_code in (200, 400) and page.headers["Cache-Control"] == "no-cache"
        assert not {"xkey", "CDN-Cache-Control", "Surrogate-Control"} & set(page.headers.keys())


def test_0007_goes_down_and_up_again(purge_app: Flask, purge_api: Api, clock: Clock) -> None:
    due = clock.now + dt.timedelta(hours=1)
    purge_api.put("later", make_article(key="later", topics=[], authors=[], published=due.isoformat(), updated=None))
    downgrade(purge_app, "0006")
    db.upgrade(db.get_engine(purge_app))
    assert purge_jobs(purge_app) == []  # dropped with their keys; the change jobs stay


def test_an_imported_tombstone_of_a_scheduled_article_is_purged_at_no_instant(
        purge_app: Flask, purge_api: Api, recorder: Recorder, clock: Clock, tmp_path: Path) -> None:
    worker = Worker(purge_app, recorder, threads=1)
    due = clock.now + dt.timedelta(hours=1)
    record = make_article(key="later", topics=[], authors=[], published=due.isoformat(), updated=None)
    purge_api.put("later", record)
    source = tmp_path / "t.jsonl"
    source.write_text(json.dumps(record | {"deleted": clock.now.isoformat()}) + "\n")
    assert purge_app.test_cli_runner().invoke(args=["import", "--quiet", str(source)]).exit_code == 0
    worker.run_once()
    clock.set(due)
    worker.run_once()
    assert "articles/later" not in recorder.purged() and purge_jobs(purge_app) == []
