"""Hostile input never gives a 500 or a partial write."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Api, make_article, snapshot

HOSTILE_BODIES: list[tuple[str, str]] = [
    ("truncated", '{"title": "Floods", "section": "Wor'),
    ("empty", ""),
    ("array", "[]"),
    ("number", "42"),
    ("null", "null"),
    ("nan", '{"title": NaN, "section": "x"}'),
    ("deep", "[" * 100_000 + "]" * 100_000),
    ("bad utf-8", '{"title": "\xff\xfe", "section": "x"}'),
    ("lone surrogate", '{"title": "\\ud800", "section": "x"}'),
]


@pytest.mark.parametrize("body", [b for _, b in HOSTILE_BODIES], ids=[n for n, _ in HOSTILE_BODIES])
def test_malformed_bodies(app: Flask, api: Api, body: str) -> None:
    before = snapshot(app)
    data = body.encode("latin-1") if body.startswith('{"title": "\xff') else body.encode()
    response = api.client.put("/api/articles/k", data=data,
                              headers=api.headers | {"Content-Type": "application/json"})
    assert response.status_code in (400, 422)
    assert response.content_type == "application/problem+json"
    assert snapshot(app) == before


HOSTILE_FIELDS: list[tuple[str, dict[str, Any]]] = [
    ("title null", {"title": None}),
    ("title list", {"title": ["a"]}),
    ("title only control characters", {"title": "\x00\x01\x1f"}),
    ("huge title", {"title": "x" * 100_000}),
    ("section number", {"section": 7}),
    ("topics not list", {"topics": "China"}),
    ("ten thousand topics", {"topics": [f"t{i}" for i in range(10_000)]}),
    ("topic null", {"topics": [None]}),
    ("authors dict", {"authors": {"name": "x"}}),
    ("author without name", {"authors": [{"email": "a@b.c"}]}),
    ("author bad email", {"authors": [{"name": "x", "email": "nope"}]}),
    ("impossible date", {"published": "2022-02-30T00:00:00Z"}),
    ("yesterday", {"published": "yesterday"}),
    ("offset +25:00", {"published": "2022-06-19T02:17:00+25:00"}),
    ("date as number", {"updated": 1655600000}),
    ("unknown field", {"colour": "red"}),
    ("image without url", {"image": {"type": "image/jpeg"}}),
    ("image negative length", {"image": {"url": "https://x.example/i.jpg", "length": -1}}),
    ("image length bool", {"image": {"url": "https://x.example/i.jpg", "length": True}}),
    ("url javascript", {"url": "javascript:alert(1)"}),
    ("url relative", {"url": "/world/x"}),
    ("language sentence", {"language": "the english language"}),
    ("summary object", {"summary": {"text": "x"}}),
    ("content number", {"content": 5}),
]


@pytest.mark.parametrize("change", [c for _, c in HOSTILE_FIELDS], ids=[n for n, _ in HOSTILE_FIELDS])
def test_hostile_fields_are_422(app: Flask, api: Api, change: dict[str, Any]) -> None:
    api.put("k", make_article(key="k"))
    before = snapshot(app)
    for response in (api.put("k", make_article(key="k") | change), api.patch("k", change),
                     api.put("new", make_article(key="new") | change)):
        assert response.status_code == 422, response.get_json()
        assert response.get_json()["errors"]
    assert snapshot(app) == before


@pytest.mark.parametrize("key", ["a b", "..", ".", "x" * 201, "ключ", "a%2Fb", "a:b"])
def test_bad_keys(app: Flask, api: Api, key: str) -> None:
    before = snapshot(app)
    body = {k: v for k, v in make_article().items() if k != "key"}
    response = api.put(key, body)
    assert response.status_code in (404, 422)  # 404 only where the path itself is not a route
    assert response.content_type == "application/problem+json"
    assert snapshot(app) == before


def test_keys_with_slashes_are_not_routes(api: Api) -> None:
    assert api.put("a/b", make_article()).status_code == 404
    assert api.put("../etc", make_article()).status_code == 404


def test_control_characters_are_removed(api: Api) -> None:
    body = make_article(title="Tab\there\x00 and\x07 bell", summary="a\x1bb",
                        topics=["x\x0cy"], content="<p>ok\x08</p>")
    stored = api.put(body["key"], body).get_json()
    assert stored["title"] == "Tab here and bell"
    assert stored["summary"] == "ab"
    assert stored["topics"] == ["xy"]
    assert stored["content"] == "<p>ok</p>"


text = st.text(st.characters(codec="utf-8"), max_size=300)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=10)
article_bodies = st.fixed_dictionaries({}, optional={
    "title": text | json_values, "section": text | json_values,
    "topics": st.lists(text, max_size=5) | json_values,
    "authors": st.lists(st.fixed_dictionaries({"name": text}), max_size=3) | json_values,
    "summary": text | st.none(), "content": text | st.none(),
    "published": st.datetimes().map(lambda d: d.isoformat()) | text,
    "updated": st.datetimes().map(lambda d: d.isoformat()) | text,
    "url": text, "language": text, "image": json_values,
})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=article_bodies)
def test_any_json_gets_2xx_or_4xx_and_a_consistent_store(app: Flask, api: Api,
                                                        body: dict[str, Any]) -> None:
    response = api.put("fuzz", body)
    assert response.status_code in (200, 201, 422), response.data
    if response.status_code == 422:
        assert response.content_type == "application/problem+json"
        return
    stored = api.get("fuzz").get_json()
    assert stored["title"] == response.get_json()["title"]
    assert stored["updated"] >= stored["published"]
    json.dumps(stored)  # the stored article always serialises
