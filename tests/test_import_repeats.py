"""One article named twice in one import (issue 18): written once, counted once, said so.

A JSON Lines file that holds a key twice, a WordPress export that lists a post twice and a feed
with an entry twice all end as one article, the later record's (a feed's: the one updated
last), and the summary counts one article: the record replaced is "left out" and named. A
repeat too far apart to be seen before the first was written (another batch of 500) is written
over it and counted once, as "repeated".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import wxr_archive
from flask import Flask
from test_import_wxr import load, one_post, post
from test_transfer import exported, run, write_lines

from feedsvc.transfer import records

from conftest import Api, make_article


def summary(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("imported "))


def test_a_key_twice_in_json_lines_is_one_article(app: Flask, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "twice.jsonl", [make_article(key="k", title="one"), make_article(key="x"),
                                                  make_article(key="k", title="two")])
    result = run(app, "import", "--quiet", str(path))
    assert result.exit_code == 0, result.output
    assert summary(result.output).endswith(
        ": 2 created, 0 updated, 0 unchanged, 0 deleted, 0 kept deleted; 0 failed, 1 left out")
    assert summary(result.output).startswith("imported 2 article(s) ")
    assert f"{path}: line 1: left out: the same key as line 3 ('k'), which replaces it" in result.output
    assert {r["key"]: r["title"] for r in exported(app) if r["key"] == "k"} == {"k": "two"}
    before = exported(app)
    # Run again: nothing is written twice, so nothing changes.
    again = run(app, "import", "--quiet", str(path))
    assert summary(again.output).endswith(
        ": 0 created, 0 updated, 2 unchanged, 0 deleted, 0 kept deleted; 0 failed, 1 left out")
    assert exported(app) == before


def test_a_key_again_in_a_later_batch_is_counted_once(app: Flask, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "BATCH", 2)
    path = write_lines(tmp_path / "far.jsonl", [make_article(key="k", title="one"), make_article(key="a"),
                                                make_article(key="b"), make_article(key="k", title="two")])
    result = run(app, "import", "--quiet", str(path))
    assert result.exit_code == 0, result.output
    assert summary(result.output).startswith("imported 3 article(s) ")
    assert summary(result.output).endswith(
        ": 3 created, 0 updated, 0 unchanged, 0 deleted, 0 kept deleted; 0 failed, 1 repeated")
    assert (f"{path}: line 4: key 'k' again (an earlier line wrote it): the same article, counted once"
            in result.output)
    assert {r["key"]: r["title"] for r in exported(app)}["k"] == "two"  # the later line wins


def test_a_deletion_after_the_article_in_the_same_file(app: Flask, tmp_path: Path) -> None:
    """A tombstone line replaces the line before it of the same key: one article, deleted."""
    live = make_article(key="k", title="one")
    path = write_lines(tmp_path / "deleted.jsonl", [live, live | {"deleted": "2026-01-01T00:00:00Z"}])
    result = run(app, "import", "--quiet", str(path))
    assert result.exit_code == 0, result.output
    assert summary(result.output).endswith(
        ": 0 created, 0 updated, 0 unchanged, 1 deleted, 0 kept deleted; 0 failed, 1 left out")
    [record] = exported(app)
    assert record["deleted"]


GONE = {"deleted": "2026-01-01T00:00:00Z"}


@pytest.mark.parametrize(("stored", "first", "later", "counts"), [
    # created, then deleted in a later batch: one article, and it is deleted
    (None, {}, GONE, "2 created, 0 updated, 0 unchanged, 1 deleted, 0 kept deleted"),
    # found as it was, then changed: the run updated it
    ({}, {}, {"title": "two"}, "2 created, 1 updated, 0 unchanged, 0 deleted, 0 kept deleted"),
    # changed, then found as the first change left it: still updated
    ({}, {"title": "two"}, {"title": "two"}, "2 created, 1 updated, 0 unchanged, 0 deleted, 0 kept deleted"),
    # created, then changed: a new article
    (None, {}, {"title": "two"}, "3 created, 0 updated, 0 unchanged, 0 deleted, 0 kept deleted"),
    # found as it was, then deleted
    ({}, {}, GONE, "2 created, 0 updated, 0 unchanged, 1 deleted, 0 kept deleted"),
    # deleted, then a tombstone again: deleted once
    ({}, GONE, GONE, "2 created, 0 updated, 0 unchanged, 1 deleted, 0 kept deleted"),
], ids=["created-deleted", "unchanged-updated", "updated-unchanged", "created-updated",
        "unchanged-deleted", "deleted-kept"])
def test_a_key_again_in_a_later_batch_is_counted_as_what_the_run_did_to_it(
        app: Flask, api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stored: dict[str, Any] | None,
        first: dict[str, Any], later: dict[str, Any], counts: str) -> None:
    """The summary must not hide what a repeat did: an article deleted by its second record
    counts as deleted, one changed by it as updated (a reviewer found "0 deleted" beside a
    deleted article)."""
    monkeypatch.setattr(records, "BATCH", 2)
    article = make_article(key="k", title="one")
    if stored is not None:
        assert api.put("k", article).status_code == 201
    path = write_lines(tmp_path / "again.jsonl", [article | first, make_article(key="a"),
                                                  make_article(key="b"), article | later])
    result = run(app, "import", "--quiet", str(path))
    assert result.exit_code == 0, result.output
    assert summary(result.output).endswith(f": {counts}; 0 failed, 1 repeated"), result.output
    assert ({r["key"]: r for r in exported(app)}["k"].get("deleted") is not None) == (later == GONE)


def test_an_article_deleted_first_stays_deleted(app: Flask, tmp_path: Path) -> None:
    """A tombstone line, then a live one of the same key: an import never revives an article;
    one article, counted once (deleted)."""
    live = make_article(key="k", title="one")
    path = write_lines(tmp_path / "revived.jsonl", [live | {"deleted": "2026-01-01T00:00:00Z"}, live])
    result = run(app, "import", "--quiet", str(path))
    assert result.exit_code == 0, result.output
    assert summary(result.output).endswith(
        ": 0 created, 0 updated, 0 unchanged, 1 deleted, 0 kept deleted; 0 failed, 1 repeated")
    [record] = exported(app)
    assert record["deleted"]


def test_a_post_twice_in_a_wordpress_export(app: Flask, tmp_path: Path) -> None:
    """An export that lists a post twice (two exports joined by hand): one article, the later."""
    path = tmp_path / "export.xml"
    first, later = post(title="Old title", shown_title="Old title"), post()
    path.write_bytes(one_post(first, items=[first, later]))
    result = load(app, path)
    assert result.exit_code == 0, result.output
    assert summary(result.output).endswith(
        ": 1 created, 0 updated, 0 unchanged, 0 deleted, 0 kept deleted; 0 failed, 1 left out")
    assert f"{path}: post 5: left out: the same key as post 5 ('a-story'), which replaces it" in result.output
    assert [(r["id"], r["title"]) for r in exported(app)] == [(f"{wxr_archive.SITE}/?p=5", "A story")]


def test_an_entry_twice_in_a_feed(app: Flask, tmp_path: Path) -> None:
    """RSS and Atom said so already: one entry kept (the one updated last), the other left out."""
    item = ("<item><title>{}</title><link>https://old.example/a</link><guid>https://old.example/a</guid>"
            "<pubDate>{}</pubDate></item>")
    path = tmp_path / "feed.xml"
    path.write_text('<rss version="2.0"><channel><title>Old</title><link>https://old.example/</link>'
                    + item.format("Old title", "Sat, 18 Jun 2022 20:17:00 GMT")
                    + item.format("New title", "Sun, 19 Jun 2022 20:17:00 GMT") + "</channel></rss>",
                    encoding="utf-8")
    result = run(app, "import", "--quiet", str(path))
    assert result.exit_code == 0, result.output
    assert summary(result.output).endswith(
        ": 1 created, 0 updated, 0 unchanged, 0 deleted, 0 kept deleted; 0 failed, 1 left out")
    assert [r["title"] for r in exported(app)] == ["New title"]


def test_what_a_run_wrote_is_kept_by_whole_key_across_batches() -> None:
    """records.Written, the run's memory of what it did to each key, moves each batch's keys
    to disk (memory flat however long the file): a key is found the same before and after,
    its outcome revised, and keys alike but not equal stay apart."""
    written = records.Written()
    try:
        written["k"] = "unchanged"
        assert written.get("k") == "unchanged"
        written.save()
        assert (written.get("k"), written.get("K"), written.get("k ")) == ("unchanged", None, None)
        written["k"] = "updated"
        written["k-2"] = "created"
        assert written.get("k") == "updated"
        written.save()
        written.save()  # nothing new: nothing to do
        assert (written.get("k"), written.get("k-2")) == ("updated", "created")
    finally:
        written.close()
    assert written.get("k") is None  # closed: the run is over
