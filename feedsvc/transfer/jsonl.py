"""JSON Lines both ways: records in (the API's article shape, plus ``id`` and ``deleted``),
and every article out, tombstones included (the export)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedsvc.errors import FeedsvcError
from feedsvc.store import articles, payload, timestamps
from feedsvc.store.models import Article
from feedsvc.store.timestamps import format_utc
from feedsvc.transfer.ahead import Progress
from feedsvc.transfer.records import Failure, Record, skip_reason


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
            when = timestamps.parse(deleted, zone)
        except ValueError as exc:
            raise FeedsvcError(f"deleted: {exc}") from None
    # Counted for the summary: wall times read in ``zone``, as the API reads them (payload).
    offsetless = sum(timestamps.lacks_offset(value) for value in
                     (data.get("published"), data.get("updated"), deleted) if isinstance(value, str))
    return Record(number, key, fields, uid, when, offsetless=offsetless)


def records_from_json_lines(stream: IO[bytes], zone: ZoneInfo,
                            progress: Progress | None) -> Iterator[Record | Failure]:
    for number, line in enumerate(stream, start=1):
        if progress is not None:
            progress.update(len(line))
        if not line.strip():
            continue
        try:
            # A byte order mark opens many files saved on Windows (RFC 8259 8.1 lets a parser
            # ignore it); it cost the first article.
            text = line.decode("utf-8-sig" if number == 1 else "utf-8")
            record = record_from_json(number, json.loads(text), zone)
            # Sanitised here, with the reading: in the reader's own process (ahead.py), it
            # costs the writer nothing.
            record.sanitised = articles.Sanitised.of(record.fields)
            item: Record | Failure = record
        except Exception as exc:  # whatever one line does, it is skipped and reported alone
            item = Failure(number, skip_reason(exc))
        yield item


def export_lines(session: Session) -> Iterator[str]:
    """Every article, tombstones included, oldest first, one JSON object a line."""
    query = articles._with_links(select(Article)).order_by(Article.id)
    for article in session.scalars(query.execution_options(yield_per=500)):
        state = articles.export_state(article)
        record = {
            "key": state["key"], "id": state["id"], "title": state["title"],
            "section": state["section"], "topics": list(state["topics"]),
            "authors": [{"name": b.name, "email": b.email, "url": b.url}
                        for b in state["authors"]],
            "summary": state["summary"], "content": state["content"],
            "published": format_utc(state["published"]),
            "updated": format_utc(state["updated"]), "url": state["url"],
            "image": payload.image_json(state["image"]),
            "language": state["language"],
            "deleted": format_utc(state["deleted"]) if state["deleted"] else None,
        }
        yield json.dumps(record, ensure_ascii=False) + "\n"
