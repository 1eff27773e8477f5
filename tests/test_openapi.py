"""What the API answers matches what /api/openapi.json says it answers."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from flask.testing import FlaskClient

from conftest import Api, make_article


@pytest.fixture
def spec(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.get_json()  # type: ignore[no-any-return]


def check(spec: dict[str, Any], schema_name: str, instance: Any) -> None:
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": spec["components"]}
    jsonschema.Draft202012Validator(schema).validate(instance)


def test_spec_is_valid_json_schema(spec: dict[str, Any]) -> None:
    for schema in spec["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)
    assert spec["servers"] == [{"url": "http://feeds.test"}]


def test_responses_match_their_schemas(api: Api, spec: dict[str, Any]) -> None:
    article = make_article(image={"url": "https://news.example/i.jpg", "type": "image/jpeg",
                                  "length": 10})
    check(spec, "ArticleInput", article)
    created = api.put(article["key"], article)
    check(spec, "Article", created.get_json())
    check(spec, "Article", api.get(article["key"]).get_json())
    for body in api.list().get_json()["articles"]:
        check(spec, "Article", body)
    problem = api.put(article["key"], article | {"published": "nope"})
    check(spec, "Problem", problem.get_json())
    api.delete(article["key"])
    check(spec, "Article", api.get(article["key"]).get_json())


def test_every_route_of_the_api_is_described(client: FlaskClient, spec: dict[str, Any]) -> None:
    app = client.application
    described = {(path.replace("{key}", "<key>"), method.upper())
                 for path, item in spec["paths"].items() for method in item if method != "parameters"}
    routes = {(rule.rule, method) for rule in app.url_map.iter_rules()
              if rule.rule.startswith("/api/")
              for method in rule.methods or () if method not in ("HEAD", "OPTIONS")}
    assert routes == described
