"""The W3C Feed Validation Service's own code reports no error for any feed of the corpus.

Skipped unless FEEDVALIDATOR_DIR names a checkout of github.com/w3c/feedvalidator (never part
of this project); see README "Checking feeds".
"""

from __future__ import annotations

import os
import runpy
from pathlib import Path
from typing import Any

import pytest
from feedcheck import FORMATS, next_link, read
from flask.testing import FlaskClient
from lxml import etree
from test_branding import BRANDING
from test_feed_ids import without_key
from test_feeds import SCOPES, corpus  # noqa: F401  (the fixture)

from conftest import Api, make_article, new_token

VALIDATOR = os.environ.get("FEEDVALIDATOR_DIR", "")
pytestmark = pytest.mark.skipif(not VALIDATOR, reason="set FEEDVALIDATOR_DIR to run the W3C validator")
TOOL = Path(__file__).resolve().parents[2] / "shared" / "tools" / "w3c-validate"


# The warnings left, each explained in the README ("Checking feeds"): the validator does not
# know RFC 6721's namespace; it cannot match rel="self" against a string; the first corpus has
# a title that contains the text "<b>" and an article with no text.
ALLOWED = ("Use of unknown namespace", "Self reference", "should not contain HTML",
           "Missing textual content")


def validate(body: bytes) -> tuple[list[str], list[str]]:
    tool = runpy.run_path(str(TOOL))
    fv, compatibility, formatter, error, warning, failure = tool["load_validator"]()
    fmt = formatter([])
    try:
        events = compatibility.AA(fv.validateString(body, firstOccurrenceOnly=1)["loggedEvents"])
    except failure as exc:
        events = [exc.event]
    errors = [fmt.getMessage(e) for e in events if isinstance(e, error)]
    warnings = [fmt.getMessage(e) for e in events if isinstance(e, warning)]
    return errors, warnings


@pytest.mark.validator
def test_every_feed_validates(client: FlaskClient, corpus: dict[str, Any]) -> None:  # noqa: F811
    urls = [f"{scope}.{fmt}{query}" for scope in SCOPES for fmt in FORMATS
            for query in ("", "?order=updated", "?limit=3")] + ["/feeds.opml"]
    for url in urls:
        errors, warnings = validate(client.get(url).data)
        assert errors == [], (url, errors)
        assert all(any(a in w for a in ALLOWED) for w in warnings), (url, warnings)


# Names and texts in the scripts a newsroom writes in, and the characters that break markup:
# each article makes sections, topics and authors whose slugs are not ASCII (issue 12).
NON_LATIN = [
    make_article(key="bn-flood", title="ঢাকায় বন্যা: সতর্কতা জারি", section="বাংলাদেশ",
                 topics=["বন্যা", "খেলা"], language="bn",
                 authors=[{"name": "রহিম উদ্দিন", "email": "rahim@news.example",
                           "url": "https://news.example/লেখক/রহিম"}],
                 summary="নদীর পানি বিপদসীমার ওপরে", url="https://news.example/বাংলাদেশ/বন্যা?সূত্র=১",
                 content='<p>ঢাকা ও আশপাশে <a href="https://news.example/খবর">বন্যা</a></p>',
                 image={"url": "https://news.example/ছবি/১.jpg", "type": "image/jpeg", "length": 48213}),
    without_key(make_article(title="খেলার খবর: সাকিবের সেঞ্চুরি", section="খেলা", topics=["ক্রিকেট"],
                             authors=[{"name": "করিম"}], language="bn-BD", url=None)),
    make_article(key="ar-world", title="\u200fالعالم اليوم\u200f", section="العالم",
                 topics=["كرة القدم"], authors=[{"name": "محمد", "email": "m@news.example"}],
                 summary="ملخص \u200fباللغة\u200f العربية", content='<p dir="rtl">نص عربي</p>',
                 language="ar", image={"url": "https://news.example/i/ar.png", "type": "image/png",
                                       "length": 1024}),
    make_article(key="cjk", title="東京で地震、被害なし", section="国际", topics=["日本", "中国"],
                 authors=[{"name": "山田 太郎", "url": "https://news.example/yamada"}],
                 summary="概要", content="<p>中文内容</p>", language="ja"),
    make_article(key="markup-names", title="Q&A: <script> \"quotes\" & 'apostrophes'",
                 section='Tom & Jerry <"Cartoons">', topics=["R&D <lab>", "\"Quoted\" 'topic'"],
                 authors=[{"name": "O'Brien & \"Sons\" <Ltd>", "email": "ob@news.example",
                           "url": "https://news.example/ob?a=1&b=2"}]),
    make_article(key="emoji", title="🌊 Floods 🔥", section="🌊 Weather", topics=["🔥", "Fire 🔥"],
                 authors=[{"name": "👩🏽‍🚒 Crew"}],
                 image={"url": "https://news.example/i/w.webp", "type": "image/webp"}),
    make_article(key="combining", title="Cafe\u0301 de\u0301ja\u0300 vu", section="Cafe\u0301",
                 topics=["e\u0301te\u0301"], authors=[{"name": "Jose\u0301 Nin\u0303o"}], language="fr"),
    make_article(key="rtl-marks", title="\u202bمقلوب\u202c and \u200eLTR\u200e", section="\u200fعربي\u200f",
                 topics=["\u200f\u202bخاص\u202c"], authors=[], summary=None, content="<p>body only</p>"),
    make_article(key="bn-gone", title="মুছে ফেলা খবর", section="বাংলাদেশ", topics=["বন্যা"],
                 authors=[{"name": "রহিম উদ্দিন"}], language="bn"),
]


@pytest.fixture
def non_latin(api: Api) -> list[str]:
    """The corpus stored through the API (one deleted: a tombstone); every feed URL it makes."""
    for n, body in enumerate(NON_LATIN):
        body = body | {"published": f"2026-10-{n + 1:02d}T08:00:00+06:00",
                       "updated": f"2026-10-{n + 1:02d}T09:{n:02d}:00Z"}
        response = api.put(body["key"], body) if "key" in body else api.post(body)
        assert response.status_code == 201, response.get_json()
    assert api.delete("bn-gone").status_code == 204
    opml = etree.fromstring(api.client.get("/feeds.opml?format=all").data)
    return [o.get("xmlUrl") for o in opml.iter("outline") if o.get("xmlUrl")]


@pytest.mark.validator
def test_every_feed_of_non_latin_scopes_validates(client: FlaskClient, non_latin: list[str]) -> None:
    assert len(non_latin) == 3 * (1 + 8 + 12 + 7)  # site, sections, topics, authors; 3 formats
    checked = 0
    for feed in non_latin:
        fmt = feed.rsplit(".", 1)[1]
        for query in ("", "?order=updated", "?limit=2", "?order=updated&limit=2"):
            url: str | None = feed.removeprefix("http://feeds.test") + query
            while url:  # this page, then every older one through rel="next"
                response = client.get(url)
                assert response.status_code == 200, url
                read(response.data, fmt)  # well-formed, and feedparser reads every entry
                if fmt != "json":
                    errors, warnings = validate(response.data)
                    assert errors == [], (url, errors)
                    assert all(any(a in w for a in ALLOWED) for w in warnings), (url, warnings)
                    checked += 1
                url = next_link(response.data, fmt)
                url = url and url.removeprefix("http://feeds.test")
    assert checked > 2 * 28 * 4  # the ?limit=2 walks went past their first page


@pytest.mark.validator
def test_every_feed_of_a_branded_site_validates(make_app: Any) -> None:
    """SITE_LOGO, SITE_ICON, SITE_RIGHTS (with "&", "<" and Bengali), SITE_LANGUAGE and RSS
    <ttl> (issue 17) over the non-Latin corpus, whose entries' languages differ from the site's."""
    app = make_app(**BRANDING)
    api = Api(app.test_client(), {"Authorization": f"Bearer {new_token(app)}"})
    for n, body in enumerate(NON_LATIN):
        body = body | {"published": f"2026-10-{n + 1:02d}T08:00:00+06:00"}
        body["updated"] = body["published"]
        response = api.put(body["key"], body) if "key" in body else api.post(body)
        assert response.status_code == 201, response.get_json()
    opml = etree.fromstring(api.client.get("/feeds.opml?format=all").data)
    feeds = [o.get("xmlUrl") for o in opml.iter("outline") if o.get("xmlUrl")]
    checked = 0
    for feed in feeds:
        fmt = feed.rsplit(".", 1)[1]
        for query in ("", "?order=updated"):
            response = api.client.get(feed.removeprefix("http://feeds.test") + query)
            assert response.status_code == 200, feed
            read(response.data, fmt)
            if fmt != "json":
                errors, warnings = validate(response.data)
                assert errors == [], (feed, errors)
                assert all(any(a in w for a in ALLOWED) for w in warnings), (feed, warnings)
                checked += 1
    assert checked == 2 * 2 * (1 + 8 + 12 + 7)  # Atom and RSS, two orders; site, sections, topics, authors
