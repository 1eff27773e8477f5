"""Any value in any article field: a clear refusal that changes nothing, or valid feeds (issue 12).

Every field of the article gets arbitrary JSON, arbitrary text (lone surrogates, controls and
non-characters included) or a value of roughly the right shape with arbitrary parts. Then the
API answers 2xx or a problem+json 4xx, never a 5xx; a refusal leaves the stored article as it
was; and every feed the article is in answers 200 with a document that parses, carrying the
entry with its stored id, published and updated.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from feedcheck import FORMATS, read
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from conftest import Api

# Text from the whole of Unicode: surrogates (sent as "\ud800" escapes) and controls too, with
# the characters that break XML or readers drawn often enough to meet every field.
awkward = st.sampled_from(["\x00", "\x0b", "\x1f", "\x7f", "\x85", "\ud800", "\udfff", "\ufffe",
                           "\uffff", "\ufdd0", "\U0001fffe", "\U0010ffff", "\u200b", "\u202e", "&", "<",
                           "]", "%", " ", "\t", "\n"])
anything_text = st.text(st.characters(exclude_categories=()) | awkward, max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | anything_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(anything_text, inner, max_size=3),
    max_leaves=6)


# Values of each field's shape, every part of them arbitrary where the shape allows it.
NONCHARACTERS = ["\ud800", "\udfff", "\ufffe", "\uffff", "\ufdd0", "\U0001fffe", "\U0010ffff"]
printable = st.characters(exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp", "Cf", "Co", "Cn"))
prose = anything_text.map(lambda text: text + "x")  # whatever else it holds, it says something
hosts = st.sampled_from(["news.example", "খবর.example", "a.b.example", "x.example:8080", "[::1]"])
urls = st.builds(lambda scheme, host, path: f"{scheme}://{host}/{path}",
                 st.sampled_from(["http", "https", "HTTPS"]), hosts,
                 st.text(printable | st.sampled_from(NONCHARACTERS), max_size=40) | anything_text)
media_types = st.from_regex(r"[a-z]{1,8}/[a-z0-9][a-z0-9.+-]{0,60}", fullmatch=True)
instants = st.datetimes(min_value=dt.datetime(1900, 1, 2), max_value=dt.datetime(2026, 10, 31),
                        timezones=st.timezones())
authors = st.lists(st.one_of(prose, st.fixed_dictionaries(
    {"name": prose}, optional={"email": st.none() | st.emails(), "url": st.none() | urls})), max_size=3)
images = st.fixed_dictionaries({"url": urls}, optional={
    "type": st.none() | media_types, "length": st.none() | st.integers(0, 2**31 - 1)})


@st.composite
def articles(draw: st.DrawFn) -> dict[str, Any]:
    """An article of the right shape with arbitrary parts, and then, half the time, one field
    (or one part of one) replaced by any JSON value or any text at all."""
    published, updated = sorted(draw(st.lists(instants, min_size=2, max_size=2)),
                                key=lambda when: when.astimezone(dt.UTC))
    body: dict[str, Any] = {
        "title": draw(prose), "section": draw(prose | st.sampled_from(["বাংলাদেশ", "C#", "ß" * 200])),
        "topics": draw(st.lists(prose, max_size=3)), "authors": draw(authors),
        "summary": draw(st.none() | anything_text),
        "content": draw(st.none() | anything_text | st.sampled_from([
            '<blockquote cite="javascript:x">q</blockquote>', "<p>a<script>x</script></p>",
            '<a href="vbscript:x">v</a><img src="/rel.png">', "<p>\ufffe\U0001ffff</p>"])),
        "published": published.isoformat(), "updated": updated.isoformat(),
        "url": draw(st.none() | urls), "image": draw(st.none() | images),
        "language": draw(st.none() | st.from_regex(r"[a-z]{2,3}(-[A-Z]{2})?", fullmatch=True)),
    }
    for name in draw(st.sets(st.sampled_from(sorted(body)), max_size=1)):
        body[name] = draw(json_values | anything_text | st.from_regex(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d([+-]\d\d:\d\d|Z)?", fullmatch=True))
    for container in ("image", "authors"):  # or one part of the image or of a byline
        target = body[container]
        if isinstance(target, list):
            target = target[0] if target else None
        if isinstance(target, dict) and draw(st.booleans()):
            target[draw(st.sampled_from(["url", "type", "length", "email", "name"]))] = draw(json_values)
    return body


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=articles())
@example(body={"title": "T", "section": "World", "url": "https://news.example/a\uffff"})  # the issue's
@example(body={"title": "T", "section": "World", "image": {"url": "https://news.example/\ud800.jpg"}})
@example(body={"title": "T", "section": "World", "authors": [{"name": "A", "url": "https://n.example/\ufffe"}]})
@example(body={"title": "T", "section": "World", "authors": [{"name": "A", "email": "a\uffff@n.example"}]})
@example(body={"title": "T", "section": "World", "image": {"url": "https://n.example/i", "type": "image/" + "x" * 120}})
def test_any_value_in_any_field(app: Flask, client: FlaskClient, api: Api, body: dict[str, Any]) -> None:
    before = api.get("fuzz")
    response = client.put("/api/articles/fuzz", data=json.dumps(body), content_type="application/json",
                          headers=api.headers)
    assert response.status_code < 500, response.data[:300]
    event(f"status {response.status_code}")
    if response.status_code >= 400:
        assert response.status_code in (400, 422), response.data[:300]
        assert response.content_type == "application/problem+json"
        if response.status_code == 422:  # a 400 is a body that is not JSON (Infinity, say)
            assert response.get_json()["errors"], response.get_json()
        after = api.get("fuzz")
        assert (after.status_code, after.data) == (before.status_code, before.data)
        return
    stored = response.get_json()
    now = app.config["NOW"]()
    public = dt.datetime.fromisoformat(stored["published"].replace("Z", "+00:00")) <= now
    scopes = ["/feed"]
    if public:
        scopes += [f"/sections/{stored['section_slug']}/feed"]
        scopes += [f"/topics/{slug}/feed" for slug in stored["topic_slugs"]]
        scopes += [f"/authors/{author['slug']}/feed" for author in stored["authors"]]
    for scope in scopes:
        for fmt in FORMATS:
            got = client.get(f"{scope}.{fmt}")
            assert got.status_code == 200, (scope, fmt, got.data[:300])
            entries = {entry["id"]: entry for entry in read(got.data, fmt)}
            if public:
                entry = entries[stored["id"]]
                assert entry["published"] == dt.datetime.fromisoformat(stored["published"].replace("Z", "+00:00"))
                assert entry["updated"] == dt.datetime.fromisoformat(stored["updated"].replace("Z", "+00:00"))
            else:
                assert stored["id"] not in entries
