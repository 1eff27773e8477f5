"""The pages in a real browser: Debian's Chromium, driven by Playwright, against ``feedsvc serve``.

Skipped only on a machine without /usr/bin/chromium and outside CI; in CI (``CI`` set) a
missing browser fails, and .ci/run installs it. Screenshots go to screenshots/ (git-ignored);
with ``DOCS_SCREENSHOTS=1`` the feed directory's are also written over the README's in docs/.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import feedparser
import pytest
from flask import Flask

from conftest import Api, Clock, crowd, make_article, new_token, seed_article
from live import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
SHOTS = Path(__file__).resolve().parents[1] / "screenshots"
DOCS = Path(__file__).resolve().parents[1] / "docs"
VIEWPORTS = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2,
              "is_mobile": True, "has_touch": True},
    "phone-dark": {"viewport": {"width": 390, "height": 844}, "color_scheme": "dark"},
}
SITE_TITLE = "The Example Times"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"),
    reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)")

BODY = ("<p>{lead}</p><h2>What happened</h2><p>Officials said the figures would be revised as "
        "reports came in from the districts. <a href='/more'>Background</a>.</p>"
        "<blockquote><p>We have never seen the water rise this fast.</p></blockquote>"
        "<ul><li>Schools closed in three districts</li><li>Rail services suspended</li></ul>")

ARTICLES: list[dict[str, Any]] = [
    make_article(key="sylhet-floods", title="Floods in Sylhet leave thousands stranded",
                 section="Bangladesh", topics=["Floods", "Climate"],
                 authors=[{"name": "Nadia Rahman"}, {"name": "Tom Whitfield"}],
                 summary="Rivers rose overnight after a week of monsoon rain; the army has "
                         "joined the rescue effort.",
                 content=BODY.format(lead="Rivers across Sylhet burst their banks overnight."),
                 url="https://news.example/bangladesh/sylhet-floods",
                 published="2026-11-20T02:17:00+06:00", updated="2026-11-20T14:18:00+06:00"),
    make_article(key="rates-held", title="Central bank holds rates as inflation cools",
                 section="Business", topics=["Economy", "Inflation"],
                 authors=[{"name": "Priya Natarajan"}],
                 summary="The policy rate stays at 8.5% for a third month.",
                 content=BODY.format(lead="The central bank left its policy rate unchanged."),
                 url="https://news.example/business/rates-held",
                 published="2026-11-19T10:00:00+06:00", updated="2026-11-19T10:00:00+06:00"),
    make_article(key="deep-sea-map", title="Researchers map the deep sea floor off Chattogram",
                 section="Science", topics=["Oceans", "Climate"],
                 authors=[{"name": "Nadia Rahman"}],
                 summary="A new survey charts canyons no one had measured before.",
                 content=BODY.format(lead="A survey ship returned with the first full map."),
                 url="https://news.example/science/deep-sea-map",
                 published="2026-11-18T09:00:00+06:00", updated="2026-11-21T11:00:00+06:00"),
    make_article(key="metro-late", title="Dhaka Metro extends late-night service",
                 section="Bangladesh", topics=["Transport"], authors=[{"name": "Tom Whitfield"}],
                 summary="Trains will run until 1 a.m. from next month.",
                 content=BODY.format(lead="The last train will leave at 1 a.m."),
                 url="https://news.example/bangladesh/metro-late",
                 published="2026-11-17T18:30:00+06:00", updated="2026-11-17T18:30:00+06:00"),
    make_article(key="series-win", title="Bangladesh clinch the series in Colombo",
                 section="Sport", topics=["Cricket"], authors=[],
                 summary="A last-ball six settled the third match.",
                 content=BODY.format(lead="It came down to the final ball."),
                 url="https://news.example/sport/series-win",
                 published="2026-11-16T21:45:00+06:00", updated="2026-11-16T21:45:00+06:00"),
]
TOPICS = sorted({topic for article in [seed_article(), *ARTICLES] for topic in article["topics"]})
EMBARGOED = make_article(key="quarterly-results", title="Embargoed quarterly results",
                         section="Markets", topics=["Earnings"], authors=[{"name": "Embargo Desk"}],
                         published="2099-01-01T00:00:00Z", updated="2099-01-01T00:00:00Z")
WITHDRAWN = make_article(key="withdrawn", title="A withdrawn story", section="Bangladesh",
                         published="2026-11-15T08:00:00+06:00",
                         updated="2026-11-15T08:00:00+06:00")

# name -> (path, status, the h1 a reader sees)
PAGES = {
    "home": ("/", 200, "Latest articles"),
    "section": ("/sections/bangladesh/", 200, "Bangladesh"),
    "topic": ("/topics/climate/", 200, "Climate"),
    "author": ("/authors/nadia-rahman/", 200, "Nadia Rahman"),
    "article": ("/articles/sylhet-floods", 200, "Floods in Sylhet leave thousands stranded"),
    "feeds": ("/feeds", 200, "Feeds"),
    "not-found": ("/articles/no-such-article", 404, "Page not found"),
    "deleted": ("/articles/withdrawn", 410, "This article was deleted"),
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium under Playwright (never a downloaded browser)."""
    if not CHROMIUM.exists():
        pytest.fail("CI: /usr/bin/chromium is missing (.ci/run installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def serve(make_app: Callable[..., Flask], db_url: str, tmp_path: Path,
          clock: Clock) -> Iterator[Callable[..., LiveServer]]:
    """Start ``feedsvc serve`` over the test database, seeded by ``seed(api)`` first."""
    servers: list[LiveServer] = []
    # The server runs on the real clock; seed on it too, or a delete would seem to come
    # before the article's publication.
    clock.set(dt.datetime.now(dt.UTC))

    def start(seed: Callable[[Api], None] | None = None) -> LiveServer:
        app = make_app()  # migrates the database
        if seed is not None:
            client = app.test_client()
            seed(Api(client, {"Authorization": f"Bearer {new_token(app, 'seed')}"}))
        # No BASE_URL: links take the server's own origin, so the browser can follow them.
        server = LiveServer(tmp_path / f"live{len(servers)}", db_url, threads=4, BASE_URL="",
                            TIMEZONE="Asia/Dhaka", SITE_TITLE=SITE_TITLE)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def newsroom(api: Api) -> None:
    seed = seed_article()
    for body in [seed, *ARTICLES, EMBARGOED, WITHDRAWN]:
        assert api.put(body["key"], body).status_code == 201, body["key"]
    assert api.delete(WITHDRAWN["key"]).status_code == 204


@pytest.fixture
def site(serve: Callable[..., LiveServer]) -> LiveServer:
    return serve(newsroom)


class Tab:
    """A page in a fresh browser context, with the console errors it logged."""

    def __init__(self, browser: Any, base: str, **context: Any) -> None:
        self.context = browser.new_context(base_url=base, **context)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, path: str, status: int = 200) -> Any:
        response = self.page.goto(path)
        assert response is not None and response.status == status, path
        return self.page

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tabs(browser: Any) -> Iterator[Callable[..., Tab]]:
    opened: list[Tab] = []

    def tab(base: str, **context: Any) -> Tab:
        opened.append(Tab(browser, base, **context))
        return opened[-1]

    yield tab
    for t in opened:
        t.close()


def shoot(page: Any, name: str, full_page: bool = True, docs: str | None = None) -> Path:
    """Save a screenshot in screenshots/; with DOCS_SCREENSHOTS=1 also as docs/``docs``."""
    SHOTS.mkdir(exist_ok=True)
    path = SHOTS / f"{name}.png"
    if full_page:
        # Rows of the feed directory far from the viewport are not painted (content-visibility:
        # auto); site.css paints them all for print, so a whole-page picture is taken so.
        page.emulate_media(media="print")
    page.screenshot(path=str(path), full_page=full_page)
    if docs is not None and os.environ.get("DOCS_SCREENSHOTS"):
        page.screenshot(path=str(DOCS / docs), full_page=full_page)
    page.emulate_media(media="screen")
    return path


def axe_violations(page: Any) -> list[str]:
    """What axe-core (WCAG 2.x A and AA rules, contrast included) finds wrong with the page."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": [
        "wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]}})
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])}x: {v['nodes'][0]['html'][:120]})"
            for v in results.response["violations"]]


def headings_and_labels(page: Any) -> dict[str, Any]:
    """The accessibility facts axe does not state as plainly: h1s, lang, labels, alt text."""
    return page.evaluate("""() => ({
        lang: document.documentElement.lang,
        h1: document.querySelectorAll('h1').length,
        unlabelled: [...document.querySelectorAll('input, select, textarea')]
            .filter(e => !e.labels || e.labels.length === 0).map(e => e.outerHTML),
        noAlt: [...document.querySelectorAll('img')].filter(i => !i.hasAttribute('alt')).length,
        mains: document.querySelectorAll('main').length,
        overflow: document.documentElement.scrollWidth - window.innerWidth,
    })""")


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_every_page_kind_at_each_width(site: LiveServer, tabs: Callable[..., Tab],
                                       viewport: str) -> None:
    tab = tabs(site.base, **VIEWPORTS[viewport])
    for name, (path, status, h1) in PAGES.items():
        page = tab.open(path, status)
        assert page.locator("h1").inner_text() == h1
        facts = headings_and_labels(page)
        assert facts == {"lang": "en", "h1": 1, "unlabelled": [], "noAlt": 0, "mains": 1,
                         "overflow": 0}, (name, facts)
        assert axe_violations(page) == [], name
        body = page.locator("body").inner_text()
        assert "Embargoed" not in body and "Embargo Desk" not in body
        shoot(page, f"{viewport}-{name}")
        shoot(page, f"{viewport}-{name}-top", full_page=False)  # what the first screen shows
    # The only errors: the browser's own notes on the 404 and 410 documents, no CSP refusal.
    assert [e for e in tab.errors if "status of 404" not in e and "status of 410" not in e] == []


def test_follow_links_from_home_to_the_feed_directory(site: LiveServer,
                                                      tabs: Callable[..., Tab]) -> None:
    tab = tabs(site.base, **VIEWPORTS["desktop"])
    page = tab.open("/")
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Bangladesh").click()
    page.wait_for_url("**/sections/bangladesh/")
    assert page.locator("h1").inner_text() == "Bangladesh"
    page.get_by_role("link", name="Floods in Sylhet leave thousands stranded").click()
    page.wait_for_url("**/articles/sylhet-floods")
    assert page.locator("h1").inner_text() == "Floods in Sylhet leave thousands stranded"
    times = page.locator("article header time")
    assert times.evaluate_all("ts => ts.map(t => t.dateTime)") == [
        "2026-11-20T02:17:00+06:00", "2026-11-20T14:18:00+06:00"]
    page.get_by_role("navigation", name="Topics").get_by_role("link", name="Climate").click()
    page.wait_for_url("**/topics/climate/")
    assert page.locator("h1").inner_text() == "Climate"
    assert page.locator("main li.card h2").all_inner_texts() == [
        "Floods in Sylhet leave thousands stranded",
        "Researchers map the deep sea floor off Chattogram"]
    page.get_by_role("navigation", name="Site").get_by_role("link", name="Feeds").click()
    page.wait_for_url("**/feeds")
    assert page.locator("h1").inner_text() == "Feeds"
    assert page.locator("#feed-topics-climate h3").inner_text() == "Climate"
    assert tab.errors == []


def fetch(url: str) -> tuple[str, bytes]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.headers.get_content_type(), response.read()


def test_every_autodiscovery_link_is_a_feed(site: LiveServer, tabs: Callable[..., Tab]) -> None:
    tab = tabs(site.base)
    found: dict[str, str] = {}
    for path, status, _ in PAGES.values():
        page = tab.open(path, status)
        links = page.locator("head link[rel=alternate]").evaluate_all(
            "ls => ls.map(l => [l.href, l.type, l.title])")
        assert links[-3:] == [[f"{site.base}/feed.{fmt}", media, f"{SITE_TITLE}: all articles ({label})"]
                              for fmt, media, label in (("atom", "application/atom+xml", "Atom"),
                                                        ("rss", "application/rss+xml", "RSS"),
                                                        ("json", "application/feed+json", "JSON Feed"))]
        found.update({href: media for href, media, _ in links})
    scopes = {url.removeprefix(site.base).rsplit("/", 1)[0] for url in found}
    assert scopes == {"", "/sections/bangladesh", "/topics/climate", "/authors/nadia-rahman"}
    assert len(found) == 3 * len(scopes)
    for url, media in found.items():
        content_type, body = fetch(url)
        assert content_type == media, url
        if media == "application/feed+json":
            # feedparser 6.0 reads no JSON Feed: check it as JSON Feed 1.1 says it is shaped.
            document = json.loads(body)
            assert document["version"] == "https://jsonfeed.org/version/1.1", url
            assert document["items"] and all(i["id"] and i["date_published"]
                                             for i in document["items"]), url
            continue
        parsed = feedparser.parse(body)
        assert parsed.bozo == 0, (url, parsed.get("bozo_exception"))
        assert parsed.entries, url
        assert all(e.get("published_parsed") and e.get("updated_parsed") for e in parsed.entries)
        titles = {e.title for e in parsed.entries}
        assert "Embargoed quarterly results" not in titles and "A withdrawn story" not in titles


def test_copy_button_puts_the_url_on_the_clipboard(site: LiveServer,
                                                   tabs: Callable[..., Tab]) -> None:
    tab = tabs(site.base, permissions=["clipboard-read", "clipboard-write"],
               **VIEWPORTS["desktop"])
    page = tab.open("/feeds")
    row = page.locator("#feed-sections-bangladesh")
    url = f"{site.base}/sections/bangladesh/feed.rss"
    assert row.locator("code.url").all_inner_texts() == [
        f"{site.base}/sections/bangladesh/feed.{fmt}" for fmt in ("atom", "rss", "json")]
    button = row.get_by_role("button", name="Copy the RSS URL of Bangladesh")
    assert button.is_visible()
    button.click()
    from playwright.sync_api import expect

    # The button says so, for the eye and (through the live region) for a screen reader.
    expect(row.locator("button.copy.done .copy-label")).to_have_text("Copied")
    expect(page.locator("#copy-status")).to_have_text(f"Copied {url}")
    assert page.evaluate("navigator.clipboard.readText()") == url
    row.scroll_into_view_if_needed()
    shoot(page, "desktop-feeds-copied", full_page=False, docs="feeds.png")
    assert tab.errors == []


def test_feed_directory_works_without_javascript(site: LiveServer,
                                                 tabs: Callable[..., Tab]) -> None:
    tab = tabs(site.base, java_script_enabled=False, **VIEWPORTS["phone"])
    page = tab.open("/feeds")
    from playwright.sync_api import expect

    row = page.locator("#feed-topics-climate")
    row.scroll_into_view_if_needed()  # rows off screen are not rendered (content-visibility)
    urls = row.locator("code.url")
    assert urls.all_text_contents() == [
        f"{site.base}/topics/climate/feed.{fmt}" for fmt in ("atom", "rss", "json")]
    for i in range(3):
        expect(urls.nth(i)).to_be_visible()
    assert row.locator("button").count() == 0  # no script, no button that does nothing
    urls.nth(1).click()  # one click selects the whole URL, ready to copy by hand
    assert page.evaluate("getSelection().toString()") == f"{site.base}/topics/climate/feed.rss"
    shoot(page, "phone-feeds-no-js")
    # The filter is a form: sent, the server shows only the rows that match.
    page.get_by_label("Filter sections, topics and authors by name").fill("CLIM")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/feeds?q=CLIM")
    assert visible_names(page, "topics") == ["Climate"]
    assert page.locator("#count-topics").inner_text() == f"(1 of {len(TOPICS)})"
    page.get_by_role("link", name="Show all").click()
    page.wait_for_url("**/feeds")
    assert len(visible_names(page, "topics")) == len(TOPICS)


def crowded(api: Api) -> None:
    """The newsroom with 2,000 topics and 300 authors more (issue 16), bulk-inserted."""
    newsroom(api)
    crowd(api.client.application, dt.datetime.now(dt.UTC), topics=2000, authors=300)


def visible_names(page: Any, kind: str) -> list[str]:
    """The names of the rows of ``kind`` that the filter shows (site.css hides the others)."""
    rows = page.locator(f"section[data-kind={kind}] li.scope")
    assert rows.evaluate_all("rs => rs.every(r => r.hidden === (getComputedStyle(r).display === 'none'))")
    # textContent: a row off screen has no rendered text to read (content-visibility: auto).
    return [" ".join(name.split()) for name in
            page.locator(f"section[data-kind={kind}] li.scope:not([hidden]) h3").all_text_contents()]


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_the_filter_narrows_2000_topics_as_you_type(serve: Callable[..., LiveServer],
                                                    tabs: Callable[..., Tab], viewport: str) -> None:
    from playwright.sync_api import expect

    site = serve(crowded)
    tab = tabs(site.base, permissions=["clipboard-read", "clipboard-write"], **VIEWPORTS[viewport])
    page = tab.open("/feeds")
    topics = len(TOPICS) + 2000
    rows = page.locator("section[data-kind] li.scope").count()
    assert page.locator("#count-topics").inner_text() == f"({topics:,})"
    # Every URL whole: none cut off by its box, none overflowing the page (checked on the first
    # rows of each kind; the others share their markup and are not laid out until scrolled to).
    assert headings_and_labels(page)["overflow"] == 0
    first = page.locator("section[data-kind] li.scope:nth-child(-n+5) code.url")
    assert first.count() == 3 * 5 * 3
    for kind in ("sections", "topics", "authors"):
        page.locator(f"#{kind}").scroll_into_view_if_needed()
        assert first.evaluate_all("cs => cs.filter(c => c.scrollWidth > c.clientWidth).length") == 0
    page.evaluate("window.scrollTo(0, 0)")
    # By id: get_by_label searches the labels of 20,000 elements, 9 s on this page.
    box = page.locator("#filter-q")
    assert box.evaluate("b => b.labels[0].textContent") == "Filter sections, topics and authors by name"
    box.press_sequentially("বাংলাদেশ fl")
    expect(page.locator("#count-topics")).to_have_text(f"(1 of {topics:,})")
    assert visible_names(page, "topics") == ["বাংলাদেশ floods"]
    assert visible_names(page, "sections") == [] and visible_names(page, "authors") == []
    assert page.locator("section[data-kind=authors] .no-match").is_visible()
    expect(page.locator("#filter-status")).to_have_text(
        f"1 of {rows:,} sections, topics and authors match “বাংলাদেশ fl”.")
    page.wait_for_url("**/feeds?q=*")  # kept in the address: a reload shows the same rows
    assert page.locator("#feed-site").is_visible()  # the whole site stays at hand
    # The copy button of a row the filter found.
    row = page.locator("section[data-kind=topics] li.scope:not([hidden])")
    row.get_by_role("button", name="Copy the Atom URL of বাংলাদেশ floods").click()
    expect(row.locator("button.copy.done")).to_have_count(1)
    assert page.evaluate("navigator.clipboard.readText()") == row.locator("code.url").first.inner_text()
    assert "/topics/%E0%A6%AC" in row.locator("code.url").first.inner_text()
    # axe-core takes 15 s over the page narrowed to one row, and five minutes over all 2,313:
    # test_every_page_kind_at_each_width checks the same rows unfiltered, on a small newsroom.
    assert axe_violations(page) == []
    # Widened again as the text changes.
    box.fill("dhaka")
    expect(page.locator("#count-topics")).to_have_text(f"(40 of {topics:,})")
    assert visible_names(page, "sections") == ["Dhaka"]
    page.evaluate("window.scrollTo(0, document.querySelector('.finder').offsetTop - 16)")
    shoot(page, f"{viewport}-feeds-2000-topics-filtered", full_page=False,
          docs=f"feeds-2000-topics-{viewport}.png")
    page.get_by_role("link", name="Show all").click()
    expect(page.locator("#count-topics")).to_have_text(f"({topics:,})")
    assert page.locator("section[data-kind] li.scope:not([hidden])").count() == rows
    page.locator("#topics").scroll_into_view_if_needed()
    shoot(page, f"{viewport}-feeds-2000-topics", full_page=False)
    assert tab.errors == []


def test_empty_home_gets_a_newcomer_to_the_first_article(serve: Callable[..., LiveServer],
                                                         tabs: Callable[..., Tab], db_url: str,
                                                         tmp_path: Path) -> None:
    server = serve()
    tab = tabs(server.base, **VIEWPORTS["desktop"])
    page = tab.open("/")
    assert page.locator("h1").inner_text() == f"{SITE_TITLE} is ready for its first article"
    assert axe_violations(page) == []
    shoot(page, "desktop-home-empty")
    token, curl, imports = page.locator("pre").all_inner_texts()
    # Run the page's own instructions, as a newcomer on the server's machine would.
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    env |= {"FEEDSVC_INSTANCE_PATH": str(tmp_path / "live0"), "FEEDSVC_DATABASE_URL": db_url,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"}
    work = tmp_path / "newcomer"
    work.mkdir()
    for script in (f"set -e\n{token}\n{curl} --fail --silent --show-error", f"set -e\n{imports}"):
        done = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
    page.reload()
    assert page.locator("h1").inner_text() == "Latest articles"
    assert page.locator("main li.card h2").all_inner_texts() == ["Hello, readers"] * 2
    assert tab.open("/articles/hello").locator("h1").inner_text() == "Hello, readers"


# -- the article's lead image (issue 17) -------------------------------------------------------

# A picture drawn for the test (river, fields, sky), served for every file under
# https://news.example/i/ by the browser itself: pages load nothing from the network here.
PICTURE = """<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="675" viewBox="0 0 1200 675">
<defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#8fb8de"/>
<stop offset="1" stop-color="#dbe7f0"/></linearGradient></defs>
<rect width="1200" height="675" fill="url(#sky)"/><circle cx="930" cy="150" r="70" fill="#f4d27a"/>
<path d="M0 380 Q300 330 600 370 T1200 350 V675 H0 Z" fill="#6f9a52"/>
<path d="M0 470 Q260 430 520 480 T1200 450 V560 Q900 600 600 560 T0 580 Z" fill="#7d8f99"/>
<path d="M80 470 h40 v-60 l20 -30 l20 30 v60 h40" fill="#b5651d"/>
<path d="M820 455 h70 v-45 l35 -35 l35 35 v45" fill="#a0522d"/></svg>"""
PICTURED = make_article(
    key="sylhet-waters", title="Flood waters recede in Sylhet, leaving roads cut off",
    section="Bangladesh", topics=["Floods"], authors=[{"name": "Nadia Rahman"}],
    summary="Villages along the Surma are reachable only by boat for a third day.",
    content=BODY.format(lead="The water began to fall on Tuesday."),
    url="https://news.example/bangladesh/sylhet-waters",
    published="2026-11-22T09:00:00+06:00", updated="2026-11-22T09:00:00+06:00",
    image={"url": "https://news.example/i/sylhet-1200.svg", "type": "image/svg+xml",
           "width": 1200, "height": 675, "alt": "Houses on a strip of land between a river and fields",
           "caption": "Homes near Companiganj on <Tuesday>, as the Surma fell back.",
           "credit": "ছবি: আনিসুর রহমান & Reuters",
           "renditions": [{"url": "https://news.example/i/sylhet-640.svg", "type": "image/svg+xml",
                           "width": 640, "height": 360}]})


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_article_page_shows_the_lead_image_with_caption_and_credit(
        serve: Callable[..., LiveServer], tabs: Callable[..., Tab], viewport: str) -> None:
    def seed(api: Api) -> None:
        assert api.put(PICTURED["key"], PICTURED).status_code == 201

    server = serve(seed)
    tab = tabs(server.base, **VIEWPORTS[viewport])
    requested: list[str] = []

    def picture(route: Any) -> None:
        requested.append(route.request.url)
        route.fulfill(status=200, content_type="image/svg+xml", body=PICTURE)

    tab.page.route("https://news.example/i/**", picture)
    page = tab.open(f"/articles/{PICTURED['key']}")
    figure = page.locator("figure.lead-image")
    image = figure.locator("img")
    image.scroll_into_view_if_needed()
    page.wait_for_function("document.querySelector('figure.lead-image img').complete")
    assert image.evaluate("img => img.naturalWidth") > 0, requested
    assert image.get_attribute("alt") == PICTURED["image"]["alt"]
    assert (image.get_attribute("width"), image.get_attribute("height")) == ("1200", "675")
    # The caption's "<Tuesday>" is text, and the Bengali credit with its "&" reads as given.
    assert figure.locator("figcaption .caption").inner_text() == PICTURED["image"]["caption"]
    assert figure.locator("figcaption .credit").inner_text().casefold() == PICTURED["image"]["credit"].casefold()
    box = image.bounding_box()
    assert box is not None and abs(box["width"] / box["height"] - 1200 / 675) < 0.02  # never stretched
    facts = headings_and_labels(page)
    assert facts["noAlt"] == 0 and facts["overflow"] == 0, facts
    assert axe_violations(page) == []
    page.evaluate("window.scrollTo(0, 0)")
    shoot(page, f"{viewport}-article-image", full_page=False, docs=f"article-image-{viewport}.png")
    assert tab.errors == []
