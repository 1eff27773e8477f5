"""Any text that goes in comes out of every feed as well-formed XML with the stored title."""

from __future__ import annotations

import datetime as dt
from typing import Any

from feedcheck import FORMATS, instant, read
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedsvc.store.payload import MAX_SUMMARY, MAX_TITLE

from conftest import Api, make_article

text = st.text(st.characters(codec="utf-8"), min_size=1, max_size=200)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=text, summary=text, content=text, topic=text, author=text)
def test_any_text_makes_valid_feeds(client: FlaskClient, api: Api, title: str, summary: str,
                                    content: str, topic: str, author: str) -> None:
    body = make_article(key="fuzz", title=title, summary=summary, content=content,
                        topics=[topic], authors=[{"name": author}])
    response = api.put("fuzz", body)
    if response.status_code == 422:  # e.g. a title of nothing but control characters
        return
    assert response.status_code in (200, 201), response.get_json()
    stored: dict[str, Any] = response.get_json()
    feeds = ["/feed", f"/topics/{stored['topic_slugs'][0]}/feed",
             f"/authors/{stored['authors'][0]['slug']}/feed"]
    for scope in feeds:
        for fmt in FORMATS:
            got = client.get(f"{scope}.{fmt}")
            assert got.status_code == 200, (scope, got.data[:200])
            [entry] = [e for e in read(got.data, fmt) if e["id"] == stored["id"]]
            assert entry["title"] == as_feedparser_reads(stored["title"], fmt)


def as_feedparser_reads(title: str, fmt: str) -> str:
    """The title as feedparser gives it back from Atom or RSS.

    feedparser "repairs" any text that looks like UTF-8 read as Latin-1 (mixin.py, "address
    common error..."), so a stored "Â¡" comes back as "¡": its heuristic, not the feed's bytes.
    """
    if fmt == "json":
        return title
    try:
        return title.encode("iso-8859-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return title


def rfc3339(when: dt.datetime) -> str:
    return when.isoformat()


instants = st.datetimes(min_value=dt.datetime(1900, 1, 2), max_value=dt.datetime(2026, 10, 31),
                        timezones=st.timezones(), allow_imaginary=False)
long_text = st.text(st.characters(codec="utf-8"), min_size=1, max_size=MAX_TITLE)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(first=instants, second=instants, title=long_text,
       summary=st.text(st.characters(codec="utf-8"), max_size=MAX_SUMMARY))
def test_any_instants_and_sizes_come_out_as_stored(client: FlaskClient, api: Api, first: dt.datetime,
                                                   second: dt.datetime, title: str, summary: str) -> None:
    published, updated = sorted((first, second), key=lambda when: when.astimezone(dt.UTC))
    body = make_article(key="fuzz", title=title, summary=summary or None, topics=["Any"],
                        authors=[{"name": "Any One"}], published=rfc3339(published),
                        updated=rfc3339(updated))
    response = api.put("fuzz", body)
    if response.status_code == 422:  # a title of nothing but control characters, say
        assert response.content_type == "application/problem+json"
        return
    assert response.status_code in (200, 201), response.get_json()
    stored: dict[str, Any] = response.get_json()
    expected = {name: when.astimezone(dt.UTC).replace(microsecond=0)
                for name, when in (("published", published), ("updated", updated))}
    assert {name: instant(stored[name]) for name in expected} == expected
    for scope in ("/feed", "/topics/any/feed", "/authors/any-one/feed"):
        for fmt in FORMATS:
            got = client.get(f"{scope}.{fmt}")
            assert got.status_code == 200, (scope, got.data[:200])
            [entry] = [e for e in read(got.data, fmt) if e["id"] == stored["id"]]
            assert entry["title"] == as_feedparser_reads(stored["title"], fmt)
            assert (entry["published"], entry["updated"]) == (expected["published"], expected["updated"])
