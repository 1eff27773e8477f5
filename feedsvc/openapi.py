"""The OpenAPI 3.1 description of /api, served at /api/openapi.json."""

from __future__ import annotations

from typing import Any

from .payload import MAX_AUTHORS, MAX_NAME, MAX_SUMMARY, MAX_TITLE, MAX_TOPICS, MAX_URL

_KEY = {"type": "string", "pattern": r"^[A-Za-z0-9._~-]{1,200}$"}
_URL = {"type": ["string", "null"], "maxLength": MAX_URL, "format": "uri"}
_TIME = {"type": ["string", "null"], "description":
         "RFC 3339; without an offset it is read in the site's TIMEZONE"}
_INPUT_PROPERTIES: dict[str, Any] = {
    "key": _KEY,
    "title": {"type": "string", "minLength": 1, "maxLength": MAX_TITLE},
    "section": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
    "topics": {"type": ["array", "null"], "maxItems": MAX_TOPICS,
               "items": {"type": "string", "minLength": 1, "maxLength": MAX_NAME}},
    "authors": {"type": ["array", "null"], "maxItems": MAX_AUTHORS, "items": {
        "type": "object", "required": ["name"], "additionalProperties": False, "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
            "email": {"type": ["string", "null"], "format": "email"},
            "url": _URL}}},
    "summary": {"type": ["string", "null"], "maxLength": MAX_SUMMARY},
    "content": {"type": ["string", "null"], "description": "HTML, sanitised when stored"},
    "published": _TIME,
    "updated": _TIME | {"description": "RFC 3339, not earlier than published; "
                        "left out on PUT/PATCH keeps the stored value"},
    "url": _URL,
    "image": {"type": ["object", "null"], "required": ["url"], "additionalProperties": False,
              "properties": {"url": {"type": "string", "format": "uri"},
                             "type": {"type": ["string", "null"]},
                             "length": {"type": ["integer", "null"], "minimum": 0}}},
    "language": {"type": ["string", "null"], "pattern": r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$"},
}
_FEEDS = {"type": "object", "properties": {
    "scope": {"enum": ["section", "topic", "author"]}, "name": {"type": "string"},
    "atom": {"type": "string"}, "rss": {"type": "string"}, "json": {"type": "string"}}}
_ARTICLE = {
    "type": "object",
    "required": ["key", "id", "status", "title", "section", "section_slug", "topics",
                 "topic_slugs", "authors", "published", "updated", "page_url", "feeds"],
    "properties": {
        "key": _KEY,
        "id": {"type": "string", "description": "tag URI (RFC 4151), never changes"},
        "status": {"enum": ["published", "scheduled", "deleted"]},
        "title": {"type": "string"}, "section": {"type": "string"},
        "section_slug": {"type": "string"},
        "topics": {"type": "array", "items": {"type": "string"}},
        "topic_slugs": {"type": "array", "items": {"type": "string"}},
        "authors": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "email": {"type": ["string", "null"]},
            "url": {"type": ["string", "null"]}, "slug": {"type": "string"}}}},
        "summary": {"type": ["string", "null"]}, "content": {"type": ["string", "null"]},
        "published": {"type": "string", "format": "date-time"},
        "updated": {"type": "string", "format": "date-time"},
        "url": {"type": ["string", "null"]},
        "image": {"type": ["object", "null"]},
        "language": {"type": ["string", "null"]},
        "deleted": {"type": ["string", "null"], "format": "date-time"},
        "page_url": {"type": "string"},
        "feeds": {"type": "array", "items": _FEEDS},
    },
}
_PROBLEM = {"type": "object", "required": ["title", "status"], "properties": {
    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
    "detail": {"type": "string"},
    "errors": {"type": "array", "items": {"type": "object", "properties": {
        "pointer": {"type": "string"}, "detail": {"type": "string"}}}}}}


def _problems(*codes: int) -> dict[str, Any]:
    reasons = {400: "Malformed JSON or query", 401: "No or bad token", 404: "No such article",
               409: "The key is taken", 410: "The article was deleted",
               412: "If-Match did not match", 413: "Body too large",
               415: "Not application/json", 422: "A field is not valid",
               429: "Too many bad tokens from this client (Retry-After)",
               503: "The database is unavailable (Retry-After)"}
    return {str(code): {"description": reasons[code], "content": {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        for code in codes}


def _article_response(description: str) -> dict[str, Any]:
    return {"description": description, "headers": {"ETag": {"schema": {"type": "string"}}},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Article"}}}}


def spec(base: str) -> dict[str, Any]:
    """The whole document; ``base`` is the server URL it names."""
    body = {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/ArticleInput"}}}}
    patch_body = {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/ArticlePatch"}}}}
    key_param = {"name": "key", "in": "path", "required": True, "schema": _KEY}
    if_match = {"name": "If-Match", "in": "header", "required": False,
                "schema": {"type": "string"}, "description": "an ETag from a GET; 412 if stale"}
    document = {
        "openapi": "3.1.0",
        "info": {"title": "feedsvc API", "version": "1",
                 "description": "Articles in; Atom, RSS and JSON Feed out."},
        "servers": [{"url": base}],
        "security": [{"bearer": []}],
        "paths": {
            "/api/articles": {
                "get": {"summary": "List articles, newest published first, scheduled included",
                        "parameters": [
                            {"name": n, "in": "query", "required": False,
                             "schema": {"type": "string"}} for n in
                            ("section", "topic", "author", "cursor")] + [
                            {"name": "status", "in": "query", "required": False,
                             "schema": {"enum": ["published", "scheduled", "deleted"]}},
                            {"name": "limit", "in": "query", "required": False,
                             "schema": {"type": "integer", "minimum": 1, "maximum": 200}}],
                        "responses": {"200": {"description": "A page of articles", "content": {
                            "application/json": {"schema": {"type": "object", "properties": {
                                "articles": {"type": "array",
                                             "items": {"$ref": "#/components/schemas/Article"}},
                                "next": {"type": ["string", "null"]}}}}}}}
                        | _problems(400, 401)},
                "post": {"summary": "Create an article (key derived from the title if absent)",
                         "requestBody": body,
                         "responses": {"201": _article_response("Created")
                                       | {"headers": {"Location": {"schema": {"type": "string"}},
                                                      "ETag": {"schema": {"type": "string"}}}}}
                         | _problems(400, 401, 409, 413, 415, 422)},
            },
            "/api/articles/{key}": {
                "parameters": [key_param],
                "get": {"summary": "Read one article (deleted ones too, as tombstones)",
                        "responses": {"200": _article_response("The article"),
                                      "304": {"description": "Not modified (If-None-Match)"}}
                        | _problems(401, 404)},
                "put": {"summary": "Create or replace; published and updated kept if left out",
                        "parameters": [if_match], "requestBody": body,
                        "responses": {"200": _article_response("Replaced"),
                                      "201": _article_response("Created")}
                        | _problems(400, 401, 412, 413, 415, 422)},
                "patch": {"summary": "Change the given fields", "parameters": [if_match],
                          "requestBody": patch_body,
                          "responses": {"200": _article_response("Changed")}
                          | _problems(400, 401, 404, 410, 412, 413, 415, 422)},
                "delete": {"summary": "Delete (a tombstone stays)", "parameters": [if_match],
                           "responses": {"204": {"description": "Deleted"}}
                           | _problems(401, 404, 410, 412)},
            },
            "/api/openapi.json": {"get": {"summary": "This document", "security": [],
                                          "responses": {"200": {"description": "OpenAPI 3.1"}}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "ArticleInput": {"type": "object", "required": ["title", "section"],
                                 "additionalProperties": False,
                                 "properties": _INPUT_PROPERTIES},
                "ArticlePatch": {"type": "object", "additionalProperties": False,
                                 "properties": _INPUT_PROPERTIES},
                "Article": _ARTICLE,
                "Problem": _PROBLEM,
            },
        },
    }
    for path, item in document["paths"].items():  # type: ignore[attr-defined]
        for method, operation in item.items():
            if method != "parameters" and path != "/api/openapi.json":
                operation["responses"] |= _problems(429, 503)
    return document
