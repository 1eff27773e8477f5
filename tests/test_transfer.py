"""``feedsvc import`` and ``feedsvc export``: lossless, idempotent, honest about bad records."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask

from feedsvc.store import db
from feedsvc.transfer import jsonl

from conftest import Api, make_article, new_token, seed_article

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>Old Site</title><link>https://old.example/</link><description>d</description>
<item><title>First &amp; best</title><link>https://old.example/news/first-story</link>
  <guid>https://old.example/news/first-story</guid><category>Politics</category>
  <category>Elections</category><dc:creator>Rahim Uddin</dc:creator>
  <pubDate>Sat, 18 Jun 2022 20:17:00 +0000</pubDate>
  <description>Short</description>
  <content:encoded><![CDATA[<p>Full <a href="/x">body</a></p>]]></content:encoded>
  <enclosure url="https://old.example/i/1.jpg" type="image/jpeg" length="48213"/></item>
<item><title>No guid</title><link>https://old.example/news/second</link>
  <pubDate>Sun, 19 Jun 2022 08:00:00 +0000</pubDate><description>Two</description></item>
<item><title>Nothing to key on</title><description>no link, no guid</description></item>
</channel></rss>"""


def run(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=list(args))


def write_lines(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                    encoding="utf-8")
    return path


def exported(app: Flask) -> list[dict[str, Any]]:
    with app.app_context():
        from sqlalchemy.orm import Session

        with Session(db.get_engine(app)) as session:
            return [json.loads(line) for line in jsonl.export_lines(session)]


def test_round_trip_is_lossless(app: Flask, api: Api, tmp_path: Path,
                                make_app: Callable[..., Flask], db_url: str) -> None:
    seed = seed_article()
    api.put(seed["key"], seed)
    api.put("img", make_article(key="img", image={"url": "https://news.example/i.jpg",
                                                  "type": "image/jpeg", "length": 48213},
                                authors=[{"name": "A", "email": "a@news.example",
                                          "url": "https://news.example/a"}, {"name": "B"}],
                                content='<p>Link <a href="rel/x">x</a></p>'))
    api.put("gone", make_article(key="gone"))
    api.delete("gone")
    api.put("later", make_article(key="later", published="2027-01-01T00:00:00Z", updated=None))
    first = exported(app)
    dump = tmp_path / "export.jsonl"
    assert run(app, "export", str(dump)).exit_code == 0
    assert [json.loads(x) for x in dump.read_text(encoding="utf-8").splitlines()] == first
    assert {r["key"] for r in first} == {seed["key"], "img", "gone", "later"}
    assert next(r for r in first if r["key"] == "gone")["deleted"]

    other = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}",
                     ID_AUTHORITY="elsewhere.example")
    result = run(other, "import", "--quiet", str(dump))
    assert result.exit_code == 0, result.output
    assert "4 article(s)" in result.output and "0 failed" in result.output
    assert exported(other) == first  # ids included, though the authority differs
    again = run(other, "import", "--quiet", str(dump))
    assert "4 unchanged" in again.output  # idempotent by key
    assert exported(other) == first


def test_bad_records_are_reported_and_skipped(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    lines = [json.dumps(make_article(key="good-1")), "{not json", json.dumps([1, 2]),
             json.dumps(make_article(key="bad date", published="2022-02-30T00:00:00Z")),
             "", json.dumps({"title": "no key", "section": "x"}),
             json.dumps(make_article(key="good-2"))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run(app, "import", "--quiet", str(path))
    assert result.exit_code == 1
    assert "2 created" in result.output and "4 failed" in result.output
    for line in (2, 3, 4, 6):
        assert f"line {line}: skipped" in result.output
    assert {r["key"] for r in exported(app)} == {"good-1", "good-2"}


def test_same_key_twice_in_one_file_keeps_the_last(app: Flask, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "twice.jsonl", [make_article(key="k", title="one"),
                                                  make_article(key="k", title="two")])
    result = run(app, "import", "--quiet", str(path))
    assert result.exit_code == 0, result.output
    assert [r["title"] for r in exported(app)] == ["two"]


def test_import_rss(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "old.xml"
    path.write_text(RSS, encoding="utf-8")
    result = run(app, "import", "--quiet", str(path))
    assert result.exit_code == 1  # the third entry has nothing to key on
    assert "entry 3: skipped" in result.output and "2 created" in result.output
    records = {r["title"]: r for r in exported(app)}
    first = records["First & best"]
    assert first["id"] == "https://old.example/news/first-story"  # the old guid is kept
    assert first["key"] == "first-story"  # readable: no suffix while the key is free
    assert first["section"] == "Politics" and first["topics"] == ["Elections"]
    assert first["authors"][0]["name"] == "Rahim Uddin"
    assert first["published"] == "2022-06-18T20:17:00Z"
    assert first["image"] == {"url": "https://old.example/i/1.jpg", "type": "image/jpeg",
                              "length": 48213, "width": None, "height": None, "alt": None,
                              "caption": None, "credit": None, "renditions": []}
    assert 'href="https://old.example/x"' in first["content"]
    assert records["No guid"]["section"] == "Old Site"
    again = run(app, "import", "--quiet", str(path))
    assert "2 unchanged" in again.output


def test_new_names_in_bulk_get_the_slugs_one_at_a_time_would(app: Flask, api: Api,
                                                              tmp_path: Path) -> None:
    """Names new to the database arrive by the thousand in an archive's first batches and are
    created together; each still gets a slug of its own, numbered past those already held
    (here "c" and "c-2", given by the API) and past each other, and keeps it."""
    api.put("first", make_article(key="first", topics=["C", "C-2"], section="Tech"))
    lines = [make_article(key="one", section="TECH", topics=["C++", "Ёлка"],
                          authors=[{"name": "Ana"}, {"name": "ANA"}]),
             make_article(key="two", section="Tech!", topics=["C#", "ЁЛКА", "C"])]
    path = write_lines(tmp_path / "names.jsonl", lines)
    result = run(app, "import", "--quiet", str(path))
    assert result.exit_code == 0, result.output
    one, two = api.get("one").get_json(), api.get("two").get_json()
    assert {one["section_slug"], two["section_slug"]} == {"tech-2", "tech-3"}
    topics = dict(zip(one["topics"] + two["topics"], one["topic_slugs"] + two["topic_slugs"],
                      strict=True))
    assert topics["C"] == "c"
    assert {topics["C++"], topics["C#"]} == {"c-3", "c-4"}
    assert {topics["Ёлка"], topics["ЁЛКА"]} == {"ёлка", "ёлка-2"}
    assert sorted(a["slug"] for a in one["authors"]) == ["ana", "ana-2"]
    client = app.test_client()
    for name, slug in topics.items():  # each name's own feed, under its own slug
        feed = client.get(f"/topics/{slug}/feed.json")
        assert feed.status_code == 200 and feed.get_json()["title"].endswith(name), slug
    again = run(app, "import", "--quiet", str(path))
    assert "2 unchanged" in again.output
    assert api.get("two").get_json()["topic_slugs"] == two["topic_slugs"]


def test_imported_articles_serve_through_the_api(app: Flask, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "one.jsonl", [make_article(key="via-import")])
    assert run(app, "import", "--quiet", str(path)).exit_code == 0
    client = app.test_client()
    response = client.get("/api/articles/via-import",
                          headers={"Authorization": f"Bearer {new_token(app)}"})
    assert response.status_code == 200
    assert response.get_json()["section"] == "World"


def test_missing_file(app: Flask) -> None:
    result = run(app, "import", "/nonexistent/file.jsonl")
    assert result.exit_code != 0 and "cannot read /nonexistent/file.jsonl: No such file or directory" in result.output


def test_bulk_imported_articles_keep_their_order_in_topic_and_author_feeds(app: Flask,
                                                                          tmp_path: Path) -> None:
    """Topic and author feeds order by each link's copy of its article's dates, which the bulk
    path copies in SQL (articles.create_many): both orders must come out right."""
    dates = [("2022-03-01T10:00:00Z", "2022-03-02T10:00:00Z"),
             ("2022-01-01T10:00:00Z", "2022-05-01T10:00:00Z"),
             ("2022-02-01T10:00:00Z", "2022-02-01T10:00:00Z")]
    path = write_lines(tmp_path / "three.jsonl", [
        make_article(key=f"a{i}", topics=["Floods"], authors=[{"name": "Rahim"}],
                     published=published, updated=updated)
        for i, (published, updated) in enumerate(dates)])
    assert run(app, "import", "--quiet", str(path)).exit_code == 0
    client = app.test_client()
    for scope in ("/topics/floods/", "/authors/rahim/"):
        newest = client.get(scope + "feed.json").get_json()["items"]
        assert [(i["date_published"], i["date_modified"]) for i in newest] == [
            dates[0], dates[2], dates[1]], scope
        changed = client.get(scope + "feed.json?order=updated").get_json()["items"]
        assert [(i["date_published"], i["date_modified"]) for i in changed] == [
            dates[1], dates[0], dates[2]], scope
