"""Any text that goes in comes out of every feed as well-formed XML with the stored title."""

from __future__ import annotations

from typing import Any

from feedcheck import FORMATS, read
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
