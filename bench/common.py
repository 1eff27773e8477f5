"""Shared by the benchmarks: generated archives, cached databases, a server process, wrk and pinning."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
SECTIONS = ["World", "Bangladesh", "Sport", "Business", "Opinion", "Science", "Culture",
            "বাংলাদেশ", "Мир", "Technology"]
TOPICS = [f"Topic {i}" for i in range(300)]
AUTHORS = [f"Reporter {i}" for i in range(120)]


def generate(path: Path, count: int) -> None:
    """``count`` articles of JSON Lines: ~2 KB bodies, three topics and one author each."""
    rng = random.Random(42)
    start = dt.datetime(2015, 1, 1, tzinfo=dt.UTC)
    paragraph = "<p>" + "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 6 + "</p>"
    step = dt.timedelta(minutes=max(1, 5_000_000 // max(count, 1)))
    with path.open("w", encoding="utf-8") as out:
        for n in range(count):
            published = start + step * n
            record = {
                "key": f"bench-{n}", "title": f"Article number {n} about things",
                "section": rng.choice(SECTIONS), "topics": rng.sample(TOPICS, 3),
                "authors": [{"name": rng.choice(AUTHORS)}],
                "summary": "A short standfirst for the article.",
                "content": paragraph * 5, "url": f"https://news.example/a/{n}",
                "published": published.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "updated": (published + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "language": "en",
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


NEWSROOM_SECTIONS = ["World", "Bangladesh", "Sport", "Business", "Opinion", "Science", "Culture",
                     "বাংলাদেশ", "Мир", "Technology", "Politics", "Health", "Climate", "Education",
                     "Economy", "Travel", "Food", "Media", "Cities", "Obituaries"]
_WORDS = ("government minister election court police market river flood cricket league budget "
          "council hospital school energy port harvest monsoon trade union festival museum "
          "parliament border bank startup report inquiry village capital coast storm heat vaccine "
          "satellite railway bridge strike record final season coach verdict tribunal treaty").split()


def _zipf_cumulative(n: int, s: float = 1.0) -> list[float]:
    """Cumulative Zipf weights of ranks 1..n (``random.choices(cum_weights=...)``)."""
    total, out = 0.0, []
    for rank in range(1, n + 1):
        total += 1.0 / rank**s
        out.append(total)
    return out


def generate_newsroom(path: Path, count: int, seed: int = 13) -> None:
    """``count`` articles of JSON Lines shaped like a newsroom's (issue 13), the same on every run.

    20 sections (mildly skewed, Zipf s = 0.5), 2,000 topics and 300 authors whose sizes follow
    Zipf (s = 1: a few huge topics, a long tail of small ones), 1-5 topics and 1-2 authors an
    article, 2-8 KB HTML bodies; every topic and author is drawn at least once when ``count``
    allows, and a few of their names are not ASCII (Bengali, Cyrillic), as the sections are.
    """
    rng = random.Random(seed)
    topics = [f"{rng.choice(_WORDS).capitalize()} {rng.choice(_WORDS)} {i}" for i in range(2000)]
    for i in range(0, len(topics), 97):
        topics[i] = ("বিষয় " if i % 2 else "Тема ") + str(i)
    authors = [f"{rng.choice(_WORDS).capitalize()} {rng.choice(_WORDS).capitalize()}-{i}"
               for i in range(300)]
    sections_cum = _zipf_cumulative(len(NEWSROOM_SECTIONS), 0.5)
    topics_cum, authors_cum = _zipf_cumulative(len(topics)), _zipf_cumulative(len(authors))
    # A pool of paragraphs, 300-900 bytes each; a body is drawn from them until it holds 2-8 KB.
    paragraphs = ["<p>" + " ".join(rng.choice(_WORDS) for _ in range(rng.randint(40, 120))) + ".</p>"
                  for _ in range(400)]
    start = dt.datetime(2015, 1, 1, tzinfo=dt.UTC)
    step = dt.timedelta(seconds=max(1, 300_000_000 // max(count, 1)))
    with path.open("w", encoding="utf-8") as out:
        for n in range(count):
            published = start + step * n
            want = rng.randint(1, 5)
            chosen: list[str] = []
            if n < len(topics):  # the tail exists at all sizes: each topic once, first
                chosen.append(topics[n])
            while len(chosen) < want:
                topic = rng.choices(topics, cum_weights=topics_cum)[0]
                if topic not in chosen:
                    chosen.append(topic)
            names = [authors[n]] if n < len(authors) else []
            while len(names) < (2 if rng.random() < 0.1 else 1):
                author = rng.choices(authors, cum_weights=authors_cum)[0]
                if author not in names:
                    names.append(author)
            size, body = rng.randint(2048, 7300), []  # a paragraph more: <= 8 KB
            while sum(map(len, body)) < size:
                body.append(rng.choice(paragraphs))
            edited = published + dt.timedelta(minutes=rng.choice((0, 0, 0, 5, 90, 600)))
            record = {
                "key": f"news-{n}",
                "title": f"{rng.choice(_WORDS).capitalize()} {rng.choice(_WORDS)} "
                         f"{rng.choice(_WORDS)}, story {n}",
                "section": rng.choices(NEWSROOM_SECTIONS, cum_weights=sections_cum)[0],
                "topics": chosen, "authors": [{"name": name} for name in names],
                "summary": " ".join(rng.choice(_WORDS) for _ in range(25)).capitalize() + ".",
                "content": "".join(body), "url": f"https://news.example/story/{n}",
                "published": published.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "updated": edited.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "language": "en",
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def env_for(instance: Path, database: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    env |= {"FEEDSVC_INSTANCE_PATH": str(instance),
            "FEEDSVC_DATABASE_URL": f"sqlite:///{database}"}
    return env


def feedsvc(*args: str, env: dict[str, str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "import sys; from feedsvc.cli import main; "
               "sys.argv = ['feedsvc'] + sys.argv[1:]; main()", *args]
    return subprocess.run(command, env=env, text=True, capture_output=True, **kwargs)  # type: ignore[call-overload, no-any-return]


def database(count: int) -> Path:
    """A SQLite database of ``count`` generated articles, built once under bench/out/."""
    return _built("articles", count, generate)


def newsroom_database(count: int) -> Path:
    """A SQLite database of ``count`` newsroom-shaped articles (``generate_newsroom``), built once."""
    return _built("newsroom", count, generate_newsroom)


def _built(name: str, count: int, generator: Callable[[Path, int], None]) -> Path:
    """bench/out/<name>-<count>.sqlite3: ``generator``'s articles imported by ``feedsvc import``,
    built under another name first so that an interrupted build is never taken for a whole one."""
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{name}-{count}.sqlite3"
    if path.exists():
        return path
    source = OUT / f"{name}-{count}.jsonl"
    print(f"  building a database of {count:,} {name} articles (once; kept in {path})", flush=True)
    generator(source, count)
    started = time.monotonic()
    partial = OUT / f"building-{name}-{count}.sqlite3"
    for leftover in OUT.glob(f"building-{name}-{count}.sqlite3*"):
        leftover.unlink()
    result = feedsvc("import", "--quiet", str(source), env=env_for(OUT, partial))
    if result.returncode != 0:
        sys.exit(f"import failed: {result.stdout}{result.stderr}")
    source.unlink()
    partial.rename(path)
    for leftover in OUT.glob(f"building-{name}-{count}.sqlite3*"):  # its -wal and -shm files
        leftover.unlink()
    print(f"  built in {time.monotonic() - started:.0f} s", flush=True)
    return path


def _lower(items: object) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in items}  # type: ignore[attr-defined]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``feedsvc serve`` (or any command) on a free port, stopped on exit."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        argv = [a.replace("{port}", str(self.port)) for a in args]
        # stdout and stderr go to ``log`` when given (the caller keeps it), else nowhere.
        output = log.open("wb") if log is not None else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(argv, env=env, stdout=output, stderr=output)
        finally:
            if log is not None:
                output.close()  # type: ignore[union-attr]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(self.base + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, _lower(response.headers.items()), response.read()
        except urllib.error.HTTPError as error:
            return error.code, _lower(error.headers.items()), error.read()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def pinning(no_pin: bool) -> tuple[list[str], list[str]]:
    """Command prefixes that put servers on CPU 0 and the load (wrk) on CPU 1, if they can.

    The turns then differ by what each server does, not by where the scheduler put them (the
    spread of bench/poll's ratios halved so). Both are empty with ``no_pin``, without taskset
    or on one CPU.
    """
    if no_pin or shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        return [], []
    return ["taskset", "-c", "0"], ["taskset", "-c", "1"]


def wrk(url: str, seconds: int, pin: list[str], headers: dict[str, str] | None = None,
        script: Path | None = None, env: dict[str, str] | None = None) -> dict[str, float]:
    """Requests/s, p50/p99 ms and errors of ``wrk -t2 -c16`` on ``url`` (``script``: a Lua file).

    A script's lines of the form ``mix: name=value ...`` come back as figures too.
    """
    args = pin + ["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    for name, value in (headers or {}).items():
        args += ["-H", f"{name}: {value}"]
    if script is not None:
        args += ["-s", str(script)]
    out = subprocess.run(args + [url], capture_output=True, text=True, check=True,
                         env=None if env is None else os.environ | env).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def latency(pct: str) -> float:
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    figures = {"rps": rate, "p50": latency("50"), "p99": latency("99"),
               "errors": float(errors.group(1)) if errors else 0.0,
               "socket errors": float(sum(map(int, sockets.groups()))) if sockets else 0.0}
    for line in re.findall(r"^mix: (.*)$", out, re.M):
        for name, value in (pair.split("=") for pair in line.split()):
            figures[name] = float(value)
    return figures
