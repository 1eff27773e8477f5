"""Inputs of issue 12's kinds that still broke feedsvc after its fixes (a red-team pass).

Each test states the right behaviour; the comment says what happened before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from feedcheck import read
from flask import Flask
from flask.testing import FlaskClient

from feedsvc import config
from feedsvc.errors import ConfigError
from feedsvc.store import db
from feedsvc.store.sanitize import has_forbidden
from feedsvc.transfer import jsonl

from conftest import Api, make_article

XML_FORMATS = ("atom", "rss")
SCOPES = ("/feed", "/sections/world/feed", "/topics/climate/feed")


def exported(app: Flask) -> list[dict[str, Any]]:
    from sqlalchemy.orm import Session

    with app.app_context(), Session(db.get_engine(app)) as session:
        return [json.loads(line) for line in jsonl.export_lines(session)]


# --- Content: ammonia decodes character references, so "&#xFFFF;" came out as U+FFFF ----------

@pytest.mark.parametrize("content", [
    "<p>&#xFFFF;&#1;text</p>",
    '<p title="&#1;">text</p>',
    "<p>&#xFDD0;&#x1FFFE;text</p>",
    '<a href="https://news.example/&#1;">text</a>',
])
def test_a_character_reference_xml_forbids_does_not_cost_the_entry(
        api: Api, client: FlaskClient, content: str) -> None:
    # Before: stored (201) with U+FFFF / U+0001 in the body; every Atom and RSS feed then left
    # the entry out (render's fallback), so the article was published nowhere but JSON Feed.
    assert api.put("c", make_article(key="c", content=content)).status_code == 201
    stored = api.get("c").get_json()["content"]
    assert not has_forbidden(stored) and "text" in stored
    for scope in SCOPES:
        for fmt in XML_FORMATS:
            response = client.get(f"{scope}.{fmt}")
            assert response.status_code == 200
            assert len(read(response.data, fmt)) == 1, (scope, fmt)


def test_a_scheme_split_by_a_character_reference_is_judged_whole(api: Api) -> None:
    # "java&#1;script:" is "javascript:" once the U+0001 the reference names is removed.
    body = make_article(key="s", url=None, content='<a href="java&#1;script:alert(1)">x</a>')
    assert api.put("s", body).status_code == 201
    stored = api.get("s").get_json()["content"]
    assert "script:" not in stored and "\x01" not in stored


# --- URLs: urlsplit takes any character in a host ----------------------------------------------

BAD_HOSTS = ["http://a\\b.example/", "http://exa<mple.com/", "http://a{b}.example/",
             "http://a|b.example/", "http://a`b.example/", "http://[v1.x]/", "http://[::1]:8080/x",
             "http://a_b.example/", "http://localhost/x"]


@pytest.mark.parametrize("url", BAD_HOSTS)
@pytest.mark.parametrize("field", ["url", "author", "image"])
def test_a_link_whose_host_is_no_dns_name_is_refused(api: Api, url: str, field: str) -> None:
    # Before: 201, and the W3C validator reported "Invalid character in a URI" (Atom and RSS
    # links), or "url must be a full URL" (an RSS enclosure on an undotted or "_" host).
    body = {"url": make_article(url=url),
            "author": make_article(authors=[{"name": "Ann", "url": url}]),
            "image": make_article(image={"url": url, "type": "image/jpeg", "length": 5})}[field]
    response = api.put(body["key"], body)
    assert response.status_code == 422
    pointers = [e["pointer"] for e in response.get_json()["errors"]]
    assert pointers == [{"url": "#/url", "author": "#/authors", "image": "#/image/url"}[field]]


def test_a_percent_sign_that_escapes_nothing_is_escaped(api: Api) -> None:
    # RFC 3986 2.1: "%zz" is no percent-encoding; the stored link was not a URI.
    response = api.put("p", make_article(key="p", url="https://news.example/a%zz?q=100%"))
    assert response.status_code == 201
    assert response.get_json()["url"] == "https://news.example/a%25zz?q=100%25"


@pytest.mark.parametrize("tag", ["a", "abcdefgh", "i-klingon", "abcd-US"])
def test_a_language_that_is_no_language_code_is_refused(api: Api, tag: str) -> None:
    # Before: 201, and every Atom feed failed the validator ("xml:lang must be an ISO-639
    # language code"), every RSS one too ("language must be ...").
    response = api.put("l", make_article(key="l", language=tag))
    assert response.status_code == 422
    assert [e["pointer"] for e in response.get_json()["errors"]] == ["#/language"]


@pytest.mark.parametrize("tag", ["en", "bn-BD", "zh-Hant-TW", "x-klingon", "ast"])
def test_language_codes_stay_accepted(api: Api, tag: str) -> None:
    assert api.put("l", make_article(key="l", language=tag)).status_code == 201


# --- The WebSub hub: PostgreSQL cannot hold or compare a NUL ------------------------------------

@pytest.mark.parametrize("form", [
    {"hub.topic": "http://feeds.test/sections/%00/feed.atom"},
    {"hub.secret": "a\x00b"},
    {"hub.mode": "sub\x00scribe"},
    {"hub.callback": "https://sub.example/\x00"},
])
def test_a_nul_in_a_hub_parameter_is_a_400(api: Api, client: FlaskClient, form: dict[str, str]) -> None:
    # Before, on PostgreSQL: 500 (psycopg DataError: text fields cannot contain NUL).
    api.put("k", make_article(key="k"))
    client.application.config["WEBSUB_ALLOW_PRIVATE"] = True  # no DNS look-up of the callback
    data = {"hub.mode": "subscribe", "hub.callback": "https://sub.example/cb",
            "hub.topic": "http://feeds.test/sections/world/feed.atom"} | form
    response = client.post("/websub", data=data)
    assert response.status_code == 400
    assert [e["parameter"] for e in response.get_json()["errors"]] == list(form)


# --- Configuration -----------------------------------------------------------------------------

@pytest.mark.parametrize("environ", [
    {"FEEDSVC_TIMEZONE": "America"},  # a directory of the zone database: IsADirectoryError
    {"FEEDSVC_SITE_TITLE": "News\x01"},  # in every feed: Atom and RSS were a 500
    {"FEEDSVC_SITE_TITLE": "News\uffff"},
    {"FEEDSVC_WEBSUB_HUB": "https://hub.example/\uffff"},  # every feed a 500
    {"FEEDSVC_WEBSUB_HUB": "https://hub.example/a b"},  # every feed invalid
    {"FEEDSVC_WEBSUB_HUB": "https://user:secret@hub.example/"},  # a published credential
    {"FEEDSVC_BASE_URL": "http://feeds.test/a b", "FEEDSVC_ID_AUTHORITY": "feeds.test"},
    {"FEEDSVC_BASE_URL": "http://user:secret@feeds.test"},
])
def test_a_configuration_no_feed_can_carry_stops_the_start(tmp_path: Path,
                                                           environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as refused:
        config.load(tmp_path, environ, None)
    assert refused.value.key in {key.removeprefix("FEEDSVC_") for key in environ}


def test_a_timezone_that_is_a_folder_stops_the_cli_without_a_traceback(tmp_path: Path) -> None:
    env = {"FEEDSVC_INSTANCE_PATH": str(tmp_path), "FEEDSVC_TIMEZONE": "America", "PATH": ""}
    result = subprocess.run([sys.executable, "-m", "feedsvc.cli", "db", "upgrade"], env=env,
                            capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 2, result.stderr
    assert "TIMEZONE" in result.stderr and "Traceback" not in result.stderr


def test_an_iri_hub_is_advertised_as_a_uri(make_app: Any) -> None:
    app = make_app(WEBSUB_HUB="https://hüb.example/ä")
    assert app.config["WEBSUB_HUB"] == "https://xn--hb-xka.example/%C3%A4"


# --- Import -------------------------------------------------------------------------------------

def rss(enclosure: str) -> str:
    return f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Old</title>
<link>https://old.example/</link><description>d</description>
<item><title>Flood</title><link>https://old.example/a</link><guid>https://old.example/a</guid>
<pubDate>Mon, 01 Jun 2026 10:00:00 GMT</pubDate>{enclosure}</item></channel></rss>"""


@pytest.mark.parametrize("attributes,image_type,length", [
    ('length="²" type="image/jpeg"', "image/jpeg", None),  # "²".isdigit(): a ValueError
    ('length="99999999999" type="image/jpeg"', "image/jpeg", None),  # past the column
    ('length="5" type="image/jpeg; q=1"', "image/jpeg", 5),  # a media type with parameters
    ('length="5" type="image/"', None, 5),
])
def test_an_enclosure_with_an_odd_length_or_type_keeps_its_entry(
        app: Flask, tmp_path: Path, attributes: str, image_type: str | None,
        length: int | None) -> None:
    # Before: the whole entry was skipped ("entry 1: skipped"), for an advisory attribute.
    path = tmp_path / "old.xml"
    path.write_text(rss(f'<enclosure url="https://old.example/i.jpg" {attributes}/>'),
                    encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["import", "--quiet", str(path)])
    assert result.exit_code == 0, result.output
    [record] = exported(app)
    assert record["image"] == {"url": "https://old.example/i.jpg", "type": image_type,
                               "length": length, "width": None, "height": None, "alt": None,
                               "caption": None, "credit": None, "renditions": []}


def test_a_byte_order_mark_does_not_cost_the_first_line(app: Flask, tmp_path: Path) -> None:
    # Before: "line 1: skipped: not JSON: Unexpected UTF-8 BOM" (RFC 8259 8.1 lets it go).
    path = tmp_path / "bom.jsonl"
    lines = [json.dumps(make_article(key=k)) for k in ("first", "second")]
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode() + b"\n")
    result = app.test_cli_runner().invoke(args=["import", "--quiet", str(path)])
    assert result.exit_code == 0, result.output
    assert {r["key"] for r in exported(app)} == {"first", "second"}


@pytest.mark.skipif(not os.environ.get("FEEDVALIDATOR_DIR"), reason="set FEEDVALIDATOR_DIR")
def test_feeds_of_the_cleaned_inputs_validate(api: Api, client: FlaskClient) -> None:
    from test_validator import validate

    api.put("c", make_article(key="c", content="<p>&#xFFFF;text</p>", language="bn-BD",
                              url="https://news.example/a%zz",
                              image={"url": "https://news.example/i.jpg", "type": "image/jpeg"}))
    for scope in SCOPES:
        for fmt in XML_FORMATS:
            errors, _ = validate(client.get(f"{scope}.{fmt}").data)
            assert errors == [], (scope, fmt, errors)
