"""Every error status of the contract: a request that earns it, problem+json, nothing changed."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from conftest import Api, make_article, snapshot

EXISTING = "existing"


def malformed_json(api: Api) -> Any:
    return api.client.put(f"/api/articles/{EXISTING}", data='{"title": "x", ',
                          headers=api.headers | {"Content-Type": "application/json"})


def no_token(api: Api) -> Any:
    return api.client.put(f"/api/articles/{EXISTING}", json=make_article(key=EXISTING))


def bad_token(api: Api) -> Any:
    return api.client.delete(f"/api/articles/{EXISTING}",
                             headers={"Authorization": "Bearer fsv_000000000000_nope"})


def missing(api: Api) -> Any:
    return api.patch("never-was", {"title": "x"})


def deleted_twice(api: Api) -> Any:
    api.delete(EXISTING)
    return api.delete(EXISTING)


def taken_key(api: Api) -> Any:
    return api.post(make_article(key=EXISTING))


def stale_if_match(api: Api) -> Any:
    return api.patch(EXISTING, {"title": "x"}, **{"If-Match": '"v0"'})


def too_large(api: Api) -> Any:
    body = json.dumps(make_article(key=EXISTING, content="x" * (2 * 2**20)))
    return api.client.put(f"/api/articles/{EXISTING}", data=body,
                          headers=api.headers | {"Content-Type": "application/json"})


def not_json(api: Api) -> Any:
    return api.client.put(f"/api/articles/{EXISTING}", data="title=x",
                          headers=api.headers | {"Content-Type": "application/x-www-form-urlencoded"})


def invalid_field(api: Api) -> Any:
    return api.put(EXISTING, make_article(key=EXISTING, published="2022-02-30T00:00:00Z"))


CASES: list[tuple[Callable[[Api], Any], int]] = [
    (malformed_json, 400), (no_token, 401), (bad_token, 401), (missing, 404),
    (taken_key, 409), (stale_if_match, 412), (too_large, 413), (not_json, 415),
    (invalid_field, 422),
]


@pytest.mark.parametrize(("request_", "status"), CASES, ids=[c[0].__name__ for c in CASES])
def test_error_status_changes_nothing(app: Flask, api: Api, request_: Callable[[Api], Any],
                                      status: int) -> None:
    api.put(EXISTING, make_article(key=EXISTING))
    before = snapshot(app)
    response = request_(api)
    assert response.status_code == status
    assert response.content_type == "application/problem+json"
    problem = response.get_json()
    assert problem["status"] == status and problem["title"] and problem["detail"]
    assert snapshot(app) == before


def test_gone_after_delete(app: Flask, api: Api) -> None:
    api.put(EXISTING, make_article(key=EXISTING))
    before_second = None
    response = deleted_twice(api)
    before_second = snapshot(app)
    assert response.status_code == 410
    assert response.content_type == "application/problem+json"
    assert api.patch(EXISTING, {"title": "x"}).status_code == 410
    assert snapshot(app) == before_second


def test_422_names_every_bad_field(api: Api) -> None:
    body = make_article(title=5, section=None, topics="China", authors=[{"nom": "x"}],
                        url="javascript:alert(1)", image={"url": "x"}, language="english!",
                        published="yesterday", extra="?", also=1)
    problem = api.put("k", body).get_json()
    pointers = {e["pointer"] for e in problem["errors"]}
    assert pointers == {"#/title", "#/section", "#/topics", "#/authors", "#/url", "#/image/url",
                        "#/language", "#/published", "#/extra", "#/also"}


def test_body_over_max_body_without_content_length(client: FlaskClient,
                                                   auth_headers: dict[str, str]) -> None:
    body = io.BytesIO(b'{"title": "' + b"x" * (3 * 2**20) + b'"}')
    response = client.put("/api/articles/big", input_stream=body, headers=auth_headers | {
        "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413
    assert response.content_type == "application/problem+json"


def test_unknown_route_and_method_are_problems(client: FlaskClient) -> None:
    missing_route = client.get("/api/nothing-here")
    assert missing_route.status_code == 404
    assert missing_route.content_type == "application/problem+json"
    wrong_method = client.post("/api/openapi.json")
    assert wrong_method.status_code == 405
    assert "GET" in wrong_method.headers["Allow"]


def test_repeated_bad_tokens_are_throttled(make_app: Any) -> None:
    app = make_app(AUTH_FAILURE_LIMIT=3, AUTH_FAILURE_WINDOW=60)
    client = app.test_client()
    bad = {"Authorization": "Bearer fsv_000000000000_guess"}
    assert [client.get("/api/articles", headers=bad).status_code for _ in range(3)] == [401] * 3
    throttled = client.get("/api/articles", headers=bad)
    assert throttled.status_code == 429
    assert throttled.content_type == "application/problem+json"
    assert 0 < int(throttled.headers["Retry-After"]) <= 60
    other = client.get("/api/articles", headers=bad, environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other.status_code == 401  # another client is not affected


def test_throttle_window_slides() -> None:
    from feedsvc.web.limits import Throttle

    throttle = Throttle(limit=2, window=10)
    throttle.add("a", 0)
    throttle.add("a", 5)
    assert throttle.wait("a", 6) == 4
    assert throttle.wait("a", 10.5) == 0  # the first failure left the window
