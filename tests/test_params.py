"""Public parameters and conditional headers: bounded, one parser each, never a 500 (issue 12).

Every wrong value is a 400 problem naming the parameter (or an HTML error page on a page);
a cursor carries an article's key, never its row id, and a hidden article's key places a
page exactly as an unknown key does.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import html

from feedsvc import config
from feedsvc.errors import ConfigError
from feedsvc.feeds.address import MAX_FEED_SIZE
from feedsvc.store import articles, params
from feedsvc.web import openapi

from conftest import PG_URL, Api, make_article, new_token

FEEDS = [f"{scope}feed.{fmt}" for scope in ("/", "/sections/world/", "/topics/climate/",
                                             "/authors/staff-correspondent/")
         for fmt in ("atom", "rss", "json")]
PAGES = ["/", "/sections/world/", "/topics/climate/", "/authors/staff-correspondent/"]


def forged(data: Any) -> str:
    """A cursor as an attacker builds one: base64url of any JSON, unpadded."""
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def names(response: Any, parameter: str, where: str = "query") -> None:
    """The response is a 400 problem whose ``errors`` names ``parameter``."""
    assert response.status_code == 400, response.data[:300]
    assert response.content_type == "application/problem+json"
    body = response.get_json()
    assert [e["parameter"] for e in body["errors"]] == [parameter]
    assert body["errors"][0]["in"] == where
    assert parameter in body["detail"]


def page_names(response: Any, parameter: str) -> None:
    """A page's 400: the HTML error page a person gets for a link cut short (pages.error_page),
    which speaks of the link, not of ``parameter``."""
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    doc = html.fromstring(response.data)
    assert doc.xpath("//h1")[0].text == "This link does not work"


@pytest.fixture
def stored(api: Api) -> list[str]:
    """Five public articles a day apart, newest first in the returned keys."""
    for day in range(1, 6):
        when = f"2026-10-0{day}T12:00:00Z"
        assert api.put(f"p{day}", make_article(key=f"p{day}", published=when,
                                               updated=when)).status_code == 201
    return [f"p{day}" for day in range(5, 0, -1)]


BAD_CURSORS = [
    forged(["2026-10-01T00:00:00+00:00", 10**30]),  # the old shape, a huge id
    forged(["2026-10-01T00:00:00+00:00", True]),
    forged(["0001-01-01T00:00:00+05:00", 1]),
    forged(["published", "2026-10-01T00:00:00Z", 10**30]),
    forged(["published", "2026-10-01T00:00:00Z", True]),
    forged(["published", "0001-01-01T00:00:00+05:00", "p1"]),
    forged(["published", "0001-01-01T00:00:00Z", "p1"]),
    forged(["published", "9999-12-31T23:59:59Z", "p1"]),
    forged(["published", "2026-10-01T00:00:00", "p1"]),  # naive
    forged(["published", "2026-13-01T00:00:00Z", "p1"]),
    forged(["published", "2026-10-01T00:00:00Z", "no/such key"]),
    forged(["published", "2026-10-01T00:00:00Z", "p1", "more"]),
    forged(["newest", "2026-10-01T00:00:00Z", "p1"]),
    forged({"order": "published"}),
    forged(1.5),
    forged("[" * 3000 + "]" * 3000),
    "[" * 3000,
    base64.urlsafe_b64encode(b"[" * 3000 + b"]" * 3000).decode(),
    "A" * (params.MAX_CURSOR + 1),
    "WzEsMl0=",  # padded: not how this service writes them
    "garbage!",
    "\u00e9t\u00e9",
    "A",
]


@pytest.mark.usefixtures("stored")
@pytest.mark.parametrize("cursor", BAD_CURSORS)
def test_a_forged_cursor_is_a_400_everywhere(client: FlaskClient, api: Api, cursor: str) -> None:
    query = f"cursor={quote(cursor)}"
    for url in FEEDS:
        names(client.get(f"{url}?{query}"), "cursor")
    names(client.get(f"/feed.atom?order=updated&{query}"), "cursor")
    names(api.client.get(f"/api/articles?{query}", headers=api.headers), "cursor")
    for url in PAGES:
        page_names(client.get(f"{url}?{query}"), "cursor")


@pytest.mark.usefixtures("stored")
def test_a_cursor_of_one_order_is_refused_in_the_other(client: FlaskClient) -> None:
    newest = params.Cursor("published", dt.datetime(2026, 10, 5, 12, tzinfo=dt.UTC), "p5").encode()
    names(client.get(f"/feed.atom?order=updated&cursor={newest}"), "cursor")
    updated = params.Cursor("updated", dt.datetime(2026, 10, 5, 12, tzinfo=dt.UTC), "p5").encode()
    names(client.get(f"/feed.atom?cursor={updated}"), "cursor")
    page_names(client.get(f"/?cursor={updated}"), "cursor")
    assert client.get(f"/feed.atom?order=updated&cursor={updated}").status_code == 200


@pytest.mark.parametrize("value", ["9" * 4400, "\u00b2", "\u0663", "1e3", "-1", "0", "+5",
                                   " 5", "5 ", "0x10", "5.0", "", "1000000000", "201"])
def test_a_bad_limit_is_a_400_naming_it(client: FlaskClient, api: Api, value: str) -> None:
    names(client.get("/feed.json", query_string={"limit": value}), "limit")
    names(api.client.get("/api/articles", query_string={"limit": value}, headers=api.headers),
          "limit")


@pytest.mark.parametrize("name", ["limit", "cursor", "order", "status", "section", "topic",
                                  "author"])
def test_a_parameter_given_twice_or_empty_is_refused(client: FlaskClient, api: Api,
                                                     name: str) -> None:
    good = {"limit": "5", "cursor": params.Cursor("published", dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
                                                  "x").encode(),
            "order": "published", "status": "published", "section": "world", "topic": "climate",
            "author": "staff"}[name]
    assert api.client.get("/api/articles", query_string={name: good},
                          headers=api.headers).status_code == 200
    assert client.get("/feed.atom", query_string={name: good}).status_code == 200
    if name != "order":  # the API lists in one order only
        names(api.client.get(f"/api/articles?{name}={good}&{name}={good}", headers=api.headers), name)
        names(api.client.get(f"/api/articles?{name}=", headers=api.headers), name)
    if name in ("limit", "cursor", "order"):
        names(client.get(f"/feed.atom?{name}={good}&{name}={good}"), name)
        names(client.get(f"/feed.atom?{name}="), name)


def test_api_filters_and_status_are_checked(api: Api) -> None:
    names(api.list(status="lost"), "status")
    for name in params.SCOPE_FILTERS:
        names(api.list(**{name: "x" * (params.MAX_SLUG + 1)}), name)
        assert api.list(**{name: "\ufffd\uffff"}).get_json()["articles"] == []


def test_limit_at_its_bounds(client: FlaskClient, api: Api, stored: list[str]) -> None:
    assert len(api.list(limit=str(params.MAX_LISTING)).get_json()["articles"]) == 5
    assert len(api.list(limit="01").get_json()["articles"]) == 1
    assert client.get("/feed.json?limit=200").status_code == 200
    names(client.get("/feed.json?limit=201"), "limit")


# -- cursors: opaque to row ids, stable across edits ----------------------------------------


def test_a_cursor_holds_the_key_and_instant_not_the_row_id(client: FlaskClient,
                                                           stored: list[str]) -> None:
    body = client.get("/feed.json?limit=2").get_json()
    cursor = body["next_url"].split("cursor=")[1]
    raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    assert raw == ["published", "2026-10-04T12:00:00Z", "p4"]
    assert params.Cursor.decode(cursor) == params.Cursor(
        "published", dt.datetime(2026, 10, 4, 12, tzinfo=dt.UTC), "p4")


def keys_of(response: Any) -> list[str]:
    """The article keys of a JSON Feed page, from the entries' tag-URI ids."""
    assert response.status_code == 200, response.data[:300]
    return [item["id"].rsplit(":", 1)[-1] for item in response.get_json()["items"]]


def walk(client: FlaskClient, url: str) -> list[str]:
    """Every entry's key along a JSON Feed's next links."""
    seen: list[str] = []
    next_url: str | None = url
    while next_url:
        response = client.get(next_url.removeprefix("http://feeds.test"))
        seen += keys_of(response)
        next_url = response.get_json().get("next_url")
    return seen


def test_a_scheduled_key_places_a_page_as_an_unknown_key_does(client: FlaskClient, api: Api) -> None:
    same = "2026-10-01T12:00:00Z"  # three articles at one instant: only the row id orders them
    for key, when in (("a", same), ("hidden", "2027-01-01T00:00:00Z"), ("b", same), ("c", same)):
        assert api.put(key, make_article(key=key, published=when, updated=when)).status_code == 201
    when = dt.datetime(2026, 10, 1, 12, tzinfo=dt.UTC)

    def keys(cursor_key: str, url: str = "/feed.json") -> list[str]:
        return keys_of(client.get(f"{url}?cursor={params.Cursor('published', when, cursor_key).encode()}"))

    assert keys("b") == ["a"]  # a public key places the page exactly
    assert keys("hidden") == keys("no-such-key") == ["c", "b", "a"]
    for url in ("/sections/world/feed.json", "/topics/climate/feed.json",
                "/authors/staff-correspondent/feed.json"):
        assert keys("hidden", url) == keys("no-such-key", url)
    cursor = params.Cursor("published", when, "hidden").encode()
    unknown = params.Cursor("published", when, "nothing").encode()
    for url in PAGES:
        assert client.get(f"{url}?cursor={cursor}").data == client.get(f"{url}?cursor={unknown}").data
    # The newsroom's own listing shows scheduled articles, so there any key places the page.
    listed = api.client.get(f"/api/articles?cursor={cursor}", headers=api.headers).get_json()
    assert [a["key"] for a in listed["articles"]] == ["a"]


def test_a_cursor_outlives_the_deletion_or_edit_of_its_article(client: FlaskClient, api: Api,
                                                              stored: list[str]) -> None:
    body = client.get("/feed.json?limit=2").get_json()
    after_p4 = body["next_url"].removeprefix("http://feeds.test")
    api.delete("p4")
    assert keys_of(client.get(after_p4)) == ["p3", "p2"]
    assert client.get("/?cursor=" + after_p4.split("cursor=")[1]).status_code == 200
    # In the updated order an edit moves the article to the top; its old cursor walks on.
    body = client.get("/feed.json?order=updated&limit=1").get_json()
    after_p5 = body["next_url"].removeprefix("http://feeds.test")
    api.patch("p5", {"updated": "2026-10-20T00:00:00Z"})
    assert keys_of(client.get(after_p5)) == ["p3"]  # p4 was deleted above
    # Even put back under embargo, its key is no error: the page starts at the instant.
    api.patch("p3", {"published": "2027-06-01T00:00:00Z", "updated": "2027-06-01T00:00:00Z"})
    after_p3 = params.Cursor("published", dt.datetime(2026, 10, 3, 12, tzinfo=dt.UTC), "p3").encode()
    assert keys_of(client.get(f"/feed.json?cursor={after_p3}")) == ["p2", "p1"]


def test_a_whole_walk_along_next_links(client: FlaskClient, api: Api, stored: list[str]) -> None:
    for url in ("/feed.json?limit=2", "/feed.json?limit=1&order=updated",
                "/topics/climate/feed.json?limit=2"):
        assert walk(client, url) == stored, url


@pytest.mark.skipif(bool(PG_URL), reason="EXPLAIN QUERY PLAN is SQLite's")
@pytest.mark.usefixtures("stored")
def test_a_cursor_is_resolved_through_the_key_index(app: Flask, client: FlaskClient) -> None:
    from test_feeds_plans import plans

    cursor = params.Cursor("published", dt.datetime(2026, 10, 4, 12, tzinfo=dt.UTC), "p4").encode()
    updated = params.Cursor("updated", dt.datetime(2026, 10, 4, 12, tzinfo=dt.UTC), "p4").encode()
    for url in [f"{feed}?cursor={cursor}" for feed in FEEDS] + [
            f"/topics/climate/feed.atom?order=updated&cursor={updated}"]:
        found = plans(app, client, url)
        lookups = [plan for statement, plan in found if 'articles."key" =' in statement]
        assert len(lookups) == 1 and "INDEX" in lookups[0], (url, found)
        for statement, plan in found:
            if " LIMIT " in statement and "ORDER BY" in statement:
                assert "TEMP B-TREE" not in plan, (statement, plan)


# -- conditional headers ---------------------------------------------------------------------


def test_if_match_is_compared_as_text(api: Api) -> None:
    article = make_article()
    etag = api.put(article["key"], article).headers["ETag"]
    stale = api.patch(article["key"], {"title": "x"}, **{"If-Match": '"v' + "9" * 4400 + '"'})
    assert stale.status_code == 412 and stale.content_type == "application/problem+json"
    for bad in ["9" * 4400, "v1", '"v1', 'W/v1', '"v1" "v2"', '*, "v1"']:
        names(api.patch(article["key"], {"title": "x"}, **{"If-Match": bad}), "If-Match", "header")
        names(api.patch(article["key"], {"title": "x"}, **{"If-Match": f"{etag}, {bad}"}),
              "If-Match", "header")
    assert api.patch(article["key"], {"title": "y"}, **{"If-Match": f' ,{etag} , "a,b"'}).status_code == 200


def test_if_none_match_on_the_api(api: Api) -> None:
    article = make_article()
    etag = api.put(article["key"], article).headers["ETag"]

    def get(header: str) -> int:
        return int(api.client.get(f"/api/articles/{article['key']}",
                                  headers=api.headers | {"If-None-Match": header}).status_code)

    assert get("*") == 304
    assert get(f'"x", W/{etag}') == 304
    assert get('"x", ' * 300_000 + etag) == 304  # megabytes of tags
    assert get('"x", ' * 300_000) == 200
    assert get("v" + "9" * 4400) == 200
    assert get(etag[1:]) == 200  # malformed: no tag, so no match


@pytest.mark.parametrize("header", [
    "Mon, 01 Jan 0001 00:00:00 GMT", "Mon, 01 Jan 0001 00:00:00 +0500",
    "Fri, 31 Dec 9999 23:00:00 -0500", "Fri, 31 Dec 9999 23:59:59 GMT",
    "Fri, 31 Dec 99999999999999999999 23:59:59 GMT", "Sun, 01 Nov " + "2" * 4400 + " 12:00:00 GMT",
    "x" * 2_000_000,
])
def test_if_modified_since_out_of_range_is_ignored(client: FlaskClient, stored: list[str],
                                                   header: str) -> None:
    for url in ["/feed.atom", "/sections/world/", "/"]:
        assert client.get(url, headers={"If-Modified-Since": header}).status_code == 200, url


# -- dates in and the importer --------------------------------------------------------------


@pytest.mark.parametrize("value", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00",
                                   "9999-12-31T23:59:59", "0001-01-01T00:30:00"])
def test_a_date_near_the_ends_of_time_is_a_422(make_app: Callable[..., Flask], value: str) -> None:
    for zone in ("UTC", "America/New_York", "Pacific/Kiritimati"):
        app = make_app(TIMEZONE=zone)
        api = Api(app.test_client(), {"Authorization": f"Bearer {new_token(app, zone.replace('/', '-'))}"})
        response = api.put("x", make_article(key="x", published=value, updated=None))
        assert response.status_code == 422, (zone, response.data)
        assert response.content_type == "application/problem+json"
        assert [e["pointer"] for e in response.get_json()["errors"]] == ["#/published"]


def test_the_importer_skips_every_kind_of_bad_line(app: Flask, tmp_path: Path) -> None:
    lines = [json.dumps(make_article(key="good-1")),
             json.dumps(make_article(key="late", published="9999-12-31T23:00:00-05:00", updated=None)),
             "[" * 100_000 + "]" * 100_000,  # deeper than Python's recursion limit
             json.dumps(make_article(key="early", published="0001-01-01T00:00:00+05:00", updated=None)),
             json.dumps(make_article(key="gone", deleted="9999-12-31T23:00:00-05:00")),
             json.dumps(make_article(key="good-2"))]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["import", "--quiet", str(source)])
    assert result.exit_code == 1, result.output
    for line in (2, 3, 4, 5):
        assert f"line {line}: skipped" in result.output
    assert "2 created" in result.output and "4 failed" in result.output


def test_the_importer_skips_a_record_whose_write_fails(app: Flask, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    real = articles.create_many
    real_save = articles.save_article

    def create_many(session: Any, items: Any, **kw: Any) -> Any:
        if any(item.key == "boom" for item in items):
            raise OverflowError("date value out of range")  # not a FeedsvcError
        return real(session, items, **kw)

    def save_article(session: Any, key: str, fields: Any, **kw: Any) -> Any:
        if key == "boom":
            raise OverflowError("date value out of range")
        return real_save(session, key, fields, **kw)

    monkeypatch.setattr(articles, "create_many", create_many)
    monkeypatch.setattr(articles, "save_article", save_article)
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(make_article(key=k)) + "\n" for k in ("a", "boom", "b")),
                      encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["import", "--quiet", str(source)])
    assert result.exit_code == 1, result.output
    assert "line 2: skipped: OverflowError: date value out of range" in result.output
    assert "2 created" in result.output and "1 failed" in result.output


# -- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "value"), [
    ("API_PAGE_SIZE", params.MAX_LISTING + 1), ("PAGE_SIZE", params.MAX_LISTING + 1),
    ("FEED_SIZE", 201), ("FEED_MAX_SIZE", MAX_FEED_SIZE + 1),
    ("TOMBSTONE_DAYS", 10**9), ("WEBSUB_RETRY_BASE", 7200), ("PAGE_SIZE", 0),
])
def test_keys_that_disagree_stop_the_start(tmp_path: Path, key: str, value: int) -> None:
    with pytest.raises(ConfigError) as info:
        config.load(tmp_path, {f"FEEDSVC_{key}": str(value)}, None)
    assert info.value.key == key and key in str(info.value)


def test_the_largest_api_page_size_serves(make_app: Callable[..., Flask]) -> None:
    app = make_app(API_PAGE_SIZE=params.MAX_LISTING, PAGE_SIZE=params.MAX_LISTING)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {new_token(app)}"}
    assert client.get("/api/articles", headers=headers).status_code == 200
    assert client.get("/").status_code == 200
    spec = openapi.spec("http://feeds.test")
    limit = [p for p in spec["paths"]["/api/articles"]["get"]["parameters"] if p["name"] == "limit"]
    assert limit[0]["schema"]["maximum"] == params.MAX_LISTING


# -- the property: whatever comes in, never a 5xx ---------------------------------------------

NAMES = ["limit", "cursor", "order", "status", "section", "topic", "author", "format", "q"]
HEADERS = ["If-None-Match", "If-Modified-Since", "If-Match"]
URLS = FEEDS + PAGES + ["/feeds.opml", "/feeds", "/api/articles", "/api/articles/p1",
                        "/articles/p1"]

# Any text, lone surrogates and NUL included: sent percent-encoded, as a hostile client can.
_any_text = st.text(st.characters(exclude_categories=()), max_size=40)
_values = st.one_of(
    _any_text,
    st.sampled_from(["published", "updated", "scheduled", "deleted", "world", "climate",
                     "rss", "json", "all", "1", "200", "9" * 4400, "\u00b2", "1e3", "-1", ""]),
    st.builds(lambda when, key, order: params.Cursor(order, when, key).encode(),
              st.datetimes(min_value=dt.datetime(1900, 1, 2), max_value=dt.datetime(8999, 12, 30),
                           timezones=st.just(dt.UTC)),
              st.sampled_from(["p1", "p5", "nope", "x" * 200]), st.sampled_from(params.ORDERS)),
    st.builds(forged, st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                                   lambda inner: st.lists(inner, max_size=4), max_leaves=8)),
)
# Header values are latin-1 on the wire (RFC 9110 5.5); CR, LF and NUL end or break a header.
_header_values = st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=60),
    st.sampled_from(["*", '"v1"', 'W/"v1"', '"v' + "9" * 4400 + '"', "Mon, 01 Jan 0001 00:00:00 +0500",
                     "Fri, 31 Dec 9999 23:00:00 -0500", '"x", ' * 1000]),
)


def _encode(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(url=st.sampled_from(URLS),
       query=st.lists(st.tuples(st.sampled_from(NAMES), _values), max_size=4),
       headers=st.dictionaries(st.sampled_from(HEADERS), _header_values, max_size=3),
       method=st.sampled_from(["GET", "HEAD", "PATCH"]))
def test_no_parameter_or_header_gives_a_5xx(app: Flask, api: Api, stored: list[str], url: str,
                                            query: list[tuple[str, str]], headers: dict[str, str],
                                            method: str) -> None:
    client = app.test_client()
    if method == "PATCH":
        url = "/api/articles/p1"
    path = url + ("?" + "&".join(f"{name}={_encode(value)}" for name, value in query) if query else "")
    send = headers | (api.headers if url.startswith("/api/") else {})
    response = client.open(path, method=method, headers=send,
                           json={"title": "Article"} if method == "PATCH" else None)
    assert response.status_code < 500, (path, headers, response.data[:500])
    if 400 <= response.status_code < 500:
        page = url in PAGES or url in ("/feeds", "/articles/p1")
        expected = "text/html" if page and response.status_code != 405 else "application/problem+json"
        assert response.mimetype == expected, (path, headers, response.status_code)
