"""JSON Lines read ahead in a child process (transfer/ahead.py): what a user of ``feedsvc
import`` sees is what reading in one process gave — order, line numbers, counts, the progress
bar, standard input, the API's sanitising — and Ctrl-C leaves whole batches only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from feedsvc.store import db
from feedsvc.store.models import Article
from feedsvc.transfer import ahead, commands
from feedsvc.transfer.records import BATCH

from conftest import Api, make_article


def run(app: Flask, *args: str, **kwargs: Any) -> Any:
    return app.test_cli_runner().invoke(args=list(args), **kwargs)


def line(n: int, **overrides: Any) -> str:
    return json.dumps({"key": f"story-{n}", "title": f"Story {n}", "section": "World",
                       "published": "2022-06-19T02:17:00Z"} | overrides) + "\n"


def keys_by_row(app: Flask) -> list[str]:
    with Session(db.get_engine(app)) as session:
        return list(session.scalars(select(Article.key).order_by(Article.id)))


def test_batches_keep_the_files_order_line_numbers_and_counts(app: Flask, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # The bar shows on a terminal only (tqdm's disable=None): shown here as on one.
    bar = commands._Bar
    monkeypatch.setattr(commands, "_Bar", lambda **options: bar(**options | {"disable": False}))
    bad = {2, BATCH + 1, 2 * BATCH + 3}  # in the first, second and last batch read
    text = []
    for n in range(1, 2 * BATCH + 4):
        text.append("{not json\n" if n in bad else "\n" if n == 7 else line(n))
    path = tmp_path / "a.jsonl"
    path.write_text("".join(text), encoding="utf-8")
    result = run(app, "import", str(path))
    assert result.exit_code == 1  # failures
    good = [n for n in range(1, 2 * BATCH + 4) if n not in bad and n != 7]
    assert f"imported {len(good)} article(s)" in result.output
    assert f"{len(good)} created" in result.output and "3 failed" in result.output
    skipped = [int(x.split(": line ")[1].split(":")[0]) for x in result.output.splitlines()
               if ": skipped: not JSON" in x]
    assert skipped == sorted(bad)
    assert keys_by_row(app) == [f"story-{n}" for n in good]
    assert "100%" in result.output  # the bar (on standard error) reached the end of the file


def test_standard_input_and_quiet(app: Flask) -> None:
    result = run(app, "import", "--quiet", "-", input="".join(line(n) for n in range(3)))
    assert result.exit_code == 0, result.output
    assert "imported 3 article(s)" in result.output and "%" not in result.output
    assert keys_by_row(app) == ["story-0", "story-1", "story-2"]


@pytest.mark.parametrize("content", [
    '<p onclick="x()">Hi <script>alert(1)</script><a href="javascript:alert(1)">j</a></p>',
    '<p><a href="/relative/path">rel</a> <img src="i.jpg"> \x01\ufffe kept</p>',
    "plain &amp; text <b>bold",
])
def test_a_body_is_sanitised_as_the_api_sanitises_it(app: Flask, api: Api, tmp_path: Path,
                                                     content: str) -> None:
    article = make_article(key="by-api", content=content, url="https://news.example/a/b")
    assert api.put("by-api", article).status_code in (200, 201)
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(article | {"key": "by-import"}) + "\n", encoding="utf-8")
    assert run(app, "import", "--quiet", str(path)).exit_code == 0
    assert api.get("by-import").json["content"] == api.get("by-api").json["content"]


def test_an_error_that_stops_the_reading_is_raised_here_after_what_came_before() -> None:
    def read(progress: ahead.Progress | None) -> Iterator[int]:
        for n in range(5):
            assert progress is not None
            progress.update(10)
            yield n
        raise OSError(5, "Input/output error")

    seen: list[int] = []
    with ahead.ReadAhead(read, None, batch=2) as items, pytest.raises(OSError, match="Input/output"):
        seen.extend(items)
    assert seen == [0, 1, 2, 3]  # the last batch, cut short, is lost with the error


def test_the_reader_dying_is_an_error_not_the_end_of_the_file() -> None:
    def read(progress: ahead.Progress | None) -> Iterator[int]:
        yield 1
        os._exit(3)

    with ahead.ReadAhead(read, None, batch=1) as items, pytest.raises(RuntimeError, match="ended unexpectedly"):
        list(items)


class Bar:
    def __init__(self) -> None:
        self.total = 0

    def update(self, n: int) -> None:
        self.total += n


def test_progress_counts_every_byte_and_closing_early_ends_the_reader() -> None:
    def read(progress: ahead.Progress | None) -> Iterator[int]:
        for n in range(10**9):  # never ends by itself
            assert progress is not None
            progress.update(3)
            yield n

    bar = Bar()
    with ahead.ReadAhead(read, bar, batch=100) as items:
        assert [next(items) for _ in range(250)] == list(range(250))
        pid = items._pid
    assert bar.total >= 3 * 300  # the batches received so far, counted as they came
    assert pid is not None
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # gone, and reaped


def test_ctrl_c_leaves_whole_batches_and_no_reader_behind(make_app: Callable[..., Flask],
                                                          db_url: str, tmp_path: Path) -> None:
    app = make_app()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    env |= {"FEEDSVC_INSTANCE_PATH": str(tmp_path / "instance"), "FEEDSVC_DATABASE_URL": db_url}
    # Ctrl-C as at a terminal: a shell that ran these tests in the background left SIGINT
    # ignored, which Python and its children inherit.
    command = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
               "from feedsvc.cli import main; sys.argv = ['feedsvc', 'import', '--quiet', '-']; main()")
    process = subprocess.Popen([sys.executable, "-c", command],
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    assert process.stdin is not None
    process.stdin.write("".join(line(n) for n in range(BATCH + 200)).encode())
    process.stdin.flush()  # a batch and part of another; standard input stays open
    engine = db.get_engine(app)

    def count() -> int:
        with Session(engine) as session:
            return session.scalar(select(func.count()).select_from(Article)) or 0

    deadline = time.monotonic() + 60
    while count() < BATCH and time.monotonic() < deadline:
        time.sleep(0.05)
    assert count() == BATCH
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group
    try:
        assert process.wait(timeout=30) != 0
        # No reader left in the group, though its input is still open (it would wait for more).
        with pytest.raises(ProcessLookupError):
            for _ in range(100):
                os.killpg(process.pid, 0)
                time.sleep(0.05)
    finally:
        process.stdin.close()
    assert count() == BATCH
    assert keys_by_row(app) == [f"story-{n}" for n in range(BATCH)]


@pytest.mark.parametrize("forking", [True, False], ids=["child", "no fork: read here"])
def test_what_the_reader_learnt_comes_back_with_its_items(monkeypatch: pytest.MonkeyPatch,
                                                          forking: bool) -> None:
    """``finish`` runs where the reading ran, after the last item: the child's count of what it
    passed over reaches the writer (a WordPress export's skipped posts), and where there is
    no fork the same reader gives the same."""
    if not forking:
        monkeypatch.delattr(os, "fork")
    passed_over: dict[str, int] = {}

    def read(progress: ahead.Progress | None) -> Iterator[int]:
        for n in range(7):
            if n % 3 == 0:
                passed_over["draft"] = passed_over.get("draft", 0) + 1
                continue
            yield n

    with ahead.ReadAhead(read, None, 2, finish=lambda: dict(passed_over)) as reading:
        assert list(reading) == [1, 2, 4, 5]
        assert reading.result == {"draft": 3}
    if forking:
        assert passed_over == {}  # counted in the child's memory, not this one's


class _TwoPart(Exception):
    """An error whose constructor takes two arguments: pickled, it cannot be rebuilt."""

    def __init__(self, what: str, where: str) -> None:
        super().__init__(f"{what} at {where}")


def test_an_error_the_writer_could_not_rebuild_arrives_in_its_own_words() -> None:
    """It pickles, but unpickling calls its constructor with one argument: the writer got a
    TypeError about ``__init__`` and never the reader's error (a reviewer's find)."""
    def read(progress: ahead.Progress | None) -> Iterator[int]:
        yield 1
        raise _TwoPart("bad byte", "offset 7")

    with ahead.ReadAhead(read, None, batch=5) as items, pytest.raises(
            RuntimeError, match=r"^_TwoPart: bad byte at offset 7$"):
        list(items)


def test_the_import_bar_runs_no_thread_to_be_forked_beside() -> None:
    """The reader is forked; tqdm's monitor thread would run beside the fork (Python 3.12 warns,
    and a lock it held would stay held in the child)."""
    before = threading.active_count()
    with commands._Bar(total=10, disable=None, file=sys.stderr) as bar:
        bar.update(5)
        assert threading.active_count() == before


def test_an_imported_update_is_sanitised_once_ahead_and_stored_as_the_api_stores_it(
        app: Flask, api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An update's HTML is cleaned where it was read (the child), not again by the writer,
    whether the record changes its article or finds it as it was."""
    from feedsvc.store import articles

    body = '<p onclick="x()">Hi <a href="/rel">r</a><script>alert(1)</script></p>'
    first = [make_article(key=f"k{n}", content="<p>old</p>", url=f"https://news.example/{n}") for n in range(3)]
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in first), encoding="utf-8")
    assert run(app, "import", "--quiet", str(path)).exit_code == 0
    changed = [r | {"content": body} for r in first[:2]] + first[2:]
    path.write_text("".join(json.dumps(r) + "\n" for r in changed), encoding="utf-8")
    calls: list[str] = []  # the writer's own: the child's copy of the list is its own
    clean = articles.clean_html
    monkeypatch.setattr(articles, "clean_html", lambda *a: calls.append(a[0]) or clean(*a))
    result = run(app, "import", "--quiet", str(path))
    assert result.exit_code == 0, result.output
    assert "2 updated, 1 unchanged" in result.output
    assert calls == []
    monkeypatch.setattr(articles, "clean_html", clean)
    assert api.put("by-api", changed[0] | {"key": "by-api"}).status_code == 201
    assert api.get("k0").json["content"] == api.get("by-api").json["content"]
