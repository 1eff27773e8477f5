"""Shared by the benchmarks: generated archives, cached databases, a server process."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
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
    OUT.mkdir(exist_ok=True)
    path = OUT / f"articles-{count}.sqlite3"
    if path.exists():
        return path
    source = OUT / f"articles-{count}.jsonl"
    print(f"  building a database of {count:,} articles (once; kept in {path})", flush=True)
    generate(source, count)
    started = time.monotonic()
    partial = OUT / f"building-{count}.sqlite3"
    for leftover in OUT.glob(f"building-{count}.sqlite3*"):
        leftover.unlink()
    result = feedsvc("import", "--quiet", str(source), env=env_for(OUT, partial))
    if result.returncode != 0:
        sys.exit(f"import failed: {result.stdout}{result.stderr}")
    source.unlink()
    partial.rename(path)
    for leftover in OUT.glob(f"building-{count}.sqlite3*"):  # the commit counter beside it
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

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        argv = [a.replace("{port}", str(self.port)) for a in args]
        self.process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
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
