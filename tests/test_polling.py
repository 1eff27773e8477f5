"""HTTP for pollers: validators, conditional GET, compression, caching headers."""

from __future__ import annotations

import datetime as dt
import gzip
from typing import Any

import pytest
from flask.testing import FlaskClient

from feedsvc.web.conditional import http_date, parse_http_date

from conftest import Api, Clock, make_article

FEED = "/sections/world/feed.atom"


ARTICLE = make_article(key="a")


@pytest.fixture
def polled(client: FlaskClient, api: Api) -> dict[str, Any]:
    api.put("a", ARTICLE)
    plain = client.get(FEED)
    zipped = client.get(FEED, headers={"Accept-Encoding": "gzip"})
    return {"etag": plain.headers["ETag"], "gzip_etag": zipped.headers["ETag"],
            "last_modified": plain.headers["Last-Modified"], "body": plain.data}


def test_every_feed_has_validators(client: FlaskClient, polled: dict[str, Any]) -> None:
    response = client.get(FEED)
    assert response.headers["ETag"] == polled["etag"]
    assert parse_http_date(response.headers["Last-Modified"]) is not None
    assert response.headers["Cache-Control"] == "public, max-age=60, stale-while-revalidate=30, stale-if-error=86400"
    assert response.headers["Vary"] == "Accept-Encoding"


def test_gzip(client: FlaskClient, polled: dict[str, Any]) -> None:
    response = client.get(FEED, headers={"Accept-Encoding": "br, gzip;q=0.8"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(response.data) == polled["body"]
    assert response.headers["ETag"] != polled["etag"]  # the encodings are told apart
    refused = client.get(FEED, headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in refused.headers and refused.data == polled["body"]


LATER = "Sun, 01 Nov 2099 00:00:00 GMT"
EARLIER = "Sun, 01 Nov 2000 00:00:00 GMT"


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
@pytest.mark.parametrize(("inm", "ims", "status"), [
    (None, None, 200),
    ("{etag}", None, 304),                     # matching
    ("{gzip_etag}", None, 304),                # the other encoding's tag
    ("W/{etag}", None, 304),                   # weak comparison
    ('"stale"', None, 200),                    # stale
    ('"stale", {etag}', None, 304),            # list
    ("*", None, 304),
    ('"stale"', LATER, 200),                   # If-None-Match decides alone
    ("{etag}", EARLIER, 304),
    ("garbage", None, 200),                    # malformed If-None-Match
    (None, "{last_modified}", 304),            # not modified since
    (None, LATER, 304),
    (None, EARLIER, 200),                      # modified since
    (None, "not a date", 200),                 # malformed If-Modified-Since: ignored
])
def test_rfc9110_table(client: FlaskClient, polled: dict[str, Any], encoding: str,
                       inm: str | None, ims: str | None, status: int) -> None:
    headers = {"Accept-Encoding": encoding}
    if inm is not None:
        headers["If-None-Match"] = inm.format(**polled)
    if ims is not None:
        headers["If-Modified-Since"] = ims.format(**polled)
    response = client.get(FEED, headers=headers)
    assert response.status_code == status
    full = client.get(FEED, headers={"Accept-Encoding": encoding})
    for name in ("ETag", "Cache-Control", "Vary", "Link"):  # RFC 9110 15.4.5
        assert response.headers[name] == full.headers[name]
    if status == 304:
        assert response.data == b""


def test_head(client: FlaskClient, polled: dict[str, Any]) -> None:
    response = client.head(FEED)
    assert response.status_code == 200 and response.data == b""
    assert response.headers["ETag"] == polled["etag"]
    assert int(response.headers["Content-Length"]) == len(polled["body"])
    assert client.head(FEED, headers={"If-None-Match": polled["etag"]}).status_code == 304


def test_validators_change_exactly_when_bytes_change(client: FlaskClient, api: Api,
                                                     polled: dict[str, Any],
                                                     clock: Clock) -> None:
    clock.advance(minutes=5)
    api.put("elsewhere", make_article(key="elsewhere", section="Sport"))
    api.put("a", ARTICLE)  # identical: no write at all
    same = client.get(FEED)
    assert (same.headers["ETag"], same.headers["Last-Modified"]) == (
        polled["etag"], polled["last_modified"])
    edited_at = clock.advance(minutes=5)
    api.patch("a", {"title": "Edited"})
    clock.advance(seconds=30)
    edited = client.get(FEED, headers={"If-None-Match": polled["etag"]})
    assert edited.status_code == 200
    assert edited.headers["ETag"] != polled["etag"]
    assert edited.headers["Last-Modified"] == http_date(edited_at)  # when it changed


def test_each_variant_has_its_own_validators(client: FlaskClient, api: Api) -> None:
    api.put("a", make_article(key="a"))
    urls = [FEED, "/sections/world/feed.rss", "/sections/world/feed.json",
            f"{FEED}?order=updated", f"{FEED}?limit=1", "/feed.atom"]
    tags = {client.get(url).headers["ETag"] for url in urls}
    assert len(tags) == len(urls)


def test_moving_an_article_out_changes_the_feed(client: FlaskClient, api: Api) -> None:
    api.put("a", make_article(key="a"))
    api.put("b", make_article(key="b"))
    before = client.get(FEED).headers["ETag"]
    api.patch("b", {"section": "Sport"})
    response = client.get(FEED, headers={"If-None-Match": before})
    assert response.status_code == 200 and b"Article" in response.data


def test_scheduled_article_limits_max_age(client: FlaskClient, api: Api, clock: Clock) -> None:
    api.put("now", make_article(key="now"))
    due = clock.now + dt.timedelta(seconds=45)
    api.put("soon", make_article(key="soon", published=due.isoformat(), updated=None))
    first = client.get(FEED)
    # Nothing stale past the instant either: stale-while-revalidate ends there too.
    assert first.headers["Cache-Control"] == "public, max-age=45, stale-if-error=86400"
    clock.advance(seconds=30)
    assert client.get(FEED).headers["Cache-Control"] == "public, max-age=15, stale-if-error=86400"
    for _ in range(3):  # Flask's 304, then the fast path's, then the one it keeps
        assert client.get(FEED, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    clock.set(due)
    after = client.get(FEED, headers={"If-None-Match": first.headers["ETag"]})
    assert after.status_code == 200
    assert after.headers["ETag"] != first.headers["ETag"]
    assert after.headers["Last-Modified"] == http_date(due)
    assert after.headers["Cache-Control"] == "public, max-age=60, stale-while-revalidate=30, stale-if-error=86400"


def test_unchanged_feed_is_not_rendered_again(client: FlaskClient, api: Api,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from feedsvc.feeds import formats

    api.put("a", make_article(key="a"))
    client.get(FEED)
    calls = []
    original = formats.RENDERERS["atom"]
    monkeypatch.setitem(formats.RENDERERS, "atom", lambda feed: calls.append(1) or original(feed))
    for _ in range(5):
        client.get(FEED)
        client.get(FEED, headers={"Accept-Encoding": "gzip"})
    assert calls == []
    api.patch("a", {"title": "New"})
    client.get(FEED)
    assert calls == [1]


@pytest.mark.parametrize("headers", [{}, {"Accept-Encoding": "gzip"}, {"If-None-Match": "{etag}"},
                                     {"If-Modified-Since": "{last_modified}"}])
def test_fast_path_answers_exactly_as_flask(client: FlaskClient, api: Api,
                                            polled: dict[str, Any], headers: dict[str, str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from feedsvc.web import feed_routes

    dispatched: list[str] = []
    original = feed_routes.serve_feed
    monkeypatch.setattr(feed_routes, "serve_feed",
                        lambda *a: dispatched.append("flask") or original(*a))
    sent = {k: v.format(**polled) for k, v in headers.items()}
    answers = [client.get(FEED, headers=sent) for _ in range(3)]
    assert len(dispatched) <= 1  # at most the first through Flask, the rest from the fast path
    before = len(dispatched)
    for later in answers[1:]:
        assert later.status_code == answers[0].status_code
        assert later.data == answers[0].data
        assert sorted(later.headers.items()) == sorted(answers[0].headers.items())
    api.patch("a", {"title": "Changed"})
    changed = client.get(FEED, headers=sent)
    assert len(dispatched) == before + 1 and changed.status_code == 200  # back through Flask


def test_pages_have_validators(app: Any, client: FlaskClient, api: Api, clock: Clock) -> None:
    """Pages: a hash ETag and no-cache, nothing stored per URL (issue 13), so any query string
    a visitor adds (?fbclid=...) costs no write."""
    from conftest import table_counts

    api.put("a", make_article(key="a", topics=["China"]))
    for url in ("/", "/sections/world/", "/topics/china/", "/articles/a", "/feeds"):
        first = client.get(url)
        assert first.status_code == 200 and first.headers["Cache-Control"] == "no-cache"
        assert "Last-Modified" not in first.headers
        clock.advance(minutes=1)
        again = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304 and again.headers["ETag"] == first.headers["ETag"]
        before = table_counts(app)
        for n in range(5):
            assert client.get(f"{url}?fbclid={n}").status_code == 200
        assert table_counts(app) == before
    before = client.get("/articles/a")
    api.patch("a", {"title": "Edited"})
    after = client.get("/articles/a", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200 and b"Edited" in after.data
    assert after.headers["ETag"] != before.headers["ETag"]


def test_explicit_default_limit_is_its_own_document(client: FlaskClient, api: Api) -> None:
    api.put("a", make_article(key="a"))
    plain = client.get(FEED)  # FEED_SIZE is 50
    explicit = client.get(f"{FEED}?limit=50")
    assert b'href="http://feeds.test/sections/world/feed.atom?limit=50" rel="self"' in explicit.data
    assert b"?limit=50" not in plain.data
    assert client.get(FEED).data == plain.data  # neither took the other's cache entry
    assert plain.headers["ETag"] != explicit.headers["ETag"]


def test_each_origin_keeps_its_own_validators_without_base_url(make_app: Any, api: Api) -> None:
    """Without BASE_URL links follow the request, so http and https get documents of their own,
    and a 304 kept for one is never the answer to the other."""
    client = make_app(BASE_URL=None).test_client()
    api.put("a", ARTICLE)
    etag = client.get(FEED).headers["ETag"]
    for _ in range(3):  # Flask's 304, the fast path's, then the one it keeps
        assert client.get(FEED, headers={"If-None-Match": etag}).status_code == 304
    secure = client.get(FEED, base_url="https://localhost", headers={"If-None-Match": etag})
    assert secure.status_code == 200 and b"https://localhost/" in secure.data
    assert secure.headers["ETag"] != etag
