"""``feedsvc import`` and ``feedsvc export``: JSON Lines both ways, and RSS or Atom in.

An import is idempotent by key: each record creates its article or replaces it, so running the
same file twice changes nothing. Records are committed in batches, each record inside its own
savepoint, so a bad record is reported with its line (or entry) number and skipped while the
rest go in; a crash loses at most the batch in flight, which the next run writes again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session
from tqdm import tqdm

from feedsvc.errors import FeedsvcError
from feedsvc.store import articles, changes, db, payload, site
from feedsvc.store.models import Article
from feedsvc.store.sanitize import plain_text
from feedsvc.store.timestamps import format_utc

BATCH = 500
# The database gone: no record's fault, so the run stops instead of failing every record.
DATABASE_DOWN = (OperationalError, InterfaceError)
MAX_DOWNLOAD = 100 * 2**20


@dataclass
class Record:
    """One article to import: where it came from, and its checked fields."""

    number: int
    key: str
    fields: dict[str, Any]
    uid: str | None = None
    deleted: dt.datetime | None = None
    unit: str = "line"  # or "entry", for a feed


@dataclass
class Failure:
    number: int
    reason: str
    unit: str = "line"  # or "entry", for a feed


@dataclass
class Summary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    failures: list[Failure] = field(default_factory=list)

    def count(self, outcome: str) -> None:
        """One more record ``outcome``: "created", "updated", "unchanged" or "deleted"."""
        setattr(self, outcome, getattr(self, outcome) + 1)


def record_from_json(number: int, data: Any, zone: ZoneInfo) -> Record:
    """A JSON Lines record: the article of the contract, plus ``id`` and ``deleted`` from export."""
    if not isinstance(data, dict):
        raise FeedsvcError("the line is not a JSON object")
    data = dict(data)
    uid, deleted = data.pop("id", None), data.pop("deleted", None)
    if "key" not in data:
        raise FeedsvcError("the record has no key")
    key = payload.check_key(data["key"])
    fields = payload.parse(data, zone, partial=False)
    if uid is not None:
        try:
            uid = payload.check_entry_id(uid)
        except ValueError as exc:
            raise FeedsvcError(str(exc)) from None
    when = None
    if deleted is not None:
        try:
            when = payload.timestamps.parse(deleted, zone)
        except (ValueError, AttributeError) as exc:
            raise FeedsvcError(f"deleted: {exc}") from None
    return Record(number, key, fields, uid, when)


def records_from_json_lines(stream: IO[bytes], zone: ZoneInfo,
                            progress: tqdm | None) -> Iterator[Record | Failure]:
    for number, line in enumerate(stream, start=1):
        if progress is not None:
            progress.update(len(line))
        if not line.strip():
            continue
        try:
            # A byte order mark opens many files saved on Windows (RFC 8259 8.1 lets a parser
            # ignore it); it cost the first article.
            text = line.decode("utf-8-sig" if number == 1 else "utf-8")
            item: Record | Failure = record_from_json(number, json.loads(text), zone)
        except Exception as exc:  # whatever one line does, it is skipped and reported alone
            item = Failure(number, _reason(exc))
        yield item


def _reason(exc: Exception) -> str:
    """Why a record was skipped: a refusal's own words, or the error that stopped it."""
    if isinstance(exc, FeedsvcError):
        details = "; ".join(f"{e['pointer'].removeprefix('#/')}: {e['detail']}" for e in exc.errors)
        return f"{exc.detail} {details}".strip()
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError | RecursionError):
        return f"not JSON: {exc}"
    return f"{type(exc).__name__}: {exc}"


def records_from_feed(data: bytes, zone: ZoneInfo) -> Iterator[Record | Failure]:
    """Entries of an RSS or Atom document, read by feedparser, as records.

    The entry's own id is kept when it is an absolute IRI, so readers that already know the old
    feed see no duplicates after a move to feedsvc; the key is stable across runs.
    """
    import feedparser

    parsed = feedparser.parse(data)
    if not parsed.entries and parsed.get("bozo"):
        yield Failure(0, f"not a feed: {parsed.get('bozo_exception')}", "document")
        return
    feed_title = plain_text(parsed.feed.get("title", "")) or "News"
    for number, entry in enumerate(parsed.entries, start=1):
        try:
            item: Record | Failure = _record_from_entry(number, entry, feed_title, zone)
        except Exception as exc:  # as for a line: one entry's error skips that entry alone
            item = Failure(number, _reason(exc), "entry")
        yield item


def _record_from_entry(number: int, entry: Any, feed_title: str, zone: ZoneInfo) -> Record:
    source_id = entry.get("id") or entry.get("link")
    if not source_id:
        raise FeedsvcError("the entry has neither an id nor a link")
    last = urlsplit(entry.get("link") or source_id).path.rstrip("/").rsplit("/", 1)[-1]
    stem = re.sub(r"[^A-Za-z0-9._~-]+", "-", last).strip("-.")[:120] or "entry"
    key = f"{stem}-{hashlib.sha256(source_id.encode()).hexdigest()[:10]}"
    tags = [t.get("term") for t in entry.get("tags", []) if t.get("term")]
    # dict.get: feedparser's own get() maps a missing updated to published, with a warning.
    published = _struct_time(dict.get(entry, "published_parsed")
                             or dict.get(entry, "updated_parsed"))
    updated = _struct_time(dict.get(entry, "updated_parsed")) or published
    if published and updated and updated < published:
        updated = published
    content = entry["content"][0].get("value") if entry.get("content") else None
    summary = entry.get("summary")
    if content is None:
        content, summary = summary, None
    image = None
    for link in entry.get("links", []):
        if link.get("rel") == "enclosure" and str(link.get("type", "")).startswith("image/"):
            # An enclosure's length and type are advisory (RSS 2.0 asks for them, "0" is the
            # RSS Advisory Board's "unknown"): a length that is no byte count ("²" raised a
            # ValueError, "99999999999" is past the column) or a type with parameters cost the
            # whole entry (issue 12). Unusable ones are left out instead.
            length = str(link.get("length") or "").strip()
            media_type = str(link.get("type")).split(";", 1)[0].strip()
            image = {"url": link.get("href"),
                     "type": media_type if re.fullmatch(payload.MEDIA_TYPE, media_type)
                     and len(media_type) <= payload.MAX_MEDIA_TYPE else None,
                     "length": int(length) if re.fullmatch(r"[0-9]{1,10}", length)
                     and int(length) <= payload.MAX_BYTES else None}
            break
    data = {
        "key": key, "title": entry.get("title") or "Untitled",
        "section": tags[0] if tags else feed_title, "topics": tags[1:],
        "authors": [{"name": a["name"]} for a in entry.get("authors", []) if a.get("name")],
        "summary": plain_text(re.sub(r"<[^>]*>", " ", summary)) if summary else None,
        "content": content, "url": entry.get("link"), "image": image,
        "published": format_utc(published) if published else None,
        "updated": format_utc(updated) if updated else None,
        "language": None,
    }
    fields = payload.parse(data, zone, partial=False)
    try:  # the entry's own id when it can be one of ours (see payload.check_entry_id)
        uid: str | None = payload.check_entry_id(source_id)
    except ValueError:
        uid = None
    return Record(number, key, fields, uid, unit="entry")


def _struct_time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    year, month, day, hour, minute, second = value[:6]
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)


def write(app: Flask, records: Iterator[Record | Failure], *, now: dt.datetime,
          authority: str) -> Summary:
    """Store the records in batches; each bad one is rolled back alone and reported."""
    summary = Summary()
    batch: list[Record] = []
    for item in records:
        if isinstance(item, Failure):
            summary.failures.append(item)
            continue
        batch.append(item)
        if len(batch) >= BATCH:
            _write_batch(app, batch, summary, now, authority)
            batch = []
    if batch:
        _write_batch(app, batch, summary, now, authority)
    return summary


def _write_batch(app: Flask, batch: list[Record], summary: Summary, now: dt.datetime,
                 authority: str) -> None:
    touched: set[changes.Scope] = set()
    with db.write_session(db.get_engine(app)) as session:
        fresh, rest = _split_new(session, batch)
        try:
            with session.begin_nested():
                touched |= articles.create_many(
                    session, [articles.NewArticle(r.key, r.fields, r.uid, r.deleted) for r in fresh],
                    now=now, authority=authority)
            summary.created += sum(r.deleted is None for r in fresh)
            summary.deleted += sum(r.deleted is not None for r in fresh)
        except DATABASE_DOWN:
            raise  # not the records' fault: stop, and the next run writes this batch again
        except Exception:
            rest = batch  # one of them is bad: find it record by record
        stored = articles.live_articles(session, [r.key for r in rest if r.deleted is None])
        for record in sorted(rest, key=lambda r: r.number):
            article = stored.get(record.key)
            try:
                if (article is not None and record.deleted is None
                        and record.uid in (None, article.uid)
                        and articles.put_changes_nothing(article, record.fields)):
                    outcome = "unchanged"  # an import run again (after a crash, say): no write
                else:
                    with session.begin_nested():
                        scopes, outcome = _write_record(session, record, now, authority)
                    touched |= scopes
            except DATABASE_DOWN:
                raise
            except Exception as exc:  # rolled back to the savepoint: this record alone is lost
                summary.failures.append(Failure(record.number, _reason(exc), record.unit))
            else:
                summary.count(outcome)
        changes.record(app, session, touched, now)  # one notice for the whole batch
    # The session is gone with the batch: memory stays flat however long the file is.


def _split_new(session: Session, batch: list[Record]) -> tuple[list[Record], list[Record]]:
    """The records that create an article whose key and id are both unused, and the rest."""
    keys = {r.key for r in batch}
    uids = {r.uid for r in batch if r.uid}
    taken = set(session.scalars(select(Article.key).where(Article.key.in_(keys))))
    taken_uids = set(session.scalars(select(Article.uid).where(Article.uid.in_(uids))))
    fresh: list[Record] = []
    rest: list[Record] = []
    for record in batch:
        if record.key in taken or (record.uid and record.uid in taken_uids):
            rest.append(record)
        else:
            fresh.append(record)
            taken.add(record.key)  # a key again later in the batch is an update of this one
            if record.uid:
                taken_uids.add(record.uid)
    return fresh, rest


def _write_record(session: Session, record: Record, now: dt.datetime,
                  authority: str) -> tuple[frozenset[changes.Scope], str]:
    """Store one record; its scopes, and which of Summary's counts it adds to."""
    existing, gone = session.execute(select(Article.uid, Article.deleted).where(
        Article.key == record.key)).one_or_none() or (None, None)
    if existing is not None and record.uid is not None and existing != record.uid:
        raise FeedsvcError(f"key {record.key!r} has id {existing}, not {record.uid}")
    if record.deleted is not None and gone is not None:
        return frozenset(), "unchanged"  # a tombstone stays one; its old content serves no feed
    if record.uid is not None and existing is None:
        clash = session.scalar(select(Article.key).where(Article.uid == record.uid))
        if clash is not None:
            raise FeedsvcError(f"id {record.uid} belongs to the article {clash!r}")
    saved = articles.save_article(session, record.key, record.fields, now=now, authority=authority,
                               replace=True, uid=record.uid)
    # A bulk load bumps the scopes of embargoed articles too: simpler, and no reader is timing it.
    article, touched = saved.article, saved.touched | frozenset(saved.due)
    outcome = "created" if saved.created else "updated" if saved.changed else "unchanged"
    if record.deleted is not None and article.deleted is None:
        article.deleted = record.deleted
        article.modified = now
        touched |= changes.scopes_of(article)
        outcome = "deleted"
    session.flush()  # a row the database refuses fails here, inside the record's savepoint
    return touched, outcome


def _open_source(source: str) -> tuple[bytes | None, IO[bytes] | None, int | None]:
    """The source as bytes (URL) or a stream (file), with its size for the progress bar."""
    if source.startswith(("http://", "https://")):
        request = urllib.request.Request(source, headers={"User-Agent": "feedsvc-import"})
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            data = response.read(MAX_DOWNLOAD + 1)
        if len(data) > MAX_DOWNLOAD:
            raise click.ClickException(f"{source} is larger than {MAX_DOWNLOAD} bytes")
        return data, None, len(data)
    if source == "-":
        return None, sys.stdin.buffer, None
    path = Path(source)
    if not path.is_file():
        raise click.ClickException(f"{source}: no such file")
    return None, path.open("rb"), path.stat().st_size


def _looks_like_feed(head: bytes) -> bool:
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


@click.command("import", help="Load articles from JSON Lines or an RSS/Atom feed (file or URL).")
@with_appcontext
@click.argument("source")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def import_command(source: str, quiet: bool) -> None:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    engine = db.get_engine(app)
    db.upgrade(engine)
    zone, now, authority = site.zone(app), site.now(app), site.authority(app)
    data, stream, size = _open_source(source)
    started = time.monotonic()
    with ExitStack() as stack:
        if stream is not None and stream is not sys.stdin.buffer:
            stack.enter_context(stream)
        progress = stack.enter_context(tqdm(total=size, unit="B", unit_scale=True,
                                            disable=quiet or None, file=sys.stderr,
                                            desc="import"))
        if stream is not None:
            head = stream.peek(512) if hasattr(stream, "peek") else b""
            data = stream.read() if _looks_like_feed(head) else None
        if data is not None and _looks_like_feed(data[:512]):
            progress.update(len(data))
            records = records_from_feed(data, zone)
        elif data is not None:
            records = records_from_json_lines(io.BytesIO(data), zone, progress)
        else:
            assert stream is not None
            records = records_from_json_lines(stream, zone, progress)
        summary = write(app, records, now=now, authority=authority)
    elapsed = time.monotonic() - started
    for failure in summary.failures:
        where = f"{failure.unit} {failure.number}" if failure.number else failure.unit
        click.echo(f"{source}: {where}: skipped: {failure.reason}", err=True)
    done = summary.created + summary.updated + summary.unchanged + summary.deleted
    click.echo(f"imported {done} article(s) in {elapsed:.1f}s: {summary.created} created, "
               f"{summary.updated} updated, {summary.unchanged} unchanged, "
               f"{summary.deleted} deleted; {len(summary.failures)} failed")
    if summary.failures:
        sys.exit(1)


def export_lines(session: Session) -> Iterator[str]:
    """Every article, tombstones included, oldest first, one JSON object a line."""
    query = articles._with_links(select(Article)).order_by(Article.id)
    for article in session.scalars(query.execution_options(yield_per=500)):
        state = articles.export_state(article)
        image = state["image"]
        record = {
            "key": state["key"], "id": state["id"], "title": state["title"],
            "section": state["section"], "topics": list(state["topics"]),
            "authors": [{"name": b.name, "email": b.email, "url": b.url}
                        for b in state["authors"]],
            "summary": state["summary"], "content": state["content"],
            "published": format_utc(state["published"]),
            "updated": format_utc(state["updated"]), "url": state["url"],
            "image": {"url": image.url, "type": image.type, "length": image.length}
            if image else None,
            "language": state["language"],
            "deleted": format_utc(state["deleted"]) if state["deleted"] else None,
        }
        yield json.dumps(record, ensure_ascii=False) + "\n"


@click.command("export", help="Write every article, tombstones included, as JSON Lines.")
@with_appcontext
@click.argument("path")
def export_command(path: str) -> None:
    engine = db.get_engine()
    count = 0
    with Session(engine) as session:
        out = sys.stdout if path == "-" else open(path, "w", encoding="utf-8")  # noqa: SIM115
        try:
            for line in export_lines(session):
                out.write(line)
                count += 1
        finally:
            if out is not sys.stdout:
                out.close()
    click.echo(f"exported {count} article(s) to {path}", err=True)


def init_app(app: Flask) -> None:
    app.cli.add_command(import_command)
    app.cli.add_command(export_command)
