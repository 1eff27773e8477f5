"""Feed branding and categories that resolve (issue 17), as feed readers receive them.

SITE_LOGO, SITE_ICON, SITE_RIGHTS and SITE_LANGUAGE in each format's own element, RSS <ttl>
from CACHE_MAX_AGE, a restart with other settings giving new bytes and validators, and each
section and topic as a category whose scheme (Atom) or domain (RSS) is its page.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import feedparser
import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from test_formats import entry, feed

from feedsvc import config
from feedsvc.errors import ConfigError
from feedsvc.feeds import formats, service, urls
from feedsvc.feeds.document import Branding

from conftest import Api, Clock, make_article, new_token

ATOM = "{http://www.w3.org/2005/Atom}"
DC = "{http://purl.org/dc/elements/1.1/}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
BASE = "http://feeds.test"
BRANDING = {"SITE_LOGO": "https://news.example/brand/logo-wide.png",
            "SITE_ICON": "https://news.example/brand/icon-512.png",
            "SITE_RIGHTS": "© 2026 News & Co. <Ltd> — সর্বস্বত্ব সংরক্ষিত",
            "SITE_LANGUAGE": "en-GB", "CACHE_MAX_AGE": 90}


def branded_api(make_app: Any, **config: Any) -> tuple[Flask, Api]:
    app = make_app(**config)
    return app, Api(app.test_client(), {"Authorization": f"Bearer {new_token(app)}"})


@pytest.fixture
def branded(make_app: Any) -> FlaskClient:
    """A branded site with an English and a Bengali article in one section and topic."""
    app, api = branded_api(make_app, **BRANDING)
    for body in (make_article(key="en-1", section="World", topics=["Floods", "বন্যা"], language="en-GB"),
                 make_article(key="bn-1", section="World", topics=["বন্যা"], language="bn",
                              published="2026-10-02T10:00:00Z", updated="2026-10-02T10:00:00Z")):
        assert api.put(body["key"], body).status_code == 201
    return app.test_client()


def get(client: FlaskClient, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, (url, response.data[:300])
    return response.data


# -- branding in every format -----------------------------------------------------------------


def test_atom_carries_logo_icon_rights_and_language(branded: FlaskClient) -> None:
    body = get(branded, "/feed.atom")
    parsed = feedparser.parse(body)
    assert parsed.feed.logo == BRANDING["SITE_LOGO"]
    assert parsed.feed.icon == BRANDING["SITE_ICON"]
    assert parsed.feed.rights == BRANDING["SITE_RIGHTS"]
    assert parsed.feed.language == "en-GB"
    root = etree.fromstring(body)
    assert root.get(XML_LANG) == "en-GB"
    assert root.find(f"{ATOM}rights").get("type") in (None, "text")
    # An entry in another language than the site's says so itself.
    langs = {e.findtext(f"{ATOM}title"): e.get(XML_LANG) for e in root.iter(f"{ATOM}entry")}
    assert sorted(langs.values()) == ["bn", "en-GB"]


def test_rss_carries_image_copyright_language_and_ttl(branded: FlaskClient) -> None:
    body = get(branded, "/sections/world/feed.rss")
    parsed = feedparser.parse(body)
    assert parsed.feed.image.href == BRANDING["SITE_LOGO"]
    # RSS 2.0 requires the image's title and link: the channel's own, as the profile asks.
    assert parsed.feed.image.title == parsed.feed.title
    assert parsed.feed.image.link == f"{BASE}/sections/world/" == parsed.feed.link
    assert parsed.feed.rights == BRANDING["SITE_RIGHTS"]
    assert parsed.feed.language == "en-GB"
    channel = etree.fromstring(body).find("channel")
    assert channel.findtext("ttl") == "2"  # 90 seconds, rounded up to whole minutes
    assert channel.findtext("copyright") == BRANDING["SITE_RIGHTS"]
    # RSS has no <language> per item: Dublin Core's, only where it differs from the channel.
    items = {item.findtext("guid").rsplit(":", 1)[1]: item for item in channel.iter("item")}
    assert items["bn-1"].findtext(f"{DC}language") == "bn"
    assert items["en-1"].find(f"{DC}language") is None
    assert [e.get("language") for e in parsed.entries] == ["bn", None]


def test_json_feed_carries_icon_favicon_and_language(branded: FlaskClient) -> None:
    document = json.loads(get(branded, "/topics/%E0%A6%AC%E0%A6%A8%E0%A7%8D%E0%A6%AF%E0%A6%BE/feed.json"))
    assert document["icon"] == document["favicon"] == BRANDING["SITE_ICON"]
    assert document["language"] == "en-GB"
    assert [item.get("language") for item in document["items"]] == ["bn", "en-GB"]


def test_rss_image_falls_back_to_the_icon(make_app: Any) -> None:
    app, api = branded_api(make_app, SITE_ICON="https://news.example/icon.png")
    assert api.put("a", make_article(key="a")).status_code == 201
    parsed = feedparser.parse(get(app.test_client(), "/feed.rss"))
    assert parsed.feed.image.href == "https://news.example/icon.png"
    atom = feedparser.parse(get(app.test_client(), "/feed.atom"))
    assert atom.feed.icon == "https://news.example/icon.png" and "logo" not in atom.feed


def test_without_branding_feeds_carry_none_of_it(api: Api) -> None:
    assert api.put("a", make_article(key="a", language="bn")).status_code == 201
    client = api.client
    atom = etree.fromstring(get(client, "/feed.atom"))
    assert [atom.find(f"{ATOM}{name}") for name in ("logo", "icon", "rights")] == [None] * 3
    assert atom.get(XML_LANG) == "bn"  # the entries' one language, as before
    channel = etree.fromstring(get(client, "/feed.rss")).find("channel")
    assert channel.find("image") is None and channel.find("copyright") is None
    assert channel.findtext("language") == "bn" and channel.findtext("ttl") == "1"
    document = json.loads(get(client, "/feed.json"))
    assert "icon" not in document and "favicon" not in document


@pytest.mark.parametrize(("max_age", "ttl"), [(0, None), (1, 1), (59, 1), (60, 1), (61, 2),
                                              (3600, 60), (86401, 1441)])
def test_rss_ttl_is_cache_max_age_in_minutes_rounded_up(max_age: int, ttl: int | None) -> None:
    assert service.rss_ttl(max_age) == ttl
    channel = etree.fromstring(formats.rss(feed(entry(1), branding=Branding(ttl=ttl)))).find("channel")
    assert channel.findtext("ttl") == (None if ttl is None else str(ttl))


def test_no_ttl_when_feeds_are_not_cached(make_app: Any) -> None:
    app, api = branded_api(make_app, CACHE_MAX_AGE=0)
    assert api.put("a", make_article(key="a")).status_code == 201
    assert etree.fromstring(get(app.test_client(), "/feed.rss")).find("channel/ttl") is None


# -- a restart with other settings -------------------------------------------------------------


def test_a_restart_with_other_branding_gives_new_bytes_and_validators(make_app: Any, clock: Clock) -> None:
    app, api = branded_api(make_app, SITE_RIGHTS="Old rights")
    assert api.put("a", make_article(key="a")).status_code == 201
    clock.advance(minutes=5)
    before = app.test_client().get("/feed.atom")
    assert feedparser.parse(before.data).feed.rights == "Old rights"
    etag, modified = before.headers["ETag"], before.headers["Last-Modified"]

    same = make_app(SITE_RIGHTS="Old rights").test_client()  # a restart, nothing changed
    assert same.get("/feed.atom", headers={"If-None-Match": etag}).status_code == 304

    restarted = make_app(SITE_RIGHTS="New rights").test_client()
    for headers in ({"If-None-Match": etag}, {"If-Modified-Since": modified}):
        after = restarted.get("/feed.atom", headers=headers)
        assert after.status_code == 200, headers
        assert feedparser.parse(after.data).feed.rights == "New rights"
        assert after.headers["ETag"] != etag
        assert (dt.datetime.strptime(after.headers["Last-Modified"], "%a, %d %b %Y %H:%M:%S GMT")
                > dt.datetime.strptime(modified, "%a, %d %b %Y %H:%M:%S GMT"))
    # The new document is the stored one now: a poll with its validators is a 304.
    again = restarted.get("/feed.atom", headers={"If-None-Match": after.headers["ETag"]})
    assert again.status_code == 304


def test_the_settings_mark_names_every_setting() -> None:
    plain = service.FeedSettings("Site", "news.example", 50, 30, None)
    for changed in (service.FeedSettings("Site", "news.example", 50, 30, None, language="en"),
                    service.FeedSettings("Site", "news.example", 50, 30, None,
                                         branding=Branding(rights="©")),
                    service.FeedSettings("Site", "news.example", 50, 30, None, branding=Branding(ttl=2)),
                    service.FeedSettings("Other", "news.example", 50, 30, None)):
        assert changed.mark() != plain.mark()
    assert plain.mark() == service.FeedSettings("Site", "news.example", 50, 30, None).mark()


# -- categories that resolve -------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_section_and_topics_are_categories_whose_scheme_is_their_page(branded: FlaskClient, fmt: str) -> None:
    parsed = feedparser.parse(get(branded, f"/feed.{fmt}"))
    [english] = [e for e in parsed.entries if len(e.tags) == 3]  # en-1: a section, two topics
    tags = [(t.term, t.scheme) for t in english.tags]
    assert tags == [("World", urls.scope_page(BASE, "sections", "world")),
                    ("Floods", urls.scope_page(BASE, "topics", "floods")),
                    ("বন্যা", urls.scope_page(BASE, "topics", "বন্যা"))]
    if fmt == "atom":
        assert [t.label for t in english.tags] == ["World", "Floods", "বন্যা"]
    for _, page in tags:  # each resolves: the page a reader opens from the category
        assert page.isascii()
        assert branded.get(page.removeprefix(BASE)).status_code == 200


def test_json_feed_tags_stay_names(branded: FlaskClient) -> None:
    items = json.loads(get(branded, "/feed.json"))["items"]
    assert [item["tags"] for item in items] == [["World", "বন্যা"], ["World", "Floods", "বন্যা"]]


# -- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "value"), [
    ("SITE_LOGO", "logo.png"), ("SITE_LOGO", "ftp://news.example/logo.png"),
    ("SITE_LOGO", "https://user:secret@news.example/logo.png"), ("SITE_LOGO", "https://news.example/a b.png"),
    ("SITE_ICON", "javascript:alert(1)"), ("SITE_ICON", "https://news.example/\x01.png"),
    ("SITE_RIGHTS", "   "), ("SITE_RIGHTS", "Copyright\x01"), ("SITE_RIGHTS", "\uffff"),
    ("SITE_LANGUAGE", "english"), ("SITE_LANGUAGE", "a"), ("SITE_LANGUAGE", "en_US"),
    ("SITE_LANGUAGE", "abcdefgh"), ("SITE_LANGUAGE", "en-"), ("SITE_LANGUAGE", "en-" + "a" * 40),
])
def test_bad_branding_names_its_key(tmp_path: Path, key: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        config.load(tmp_path, {f"FEEDSVC_{key}": value}, None)
    assert info.value.key == key and key in str(info.value)


def test_branding_from_the_file(tmp_path: Path) -> None:
    (tmp_path / "feedsvc.toml").write_text(
        'SITE_LOGO = "https://nieuws.example/ü/logo.png"\nSITE_LANGUAGE = " bn-BD "\n'
        'SITE_RIGHTS = " © 2026 "\n', encoding="utf-8")
    loaded = config.load(tmp_path, {}, None)
    assert loaded["SITE_LOGO"] == "https://nieuws.example/%C3%BC/logo.png"  # an IRI made a URI
    assert (loaded["SITE_LANGUAGE"], loaded["SITE_RIGHTS"], loaded["SITE_ICON"]) == ("bn-BD", "© 2026", None)
    (tmp_path / "feedsvc.toml").write_text("SITE_RIGHTS = 2026\n")
    with pytest.raises(ConfigError, match="SITE_RIGHTS"):
        config.load(tmp_path, {}, None)


def test_unset_and_empty_mean_no_branding(tmp_path: Path) -> None:
    loaded = config.load(tmp_path, {f"FEEDSVC_{key}": "" for key in
                                    ("SITE_LOGO", "SITE_ICON", "SITE_RIGHTS", "SITE_LANGUAGE")}, None)
    assert [loaded[k] for k in ("SITE_LOGO", "SITE_ICON", "SITE_RIGHTS", "SITE_LANGUAGE")] == [None] * 4


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(["SITE_LOGO", "SITE_ICON", "SITE_RIGHTS", "SITE_LANGUAGE"]),
       value=st.one_of(st.text(), st.from_regex(r"https?://[a-z.]{1,20}/\S{0,20}", fullmatch=True),
                       st.from_regex(r"[a-zA-Z]{1,9}(-[a-zA-Z0-9]{0,9}){0,3}", fullmatch=True)))
def test_any_text_is_refused_or_valid_in_every_format(tmp_path: Path, key: str, value: str) -> None:
    try:
        loaded = config.load(tmp_path, {f"FEEDSVC_{key}": value}, None)
    except ConfigError as exc:
        assert exc.key == key
        return
    shown = loaded[key]
    if shown is None:
        assert value == ""
        return
    branding = Branding(logo=loaded["SITE_LOGO"], icon=loaded["SITE_ICON"], rights=loaded["SITE_RIGHTS"])
    document = feed(entry(1), branding=branding, language=loaded["SITE_LANGUAGE"])
    atom = etree.fromstring(formats.atom(document))
    channel = etree.fromstring(formats.rss(document)).find("channel")
    json_feed = json.loads(formats.json_feed(document))
    found: dict[str, list[Any]] = {
        "SITE_LOGO": [atom.findtext(f"{ATOM}logo"), channel.findtext("image/url")],
        "SITE_ICON": [atom.findtext(f"{ATOM}icon"), channel.findtext("image/url"), json_feed.get("icon")],
        "SITE_RIGHTS": [atom.findtext(f"{ATOM}rights"), channel.findtext("copyright")],
        "SITE_LANGUAGE": [atom.get(XML_LANG), channel.findtext("language"), json_feed.get("language")],
    }
    assert found[key] == [shown] * len(found[key])
    if key in ("SITE_LOGO", "SITE_ICON"):
        assert shown.isascii() and shown.startswith(("http://", "https://"))
