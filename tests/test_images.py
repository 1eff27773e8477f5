"""The article's lead image in every feed format, as readers receive it (issue 17).

A corpus of pictured articles (several renditions, credits in Bengali and with "&", captions
with markup) read back the way readers read it: feedparser's media_content, media_thumbnail,
media_credit and summary; the JSON Feed image, banner_image and attachments; the <figure> at
the top of each body; FreshRSS's and Miniflux's choice of picture; the W3C validator.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import feedparser
import lxml.html
import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_branding import BRANDING
from test_feeds_property import as_feedparser_reads
from test_validator import ALLOWED, VALIDATOR, validate

from feedsvc import config
from feedsvc.errors import ConfigError
from feedsvc.feeds import service
from feedsvc.feeds.document import Enclosure, LeadImage
from feedsvc.store import payload
from feedsvc.store.sanitize import plain_text
from feedsvc.transfer import syndication

from conftest import Api, Clock, make_article, new_token, seed_article

LEAD = {"url": "https://news.example/i/xi-1200.jpg", "type": "image/jpeg", "length": 48213,
        "width": 1200, "height": 675, "alt": "Two leaders on a video call",
        "caption": "The call, as shown by <b>state</b> television — <script>alert(1)</script>",
        "credit": "ছবি: রয়টার্স & এপি",
        "renditions": [
            {"url": "https://news.example/i/xi-2048.jpg", "type": "image/jpeg", "width": 2048,
             "height": 1152, "length": 120_004},
            {"url": "https://news.example/i/xi-640.jpg", "type": "image/jpeg", "width": 640,
             "height": 360, "length": 20_113},
            {"url": "https://news.example/i/xi-160.jpg", "type": "image/jpeg", "width": 160,
             "height": 90, "length": 4_020},
            {"url": "https://news.example/i/xi-96.jpg", "type": "image/jpeg", "width": 96,
             "height": 54, "length": 2_210}]}
THUMBNAIL = "https://news.example/i/xi-160.jpg"  # the narrowest at least 150 wide
WIDEST = "https://news.example/i/xi-2048.jpg"
AMP = {"url": "https://news.example/i/flood.webp", "type": "image/webp", "width": 1024, "height": 576,
       "alt": 'Water at the door & "higher"', "caption": "Flood <i>waters</i> in Sylhet & Sunamganj",
       "credit": "Reuters & AP"}
OLD = {"url": "https://news.example/i/old.jpg", "type": "image/jpeg", "length": 9000}  # as before issue 17
SHOWN = {"url": "https://news.example/i/shown-1200.jpg", "width": 1200, "height": 800,
         "caption": "Already in the body",
         "renditions": [{"url": "https://news.example/i/shown-640.jpg", "width": 640, "height": 427}]}
IMAGES = {"xi": LEAD, "flood": AMP, "old": OLD, "shown": SHOWN, "plain": None}


def pictured_articles() -> list[dict[str, Any]]:
    seed = seed_article() | {"image": LEAD, "key": "xi"}
    return [seed,
            make_article(key="flood", image=AMP, published="2026-10-02T10:00:00Z",
                         updated="2026-10-02T10:00:00Z"),
            make_article(key="old", image=OLD, published="2026-10-03T10:00:00Z",
                         updated="2026-10-03T10:00:00Z"),
            make_article(key="shown", image=SHOWN, published="2026-10-04T10:00:00Z",
                         updated="2026-10-04T10:00:00Z",
                         content='<p>Before</p><p><img src="https://news.example/i/shown-640.jpg" '
                                 'alt="in the body"></p>'),
            make_article(key="plain", published="2026-10-05T10:00:00Z", updated="2026-10-05T10:00:00Z")]


ARTICLES = pictured_articles()  # once: make_article numbers its summaries


def site(make_app: Any, **settings_: Any) -> tuple[Flask, Api]:
    app = make_app(**settings_)
    api = Api(app.test_client(), {"Authorization": f"Bearer {new_token(app)}"})
    for body in ARTICLES:
        response = api.put(body["key"], body)
        assert response.status_code in (200, 201), response.json  # 200: another app put them
    return app, api


@pytest.fixture
def pictured(make_app: Any) -> FlaskClient:
    return site(make_app)[0].test_client()


def get(client: FlaskClient, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, (url, response.data[:300])
    return response.data


def by_key(entries: list[Any]) -> dict[str, Any]:
    return {entry.id.rsplit(":", 1)[1]: entry for entry in entries}


def pictures(image: dict[str, Any]) -> list[dict[str, Any]]:
    """The lead, then its renditions: every file of the picture."""
    return [image, *image.get("renditions", [])]


def figure_of(html: str) -> lxml.html.HtmlElement | None:
    """The <figure> that opens the body, if it does."""
    first = lxml.html.fragments_fromstring(html)[0]
    return first if not isinstance(first, str) and first.tag == "figure" else None


# -- the API -----------------------------------------------------------------------------------


def test_the_api_keeps_every_member_and_old_shapes_read_as_before(api: Api) -> None:
    assert api.put("xi", make_article(key="xi", image=LEAD)).status_code == 201
    image = api.get("xi").json["image"]
    assert image == {**LEAD, "caption": plain_text(LEAD["caption"]),
                     "renditions": [{"url": r["url"], "type": r["type"], "width": r["width"],
                                     "height": r["height"], "length": r["length"]} for r in LEAD["renditions"]]}
    assert api.put("old", make_article(key="old", image=OLD)).status_code == 201
    assert api.get("old").json["image"] == OLD | {"width": None, "height": None, "alt": None,
                                                  "caption": None, "credit": None, "renditions": []}
    # A PATCH of the image replaces it whole; null removes it.
    assert api.patch("xi", {"image": {"url": LEAD["url"], "credit": "Agency"}}).status_code == 200
    assert api.get("xi").json["image"]["renditions"] == []
    assert api.get("xi").json["image"]["credit"] == "Agency"
    assert api.patch("xi", {"image": None}).status_code == 200
    assert api.get("xi").json["image"] is None


def test_a_rendition_repeating_the_lead_or_another_is_kept_once(api: Api) -> None:
    twice = {"url": "https://news.example/i/a.jpg", "renditions": [
        {"url": "https://news.example/i/a.jpg", "width": 10}, {"url": "https://news.example/i/b.jpg"},
        {"url": "https://news.example/i/b.jpg", "width": 20}]}
    assert api.put("a", make_article(key="a", image=twice)).status_code == 201
    assert [r["url"] for r in api.get("a").json["image"]["renditions"]] == ["https://news.example/i/b.jpg"]


def rendition(**members: Any) -> dict[str, Any]:
    return {"url": "https://news.example/i/r.jpg"} | members


@pytest.mark.parametrize(("image", "pointer", "words"), [
    ({"url": LEAD["url"], "width": 0}, "/image/width", "image.width must be a whole number of pixels from 1"),
    ({"url": LEAD["url"], "height": payload.MAX_PIXELS + 1}, "/image/height", "image.height"),
    ({"url": LEAD["url"], "width": True}, "/image/width", "image.width"),
    ({"url": LEAD["url"], "width": 1.5}, "/image/width", "image.width"),
    ({"url": LEAD["url"], "width": "1200"}, "/image/width", "image.width"),
    ({"url": LEAD["url"], "alt": 7}, "/image/alt", "image.alt must be a string or null"),
    ({"url": LEAD["url"], "caption": "x" * (payload.MAX_CAPTION + 1)}, "/image/caption",
     f"at most {payload.MAX_CAPTION} characters"),
    ({"url": LEAD["url"], "credit": "x" * (payload.MAX_CREDIT + 1)}, "/image/credit",
     f"at most {payload.MAX_CREDIT} characters"),
    ({"url": LEAD["url"], "alt": "x" * (payload.MAX_ALT + 1)}, "/image/alt", f"at most {payload.MAX_ALT}"),
    ({"url": LEAD["url"], "renditions": {"url": "x"}}, "/image/renditions", "must be a list"),
    ({"url": LEAD["url"], "renditions": [rendition(url=f"https://news.example/{i}.jpg")
                                         for i in range(payload.MAX_RENDITIONS + 1)]},
     "/image/renditions", f"at most {payload.MAX_RENDITIONS} items"),
    ({"url": LEAD["url"], "renditions": [rendition(), rendition(url="https://news.example/2.jpg"),
                                         rendition(url="https://news.example/3.jpg", width=-4)]},
     "/image/renditions/2/width", "image.renditions[2].width must be a whole number of pixels"),
    ({"url": LEAD["url"], "renditions": [rendition(length=-1)]}, "/image/renditions/0/length",
     "image.renditions[0].length must be a whole number of bytes"),
    ({"url": LEAD["url"], "renditions": [{"type": "image/jpeg"}]}, "/image/renditions/0/url",
     "image.renditions[0].url is required"),
    ({"url": LEAD["url"], "renditions": [rendition(url="/relative.jpg")]}, "/image/renditions/0/url",
     "image.renditions[0].url must be an absolute http(s) URL"),
    ({"url": LEAD["url"], "renditions": [rendition(type="jpeg")]}, "/image/renditions/0/type",
     "image.renditions[0].type must be a media type"),
    ({"url": LEAD["url"], "renditions": [rendition(alt="no")]}, "/image/renditions/0/alt",
     "image.renditions[0].alt is not a member of a rendition"),
    ({"url": LEAD["url"], "renditions": ["https://news.example/x.jpg"]}, "/image/renditions/0",
     "must be an object"),
    ({"url": LEAD["url"], "size": 3}, "/image/size", "image.size is not a member of an image"),
    ({"type": "image/jpeg"}, "/image/url", "image.url is required"),
])
def test_a_bad_member_is_a_422_naming_it_and_changes_nothing(api: Api, image: Any, pointer: str,
                                                             words: str) -> None:
    assert api.put("a", make_article(key="a", image=OLD)).status_code == 201
    before = api.get("a").json
    response = api.put("a", make_article(key="a", image=image))
    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/problem+json"
    [error] = response.json["errors"]
    assert error["pointer"] == f"#{pointer}"
    assert words in error["detail"]
    assert api.get("a").json == before
    assert api.patch("a", {"image": image}).status_code == 422
    assert api.get("a").json == before


def test_each_limit_is_taken_at_the_limit(api: Api) -> None:
    image = {"url": LEAD["url"], "width": payload.MAX_PIXELS, "height": 1,
             "alt": "a" * payload.MAX_ALT, "caption": "c" * payload.MAX_CAPTION,
             "credit": "ক" * payload.MAX_CREDIT,
             "renditions": [rendition(url=f"https://news.example/{i}.jpg", width=1, height=payload.MAX_PIXELS,
                                      length=payload.MAX_BYTES) for i in range(payload.MAX_RENDITIONS)]}
    response = api.put("a", make_article(key="a", image=image))
    assert response.status_code == 201, response.json
    assert api.get("a").json["image"]["credit"] == "ক" * payload.MAX_CREDIT
    assert len(api.get("a").json["image"]["renditions"]) == payload.MAX_RENDITIONS


# -- Media RSS in Atom and RSS ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_feedparser_reads_media_content_thumbnail_credit_and_summary(pictured: FlaskClient, fmt: str) -> None:
    parsed = feedparser.parse(get(pictured, f"/feed.{fmt}"))
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    entries = by_key(parsed.entries)
    summaries = {body["key"]: plain_text(body["summary"]) for body in ARTICLES}
    for key, image in IMAGES.items():
        entry = entries[key]
        assert entry.summary == summaries[key], key  # the caption never takes its place
        if image is None:
            assert "media_content" not in entry and "media_thumbnail" not in entry
            continue
        assert [(m["url"], m.get("width"), m.get("height"), m.get("type"), m.get("filesize"))
                for m in entry.media_content] == [
            (p["url"], str(p["width"]) if "width" in p else None, str(p["height"]) if "height" in p else None,
             p.get("type"), str(p["length"]) if "length" in p else None) for p in pictures(image)], key
        assert all(m["medium"] == "image" for m in entry.media_content)
        # The enclosure stays for readers that read only that.
        assert [link.href for link in entry.links if link.rel == "enclosure"] == [image["url"]]
        credit = [c.get("content") for c in entry.get("media_credit", [])]
        assert credit == ([image["credit"]] if "credit" in image else []), key
    assert entries["xi"].media_thumbnail == [{"url": THUMBNAIL, "width": "160", "height": "90"}]
    assert entries["flood"].media_thumbnail == [{"url": AMP["url"], "width": "1024", "height": "576"}]
    assert "media_thumbnail" not in entries["old"]  # no width known: no thumbnail


def test_the_caption_is_media_description_as_plain_text(pictured: FlaskClient) -> None:
    from lxml import etree

    media = "{http://search.yahoo.com/mrss/}"
    for fmt in ("atom", "rss"):
        root = etree.fromstring(get(pictured, f"/feed.{fmt}"))
        captions = [(d.get("type"), d.text) for d in root.iter(f"{media}description")]
        assert captions == [("plain", plain_text(image["caption"]))
                            for image in (SHOWN, AMP, LEAD)], fmt  # newest first
        # A group for a picture of several files (Media RSS: never of one), the lead its default.
        groups = list(root.iter(f"{media}group"))
        assert len(groups) == 2  # "shown" and "xi"
        assert [c.get("isDefault") for c in groups[-1].iter(f"{media}content")] == ["true", None, None, None, None]


# -- the figure atop every body ------------------------------------------------------------------


def bodies(client: FlaskClient) -> dict[str, dict[str, str]]:
    """Each format's HTML body of each entry, by key."""
    found: dict[str, dict[str, str]] = {}
    for fmt in ("atom", "rss"):
        parsed = feedparser.parse(get(client, f"/feed.{fmt}"))
        found[fmt] = {key: entry.content[0].value for key, entry in by_key(parsed.entries).items()}
    items = json.loads(get(client, "/feed.json"))["items"]
    found["json"] = {item["id"].rsplit(":", 1)[1]: item["content_html"] for item in items}
    return found


def isolated(*texts: str | None) -> str:
    """A figcaption's text as readers get it: each of caption and credit in a bidi isolate
    (U+2068 ... U+2069), " — " between them."""
    return " — ".join(f"\u2068{text}\u2069" for text in texts if text)


def test_every_body_opens_with_the_lead_figure(pictured: FlaskClient) -> None:
    for fmt, by in bodies(pictured).items():
        for key, image in (("xi", LEAD), ("flood", AMP), ("old", OLD)):
            figure = figure_of(by[key])
            assert figure is not None, (fmt, key)
            img = figure.find("img")
            assert img.get("src") == image["url"]
            assert img.get("alt") == image.get("alt", "")
            assert (img.get("width"), img.get("height")) == (
                str(image["width"]) if "width" in image else None,
                str(image["height"]) if "height" in image else None)
            said = [plain_text(image[name]) for name in ("caption", "credit") if name in image]
            caption = figure.find("figcaption")
            if said:
                # Plain text: the caption's markup shows as the text it is, never as elements.
                assert caption.text_content() == isolated(*said), (fmt, key)
                assert len(caption) == 0
            else:
                assert caption is None
        assert figure_of(by["shown"]) is None, fmt  # the body shows a rendition already
        assert by["shown"].count("<img") == 1
        assert figure_of(by["plain"]) is None and "<figure" not in by["plain"]
        assert by["xi"].count("<figure") == 1


def test_feed_lead_figure_false_leaves_bodies_alone(make_app: Any) -> None:
    app, _ = site(make_app, FEED_LEAD_FIGURE="false")
    for fmt, by in bodies(app.test_client()).items():
        assert all("<figure" not in body for body in by.values()), fmt
    # Media RSS stays: only the body's figure is turned off.
    assert "media_content" in by_key(feedparser.parse(get(app.test_client(), "/feed.rss")).entries)["xi"]


def test_json_feed_has_image_banner_and_an_attachment_per_file(pictured: FlaskClient) -> None:
    items = {i["id"].rsplit(":", 1)[1]: i for i in json.loads(get(pictured, "/feed.json"))["items"]}
    xi = items["xi"]
    assert (xi["image"], xi["banner_image"]) == (LEAD["url"], WIDEST)
    assert [(a["url"], a["mime_type"], a.get("size_in_bytes")) for a in xi["attachments"]] == [
        (p["url"], p["type"], p["length"]) for p in pictures(LEAD)]
    # One title for every file: JSON Feed 1.1's "alternate representations of the same thing".
    assert {a["title"] for a in xi["attachments"]} == {LEAD["alt"]}
    assert (items["old"]["image"], items["old"]["banner_image"]) == (OLD["url"], OLD["url"])
    assert "image" not in items["plain"] and "attachments" not in items["plain"]


# -- what readers pick --------------------------------------------------------------------------


def freshrss_thumbnail(entry: Any) -> str | None:
    """FreshRSS's order: an explicit media:thumbnail, then an image enclosure, then the first
    <img> of the body (app/Models/Feed.php, loadEntries)."""
    if entry.get("media_thumbnail"):
        return str(entry.media_thumbnail[0]["url"])
    for link in entry.get("links", []):
        if link.get("rel") == "enclosure" and str(link.get("type", "")).startswith("image/"):
            return str(link.href)
    body = entry.content[0].value if entry.get("content") else entry.get("summary", "")
    images = lxml.html.fragment_fromstring(body, create_parent="div").iter("img") if body else []
    return next((str(img.get("src")) for img in images), None)


def miniflux_images(entry: Any) -> list[str]:
    """Miniflux's enclosures of image types (reader/rss adapter): media:thumbnail, then
    media:content, then enclosures, each URL once."""
    found: list[str] = []
    candidates = [(t["url"], "image/*") for t in entry.get("media_thumbnail", [])]
    candidates += [(m["url"], m.get("type") or ("image/*" if m.get("medium") == "image" else ""))
                   for m in entry.get("media_content", [])]
    candidates += [(link.href, link.get("type", "")) for link in entry.get("links", []) if link.rel == "enclosure"]
    for url, kind in candidates:
        if kind.startswith("image/") and url not in found:
            found.append(url)
    return found


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_freshrss_and_miniflux_pick_the_lead_images_best_rendition(make_app: Any, fmt: str) -> None:
    for lead_figure in ("true", "false"):
        app, _ = site(make_app, FEED_LEAD_FIGURE=lead_figure)
        entries = by_key(feedparser.parse(get(app.test_client(), f"/feed.{fmt}")).entries)
        # A list view's thumbnail: the narrowest rendition still 150 pixels wide, not the 96.
        assert freshrss_thumbnail(entries["xi"]) == THUMBNAIL
        assert miniflux_images(entries["xi"])[0] == THUMBNAIL
        assert set(miniflux_images(entries["xi"])) == {p["url"] for p in pictures(LEAD)}
        # Without sizes, the lead itself (the enclosure); no picture, nothing.
        assert freshrss_thumbnail(entries["old"]) == OLD["url"]
        assert miniflux_images(entries["old"]) == [OLD["url"]]
        assert freshrss_thumbnail(entries["plain"]) is None and miniflux_images(entries["plain"]) == []


@pytest.mark.parametrize(("widths", "thumbnail", "widest"), [
    ((1200, 2048, 640, 160, 96), 160, 2048),
    ((1200, 150, 149), 150, 1200),
    ((1200,), 1200, 1200),
    ((100, 149), None, 149),
    ((None, 300, None), 300, 300),
    ((None,), None, None),
    ((400, 400), 400, 400),
])
def test_the_thumbnail_and_banner_rules(widths: tuple[int | None, ...], thumbnail: int | None,
                                        widest: int | None) -> None:
    files = [Enclosure(f"https://news.example/{i}.jpg", None, None, w) for i, w in enumerate(widths)]
    image = LeadImage(files[0], renditions=tuple(files[1:]))
    chosen = image.thumbnail()
    assert (chosen.width if chosen else None) == thumbnail
    assert image.widest().width == widest
    if widths.count(widest) > 1 and widest is not None:
        assert image.widest() is files[widths.index(widest)]  # the first of equals


# -- text of any kind ---------------------------------------------------------------------------


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(alt=_TEXT, caption=_TEXT, credit=_TEXT)
def test_any_alt_caption_and_credit_reach_readers_as_the_text_they_are(api: Api, alt: str, caption: str,
                                                                       credit: str) -> None:
    image = {"url": LEAD["url"], "width": 800, "height": 450, "alt": alt, "caption": caption, "credit": credit}
    assert api.put("a", make_article(key="a", image=image, summary="The summary")).status_code in (200, 201)
    stored = api.get("a").json["image"]
    assert stored["credit"] == (plain_text(credit) or None)
    for fmt in ("atom", "rss"):
        parsed = feedparser.parse(get(api.client, f"/feed.{fmt}"))
        assert parsed.bozo == 0, (fmt, parsed.get("bozo_exception"))
        [entry] = parsed.entries
        assert entry.summary == "The summary"  # a caption of any text never takes its place
        assert [c.get("content") for c in entry.get("media_credit", [])] == (
            [as_feedparser_reads(stored["credit"], fmt)] if stored["credit"] else [])
        figure = figure_of(entry.content[0].value)
        assert figure is not None
        assert figure.find("img").get("alt") == (stored["alt"] or "")
        said = isolated(stored["caption"], stored["credit"])
        assert (figure.find("figcaption").text_content() if said else figure.find("figcaption")) == (said or None)
    # Imported again, the figure leaves the body and gives its alt back, whatever the text.
    for fmt in ("atom", "rss"):
        [record] = syndication.records_from_feed(get(api.client, f"/feed.{fmt}"), ZoneInfo("UTC"))
        assert record.fields["image"].alt == stored["alt"], fmt
        assert "<figure" not in record.fields["content"], fmt


# -- FEED_CONTENT ------------------------------------------------------------------------------


def test_feed_content_summary_carries_the_summary_and_a_link(make_app: Any) -> None:
    app, _ = site(make_app, FEED_CONTENT="summary")
    articles = {body["key"]: body for body in ARTICLES}
    for fmt, by in bodies(app.test_client()).items():
        for key, body in by.items():
            article = articles[key]
            parts = lxml.html.fragments_fromstring(body)
            if figure_of(body) is not None:
                parts = parts[1:]
            assert [p.tag for p in parts] == ["p", "p"], (fmt, key)
            assert parts[0].text_content() == plain_text(article["summary"])
            [link] = parts[1].iter("a")
            assert link.get("href") == article.get("url", f"http://feeds.test/articles/{key}")
            assert "Body of article" not in body and "Xi told Putin" not in body
    # The pictured teaser still opens with the figure; the one showing it in its body no longer does.
    assert figure_of(bodies(app.test_client())["atom"]["shown"]) is not None


@pytest.mark.parametrize(("key", "value"), [("FEED_CONTENT", "teaser"), ("FEED_CONTENT", ""),
                                            ("FEED_CONTENT", 1), ("FEED_LEAD_FIGURE", "maybe"),
                                            ("FEED_LEAD_FIGURE", 2)])
def test_a_bad_content_setting_stops_the_start_naming_it(tmp_path: Any, key: str, value: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        config.load(tmp_path, {}, {key: value})
    assert caught.value.key == key


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("FEED_CONTENT", "full", "full"), ("FEED_CONTENT", " Summary ", "summary"),
    ("FEED_LEAD_FIGURE", "off", False), ("FEED_LEAD_FIGURE", "true", True), ("FEED_LEAD_FIGURE", False, False)])
def test_content_settings_are_read(tmp_path: Any, key: str, value: Any, expected: Any) -> None:
    assert config.load(tmp_path, {}, {key: value})[key] == expected


@pytest.mark.parametrize(("key", "first", "then"), [("FEED_CONTENT", "full", "summary"),
                                                    ("FEED_LEAD_FIGURE", "true", "false")])
def test_a_restart_with_another_content_setting_renders_anew(make_app: Any, clock: Clock, key: str,
                                                             first: str, then: str) -> None:
    app, _ = site(make_app, **{key: first})
    clock.advance(minutes=5)
    before = app.test_client().get("/feed.atom")
    etag = before.headers["ETag"]
    assert make_app(**{key: first}).test_client().get(
        "/feed.atom", headers={"If-None-Match": etag}).status_code == 304
    after = make_app(**{key: then}).test_client().get("/feed.atom", headers={"If-None-Match": etag})
    assert after.status_code == 200 and after.headers["ETag"] != etag
    assert after.data != before.data


def test_the_settings_mark_names_the_content_settings() -> None:
    plain = service.FeedSettings("Site", "news.example", 50, 30, None)
    assert service.FeedSettings("Site", "news.example", 50, 30, None, content="summary").mark() != plain.mark()
    assert service.FeedSettings("Site", "news.example", 50, 30, None, lead_figure=False).mark() != plain.mark()


# -- import --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_an_imported_feed_of_ours_keeps_sizes_credit_caption_and_renditions(pictured: FlaskClient,
                                                                            fmt: str) -> None:
    records = {r.source.rsplit(":", 1)[1]: r for r in syndication.records_from_feed(
        get(pictured, f"/feed.{fmt}"), ZoneInfo("UTC"))}
    for key, given_ in IMAGES.items():
        image = records[key].fields["image"]
        if given_ is None:
            assert image is None
            continue
        # The alt comes back from the figure's <img>, the only place a feed of ours writes it.
        assert image == payload.parse({"title": "t", "section": "s", "image": given_},
                                      ZoneInfo("UTC"), partial=False)["image"], key
    # The figure was the image's, not the body's: the body comes back as it was written, so a
    # caption edited after the import is not stuck in it, and the page shows its own figure.
    for body in ARTICLES:
        content = records[body["key"]].fields["content"]
        assert "<figure" not in (content or ""), body["key"]
        assert lxml.html.fragments_fromstring(content)[0].text_content() == \
            lxml.html.fragments_fromstring(body["content"])[0].text_content(), body["key"]
    assert "shown-640.jpg" in records["shown"].fields["content"]  # its own picture stays


def test_media_rss_of_other_feeds_is_read(tmp_path: Any) -> None:
    head = """<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"
xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>Old</title>
<link>https://old.example/</link><description>d</description>"""
    one = """<item><title>One</title><link>https://old.example/1</link><guid>https://old.example/1</guid>
<pubDate>Sat, 18 Jun 2022 20:17:00 +0000</pubDate><description>The summary</description>
<content:encoded>&lt;p>The body&lt;/p></content:encoded>
<media:content url="https://i.old.example/1-460.jpg" medium="image" width="460" height="276"/>
<media:content url="https://i.old.example/1-140.jpg" medium="image" width="140" height="84" fileSize="x"/>
<media:credit scheme="urn:ebu">Photograph: A &amp; B</media:credit>
<media:description type="html">A &lt;b&gt;bold&lt;/b&gt; caption</media:description>
<media:thumbnail url="https://i.old.example/1-thumb.jpg" width="abc"/></item>"""
    # The caption first and no content:encoded: feedparser takes the description for the body.
    two = """<item><title>Two</title><link>https://old.example/2</link><guid>https://old.example/2</guid>
<pubDate>Sat, 18 Jun 2022 20:17:00 +0000</pubDate>
<media:description>Boats on the Surma</media:description>
<media:content url="https://i.old.example/2.jpg" medium="image"/>
<description>&lt;p>The whole story&lt;/p></description></item>"""
    records = list(syndication.records_from_feed(f"{head}{one}{two}</channel></rss>".encode(), ZoneInfo("UTC")))
    first, second = (record.fields for record in records)
    image = first["image"]
    assert (image.url, image.width, image.height) == ("https://i.old.example/1-460.jpg", 460, 276)
    assert (image.credit, image.caption) == ("Photograph: A & B", "A bold caption")
    assert [(r.url, r.width, r.height, r.length) for r in image.renditions] == [
        ("https://i.old.example/1-140.jpg", 140, 84, None), ("https://i.old.example/1-thumb.jpg", None, None, None)]
    # feedparser read each media:description as the item's own description; the raw one stands.
    assert (first["summary"], first["content"]) == ("The summary", "<p>The body</p>")
    assert (second["summary"], second["content"]) == (None, "<p>The whole story</p>")
    assert second["image"].caption == "Boats on the Surma"


def test_export_and_import_keep_every_member(app: Flask, api: Api, tmp_path: Any) -> None:
    from test_transfer import exported, run, write_lines

    for body in ARTICLES:
        assert api.put(body["key"], body).status_code == 201
    records = exported(app)
    assert {r["key"]: r["image"] for r in records}["xi"]["renditions"][2]["url"] == THUMBNAIL
    path = write_lines(tmp_path / "all.jsonl", records)
    result = run(app, "import", "--quiet", str(path))
    assert result.exit_code == 0, result.output
    assert exported(app) == records


def test_feeds_written_before_the_image_details_read_the_same(api: Api) -> None:
    """An article stored with only url, type and length: an enclosure and one media:content."""
    assert api.put("old", make_article(key="old", image=OLD)).status_code == 201
    [entry] = feedparser.parse(get(api.client, "/feed.rss")).entries
    assert entry.enclosures[0].href == OLD["url"] and entry.enclosures[0].length == "9000"
    assert [m["url"] for m in entry.media_content] == [OLD["url"]]
    assert dt.datetime(*entry.published_parsed[:6]) == dt.datetime(2026, 10, 1, 10)


# -- the W3C validator ---------------------------------------------------------------------------


@pytest.mark.validator
@pytest.mark.skipif(not VALIDATOR, reason="set FEEDVALIDATOR_DIR to run the W3C validator")
@pytest.mark.parametrize("content", ["full", "summary"])
def test_every_pictured_feed_validates(make_app: Any, content: str) -> None:
    app, _ = site(make_app, FEED_CONTENT=content, **BRANDING)
    client = app.test_client()
    for scope in ("/feed", "/sections/world/feed", "/topics/climate/feed"):
        for fmt in ("atom", "rss"):
            errors, warnings = validate(get(client, f"{scope}.{fmt}"))
            assert errors == [], (scope, fmt, errors)
            # "should not contain HTML": the captions hold markup as text, on purpose.
            assert all(any(a in w for a in ALLOWED) for w in warnings), (scope, fmt, warnings)


# -- article pages -------------------------------------------------------------------------------


def test_the_article_page_shows_the_figure_unless_its_body_does(pictured: FlaskClient) -> None:
    page = lxml.html.fromstring(get(pictured, "/articles/xi"))
    [figure] = page.xpath("//figure[@class='lead-image']")
    img = figure.find("img")
    assert (img.get("src"), img.get("alt"), img.get("width"), img.get("height")) == (
        LEAD["url"], LEAD["alt"], "1200", "675")
    # Every file with its width, narrowest first, for the browser to choose from.
    assert img.get("srcset") == ", ".join(f"{p['url']} {p['width']}w"
                                          for p in sorted(pictures(LEAD), key=lambda p: p["width"]))
    assert figure.xpath(".//bdi[@class='caption']")[0].text_content() == plain_text(LEAD["caption"])
    assert figure.xpath(".//bdi[@class='credit']")[0].text_content() == LEAD["credit"]
    assert not figure.xpath(".//figcaption//*[self::b or self::script]")  # the caption's markup is text
    assert page.xpath("//figure[@class='lead-image']") and not lxml.html.fromstring(
        get(pictured, "/articles/shown")).xpath("//figure[@class='lead-image']")
    old = lxml.html.fromstring(get(pictured, "/articles/old")).xpath("//figure[@class='lead-image']/img")[0]
    assert (old.get("alt"), old.get("width"), old.get("srcset")) == ("", None, None)
    assert not lxml.html.fromstring(get(pictured, "/articles/old")).xpath("//figcaption")
    assert not lxml.html.fromstring(get(pictured, "/articles/plain")).xpath("//figure")


@pytest.mark.parametrize(("body", "shown"), [
    ('<p><img src="https://news.example/i/a.jpg?w=1&h=2" alt=""></p>', True),  # "&amp;" in the HTML
    ('<p><img src="https://news.example/i/ছবি.jpg"></p>', True),  # the IRI of the stored URI
    ("<p><IMG SRC='https://news.example/i/r-640.jpg'></p>", True),  # a rendition, any spelling
    ('<p><img src="https://news.example/i/other.jpg"></p>', False),
    ('<p><a href="https://news.example/i/a.jpg?w=1&h=2">the picture</a></p>', False),  # linked, not shown
    ("<p>https://news.example/i/r-640.jpg</p>", False),
    (None, False),
])
def test_a_body_shows_the_picture_by_any_of_its_files(body: str | None, shown: bool) -> None:
    from feedsvc.feeds import figure
    from feedsvc.store.sanitize import clean_html

    image = LeadImage(Enclosure(payload.as_uri("https://news.example/i/a.jpg?w=1&h=2") or "", None, None),
                      renditions=(Enclosure("https://news.example/i/r-640.jpg", None, None, 640),
                                  Enclosure(payload.as_uri("https://news.example/i/ছবি.jpg") or "", None, None)))
    cleaned = clean_html(body, None) if body else None  # as stored
    assert figure.shows(cleaned, image) is shown
    assert (figure.with_figure(cleaned, image) or "").startswith("<figure>") is not shown


# -- the migration -------------------------------------------------------------------------------


def test_0008_keeps_every_article_its_image_and_links_both_ways(app: Flask, api: Api) -> None:
    """Down to 0007 and up again: the image's url, type and length and the article's topics
    stay (a batch copy of the table on SQLite dropped every topic link through its cascade)."""
    from alembic import command
    from alembic.config import Config

    from feedsvc.store import db

    assert api.put("xi", make_article(key="xi", image=LEAD, topics=["China", "Russia"])).status_code == 201
    before = api.get("xi").json
    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS))
    with db.get_engine(app).begin() as connection:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0007")
    db.upgrade(db.get_engine(app))
    after = api.get("xi").json
    assert after["topics"] == ["China", "Russia"]
    assert after["image"] == {"url": LEAD["url"], "type": LEAD["type"], "length": LEAD["length"],
                              "width": None, "height": None, "alt": None, "caption": None,
                              "credit": None, "renditions": []}
    assert {k: v for k, v in after.items() if k != "image"} == {k: v for k, v in before.items() if k != "image"}


# -- the review of issue 17 ----------------------------------------------------------------------


def lead_figures(api: Api, key: str) -> dict[str, int]:
    """How many times each place a reader looks shows the lead picture as a figure: each feed
    format's body of the one entry, and the article page's own figure."""
    shown = {fmt: body[key].count("<figure") for fmt, body in bodies(api.client).items()}
    page = lxml.html.fromstring(get(api.client, f"/articles/{key}"))
    shown["page"] = len(page.xpath("//figure[@class='lead-image']"))
    return shown


@pytest.mark.parametrize(("lead", "in_body", "same"), [
    ("https://news.example/i/a.jpg", "https://News.EXAMPLE/i/a.jpg", True),  # host case
    ("https://News.Example/i/a.jpg", "https://news.example/i/a.jpg", True),
    ("https://news.example/i/a.jpg", "HTTPS://news.example:443/i/a.jpg", True),  # default port
    ("http://news.example:80/i/a.jpg", "http://news.example/i/a.jpg", True),
    ("https://news.example/i/%c3%a9.jpg", "https://news.example/i/%C3%A9.jpg", True),  # escapes' case
    ("https://news.example/i/%7Ea.jpg", "https://news.example/i/~a.jpg", True),  # unreserved
    ("https://news.example/i/é.jpg", "https://news.example/i/%C3%A9.jpg", True),  # an IRI
    ("https://news.example:8443/i/a.jpg", "https://news.example/i/a.jpg", False),  # another port
    ("https://news.example/i/a.jpg", "http://news.example/i/a.jpg", False),  # http is not https
    ("https://news.example/i/A.jpg", "https://news.example/i/a.jpg", False),  # paths keep case
])
def test_the_figure_shows_once_however_the_body_spells_the_url(api: Api, lead: str, in_body: str,
                                                               same: bool) -> None:
    body = make_article(key="a", image={"url": lead}, content=f'<p><img src="{in_body}" alt=""></p>')
    assert api.put("a", body).status_code == 201
    assert lead_figures(api, "a") == dict.fromkeys(("atom", "rss", "json", "page"), 0 if same else 1)


def test_a_srcset_in_the_body_is_not_kept_so_the_figure_stays(api: Api) -> None:
    """nh3 keeps no srcset or <source> when the body is stored: only an <img src> shows it."""
    content = ('<p><img src="https://news.example/i/other.jpg" srcset="https://news.example/i/a.jpg 2x">'
               '<picture><source srcset="https://news.example/i/a.jpg"></picture></p>')
    assert api.put("a", make_article(key="a", image={"url": "https://news.example/i/a.jpg"},
                                     content=content)).status_code == 201
    assert "srcset" not in api.get("a").json["content"]
    assert lead_figures(api, "a") == dict.fromkeys(("atom", "rss", "json", "page"), 1)


def test_a_relative_picture_in_a_body_without_url_counts_on_the_page_as_in_feeds(make_app: Any) -> None:
    app = make_app(BASE_URL="https://news.example")
    api = Api(app.test_client(), {"Authorization": f"Bearer {new_token(app)}"})
    body = make_article(key="a", url=None, image={"url": "https://news.example/i/rel.jpg"},
                        content='<p><img src="/i/rel.jpg" alt="in the body"></p>')
    assert api.put("a", body).status_code == 201
    assert lead_figures(api, "a") == dict.fromkeys(("atom", "rss", "json", "page"), 0)
    other = make_article(key="b", url=None, image={"url": "https://news.example/i/lead.jpg"},
                         content='<p><img src="/i/rel.jpg" alt="another"></p>')
    assert api.put("b", other).status_code == 201
    assert lead_figures(api, "b") == dict.fromkeys(("atom", "rss", "json", "page"), 1)


@pytest.mark.parametrize(("content", "kept"), [
    ('<figure><img src="https://news.example/i/a.jpg" alt="A &amp; B"><figcaption>c</figcaption></figure>'
     "<p>Body</p>", False),
    ('<figure><img alt="x" src="https://news.example/i/a-480.jpg" /></figure><p>Body</p>', False),
    ('<figure><img src="https://news.example/i/other.jpg" alt="x"></figure><p>Body</p>', True),  # not ours
    ('<p>Body</p><figure><img src="https://news.example/i/a.jpg" alt="x"></figure>', True),  # not at the top
    ('<figure><img src="https://news.example/i/a.jpg"><figcaption><b>x</b></figcaption></figure><p>Body</p>',
     True),  # markup in the caption: not one we wrote
])
def test_an_import_takes_our_figure_out_of_the_body_and_only_ours(content: str, kept: bool) -> None:
    body, alt = syndication.without_figure(content, ["https://news.example/i/a.jpg", "https://news.example/i/a-480.jpg"])
    assert (body, alt) == ((content, None) if kept else ("<p>Body</p>", "A & B" if "A &amp;" in content else "x"))


def test_an_imported_entry_whose_body_is_only_our_figure_has_no_body(api: Api) -> None:
    assert api.put("a", make_article(key="a", content=None, image=AMP)).status_code == 201
    [record] = syndication.records_from_feed(get(api.client, "/feed.rss"), ZoneInfo("UTC"))
    assert record.fields["content"] is None and record.fields["image"].alt == AMP["alt"]


def test_the_importer_takes_the_media_rss_default_as_the_lead() -> None:
    feed = b"""<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">
<channel><title>Old</title><link>https://old.example/</link><description>d</description>
<item><title>One</title><link>https://old.example/1</link><pubDate>Sat, 18 Jun 2022 20:17:00 +0000</pubDate>
<enclosure url="https://i.old.example/1-140.jpg" length="0" type="image/jpeg"/>
<media:group><media:content url="https://i.old.example/1-140.jpg" medium="image" width="140"/>
<media:content url="https://i.old.example/1-1200.jpg" medium="image" width="1200" isDefault="true"/>
</media:group></item></channel></rss>"""
    [record] = syndication.records_from_feed(feed, ZoneInfo("UTC"))
    image = record.fields["image"]
    assert (image.url, image.width) == ("https://i.old.example/1-1200.jpg", 1200)
    assert [(r.url, r.width, r.type) for r in image.renditions] == [("https://i.old.example/1-140.jpg", 140,
                                                                     "image/jpeg")]


def test_a_422_names_every_bad_member_of_the_image_at_once(api: Api) -> None:
    image = {"url": "ftp://news.example/a.jpg", "width": 0, "alt": 7, "size": 3, "a/b": 1,
             "renditions": [rendition(), rendition(url="https://news.example/2.jpg", height=-1, type="jpeg"),
                            "https://news.example/x.jpg", rendition(dpi=72)]}
    response = api.put("a", make_article(key="a", image=image, title=""))
    assert response.status_code == 422
    assert {e["pointer"]: e["detail"].split(" ", 1)[0] for e in response.json["errors"]} == {
        "#/title": "must", "#/image/url": "image.url", "#/image/width": "image.width",
        "#/image/alt": "image.alt", "#/image/size": "image.size", "#/image/a~1b": "image.a~1b",
        "#/image/renditions/1/height": "image.renditions[1].height",
        "#/image/renditions/1/type": "image.renditions[1].type",
        "#/image/renditions/2": "image.renditions[2]", "#/image/renditions/3/dpi": "image.renditions[3].dpi"}
    assert api.get("a").status_code == 404


def test_the_renditions_are_counted_once_repeats_are_left_out(api: Api) -> None:
    sizes = [rendition(url=f"https://news.example/{i}.jpg") for i in range(payload.MAX_RENDITIONS)]
    repeated = sizes + [sizes[0], {"url": "https://news.example/i/a.jpg"}]
    response = api.put("a", make_article(key="a", image={"url": "https://news.example/i/a.jpg",
                                                         "renditions": repeated}))
    assert response.status_code == 201, response.json
    assert len(api.get("a").json["image"]["renditions"]) == payload.MAX_RENDITIONS
    many = [sizes[0]] * (payload.MAX_RENDITION_ITEMS + 1)
    response = api.put("b", make_article(key="b", image={"url": "https://news.example/i/a.jpg", "renditions": many}))
    assert response.status_code == 422
    assert [e["pointer"] for e in response.json["errors"]] == ["#/image/renditions"]


def test_a_length_of_0_is_unknown_in_every_format(api: Api) -> None:
    from lxml import etree

    image = {"url": "https://news.example/i/a.jpg", "type": "image/jpeg", "length": 0,
             "renditions": [{"url": "https://news.example/i/b.jpg", "length": 0}]}
    assert api.put("a", make_article(key="a", image=image)).status_code == 201
    assert api.get("a").json["image"]["length"] == 0  # kept as sent; it means "unknown"
    media = "{http://search.yahoo.com/mrss/}"
    atom = etree.fromstring(get(api.client, "/feed.atom"))
    links = [e for e in atom.iter("{http://www.w3.org/2005/Atom}link") if e.get("rel") == "enclosure"]
    assert [e.get("length") for e in links] == [None]
    rss = etree.fromstring(get(api.client, "/feed.rss"))
    assert [e.get("length") for e in rss.iter("enclosure")] == ["0"]  # RSS 2.0 requires one
    for root in (atom, rss):
        assert [c.get("fileSize") for c in root.iter(f"{media}content")] == [None, None]
    [item] = json.loads(get(api.client, "/feed.json"))["items"]
    assert all("size_in_bytes" not in a for a in item["attachments"])


@pytest.mark.parametrize(("media_type", "medium"), [("audio/mpeg", "audio"), ("video/mp4", "video"),
                                                     ("application/pdf", None)])
def test_an_enclosure_that_is_no_picture_stays_an_enclosure_without_a_figure(api: Api, media_type: str,
                                                                              medium: str | None) -> None:
    image = {"url": "https://news.example/a/episode.mp3", "type": media_type, "length": 9000}
    assert api.put("a", make_article(key="a", image=image)).status_code == 201
    assert lead_figures(api, "a") == dict.fromkeys(("atom", "rss", "json", "page"), 0)
    for fmt in ("atom", "rss"):
        [entry] = feedparser.parse(get(api.client, f"/feed.{fmt}")).entries
        assert [(e.href, e.type) for e in entry.enclosures] == [(image["url"], media_type)], fmt
        assert [m.get("medium") for m in entry.media_content] == [medium], fmt
        assert "media_thumbnail" not in entry
    [item] = json.loads(get(api.client, "/feed.json"))["items"]
    assert "image" not in item and "banner_image" not in item
    assert [(a["url"], a["mime_type"]) for a in item["attachments"]] == [(image["url"], media_type)]


def test_a_right_to_left_override_in_the_caption_stays_in_the_caption(api: Api) -> None:
    caption, credit = "Floods \u202eagain", "Photo: Agency"
    image = {"url": "https://news.example/i/a.jpg", "caption": caption, "credit": credit}
    assert api.put("a", make_article(key="a", image=image)).status_code == 201
    for fmt, body in bodies(api.client).items():
        figure = figure_of(body["a"])
        assert figure is not None
        # Each in its own isolate: the override ends with the caption, the credit reads as written.
        assert figure.find("figcaption").text_content() == f"\u2068{caption}\u2069 — \u2068{credit}\u2069", fmt
    page = lxml.html.fromstring(get(api.client, "/articles/a"))
    assert [(e.tag, e.text) for e in page.xpath("//figure[@class='lead-image']/figcaption/*")] == [
        ("bdi", caption), ("bdi", credit)]


def srcset_urls(srcset: str) -> list[str]:
    """The candidates' URLs as a browser reads them (HTML 4.8.4.3.10, "parse a srcset
    attribute"): skip whitespace and commas, take the URL up to whitespace, drop the commas it
    ends with, skip its descriptors up to the next comma."""
    urls, rest = [], srcset
    while rest := rest.lstrip(" \t\n\f\r,"):
        url, _, rest = rest.partition(" ")
        urls.append(url.rstrip(","))
        if not url.endswith(","):
            rest = rest.partition(",")[2]
    return urls


def test_a_comma_in_a_files_url_does_not_split_the_pages_srcset(api: Api) -> None:
    image = {"url": "https://news.example/i/a,1200.jpg", "width": 1200,
             "renditions": [{"url": "https://news.example/i/b,640.jpg", "width": 640},
                            {"url": "https://news.example/i/c,", "width": 320}]}
    assert api.put("a", make_article(key="a", image=image)).status_code == 201
    [img] = lxml.html.fromstring(get(api.client, "/articles/a")).xpath("//figure[@class='lead-image']/img")
    # Inner commas are read as part of the URL (Chromium loads b,640.jpg); one that ends a URL
    # would be dropped, so it goes percent-encoded.
    assert srcset_urls(img.get("srcset")) == [
        "https://news.example/i/c%2C", "https://news.example/i/b,640.jpg", "https://news.example/i/a,1200.jpg"]


@pytest.mark.parametrize(("stated", "read"), [
    ("image/jpeg", "image/jpeg"),
    ("IMAGE/JPEG", "image/jpeg"),  # types are case-insensitive (RFC 2045 5.1)
    (" image/webp ", "image/webp"),
    ("image/jpeg; q=1", "image/jpeg"),  # parameters are not the type
    ("image/svg+xml", "image/svg+xml"),
    ("audio/mpeg", None),
    ("image/", None),
    ("image", None),
    ("imagery/jpeg", None),
    ("image/jp eg", None),
    ("image/" + "x" * 120, None),  # past MAX_MEDIA_TYPE
    ("", None),
    (None, None),
    (7, None),
])
def test_one_rule_says_which_files_are_pictures(stated: Any, read: str | None) -> None:
    """Every importer (RSS/Atom enclosures and media:content, WordPress attachments and their
    sizes) asks payload.image_type; it was written four ways, one of them case-sensitive."""
    assert payload.image_type(stated) == read
