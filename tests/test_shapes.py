"""Every limit against its column: the API never takes what the database cannot hold (issue 12).

The API check, the OpenAPI document and the column widths follow from payload.py's shapes;
this holds them together, and pushes values of exactly the limit (and one more) through the
API on the test's database, PostgreSQL included, where a too-long value is an error, not a
silent truncation.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import String

from feedsvc.store import payload
from feedsvc.store.models import Base
from feedsvc.web import auth
from feedsvc.web.openapi import spec
from feedsvc.websub import hub

from conftest import Api, make_article, snapshot

# Every bounded column and the longest value feedsvc may write to it: an input limit, or for
# columns only feedsvc writes, the longest value it makes (a SHA-256 hex digest is 64).
WRITTEN: dict[str, int] = {
    "settings.name": len("id_authority"),
    "sections.name": payload.MAX_NAME, "topics.name": payload.MAX_NAME, "authors.name": payload.MAX_NAME,
    "sections.slug": payload.MAX_SLUG, "topics.slug": payload.MAX_SLUG, "authors.slug": payload.MAX_SLUG,
    "articles.key": payload.MAX_KEY,
    "articles.uid": payload.MAX_ID,
    "articles.image_type": payload.MAX_MEDIA_TYPE,
    "articles.language": payload.MAX_LANGUAGE,
    "article_authors.email": payload.MAX_EMAIL,
    "api_tokens.name": auth.MAX_TOKEN_NAME,
    "api_tokens.prefix": 12, "api_tokens.secret_hash": 64,
    "feed_scopes.kind": len("sections"), "feed_scopes.slug": payload.MAX_SLUG,
    "feed_documents.variant": 64, "feed_documents.etag": 32, "feed_documents.kind": len("sections"),
    "feed_documents.slug": payload.MAX_SLUG,
    "feed_documents.content_type": len("application/atom+xml; charset=utf-8"),
    "websub_subscriptions.key": 64, "websub_subscriptions.topic_key": 64,
    "websub_subscriptions.scope_kind": len("sections"),
    "websub_subscriptions.scope_slug": payload.MAX_SLUG,
    "websub_subscriptions.state": len("unsubscribed"),
    "websub_subscriptions.secret": hub.MAX_SECRET - 1,  # "less than 200 bytes" (W3C WebSub 5.1)
    "websub_subscriptions.last_outcome": 300,  # truncated to 300 where written (worker.py)
    "websub_topics.key": 64, "websub_topics.digest": 64,
    "websub_topics.content_type": len("application/atom+xml; charset=utf-8"),
    "websub_jobs.kind": len("deliver"), "websub_jobs.topic_key": 64,
    "websub_jobs.mode": len("unsubscribe"),
    "websub_jobs.secret": hub.MAX_SECRET - 1,
    "websub_jobs.last_error": 300,  # truncated to 300 where written (worker.py)
    "websub_jobs.scope_kind": len("sections"), "websub_jobs.scope_slug": payload.MAX_SLUG,
    "websub_jobs.callback_host": 300,  # truncated to 300 where written (outbox.callback_host)
}


def bounded_columns() -> dict[str, int]:
    return {f"{table.name}.{column.name}": column.type.length
            for table in Base.metadata.tables.values() for column in table.columns
            if isinstance(column.type, String) and column.type.length is not None}


def test_every_bounded_column_has_a_declared_limit_that_fits() -> None:
    columns = bounded_columns()
    assert set(columns) <= set(WRITTEN), f"declare what may be written to {set(columns) - set(WRITTEN)}"
    for name, width in columns.items():
        assert WRITTEN[name] <= width, name


def test_the_openapi_document_states_the_same_limits() -> None:
    fields = spec("http://feeds.test")["components"]["schemas"]["ArticleInput"]["properties"]
    image = fields["image"]["properties"]
    author = fields["authors"]["items"]["anyOf"][1]["properties"]
    assert fields["title"]["maxLength"] == payload.MAX_TITLE
    assert fields["section"]["maxLength"] == payload.MAX_NAME
    assert fields["language"]["maxLength"] == payload.MAX_LANGUAGE
    assert image["type"]["maxLength"] == payload.MAX_MEDIA_TYPE
    assert image["length"]["maximum"] == payload.MAX_BYTES
    assert image["width"]["maximum"] == image["height"]["maximum"] == payload.MAX_PIXELS
    assert (image["alt"]["maxLength"], image["caption"]["maxLength"], image["credit"]["maxLength"]) == (
        payload.MAX_ALT, payload.MAX_CAPTION, payload.MAX_CREDIT)
    assert image["renditions"]["maxItems"] == payload.MAX_RENDITION_ITEMS  # MAX_RENDITIONS once repeats go
    rendition = image["renditions"]["items"]["properties"]
    assert set(rendition) == set(payload.RENDITION_FIELDS)
    assert set(image) == set(payload.IMAGE_FIELDS)
    assert rendition["width"]["maximum"] == payload.MAX_PIXELS
    assert rendition["type"]["maxLength"] == payload.MAX_MEDIA_TYPE
    assert author["email"]["maxLength"] == payload.MAX_EMAIL
    assert f"{{1,{payload.MAX_KEY}}}" in fields["key"]["pattern"]


def test_the_longest_id_fits_its_column() -> None:
    assert len(f"tag:{'a' * payload.MAX_AUTHORITY},2026-11-30:article:{'k' * payload.MAX_KEY}") == payload.MAX_ID


def put(api: Api, body: dict[str, Any]) -> Any:
    return api.client.put(f"/api/articles/{body['key']}", data=json.dumps(body),
                          content_type="application/json", headers=api.headers)


AT_THE_LIMIT: list[tuple[str, Any, Any]] = [
    # (field, the longest value taken, one character more)
    ("image", {"url": "https://n.example/i.jpg", "credit": "c" * payload.MAX_CREDIT},
     {"url": "https://n.example/i.jpg", "credit": "c" * (payload.MAX_CREDIT + 1)}),
    ("image", {"url": "https://n.example/i.jpg", "renditions": [
        {"url": "https://n.example/r.jpg", "type": "image/" + "x" * (payload.MAX_MEDIA_TYPE - 6)}]},
     {"url": "https://n.example/i.jpg", "renditions": [
         {"url": "https://n.example/r.jpg", "type": "image/" + "x" * (payload.MAX_MEDIA_TYPE - 5)}]}),
    ("image", {"url": "https://n.example/i.jpg", "type": "image/" + "x" * (payload.MAX_MEDIA_TYPE - 6)},
     {"url": "https://n.example/i.jpg", "type": "image/" + "x" * (payload.MAX_MEDIA_TYPE - 5)}),
    ("language", "en" + "-abcdefgh" * 3 + "-abcdefg"[: payload.MAX_LANGUAGE - 29],
     "en" + "-abcdefgh" * 3 + "-abcdefgh"),
    ("authors", [{"name": "A", "email": "d" * 64 + "@" + ("n" * 62 + ".") * 3 + "n" * 62 + ".exa"}],
     [{"name": "A", "email": "d" * 64 + "@" + ("n" * 62 + ".") * 3 + "n" * 62 + ".exam"}]),
    ("section", "ß" * payload.MAX_NAME, "ß" * (payload.MAX_NAME + 1)),  # its slug folds to "ss"...
    ("topics", ["ﷺ" * payload.MAX_NAME], ["ﷺ" * (payload.MAX_NAME + 1)]),  # ...and this to 18 letters
    ("title", "t" * payload.MAX_TITLE, "t" * (payload.MAX_TITLE + 1)),
    ("url", "https://n.example/" + "p" * (payload.MAX_URL - 18), "https://n.example/" + "p" * (payload.MAX_URL - 17)),
]


@pytest.mark.parametrize("field,longest,too_long", AT_THE_LIMIT, ids=[f for f, _, _ in AT_THE_LIMIT])
def test_the_api_takes_the_limit_and_refuses_one_more(app: Flask, api: Api, client: FlaskClient,
                                                      field: str, longest: Any, too_long: Any) -> None:
    assert len(json.dumps(longest)) < len(json.dumps(too_long))
    response = put(api, make_article(key="at-limit", **{field: longest}))
    assert response.status_code == 201, response.data[:300]
    before = snapshot(app)
    refused = put(api, make_article(key="past-limit", **{field: too_long}))
    assert refused.status_code == 422 and refused.content_type == "application/problem+json"
    assert refused.get_json()["errors"][0]["pointer"].startswith(f"#/{field}")
    assert snapshot(app) == before
    assert client.get("/feed.atom").status_code == 200


def test_twin_names_at_the_limit_get_slugs_that_fit(api: Api, client: FlaskClient) -> None:
    # Names that fold to one slug of MAX_NAME letters: the second one's slug gets "-2".
    names = ["ß" * payload.MAX_NAME, "SS" * (payload.MAX_NAME // 2), "ss" * (payload.MAX_NAME // 2)]
    slugs = []
    for i, name in enumerate(names):
        stored = put(api, make_article(key=f"twin-{i}", section=name)).get_json()
        slugs.append(stored["section_slug"])
        assert client.get(f"/sections/{stored['section_slug']}/feed.atom").status_code == 200
    assert len(set(slugs)) == 3 and all(len(s) <= payload.MAX_SLUG for s in slugs)


def test_an_imported_id_at_the_limit(app: Flask, tmp_path: Any, runner: Any) -> None:
    longest = "urn:x:" + "i" * (payload.MAX_ID - 6)
    lines = [make_article(key="imp-1") | {"id": longest},
             make_article(key="imp-2") | {"id": longest + "i"},
             make_article(key="imp-3") | {"id": "urn:x:bad\uffff"}]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    result = runner.invoke(args=["import", str(path)])
    assert result.exit_code in (0, 1), result.output
    exported = tmp_path / "out.jsonl"
    runner.invoke(args=["export", str(exported)])
    ids = [json.loads(line)["id"] for line in exported.read_text().splitlines()]
    assert ids == [longest]


@pytest.mark.parametrize("name", ["n" * (auth.MAX_TOKEN_NAME + 1), "news\x00room", ""])
def test_a_token_name_the_column_cannot_hold_is_refused(app: Flask, runner: Any, name: str) -> None:
    result = runner.invoke(args=["token", "create", name])
    assert result.exit_code == 2 and "printable" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("environ,key", [
    ({"FEEDSVC_ID_AUTHORITY": "a" * (payload.MAX_AUTHORITY - 7) + "x.example"}, "ID_AUTHORITY"),
    ({"FEEDSVC_BASE_URL": "https://" + "a" * payload.MAX_AUTHORITY + ".example"}, "BASE_URL"),
    ({"FEEDSVC_BASE_URL": "http://my_host"}, "BASE_URL"),
    ({"FEEDSVC_BASE_URL": "http://[::1]:8000"}, "BASE_URL"),
    ({"FEEDSVC_BASE_URL": "http://[bad"}, "BASE_URL"),
    ({"FEEDSVC_BASE_URL": "http://news.example:99999"}, "BASE_URL"),
])
def test_an_id_authority_that_cannot_make_ids_is_refused_at_start(tmp_path: Any, environ: dict[str, str],
                                                                  key: str) -> None:
    # Every id is "tag:<authority>,<date>:article:<key>" (RFC 4151): the authority must be a DNS
    # name or e-mail address, short enough for the id to fit its column with the longest key.
    from feedsvc.config import ConfigError, load

    with pytest.raises(ConfigError) as refused:
        load(tmp_path, environ, None)
    assert refused.value.key == key


@pytest.mark.parametrize("environ", [
    {"FEEDSVC_ID_AUTHORITY": "a" * (payload.MAX_AUTHORITY - 8) + ".example"},
    {"FEEDSVC_BASE_URL": "http://[::1]:8000", "FEEDSVC_ID_AUTHORITY": "news.example"},
    {"FEEDSVC_ID_AUTHORITY": "desk@news.example"},
])
def test_authorities_that_fit_are_taken(tmp_path: Any, environ: dict[str, str]) -> None:
    from feedsvc.config import load

    load(tmp_path, environ, None)
