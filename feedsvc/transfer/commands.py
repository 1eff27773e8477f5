"""``feedsvc import`` (JSON Lines, an RSS/Atom feed or a WordPress export, from a file, ``-``
or a URL) and ``feedsvc export`` (JSON Lines), with a progress bar and a summary."""

from __future__ import annotations

import io
import shutil
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy.orm import Session
from tqdm import tqdm

from feedsvc.errors import redact
from feedsvc.store import db, payload, site
from feedsvc.store.sanitize import plain_text
from feedsvc.transfer import ahead, jsonl, records, syndication, wxr

MAX_DOWNLOAD = 100 * 2**20


def _open_source(source: str) -> tuple[bytes | None, IO[bytes] | None, int | None]:
    """The source as bytes (URL) or a stream (file, pipe), with its size for the progress bar.

    Raises click.ClickException, one line, for a source that cannot be read; messages show a
    URL without its password.
    """
    if source.startswith(("http://", "https://")):
        shown = redact(source)
        try:
            request = urllib.request.Request(source, headers={"User-Agent": "feedsvc-import"})
            if urlsplit(source).username is not None:
                raise ValueError("a URL with a user name or password (urllib sends neither)")
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                data = response.read(MAX_DOWNLOAD + 1)
        except (OSError, ValueError) as exc:  # URLError and HTTPError are OSErrors
            raise click.ClickException(f"cannot fetch {shown}: {getattr(exc, 'reason', None) or exc}") from None
        if len(data) > MAX_DOWNLOAD:
            raise click.ClickException(f"{shown} is larger than {MAX_DOWNLOAD} bytes")
        return data, None, len(data)
    if source == "-":
        return None, sys.stdin.buffer, None
    path = Path(source)
    if path.is_dir():
        raise click.ClickException(f"{source} is a folder, not a file to import")
    try:
        stream = path.open("rb")  # a pipe too: `feedsvc import <(gunzip -c archive.jsonl.gz)`
    except OSError as exc:
        raise click.ClickException(f"cannot read {source}: {exc.strerror}") from None
    return None, stream, path.stat().st_size if path.is_file() else None


def _zone(name: str) -> ZoneInfo:
    """The zone ``--timezone`` names; one line naming the option when there is none such."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "America" is a directory
        raise click.BadParameter(f"{name!r} is not an IANA time zone such as 'Asia/Dhaka'",
                                 param_hint="--timezone") from None


def _looks_like_feed(head: bytes) -> bool:
    """Whether a document opens with "<": in UTF-8, or in UTF-16 with or without its byte order
    mark (XML 1.0 appendix F; such a feed was read as JSON Lines and failed line by line)."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"<\x00", b"\x00<")):
        encoding = "utf-16-be" if head.startswith((b"\xfe\xff", b"\x00<")) else "utf-16-le"
        text = head[:len(head) // 2 * 2].decode(encoding, "replace")
        return text.lstrip("\ufeff \t\r\n").startswith("<")
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def _sections(default: str | None, mapping: tuple[str, ...]) -> syndication.Sections:
    """``--section`` and ``--section-map CATEGORY=SECTION``, checked as section names are;
    one line naming the option for a bad one."""
    def name(value: str, option: str) -> str:
        text = plain_text(value)
        if not text or len(text) > payload.MAX_NAME:
            raise click.BadParameter(f"{value!r} is not a section name (1 to {payload.MAX_NAME} "
                                     "characters)", param_hint=option)
        return text

    by_category: dict[str, str] = {}
    for pair in mapping:
        category, equals, section = pair.partition("=")
        if not equals:
            raise click.BadParameter(f"{pair!r} is not CATEGORY=SECTION", param_hint="--section-map")
        by_category.setdefault(name(category, "--section-map").casefold(), name(section, "--section-map"))
    return syndication.Sections(name(default, "--section") if default is not None else None,
                                by_category)




class _Replayed(io.RawIOBase):
    """A stream whose first bytes were read to tell its kind: those bytes, then the rest."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head, self._rest = memoryview(head), rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            size = min(len(buffer), len(self._head))
            buffer[:size] = self._head[:size]
            self._head = self._head[size:]
            return size
        data = self._rest.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def _seekable(head: bytes, stream: IO[bytes], stack: ExitStack) -> IO[bytes]:
    """A feed or WordPress export as a seekable stream (each is read twice): a file as it is, a
    pipe spooled to a temporary file on disk (never into memory: exports reach gigabytes)."""
    if stream.seekable():
        stream.seek(0)
        return stream
    spool = stack.enter_context(tempfile.TemporaryFile())
    spool.write(head)
    shutil.copyfileobj(stream, spool, 2**20)
    return spool  # type: ignore[return-value]


class _Bar(tqdm):  # type: ignore[type-arg]
    """tqdm's bar without its monitor thread: the reader is forked (ahead.py), and a fork
    while another thread runs may copy a lock that thread holds (Python 3.12 warns of it)."""

    monitor_interval = 0


@click.command("import", short_help="Load articles from JSON Lines, an RSS/Atom feed or a WordPress export.",
               help="Load articles from SOURCE: a JSON Lines file (as `feedsvc export` writes "
                    "it), an RSS/Atom feed or a WordPress export (WXR, Tools → Export), as a "
                    "file, an http(s) URL or `-` for standard input. Creates or migrates the "
                    "database first.")
@with_appcontext
@click.argument("source")
@click.option("--timezone", "timezone", metavar="TZ",
              help="IANA time zone in which times without an offset are read, such as "
                   "Asia/Dhaka (default: the service's TIMEZONE).")
@click.option("--updated", type=click.Choice(wxr.UPDATED), default=None,
              help="WordPress export: each article's updated time is the post's published "
                   "time (the default) or its last modification, which WordPress moves on "
                   "every save.")
@click.option("--section", "section", metavar="NAME",
              help="RSS/Atom or WordPress export: the section of every entry that "
                   "--section-map does not place (default: its first category, else the "
                   "feed's title); with RSS/Atom every category is then a topic.")
@click.option("--section-map", "section_map", metavar="CATEGORY=SECTION", multiple=True,
              help="RSS/Atom: an entry with this category (any case) goes in this section; "
                   "repeat it, the entry's first category found wins.")
@click.option("--quiet", is_flag=True, help="Show no progress bar (the summary still prints).")
def import_command(source: str, timezone: str | None, updated: str | None, section: str | None,
                   section_map: tuple[str, ...], quiet: bool) -> None:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    zone = _zone(timezone) if timezone is not None else site.zone(app)
    sections = _sections(section, section_map)
    data, stream, size = _open_source(source)  # before the database: a wrong name creates nothing
    with ExitStack() as stack:
        if stream is not None and stream is not sys.stdin.buffer:
            stack.enter_context(stream)
        head = data[:wxr.HEAD] if data is not None else stream.read(wxr.HEAD) if stream else b""
        feed = _looks_like_feed(head)  # XML: an RSS or Atom feed, or a WordPress export
        wordpress = feed and wxr.is_export(head)
        if not wordpress and updated is not None:
            raise click.UsageError(f"--updated applies to a WordPress export only; {source} is not one")
        if wordpress and section_map:
            raise click.UsageError("--section-map applies to RSS and Atom feeds; use --section for a "
                                   "WordPress export")
        if not feed and (section is not None or section_map):
            raise click.UsageError("--section and --section-map apply to RSS and Atom feeds and "
                                   "WordPress exports; a JSON Lines record names its own section")
        if stream is not None:
            stream = (_seekable(head, stream, stack) if feed
                      else io.BufferedReader(_Replayed(head, stream)))  # type: ignore[arg-type]
        elif feed:
            assert data is not None
            stream, data = io.BytesIO(data), None
        engine = db.get_engine(app)
        db.upgrade(engine)
        now, authority = site.now(app), site.authority(app)
        warning = site.authority_warning(app)
        if warning:
            click.echo(f"feedsvc: {warning}", err=True)
        started = time.monotonic()
        progress = stack.enter_context(_Bar(total=size, unit="B", unit_scale=True,
                                            disable=quiet or None, file=sys.stderr,
                                            desc="import"))
        export = None
        reading: ahead.ReadAhead[records.Record | records.Failure] | None = None
        found: Iterator[records.Record | records.Failure | records.LeftOut]
        if wordpress:
            assert stream is not None
            export = wxr.Export(stream, wxr.Options(zone, updated or "published", sections.default))
            stack.callback(export.close)
            progress.set_description("check")  # the first of two passes (see wxr.py)
            try:
                export.scan(progress)
            except wxr.NotAnExport as exc:
                raise click.ClickException(f"{source}: {exc.detail}") from None
            progress.reset(total=size)
            progress.set_description("import")
            # The posts read (XML, paragraphs, image metadata) in a child process while this
            # one writes, as JSON Lines are (ahead.py); the export's attachment table, filled by
            # the first pass, is read there alone.
            reading = stack.enter_context(ahead.ReadAhead(
                export.records, progress, records.BATCH, finish=lambda: export.skipped if export is not None else None))
            found = reading
        elif feed:
            assert stream is not None
            document = stack.enter_context(syndication.FeedDocument(
                stream, zone, sections=sections, authority=authority))
            # Read a part at a time once laid out, then written (see syndication.py).
            progress.set_description("check")
            document.scan(progress)
            progress.reset(total=size)
            progress.set_description("read")
            document.read(progress)
            progress.reset(total=size)
            progress.set_description("import")
            found = document.records(progress)
        else:
            lines = io.BytesIO(data) if data is not None else stream
            assert lines is not None
            # Read, checked and sanitised in a child process while this one writes (ahead.py).
            found = stack.enter_context(ahead.ReadAhead(
                lambda bar: jsonl.records_from_json_lines(lines, zone, bar), progress, records.BATCH))
        try:
            summary = records.write(app, found, now=now, authority=authority)
        except wxr.NotAnExport as exc:  # changed since the first pass checked it
            raise click.ClickException(f"{source}: {exc.detail}") from None
    elapsed = time.monotonic() - started
    for failure in summary.failures:
        where = f"{failure.unit} {failure.number}" if failure.number else failure.unit
        click.echo(f"{source}: {where}: skipped: {failure.reason}", err=True)
    for left in summary.left_out:
        click.echo(f"{source}: {left.unit} {left.number}: left out: {left.reason}", err=True)
    for again in summary.repeated:
        click.echo(f"{source}: {again.unit} {again.number}: key {again.key!r} again (an earlier "
                   f"{again.unit} wrote it): the same article, counted once", err=True)
    left_out = f", {len(summary.left_out)} left out" if summary.left_out else ""
    left_out += f", {len(summary.repeated)} repeated" if summary.repeated else ""
    click.echo(f"imported {summary.done} article(s) in {elapsed:.1f}s: {summary.created} created, "
               f"{summary.updated} updated, {summary.unchanged} unchanged, "
               f"{summary.deleted} deleted, {summary.kept_deleted} kept deleted; "
               f"{len(summary.failures)} failed{left_out}")
    if export is not None and reading is not None and reading.result is not None:
        export.skipped = reading.result  # counted where the posts were read
    if export is not None and export.skipped:
        kinds = ", ".join(f"{count} {kind}" for kind, count in
                          sorted(export.skipped.items(), key=lambda kv: (-kv[1], kv[0])))
        click.echo(f"not imported from the WordPress export: {kinds}")
    if summary.offsetless:
        click.echo(f"{summary.offsetless} time(s) without an offset read in {zone.key}")
    if summary.unreadable:
        click.echo(f"{summary.unreadable} date(s) that could not be read: the entry's other "
                   "date used")
    if summary.dateless:
        click.echo(f"{summary.dateless} entr(ies) without a date: published at the import's time")
    if summary.failures:
        sys.exit(1)


@click.command("export", short_help="Write every article as JSON Lines.",
               help="Write every article, tombstones included, as JSON Lines to PATH "
                    "(`-` for standard output); `feedsvc import` takes it back.")
@with_appcontext
@click.argument("path")
def export_command(path: str) -> None:
    engine = db.get_engine()
    db.require_schema(engine)
    count = 0
    try:
        out = sys.stdout if path == "-" else open(path, "w", encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror}") from None
    try:
        with Session(engine) as session:
            for line in jsonl.export_lines(session):
                out.write(line)
                count += 1
        if out is sys.stdout:
            out.flush()
        else:
            out.close()  # flushes: a full disk shows here at the latest
    except OSError as exc:  # a full disk; a closed pipe is click's (it exits quietly)
        if isinstance(exc, BrokenPipeError):
            raise
        if out is not sys.stdout:
            with suppress(OSError):
                out.close()
        raise click.ClickException(f"cannot write {path}: {exc.strerror}") from None
    click.echo(f"exported {count} article(s) to {path}", err=True)
