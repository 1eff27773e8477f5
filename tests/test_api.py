"""The JSON API as a newsroom's editorial system uses it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask

from feedsvc.store import articles
from feedsvc.store.timestamps import parse as parse_time

from conftest import Api, Clock, make_article, new_token, seed_article, snapshot

UTC = dt.UTC


def when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_seed_article_in_dhaka(make_app: Any) -> None:
    app = make_app(TIMEZONE="Asia/Dhaka")
    api = Api(app.test_client(), {"Authorization": f"Bearer {new_token(app)}"})
    seed = seed_article()
    created = api.put(seed["key"], seed)
    assert created.status_code == 201
    assert created.headers["Location"] == f"http://feeds.test/api/articles/{seed['key']}"
    got = api.get(seed["key"])
    assert got.status_code == 200
    body = got.get_json()
    assert when(body["published"]) == dt.datetime(2022, 6, 18, 20, 17, tzinfo=UTC)
    assert when(body["updated"]) == dt.datetime(2022, 6, 19, 8, 18, tzinfo=UTC)
    assert body["section_slug"] == "world"
    assert body["topic_slugs"] == ["china", "russia", "ukraine-war"]
    assert body["id"].startswith("tag:feeds.test,2022-06-18:")
    assert body["status"] == "published"
    assert body["page_url"] == f"http://feeds.test/articles/{seed['key']}"
    assert {f["name"]: f["atom"] for f in body["feeds"]}["China"] == (
        "http://feeds.test/topics/china/feed.atom")


def test_put_is_idempotent(api: Api) -> None:
    article = make_article()
    first = api.put(article["key"], article)
    again = api.put(article["key"], article)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.headers["ETag"] == again.headers["ETag"]
    assert first.get_json() == again.get_json()


def test_post_derives_a_free_key(api: Api) -> None:
    body = make_article(title="Floods in Sylhet")
    del body["key"]
    first, second = api.post(body), api.post(body)
    assert first.status_code == second.status_code == 201
    assert first.get_json()["key"] == "floods-in-sylhet"
    assert second.get_json()["key"] == "floods-in-sylhet-2"
    assert first.get_json()["id"] != second.get_json()["id"]


def test_post_with_a_taken_key_is_a_conflict(api: Api) -> None:
    article = make_article()
    api.post(article)
    assert api.post(article).status_code == 409


def test_published_defaults_to_now_and_updated_to_published(api: Api, clock: Clock) -> None:
    body = make_article()
    del body["published"], body["updated"]
    created = api.put(body["key"], body).get_json()
    assert when(created["published"]) == clock.now
    assert created["updated"] == created["published"]


def test_edits_keep_updated_unless_sent(api: Api, clock: Clock) -> None:
    article = make_article(published="2026-10-01T10:00:00Z", updated="2026-10-02T10:00:00Z")
    original = api.put(article["key"], article).get_json()
    clock.advance(days=3)
    fixed = api.patch(article["key"], {"title": "Typo fixed"}).get_json()
    assert fixed["title"] == "Typo fixed"
    assert fixed["updated"] == "2026-10-02T10:00:00Z"  # never the save time
    replaced = api.put(article["key"], article | {"summary": "new", "updated": None}).get_json()
    assert replaced["updated"] == "2026-10-02T10:00:00Z"
    assert replaced["id"] == original["id"]
    moved = api.patch(article["key"], {"updated": "2026-10-05T00:00:00+06:00"}).get_json()
    assert moved["updated"] == "2026-10-04T18:00:00Z"


def test_rescheduling_moves_an_unsent_updated_along(api: Api) -> None:
    article = make_article(published="2026-12-01T00:00:00Z", updated="2026-12-01T00:00:00Z")
    api.put(article["key"], article)
    later = api.patch(article["key"], {"published": "2026-12-05T00:00:00Z"}).get_json()
    assert later["updated"] == later["published"] == "2026-12-05T00:00:00Z"


def test_updated_before_published_is_422(api: Api) -> None:
    article = make_article(published="2026-10-02T00:00:00Z", updated="2026-10-01T00:00:00Z")
    response = api.put(article["key"], article)
    assert response.status_code == 422
    assert [e["pointer"] for e in response.get_json()["errors"]] == ["#/updated"]


def test_future_published_is_scheduled(api: Api, clock: Clock) -> None:
    article = make_article(published="2026-11-02T00:00:00Z", updated=None)
    assert api.put(article["key"], article).get_json()["status"] == "scheduled"
    assert api.list(status="scheduled").get_json()["articles"][0]["key"] == article["key"]
    assert api.list(status="published").get_json()["articles"] == []
    clock.set(dt.datetime(2026, 11, 2, tzinfo=UTC))
    assert api.get(article["key"]).get_json()["status"] == "published"


def test_id_never_changes(api: Api) -> None:
    article = make_article(published="2026-10-01T10:00:00Z")
    uid = api.put(article["key"], article).get_json()["id"]
    changes = [{"title": "Other"}, {"section": "Sport"}, {"published": "2020-01-01T00:00:00Z"},
               {"topics": []}, {"url": "https://elsewhere.example/x"}]
    for change in changes:
        assert api.patch(article["key"], change).get_json()["id"] == uid
    api.delete(article["key"])
    assert api.put(article["key"], article).get_json()["id"] == uid  # back from the tombstone


def test_if_match(api: Api) -> None:
    article = make_article()
    etag = api.put(article["key"], article).headers["ETag"]
    ok = api.patch(article["key"], {"title": "One"}, **{"If-Match": etag})
    assert ok.status_code == 200 and ok.headers["ETag"] != etag
    stale = api.patch(article["key"], {"title": "Two"}, **{"If-Match": etag})
    assert stale.status_code == 412
    assert stale.content_type == "application/problem+json"
    assert api.get(article["key"]).get_json()["title"] == "One"
    assert api.put(article["key"], article, **{"If-Match": "*"}).status_code == 200
    assert api.put("absent", make_article(key="absent"), **{"If-Match": "*"}).status_code == 412
    weak = api.patch(article["key"], {"title": "x"}, **{"If-Match": "W/" + ok.headers["ETag"]})
    assert weak.status_code == 412  # If-Match uses the strong comparison (RFC 9110 13.1.1)
    current = api.get(article["key"]).headers["ETag"]
    assert api.delete(article["key"], **{"If-Match": '"v999", ' + current}).status_code == 204


def test_get_304_on_if_none_match(api: Api) -> None:
    article = make_article()
    etag = api.put(article["key"], article).headers["ETag"]
    response = api.client.get(f"/api/articles/{article['key']}",
                              headers=api.headers | {"If-None-Match": etag})
    assert response.status_code == 304 and response.headers["ETag"] == etag


def test_delete_keeps_a_tombstone(api: Api) -> None:
    article = make_article()
    api.put(article["key"], article)
    assert api.delete(article["key"]).status_code == 204
    tombstone = api.get(article["key"]).get_json()
    assert tombstone["status"] == "deleted" and tombstone["deleted"]
    assert api.delete(article["key"]).status_code == 410
    assert api.patch(article["key"], {"title": "x"}).status_code == 410
    assert api.list().get_json()["articles"] == []
    assert api.list(status="deleted").get_json()["articles"][0]["key"] == article["key"]


def test_listing_filters_and_cursor(api: Api) -> None:
    for day in range(1, 8):
        api.put(f"w{day}", make_article(key=f"w{day}", published=f"2026-10-0{day}T00:00:00Z",
                                        updated=None, section="World" if day % 2 else "Sport",
                                        topics=["Even"] if day % 2 == 0 else ["Odd"]))
    keys: list[str] = []
    response = api.list(limit=3)
    while True:
        body = response.get_json()
        keys += [a["key"] for a in body["articles"]]
        if not body["next"]:
            break
        assert response.headers["Link"] == f'<{body["next"]}>; rel="next"'
        response = api.client.get(body["next"].removeprefix("http://feeds.test"),
                                  headers=api.headers)
    assert keys == [f"w{d}" for d in range(7, 0, -1)]
    assert [a["key"] for a in api.list(section="sport").get_json()["articles"]] == ["w6", "w4", "w2"]
    assert [a["key"] for a in api.list(topic="odd", limit=2).get_json()["articles"]] == ["w7", "w5"]
    assert len(api.list(author="staff-correspondent").get_json()["articles"]) == 7
    assert api.list(section="nowhere").get_json()["articles"] == []


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "201"}, {"limit": "x"},
                                    {"cursor": "garbage!"}, {"cursor": "WzEsMl0"},
                                    {"status": "lost"}])
def test_listing_bad_parameters_are_400(api: Api, params: dict[str, str]) -> None:
    response = api.list(**params)
    assert response.status_code == 400
    assert response.content_type == "application/problem+json"


def test_tokens_are_required_and_revocable(app: Flask, client: Any) -> None:
    article = make_article()
    assert client.put(f"/api/articles/{article['key']}", json=article).status_code == 401
    token = new_token(app, "desk")
    bad = client.get("/api/articles", headers={"Authorization": f"Bearer {token}x"})
    assert bad.status_code == 401 and "invalid_token" in bad.headers["WWW-Authenticate"]
    assert client.get("/api/articles", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    runner = app.test_cli_runner()
    assert runner.invoke(args=["token", "revoke", "desk"]).exit_code == 0
    assert client.get("/api/articles", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_content_is_sanitised_and_links_absolute(api: Api) -> None:
    article = make_article(url="https://news.example/world/story/", content=(
        '<p onclick="steal()">Hi <a href="../other">rel</a> <img src="pic.jpg" alt="p">'
        '<script>alert(1)</script><a href="javascript:alert(1)">js</a></p>\x00\x0b'))
    content = api.put(article["key"], article).get_json()["content"]
    assert "script" not in content and "onclick" not in content and "javascript" not in content
    assert 'href="https://news.example/world/other"' in content
    assert 'src="https://news.example/world/story/pic.jpg"' in content
    assert "\x00" not in content and "\x0b" not in content


def test_unicode_names_get_readable_distinct_slugs(api: Api) -> None:
    a = api.put("a", make_article(key="a", section="বাংলাদেশ", topics=["C++", "C", "Ёлка"]))
    body = a.get_json()
    assert body["section_slug"] == "বাংলাদেশ"
    assert body["topic_slugs"] == ["c", "c-2", "ёлка"]
    again = api.put("b", make_article(key="b", section="World", topics=["C", "C++"])).get_json()
    assert again["topic_slugs"] == ["c-2", "c"]  # stable: a slug once given stays


def test_openapi_describes_the_api(client: Any) -> None:
    spec = client.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    assert set(spec["paths"]["/api/articles/{key}"]) >= {"get", "put", "patch", "delete"}
    schema = spec["components"]["schemas"]["ArticleInput"]["properties"]
    assert set(schema) == {"key", "title", "section", "topics", "authors", "summary", "content",
                           "published", "updated", "url", "image", "language"}


def test_time_rule_matches_the_parser() -> None:
    from zoneinfo import ZoneInfo

    assert parse_time("2022-06-19T02:17:00", ZoneInfo("Asia/Dhaka")).hour == 20


def test_refused_requests_change_nothing_table(app: Flask, api: Api) -> None:
    article = make_article()
    api.put(article["key"], article)
    before = snapshot(app)
    assert api.patch(article["key"], {"title": ""}).status_code == 422
    assert api.put(article["key"], article | {"topics": ["ok", 5]}).status_code == 422
    assert snapshot(app) == before


def test_a_fetched_article_sent_back_changes_nothing(api: Api) -> None:
    """The README: what a GET adds (id, status, the slugs, each author's slug, page_url, feeds,
    deleted) is ignored when a client sends the article back, by PUT or PATCH."""
    body = make_article(key="back", topics=["China", "Trade"],
                        authors=[{"name": "Ann", "email": "ann@news.example"}, {"name": "Bo"}])
    first = api.put("back", body)
    fetched = api.get("back").get_json()
    assert [a["slug"] for a in fetched["authors"]] == ["ann", "bo"]
    for send in (api.put, api.patch):
        again = send("back", fetched)
        assert again.status_code == 200, again.get_json()
        assert again.headers["ETag"] == first.headers["ETag"]  # nothing changed
    fetched["authors"][0]["slug"] = "someone-else"  # read-only: ignored, not a rename
    assert api.put("back", fetched).headers["ETag"] == first.headers["ETag"]


def test_a_derived_key_taken_meanwhile_is_chosen_again(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two POSTs of one title at once: the second's key is chosen inside its own write, so when
    the first took "floods-rise" meanwhile it gets "floods-rise-2", not a 409 for a key it never
    chose. The race is forced: the first look for a free key answers as it would have just
    before the other POST committed."""
    body = make_article(title="Floods rise")
    del body["key"]
    assert api.post(body).get_json()["key"] == "floods-rise"
    real, looks = articles.free_key, []

    def stale_then_real(session: Any, title: str) -> str:
        looks.append(title)
        return "floods-rise" if len(looks) == 1 else real(session, title)

    monkeypatch.setattr(articles, "free_key", stale_then_real)
    second = api.post(body)
    assert second.status_code == 201, second.get_json()
    assert second.get_json()["key"] == "floods-rise-2" and len(looks) == 2
