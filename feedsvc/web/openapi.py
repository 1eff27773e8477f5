"""The OpenAPI 3.1 description of /api, served at /api/openapi.json."""

from __future__ import annotations

from typing import Any

from feedsvc.store.params import MAX_LISTING, SCOPE_FILTERS, STATUSES
from feedsvc.store.payload import (
    EMAIL,
    IMAGE_FIELDS,
    LANGUAGE,
    MAX_ALT,
    MAX_AUTHORS,
    MAX_BYTES,
    MAX_CAPTION,
    MAX_CREDIT,
    MAX_EMAIL,
    MAX_KEY,
    MAX_LANGUAGE,
    MAX_MEDIA_TYPE,
    MAX_NAME,
    MAX_PIXELS,
    MAX_RENDITION_ITEMS,
    MAX_RENDITIONS,
    MAX_SUMMARY,
    MAX_TITLE,
    MAX_TOPICS,
    MAX_URL,
    MEDIA_TYPE,
    RENDITION_FIELDS,
)

_KEY = {"type": "string", "pattern": rf"^(?!\.+$)[A-Za-z0-9._~-]{{1,{MAX_KEY}}}$"}
_HTTP_URL = {"format": "uri", "pattern": r"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#\s]",
             "description": "absolute http(s) URL; an IRI is stored as its URI (RFC 3987 3.1)"}
_URL = {"type": ["string", "null"], "maxLength": MAX_URL, "description": 'absolute http(s) URL; "" or null for none',
        "anyOf": [_HTTP_URL, {"maxLength": 0}]}
_TIME = {"type": ["string", "null"], "format": "date-time",
         "description": "RFC 3339, years 1900-8999; an offset left out means the site's TIMEZONE"}


def _picture(url: dict[str, Any], text: dict[str, Any], whole: dict[str, Any]) -> dict[str, Any]:
    """The members of one picture file (the lead image, or one of its renditions)."""
    return {"url": url, "type": text, "length": whole | {"maximum": MAX_BYTES, "minimum": 0},
            "width": whole | {"minimum": 1, "maximum": MAX_PIXELS, "description": "pixels"},
            "height": whole | {"minimum": 1, "maximum": MAX_PIXELS, "description": "pixels"}}


_MEDIA_TYPE_INPUT = {"type": ["string", "null"], "description": "a media type",
                     "maxLength": MAX_MEDIA_TYPE, "pattern": f"^{MEDIA_TYPE}$"}
_WHOLE_INPUT = {"type": ["integer", "null"]}
_PICTURE_INPUT = _picture({"type": "string", "maxLength": MAX_URL} | _HTTP_URL, _MEDIA_TYPE_INPUT, _WHOLE_INPUT)


def _plain(limit: int) -> dict[str, Any]:
    return {"type": ["string", "null"], "maxLength": limit, "description": "plain text; markup shows as text"}


def _text(limit: int) -> dict[str, Any]:
    """Plain text that must say something: whitespace is folded, and none at all is a 422."""
    return {"type": "string", "minLength": 1, "maxLength": limit, "pattern": r"\S"}


_INPUT_PROPERTIES: dict[str, Any] = {
    "key": _KEY,
    "title": _text(MAX_TITLE),
    "section": _text(MAX_NAME),
    "topics": {"type": ["array", "null"], "maxItems": MAX_TOPICS, "items": _text(MAX_NAME)},
    "authors": {"type": ["array", "null"], "maxItems": MAX_AUTHORS, "items": {"anyOf": [
        _text(MAX_NAME) | {"description": "a name alone"},
        {"type": "object", "required": ["name"], "additionalProperties": False, "properties": {
            "name": _text(MAX_NAME),
            "email": {"type": ["string", "null"], "maxLength": MAX_EMAIL,
                      "anyOf": [{"pattern": f"^{EMAIL}$"}, {"maxLength": 0}]},
            "url": _URL,
            "slug": {"type": "string", "readOnly": True, "description": "given in responses; ignored"}}}]}},
    "summary": {"type": ["string", "null"], "maxLength": MAX_SUMMARY},
    "content": {"type": ["string", "null"], "description": "HTML, sanitised when stored"},
    "published": _TIME,
    "updated": _TIME | {"description": "RFC 3339, not earlier than published; "
                        "left out on PUT/PATCH keeps the stored value"},
    "url": _URL,
    "image": {"type": ["object", "null"], "required": ["url"], "additionalProperties": False,
              "description": "the lead picture; renditions are the same picture at other sizes",
              "properties": _PICTURE_INPUT | {
                  "alt": _plain(MAX_ALT), "caption": _plain(MAX_CAPTION), "credit": _plain(MAX_CREDIT),
                  "renditions": {"type": ["array", "null"], "maxItems": MAX_RENDITION_ITEMS,
                                 "description": f"at most {MAX_RENDITIONS} files once repeats of one "
                                                "URL (or of the lead) are left out", "items": {
                      "type": "object", "required": ["url"], "additionalProperties": False,
                      "properties": _PICTURE_INPUT}}}},
    "language": {"type": ["string", "null"], "maxLength": MAX_LANGUAGE,
                 "pattern": f"^{LANGUAGE}$"},
}
_NULLABLE_TEXT = {"type": ["string", "null"]}
_PICTURE_OUTPUT = _picture({"type": "string"}, _NULLABLE_TEXT, {"type": ["integer", "null"]})
_FEEDS = {"type": "object", "required": ["scope", "name", "atom", "rss", "json"],
          "additionalProperties": False, "properties": {
              "scope": {"enum": ["site", *SCOPE_FILTERS]}, "name": {"type": "string"},
              "atom": {"type": "string"}, "rss": {"type": "string"}, "json": {"type": "string"}}}
_ARTICLE_PROPERTIES: dict[str, Any] = {
    "key": _KEY,
    "id": {"type": "string", "description": "tag URI (RFC 4151), never changes"},
    "status": {"enum": list(STATUSES)},
    "title": {"type": "string"}, "section": {"type": "string"},
    "section_slug": {"type": "string"},
    "topics": {"type": "array", "items": {"type": "string"}},
    "topic_slugs": {"type": "array", "items": {"type": "string"}},
    "authors": {"type": "array", "items": {
        "type": "object", "required": ["name", "email", "url", "slug"], "additionalProperties": False,
        "properties": {"name": {"type": "string"}, "email": _NULLABLE_TEXT, "url": _NULLABLE_TEXT,
                       "slug": {"type": "string"}}}},
    "summary": _NULLABLE_TEXT, "content": _NULLABLE_TEXT,
    "published": {"type": "string", "format": "date-time"},
    "updated": {"type": "string", "format": "date-time"},
    "url": _NULLABLE_TEXT,
    "image": {"type": ["object", "null"], "required": list(IMAGE_FIELDS),
              "additionalProperties": False, "properties": _PICTURE_OUTPUT | {
                  "alt": _NULLABLE_TEXT, "caption": _NULLABLE_TEXT, "credit": _NULLABLE_TEXT,
                  "renditions": {"type": "array", "items": {
                      "type": "object", "required": list(RENDITION_FIELDS), "additionalProperties": False,
                      "properties": _PICTURE_OUTPUT}}}},
    "language": _NULLABLE_TEXT,
    "deleted": {"type": ["string", "null"], "format": "date-time"},
    "page_url": {"type": "string"},
    "feeds": {"type": "array", "items": _FEEDS},
}
# Every field, always (null when unset): a client can rely on the shape.
_ARTICLE = {"type": "object", "required": list(_ARTICLE_PROPERTIES), "additionalProperties": False,
            "properties": _ARTICLE_PROPERTIES}
_PROBLEM = {"type": "object", "required": ["type", "title", "status", "detail"], "properties": {
    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
    "detail": {"type": "string"},
    # Each names a body field by its JSON pointer, or a query parameter or header (params.problem).
    "errors": {"type": "array", "items": {"type": "object", "required": ["detail"],
                                          "oneOf": [{"required": ["pointer"]},
                                                    {"required": ["parameter", "in"]}],
                                          "properties": {"pointer": {"type": "string"},
                                                         "parameter": {"type": "string"},
                                                         "in": {"enum": ["query", "header"]},
                                                         "detail": {"type": "string"}}}}}}
_PAGE = {"type": "object", "required": ["articles", "next"], "additionalProperties": False, "properties": {
    "articles": {"type": "array", "items": {"$ref": "#/components/schemas/Article"}},
    "next": {"type": ["string", "null"], "description": "the next page's URL, also in a Link header"}}}


def _header(description: str) -> dict[str, Any]:
    return {"required": True, "description": description, "schema": {"type": "string"}}


_ETAG = {"ETag": _header("the article's version, for If-Match and If-None-Match")}
_LOCATION = {"Location": _header("the article's URL in the API")}
# Headers that a problem always carries with these statuses (RFC 6750 section 3, RFC 9110 10.2.3).
_PROBLEM_HEADERS = {401: {"WWW-Authenticate": _header('Bearer realm="feedsvc"')},
                    429: {"Retry-After": _header("seconds to wait")},
                    503: {"Retry-After": _header("seconds to wait")}}


def _problems(*codes: int) -> dict[str, Any]:
    reasons = {400: "Malformed JSON, query or URL", 401: "No or bad token", 404: "No such article",
               409: "The key is taken", 410: "The article was deleted",
               412: "If-Match did not match", 413: "Body too large",
               415: "Not application/json", 422: "A field is not valid",
               429: "Too many bad tokens from this client (Retry-After)",
               503: "The database is unavailable (Retry-After)"}
    return {str(code): {"description": reasons[code], "content": {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        | ({"headers": _PROBLEM_HEADERS[code]} if code in _PROBLEM_HEADERS else {})
        for code in codes}


def _article_response(description: str, created: bool = False) -> dict[str, Any]:
    return {"description": description, "headers": _ETAG | (_LOCATION if created else {}),
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
    if_none_match = {"name": "If-None-Match", "in": "header", "required": False,
                     "schema": {"type": "string"}, "description": "an ETag from a GET; 304 if current"}
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
                            (*SCOPE_FILTERS, "cursor")] + [
                            {"name": "status", "in": "query", "required": False,
                             "schema": {"enum": list(STATUSES)}},
                            {"name": "limit", "in": "query", "required": False,
                             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LISTING}}],
                        "responses": {"200": {"description": "A page of articles", "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Page"}}}}}
                        | _problems(400, 401)},
                "post": {"summary": "Create an article (key derived from the title if absent)",
                         "requestBody": body,
                         "responses": {"201": _article_response("Created", created=True)}
                         | _problems(400, 401, 409, 413, 415, 422)},
            },
            "/api/articles/{key}": {
                "parameters": [key_param],
                "get": {"summary": "Read one article (deleted ones too, as tombstones)",
                        "parameters": [if_none_match],
                        "responses": {"200": _article_response("The article"),
                                      "304": {"description": "Not modified (If-None-Match)",
                                              "headers": _ETAG}}
                        | _problems(400, 401, 404)},
                "put": {"summary": "Create or replace; published and updated kept if left out",
                        "parameters": [if_match], "requestBody": body,
                        "responses": {"200": _article_response("Replaced"),
                                      "201": _article_response("Created", created=True)}
                        | _problems(400, 401, 412, 413, 415, 422)},
                "patch": {"summary": "Change the given fields", "parameters": [if_match],
                          "requestBody": patch_body,
                          "responses": {"200": _article_response("Changed")}
                          | _problems(400, 401, 404, 410, 412, 413, 415, 422)},
                "delete": {"summary": "Delete (a tombstone stays)", "parameters": [if_match],
                           "responses": {"204": {"description": "Deleted"}}
                           | _problems(400, 401, 404, 410, 412)},
            },
            "/api/openapi.json": {"get": {"summary": "This document", "security": [], "responses": {
                "200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["openapi", "info", "paths"]}}}}}}},
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
                "Page": _PAGE,
                "Problem": _PROBLEM,
            },
        },
    }
    for path, item in document["paths"].items():  # type: ignore[attr-defined]
        for method, operation in item.items():
            if method != "parameters" and path != "/api/openapi.json":
                operation["responses"] |= _problems(429, 503)
    return document
