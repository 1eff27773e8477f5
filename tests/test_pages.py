"""The HTML pages through the test client: what a person and a feed reader's discovery see."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree, html
from lxml.html import HtmlElement
from werkzeug.datastructures import MultiDict

from feedsvc.errors import BadRequest
from feedsvc.store import params

from conftest import (
    FIRST_NAMES,
    LAST_NAMES,
    SUBJECTS,
    Api,
    Clock,
    crowd,
    make_article,
    new_token,
    recorded_statements,
    seed_article,
)

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
ATOM, RSS, JSON = "application/atom+xml", "application/rss+xml", "application/feed+json"
CSP = ("default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' https: data:; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def page(client: FlaskClient, path: str, status: int = 200) -> HtmlElement:
    response = client.get(path, headers=BROWSER)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/html"
    return html.fromstring(response.get_data(as_text=True))


def texts(doc: HtmlElement, xpath: str) -> list[str]:
    return [" ".join(e.text_content().split()) for e in doc.xpath(xpath)]


def alternates(doc: HtmlElement) -> list[tuple[str, str, str]]:
    return [(link.get("type"), link.get("href"), link.get("title"))
            for link in doc.xpath("//head/link[@rel='alternate']")]


def feeds_of(base: str) -> list[str]:
    return [f"{base}/feed.atom", f"{base}/feed.rss", f"{base}/feed.json"]


SITE_FEEDS = feeds_of("http://feeds.test")


@pytest.fixture
def newsroom(api: Api) -> Api:
    """A small newsroom: the seed article, two more sections, bylines, an update."""
    seed = seed_article()
    assert api.put(seed["key"], seed).status_code == 201
    assert api.put("floods", make_article(
        key="floods", title="Floods in Sylhet", section="Bangladesh", topics=["Floods", "Climate"],
        authors=[{"name": "Ann Lee"}, {"name": "Bo Chen"}],
        content="<h1>Rivers rose</h1><p>Overnight.</p><script>alert(1)</script>"
                "<img src='/i/map.png' alt='Map of Sylhet'>",
        url="https://news.example/bd/floods",
        published="2026-10-20T08:00:00Z", updated="2026-10-21T09:30:00Z")).status_code == 201
    assert api.put("rates", make_article(
        key="rates", title="Rates held", section="Business", topics=["Economy"],
        authors=[{"name": "Ann Lee"}], published="2026-10-25T06:00:00Z",
        updated="2026-10-25T06:00:00Z")).status_code == 201
    return api


# -- the home page -----------------------------------------------------------------------------

def test_empty_home_tells_a_newcomer_how_to_publish(client: FlaskClient) -> None:
    doc = page(client, "/")
    assert texts(doc, "//h1") == ["feedsvc is ready for its first article"]
    body = doc.text_content()
    assert "feed service for newsrooms" in body
    code = "\n".join(texts(doc, "//pre"))
    assert "feedsvc token create newsroom" in code
    assert "curl -X POST http://feeds.test/api/articles" in code
    assert "Authorization: Bearer $TOKEN" in code
    assert "feedsvc import first.jsonl" in code
    assert doc.xpath("//a[@href='/feeds']")


def test_home_lists_latest_articles_across_sections(client: FlaskClient, newsroom: Api) -> None:
    doc = page(client, "/")
    assert texts(doc, "//h1") == ["Latest articles"]
    assert texts(doc, "//main//li[contains(@class,'card')]//h2") == [
        "Rates held", "Floods in Sylhet", "Xi tells Putin his Ukraine invasion is ‘legitimate’"]
    assert texts(doc, "//nav[@aria-label='Sections']//a") == ["Bangladesh", "Business", "World"]
    assert doc.xpath("//nav[@aria-label='Sections']//a/@href") == [
        "/sections/bangladesh/", "/sections/business/", "/sections/world/"]
    assert doc.xpath("//main//h2/a/@href")[0] == "/articles/rates"


def test_listings_are_paged_with_a_cursor(make_app: Callable[..., Flask]) -> None:
    app = make_app(PAGE_SIZE=2)
    client = app.test_client()
    api = Api(client, {"Authorization": f"Bearer {new_token(app, 'pager')}"})
    for day in range(1, 6):
        when = f"2026-10-0{day}T12:00:00Z"
        assert api.put(f"p{day}", make_article(key=f"p{day}", title=f"Day {day}", published=when,
                                               updated=when)).status_code == 201
    for path in ("/", "/sections/world/", "/topics/climate/"):
        seen: list[str] = []
        url: str | None = path
        while url is not None:
            doc = page(client, url)
            seen += texts(doc, "//main//li[contains(@class,'card')]//h2")
            older = doc.xpath("//nav[@aria-label='More articles']/a[@rel='next']/@href")
            url = path + older[0] if older else None
            if url:
                assert doc.xpath("//a[@rel='next']")
        assert seen == ["Day 5", "Day 4", "Day 3", "Day 2", "Day 1"]
    assert page(client, "/?cursor=bad", 400).xpath("//h1")[0].text == "This link does not work"


# -- scope pages -------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "kicker", "name", "titles", "own"), [
    ("/sections/bangladesh/", "Section", "Bangladesh", ["Floods in Sylhet"], "sections/bangladesh"),
    ("/topics/climate/", "Topic", "Climate", ["Floods in Sylhet"], "topics/climate"),
    ("/authors/ann-lee/", "Author", "Ann Lee", ["Rates held", "Floods in Sylhet"], "authors/ann-lee"),
])
def test_scope_page_lists_its_articles(client: FlaskClient, newsroom: Api, path: str,
                                       kicker: str, name: str, titles: list[str], own: str) -> None:
    doc = page(client, path)
    assert texts(doc, "//h1") == [name]
    assert texts(doc, "//main/header/p[@class='kicker']") == [kicker]
    assert texts(doc, "//main//li[contains(@class,'card')]//h2") == titles
    own_feeds = feeds_of(f"http://feeds.test/{own}")
    assert [href for _, href, _ in alternates(doc)] == own_feeds + SITE_FEEDS
    assert doc.xpath("//div[@class='subscribe']//a/@href") == own_feeds


@pytest.mark.parametrize("path", ["/sections/nowhere/", "/topics/nothing/", "/authors/nobody/"])
def test_unknown_scope_is_a_helpful_404_page(client: FlaskClient, newsroom: Api, path: str) -> None:
    doc = page(client, path, 404)
    assert texts(doc, "//h1") == ["Page not found"]
    assert doc.xpath("//main//a[@href='/feeds']") and doc.xpath("//main//a[@href='/']")
    assert "/sections/world/" in doc.xpath("//main//nav//a/@href")


# -- the article page --------------------------------------------------------------------------

def test_article_page_shows_the_article(make_app: Callable[..., Flask]) -> None:
    app = make_app(TIMEZONE="Asia/Dhaka")
    client = app.test_client()
    api = Api(client, {"Authorization": f"Bearer {new_token(app)}"})
    api.put("floods", make_article(
        key="floods", title="Floods in Sylhet", section="Bangladesh", topics=["Floods", "Climate"],
        authors=[{"name": "Ann Lee"}, {"name": "Bo Chen"}, {"name": "Cy Roy"}],
        content="<h1>Rivers rose</h1><p onclick='x()'>Overnight.</p><script>alert(1)</script>"
                "<a href='javascript:alert(1)'>bad</a>",
        url="https://news.example/bd/floods", language="en-GB",
        published="2026-10-20T08:00:00Z", updated="2026-10-21T09:30:00Z"))
    doc = page(client, "/articles/floods")
    assert texts(doc, "//h1") == ["Floods in Sylhet"]
    assert doc.xpath("//title")[0].text == "Floods in Sylhet — feedsvc"
    assert doc.xpath("//article/@lang") == ["en-GB"]
    assert texts(doc, "//p[@class='byline']") == ["By Ann Lee, Bo Chen and Cy Roy"]
    assert doc.xpath("//p[@class='byline']/a/@href") == [
        "/authors/ann-lee/", "/authors/bo-chen/", "/authors/cy-roy/"]
    assert doc.xpath("//article//p[@class='kicker']/a/@href") == ["/sections/bangladesh/"]
    assert doc.xpath("//nav[@aria-label='Topics']//a/@href") == ["/topics/floods/", "/topics/climate/"]
    # The body is sanitised, and its own h1 is an h2 under the page's one h1.
    body = html.tostring(doc.xpath("//div[@class='body']")[0], encoding="unicode")
    assert "<script" not in body and "onclick" not in body and "javascript:" not in body
    assert texts(doc, "//div[@class='body']/h2") == ["Rivers rose"]
    # Published and updated, in TIMEZONE, each as a full RFC 3339 instant.
    published, updated = doc.xpath("//header//time")
    assert published.get("datetime") == "2026-10-20T14:00:00+06:00"
    assert dt.datetime.fromisoformat(updated.get("datetime")) == dt.datetime(
        2026, 10, 21, 9, 30, tzinfo=dt.UTC)
    assert " ".join(updated.text_content().split()) == "21 October 2026, 15:30 +06"
    assert doc.xpath("//p[@class='source']/a/@href") == ["https://news.example/bd/floods"]
    # Its section's feeds first, then the site's; every feed it is in is linked.
    assert [href for _, href, _ in alternates(doc)][:3] == feeds_of(
        "http://feeds.test/sections/bangladesh")
    linked = set(doc.xpath("//aside//a/@href"))
    for scope in ("sections/bangladesh", "topics/floods", "topics/climate", "authors/ann-lee",
                  "authors/bo-chen", "authors/cy-roy"):
        assert set(feeds_of(f"http://feeds.test/{scope}")) <= linked


def test_article_page_shows_updated_only_when_it_differs(client: FlaskClient, api: Api) -> None:
    api.put("same", make_article(key="same", published="2026-10-01T10:00:00Z",
                                 updated="2026-10-01T10:00:00Z"))
    doc = page(client, "/articles/same")
    assert texts(doc, "//header//span[@class='published']") == [
        "Published 1 October 2026, 10:00 UTC"]
    assert not doc.xpath("//span[@class='updated']")
    assert doc.xpath("//header//time/@datetime") == ["2026-10-01T10:00:00+00:00"]


def test_deleted_article_answers_410_with_a_page(client: FlaskClient, api: Api) -> None:
    api.put("gone", make_article(key="gone", title="Withdrawn story"))
    api.delete("gone")
    response = client.get("/articles/gone", headers=BROWSER)
    assert response.status_code == 410
    doc = html.fromstring(response.get_data(as_text=True))
    assert texts(doc, "//h1") == ["This article was deleted"]
    assert "Withdrawn story" not in response.get_data(as_text=True)


def test_unknown_article_is_a_404_page(client: FlaskClient, newsroom: Api) -> None:
    doc = page(client, "/articles/never-was", 404)
    assert texts(doc, "//h1") == ["Page not found"]
    assert doc.xpath("//main//a[@href='/feeds']")


# -- scheduled articles ------------------------------------------------------------------------

def test_scheduled_article_is_on_no_page_before_its_instant(client: FlaskClient, api: Api,
                                                            clock: Clock) -> None:
    api.put("old", make_article(key="old", title="Already out"))
    api.put("embargo", make_article(
        key="embargo", title="Embargoed merger", section="Deals", topics=["Secret merger"],
        authors=[{"name": "New Hire"}], summary="embargoed summary",
        published="2026-11-02T00:00:00Z", updated="2026-11-02T00:00:00Z"))
    unknown = client.get("/articles/no-such-key", headers=BROWSER)
    paths = ["/", "/feeds", "/sections/world/", "/topics/climate/", "/authors/staff-correspondent/"]
    for path in paths:
        body = client.get(path, headers=BROWSER).get_data(as_text=True)
        for leak in ("Embargoed", "embargo", "Deals", "Secret merger", "New Hire"):
            assert leak not in body, (path, leak)
    # Exactly as an unknown key: not even the status or the size tells it exists.
    scheduled = client.get("/articles/embargo", headers=BROWSER)
    assert (scheduled.status_code, scheduled.data) == (unknown.status_code, unknown.data)
    for path in ("/sections/deals/", "/topics/secret-merger/", "/authors/new-hire/"):
        assert client.get(path, headers=BROWSER).status_code == 404

    clock.set(dt.datetime(2026, 11, 2, tzinfo=dt.UTC))
    assert "Embargoed merger" in texts(page(client, "/"), "//main//h2")
    assert texts(page(client, "/articles/embargo"), "//h1") == ["Embargoed merger"]
    for path in ("/sections/deals/", "/topics/secret-merger/", "/authors/new-hire/"):
        assert "Embargoed merger" in texts(page(client, path), "//main//h2")
    assert "Secret merger" in texts(page(client, "/feeds"), "//h3")


def test_a_scope_whose_articles_were_deleted_stays_known(client: FlaskClient, api: Api) -> None:
    api.put("x", make_article(key="x", section="Obituaries", topics=[]))
    api.delete("x")
    doc = page(client, "/sections/obituaries/")
    assert texts(doc, "//h1") == ["Obituaries"]
    assert texts(doc, "//p[@class='empty']") == ["There are no articles here at the moment."]
    # Its feeds still exist (Atom keeps the tombstone), so the directory lists them, empty.
    card = page(client, "/feeds").xpath("//li[@id='feed-sections-obituaries']")[0]
    assert " ".join(card.xpath(".//p[@class='meta']")[0].text_content().split()) == "0 articles"


def test_an_article_deleted_before_its_instant_was_never_public(client: FlaskClient, api: Api,
                                                                 clock: Clock) -> None:
    api.put("scrapped", make_article(key="scrapped", section="Leaks", topics=["Plans"],
                                     published="2026-11-02T00:00:00Z",
                                     updated="2026-11-02T00:00:00Z"))
    api.delete("scrapped")
    clock.set(dt.datetime(2026, 11, 3, tzinfo=dt.UTC))
    assert client.get("/articles/scrapped", headers=BROWSER).status_code == 404  # not 410
    for path in ("/sections/leaks/", "/topics/plans/"):
        assert client.get(path, headers=BROWSER).status_code == 404
    assert "Leaks" not in page(client, "/feeds").text_content()


# -- the feed directory ------------------------------------------------------------------------

def urls_of(row: HtmlElement) -> list[str]:
    """The feed URLs a directory row shows, as text a reader can select and copy."""
    return [code.text_content() for code in row.xpath(".//code[@class='url']")]


def shown_rows(doc: HtmlElement, kind: str) -> list[str]:
    """The names of the rows of ``kind`` that the page shows (not ``hidden`` by ``?q=``)."""
    return texts(doc, f"//section[@data-kind='{kind}']//li[@class='scope'][not(@hidden)]//h3")


def test_feed_directory_lists_every_feed(client: FlaskClient, newsroom: Api) -> None:
    doc = page(client, "/feeds")
    assert texts(doc, "//h1") == ["Feeds"]
    assert texts(doc, "//main//h2") == ["Whole site", "Sections", "Topics", "Authors"]
    assert texts(doc, "//main//h3") == [
        "All of feedsvc", "Bangladesh", "Business", "World", "China", "Climate", "Economy",
        "Floods", "Russia", "Ukraine war", "Ann Lee", "Bo Chen"]
    row = doc.xpath("//li[@id='feed-authors-ann-lee']")[0]
    assert texts(row, ".//p[@class='meta']") == ["2 articles · updated 25 Oct 2026"]
    assert row.xpath(".//time/@datetime") == ["2026-10-25T06:00:00+00:00"]
    assert row.xpath(".//h3/a/@href") == ["/authors/ann-lee/"]
    # One row: each format's name beside its whole URL, in text a click selects.
    assert texts(row, ".//ul[@class='urls']/li") == [
        f"{label} {url}" for label, url in zip(
            ("Atom", "RSS", "JSON Feed"), feeds_of("http://feeds.test/authors/ann-lee"), strict=True)]
    assert not row.xpath(".//button")  # copy.js adds them: without it they could do nothing
    assert row.xpath(".//a[starts-with(@href,'feed:')]/@href") == [
        "feed:http://feeds.test/authors/ann-lee/feed.atom"]
    site = doc.xpath("//li[@id='feed-site']")[0]
    assert "3 articles" in site.text_content()
    assert urls_of(site) == SITE_FEEDS
    assert doc.xpath("//main//a[@href='http://feeds.test/feeds.opml']")
    assert doc.xpath("//head/script/@src") == ["/static/copy.js", "/static/filter.js"]
    # The filter: a GET form that works without the script, and jump links with counts.
    form = doc.xpath("//form[@role='search']")[0]
    assert (form.get("action"), form.get("method")) == ("/feeds", "get")
    assert form.xpath(".//input[@type='search']/@name") == ["q"]
    assert texts(doc, "//nav[@aria-label='Kinds of feeds']//li") == [
        "Whole site", "Sections (3)", "Topics (6)", "Authors (2)"]
    assert not doc.xpath("//li[@class='scope'][@hidden]")


def test_feed_directory_with_2000_topics_shows_every_url_whole(app: Flask, client: FlaskClient,
                                                              clock: Clock) -> None:
    """Issue 16: 2,000 topics and 300 authors in compact rows, every URL whole, in four queries."""
    topics = crowd(app, clock.now, topics=2000, authors=300)
    with recorded_statements(app) as seen:
        doc = page(client, "/feeds")
    selects = [statement for statement in seen if statement.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 4, selects  # the site, then one per kind: not one per scope
    assert len(shown_rows(doc, "topics")) == 2000 and len(shown_rows(doc, "authors")) == 300
    assert sorted(shown_rows(doc, "topics"), key=str.casefold) == sorted(topics, key=str.casefold)
    assert texts(doc, "//nav[@aria-label='Kinds of feeds']//li") == [
        "Whole site", "Sections (12)", "Topics (2,000)", "Authors (300)"]
    # Each URL whole, as the OPML of every feed names it: not clipped, not shortened.
    shown = [url for row in doc.xpath("//li[@class='scope']") for url in urls_of(row)]
    outlines = etree.fromstring(client.get("/feeds.opml?format=all").data).xpath("//outline/@xmlUrl")
    assert len(shown) == len(set(shown)) == 3 * (1 + 12 + 2000 + 300)
    assert set(shown) == set(outlines)
    assert "http://feeds.test/topics/%E0%A6%AC%E0%A6%BE%E0%A6%82%E0%A6%B2%E0%A6%BE%E0%A6%A6%E0%A7" \
           "%87%E0%A6%B6-floods/feed.atom" in shown


FILTERS = [  # ?q= -> the sections, topics and authors it shows
    ("বাংলাদেশ", ["বাংলাদেশ"], [f"বাংলাদেশ {s}" for s in SUBJECTS], []),
    ("বাংলাদেশ FLOODS", [], ["বাংলাদেশ floods"], []),
    ("dhaka", ["Dhaka"], [f"Dhaka {s}" for s in SUBJECTS], []),
    ("  Floods   SYLHET ", [], ["Sylhet floods"], []),
    ("floods sylhet dhaka", [], [], []),
    ("dhaka-floods", [], ["Dhaka floods"], []),  # as its URL spells it
    ("ｄｈａｋａ ｆｌｏｏｄｓ", [], ["Dhaka floods"], []),  # full-width letters fold (NFKC)
    ("müller", [], [], [f"{first} Müller" for first in FIRST_NAMES]),
    ("nadia-", [], [], [f"Nadia {last}" for last in LAST_NAMES]),
    ("no such name", [], [], []),
]


@pytest.mark.parametrize(("query", "sections", "topics", "authors"), FILTERS,
                         ids=[f[0] for f in FILTERS])
def test_the_filter_narrows_rows_without_javascript(app: Flask, client: FlaskClient, clock: Clock,
                                                    query: str, sections: list[str],
                                                    topics: list[str], authors: list[str]) -> None:
    crowd(app, clock.now, topics=400, authors=300)
    doc = page(client, f"/feeds?q={quote(query)}")
    assert (shown_rows(doc, "sections"), shown_rows(doc, "topics"), shown_rows(doc, "authors")) == (
        sorted(sections, key=str.casefold), sorted(topics, key=str.casefold),
        sorted(authors, key=str.casefold))
    assert doc.xpath("//li[@id='feed-site'][not(@hidden)]")  # the whole site is not filtered
    assert doc.xpath("//input[@name='q']/@value") == [" ".join(query.split())]
    counts = texts(doc, "//nav[@aria-label='Kinds of feeds']//li")
    assert counts[1:] == [f"Sections ({len(sections)} of 12)", f"Topics ({len(topics)} of 400)",
                          f"Authors ({len(authors)} of 300)"]
    for kind, shown in (("sections", sections), ("topics", topics), ("authors", authors)):
        none = doc.xpath(f"//section[@data-kind='{kind}']/p[contains(@class,'no-match')]")[0]
        assert (none.get("hidden") is None) == (not shown), kind
    # Every row is still in the page, hidden, so the script can widen the filter as you type.
    assert len(doc.xpath("//li[@class='scope']")) == 1 + 12 + 400 + 300
    assert doc.xpath("//a[@class='show-all'][not(@hidden)]/@href") == ["/feeds"]


def test_no_filter_and_a_blank_one_show_every_row(app: Flask, client: FlaskClient,
                                                  clock: Clock) -> None:
    crowd(app, clock.now, topics=40, authors=10)
    for path in ("/feeds", "/feeds?q=", "/feeds?q=+++", "/feeds?utm_source=x"):
        doc = page(client, path)
        assert not doc.xpath("//li[@class='scope'][@hidden]"), path
        assert doc.xpath("//a[@class='show-all'][@hidden]"), path


BAD_FILTERS = [("x" * 201, "must be at most 200 characters"),
               ("a\x01b", "must not contain control characters"),
               ("\x7f", "must not contain control characters")]


@pytest.mark.parametrize(("query", "detail"), BAD_FILTERS + [(["a", "b"], "must be given at most once")])
def test_a_bad_filter_is_a_400_naming_q(query: str | list[str], detail: str) -> None:
    with pytest.raises(BadRequest) as refused:
        params.search(MultiDict({"q": query}))
    assert refused.value.errors == [{"parameter": "q", "in": "query", "detail": detail}]


@pytest.mark.parametrize("query", [query for query, _ in BAD_FILTERS])
def test_a_bad_filter_is_an_error_page_with_the_way_back(client: FlaskClient, newsroom: Api,
                                                         query: str) -> None:
    doc = page(client, f"/feeds?q={quote(query)}", 400)
    assert texts(doc, "//h1") == ["This link does not work"]
    assert doc.xpath("//main//a[@href='/feeds']")


def test_the_longest_filter_is_answered(client: FlaskClient, newsroom: Api) -> None:
    doc = page(client, "/feeds?q=" + quote("বা" * 100))
    assert shown_rows(doc, "topics") == []


def encoded(text: str) -> str:
    return quote(text, safe="")


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(query=st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=220).map(encoded),
    st.binary(max_size=60).map(encoded),  # any bytes, UTF-8 or not
    st.sampled_from(["%", "%zz", "%E0%A6", "%C0%80", "+", "%2B", "a%00b"]),  # sent as they are
    st.sampled_from(["Climate", "climate ukraine", "<script>", "\"'>", "\u0130", "ß",
                     "\ufffe", "\u2028", "\x85", "\t\n", "\U0001f30a"]).map(encoded)))
def test_any_filter_is_answered_never_a_500(app: Flask, client: FlaskClient, newsroom: Api,
                                            query: str) -> None:
    with app.test_request_context(f"/feeds?q={query}"):
        read = request.args["q"]  # the text as the server reads it
    refused = len(read) > params.MAX_SEARCH or any(
        unicodedata.category(ch) == "Cc" and not ch.isspace() for ch in read)
    response = client.get(f"/feeds?q={query}", headers=BROWSER)
    assert response.status_code == (400 if refused else 200), (query, read)
    doc = html.fromstring(response.get_data(as_text=True))
    if refused:
        return
    # The text comes back in the box as it was read (spaces collapsed), never as markup.
    assert doc.xpath("//input[@name='q']/@value") == [" ".join(read.split())]
    # A row shows when its key (the one the page's script matches too) holds every word.
    words = unicodedata.normalize("NFKC", read).lower().split()
    rows = doc.xpath("//section[@data-kind]//li[@class='scope']")
    assert len(rows) == 11
    for row in rows:
        assert (row.get("hidden") is None) == all(w in row.get("data-key") for w in words), row.get("id")


# -- on every page -----------------------------------------------------------------------------

PAGES = [("/", 200, None), ("/feeds", 200, None), ("/sections/world/", 200, "sections/world"),
         ("/topics/ukraine-war/", 200, "topics/ukraine-war"),
         ("/authors/bo-chen/", 200, "authors/bo-chen"),
         ("/articles/floods", 200, "sections/bangladesh"), ("/articles/nope", 404, None),
         ("/no/such/page", 404, None)]


@pytest.mark.parametrize(("path", "status", "own"), PAGES, ids=[p[0] for p in PAGES])
def test_autodiscovery_names_own_feeds_then_the_sites(client: FlaskClient, newsroom: Api,
                                                      path: str, status: int,
                                                      own: str | None) -> None:
    found = alternates(page(client, path, status))
    expected = (feeds_of(f"http://feeds.test/{own}") if own else []) + SITE_FEEDS
    assert [href for _, href, _ in found] == expected
    assert [kind for kind, _, _ in found] == [ATOM, RSS, JSON] * (len(expected) // 3)
    titles = [title for _, _, title in found]
    assert all(title and title.startswith("feedsvc: ") for title in titles)
    assert len(set(titles)) == len(titles)
    assert titles[-3:] == ["feedsvc: all articles (Atom)", "feedsvc: all articles (RSS)",
                           "feedsvc: all articles (JSON Feed)"]


@pytest.mark.parametrize(("path", "status", "own"), PAGES, ids=[p[0] for p in PAGES])
def test_page_structure_is_accessible(client: FlaskClient, newsroom: Api, path: str,
                                      status: int, own: str | None) -> None:
    response = client.get(path, headers=BROWSER)
    doc = html.fromstring(response.get_data(as_text=True))
    assert doc.get("lang") == "en"
    assert doc.xpath("//title")[0].text.strip()
    assert len(doc.xpath("//h1")) == 1
    levels = [int(h.tag[1]) for h in doc.xpath("//h1|//h2|//h3|//h4|//h5|//h6")]
    assert levels[0] == 1 and all(b - a <= 1 for a, b in zip(levels, levels[1:], strict=False))
    # Landmarks: one banner, one main, one contentinfo; every nav named.
    assert len(doc.xpath("//body/header")) == len(doc.xpath("//main")) == 1
    assert len(doc.xpath("//body/footer")) == 1
    assert all(nav.get("aria-label") for nav in doc.xpath("//nav"))
    assert doc.xpath("//a[@class='skip']/@href") == ["#main"] and doc.xpath("//main[@id='main']")
    for control in doc.xpath("//input|//select|//textarea"):
        assert doc.xpath(f"//label[@for='{control.get('id')}']"), html.tostring(control)
    for button in doc.xpath("//button"):
        assert button.text_content().strip()
    for image in doc.xpath("//img"):
        assert image.get("alt") is not None
    for link in doc.xpath("//a"):
        assert link.text_content().strip(), html.tostring(link)
    ids = doc.xpath("//@id")
    assert len(ids) == len(set(ids))
    # Nothing inline that the Content-Security-Policy would refuse.
    assert not doc.xpath("//script[not(@src)]|//style|//*[@style]|//*[starts-with(name(@*),'on')]")


@pytest.mark.parametrize("path", ["/", "/feeds", "/articles/floods", "/sections/world/",
                                  "/articles/nope"])
def test_security_headers_on_pages(client: FlaskClient, newsroom: Api, path: str) -> None:
    response = client.get(path, headers=BROWSER)
    assert response.headers["Content-Security-Policy"] == CSP
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_security_headers_on_every_response(client: FlaskClient, api: Api) -> None:
    for response in (client.get("/static/site.css"), client.get("/static/copy.js"),
                     api.get("nope"), client.get("/api/openapi.json")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert "Content-Security-Policy" not in response.headers
        response.close()


def test_static_assets_are_served_with_their_types(client: FlaskClient) -> None:
    css = client.get("/static/site.css")
    js = client.get("/static/copy.js")
    narrowing = client.get("/static/filter.js")
    assert css.mimetype == "text/css" and b"prefers-color-scheme" in css.data
    assert js.mimetype == "text/javascript" and b"navigator.clipboard" in js.data
    assert narrowing.mimetype == "text/javascript" and b'normalize("NFKC")' in narrowing.data
    css.close()
    js.close()
    narrowing.close()
    doc = page(client, "/")
    assert doc.xpath("//head/link[@rel='stylesheet']/@href") == ["/static/site.css"]
    assert not [src for src in doc.xpath("//@src|//link/@href")
                if urlsplit(src).netloc not in ("", "feeds.test")]


@pytest.mark.parametrize(("request_", "status"), [
    (lambda c, a: a.get("never-was"), 404),
    (lambda c, a: c.get("/no/such/page"), 404),
    (lambda c, a: c.get("/api/nothing", headers=BROWSER), 404),
    (lambda c, a: c.post("/", headers=BROWSER), 405),
])
def test_api_and_scripts_keep_problem_json(client: FlaskClient, api: Api,
                                           request_: Callable[[FlaskClient, Api], Any],
                                           status: int) -> None:
    response = request_(client, api)
    assert response.status_code == status
    assert response.content_type == "application/problem+json"


def test_head_of_a_page(client: FlaskClient, newsroom: Api) -> None:
    response = client.head("/articles/rates")
    assert response.status_code == 200 and response.data == b""
    assert response.headers["Content-Security-Policy"] == CSP


def test_every_feed_a_page_names_exists(client: FlaskClient, newsroom: Api) -> None:
    """Autodiscovery, the article's feed links and the directory all point at real feeds."""
    newsroom.put("gone", make_article(key="gone", section="Obituaries", topics=[]))
    newsroom.delete("gone")
    named: dict[str, str] = {}
    for path in ("/", "/sections/world/", "/topics/floods/", "/authors/bo-chen/",
                 "/articles/floods", "/feeds"):
        doc = page(client, path)
        named.update({href: kind for kind, href, _ in alternates(doc)})
        named.update({a.get("href"): a.get("type") for a in doc.xpath("//main//a[@type]")
                      if "/feed." in a.get("href")})
        named.update({url: "" for url in urls_of(doc)})
    assert "http://feeds.test/sections/obituaries/feed.atom" in named
    for url, kind in named.items():
        response = client.get(urlsplit(url).path)
        assert response.status_code == 200, url
        assert kind in ("", response.mimetype), url
        response.close()


def test_feed_directory_lists_the_feeds_of_the_opml(client: FlaskClient, newsroom: Api) -> None:
    directory = set(urls_of(page(client, "/feeds")))
    outlines = set(etree.fromstring(client.get("/feeds.opml?format=all").data).xpath("//outline/@xmlUrl"))
    assert directory == outlines
