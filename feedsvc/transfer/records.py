"""An import's records and how they are written: idempotent, in batches, each in a savepoint.

An import is idempotent by key: each record creates its article or replaces it, so running the
same file twice changes nothing. Records are committed in batches, each record inside its own
savepoint, so a bad record is reported with its line (or entry) number and skipped while the
rest go in; a crash loses at most the batch in flight, which the next run writes again.
"""


from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from feedsvc.errors import FeedsvcError
from feedsvc.store import articles, changes, db
from feedsvc.store.models import Article
from feedsvc.store.slugs import MAX_KEY

BATCH = 500
# The database gone: no record's fault, so the run stops instead of failing every record.
DATABASE_DOWN = (OperationalError, InterfaceError)


@dataclass
class Record:
    """One article to import: where it came from, and its checked fields."""

    number: int
    key: str
    fields: dict[str, Any]
    uid: str | None = None
    deleted: dt.datetime | None = None
    unit: str = "line"  # or "entry", for a feed
    # A feed entry's own id (or link) when ``key`` was derived from it and may still need a
    # suffix (see settle_keys); None for a key the record gave itself.
    source: str | None = None
    offsetless: int = 0  # how many of its times had no offset and were read in the zone
    unreadable: int = 0  # how many of its dates could not be read (the other one stood in)
    dateless: bool = False  # no date at all: published when it is written
    sanitised: articles.Sanitised | None = None  # its content cleaned while it was read


@dataclass
class Failure:
    number: int
    reason: str
    unit: str = "line"  # or "entry", for a feed


@dataclass
class LeftOut:
    """A record not written, on purpose and without fault: an entry whose id an entry kept
    for it shares (syndication._one_per_id)."""

    number: int
    reason: str
    unit: str = "entry"


@dataclass
class Repeated:
    """A record for an article an earlier record of the same run wrote (the same key, in an
    earlier batch): written as any record is, but no second article, so counted under no
    outcome (the article's first record was)."""

    number: int
    key: str
    unit: str = "line"


class Written:
    """Each key an import wrote, with the outcome its article is counted under (Summary.count),
    in a private temporary SQLite database that SQLite deletes when it is closed.

    Kept in memory, a dict of them grew by ~100 bytes an article: 9 MB of the importer's peak
    RSS at 100,000 articles, most of what grew with the file (bench/import: 122 MiB at 100,000
    articles, 111 MiB at 20,000). On disk, the keys of one batch in a dict and the rest behind
    a bounded page cache, a run of any length holds the same memory; a look-up a record and an
    insert a batch cost ~0.3 s a 100,000 keys (~1% of the import). The keys are stored whole:
    no two can be taken for one.
    """

    def __init__(self) -> None:
        self._recent: dict[str, str] = {}  # written since the last save
        self._disk: sqlite3.Connection | None = None

    def get(self, key: str) -> str | None:
        if key in self._recent:
            return self._recent[key]
        if self._disk is None:
            return None
        row = self._disk.execute("SELECT outcome FROM written WHERE key = ?", (key,)).fetchone()
        return row[0] if row is not None else None

    def __setitem__(self, key: str, outcome: str) -> None:
        self._recent[key] = outcome

    def save(self) -> None:
        """Move the keys written since the last save to disk (after each batch)."""
        if not self._recent:
            return
        if self._disk is None:
            # "": a temporary database of this connection's own, on disk beyond its cache.
            self._disk = sqlite3.connect("", isolation_level=None)
            # 256 KiB of cache, not SQLite's 2 MB: as fast here (the keys come in file order),
            # and 1.3 MB less at 100,000 keys.
            self._disk.execute("PRAGMA cache_size = -256")
            self._disk.execute("CREATE TABLE written (key TEXT PRIMARY KEY, outcome TEXT NOT NULL) "
                               "WITHOUT ROWID")
        self._disk.execute("BEGIN")
        self._disk.executemany("INSERT OR REPLACE INTO written VALUES (?, ?)", self._recent.items())
        self._disk.execute("COMMIT")
        self._recent = {}

    def close(self) -> None:
        if self._disk is not None:
            self._disk.close()
            self._disk = None
        self._recent = {}


@dataclass
class Summary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    kept_deleted: int = 0  # records of articles deleted here, which an import never revives
    failures: list[Failure] = field(default_factory=list)
    left_out: list[LeftOut] = field(default_factory=list)
    offsetless: int = 0  # times without an offset, read in the import's zone
    unreadable: int = 0  # dates that could not be read: the entry's other date stood in
    dateless: int = 0  # entries without a date, published at the time of the import
    repeated: list[Repeated] = field(default_factory=list)
    # What the run did to each key it wrote: on disk, so memory stays flat (see Written).
    _written: Written = field(default_factory=Written, repr=False)

    def count(self, outcome: str, record: Record | None = None) -> None:
        """One more record ``outcome``: "created", "updated", "unchanged", "deleted" or
        "kept_deleted". A ``record`` whose key an earlier one of the run had is Repeated, and
        its article stays counted once, under what the run did to it in all (_combined):
        created then deleted is deleted, unchanged then updated is updated."""
        if record is None:
            setattr(self, outcome, getattr(self, outcome) + 1)
            return
        earlier = self._written.get(record.key)
        if earlier is None:
            self._written[record.key] = outcome
            setattr(self, outcome, getattr(self, outcome) + 1)
            return
        self.repeated.append(Repeated(record.number, record.key, record.unit))
        combined = _combined(earlier, outcome)
        if combined != earlier:
            setattr(self, earlier, getattr(self, earlier) - 1)
            setattr(self, combined, getattr(self, combined) + 1)
            self._written[record.key] = combined

    @property
    def done(self) -> int:
        """The records written or found as they were: each counted under one outcome."""
        return self.created + self.updated + self.unchanged + self.deleted + self.kept_deleted


def _combined(earlier: str, later: str) -> str:
    """The outcome that tells what two records of one article did together, the earlier's
    then the later's: finding it as it was adds nothing (unchanged, kept deleted), a change
    to an article the run created leaves it created, and anything else is the later's."""
    if later in ("unchanged", "kept_deleted") or (earlier == "created" and later == "updated"):
        return earlier
    return later


def skip_reason(exc: Exception) -> str:
    """Why a record was skipped: a refusal's own words, or the error that stopped it."""
    if isinstance(exc, FeedsvcError):
        details = "; ".join(f"{e['pointer'].removeprefix('#/')}: {e['detail']}" for e in exc.errors)
        return f"{exc.detail} {details}".strip()
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError | RecursionError):
        return f"not JSON: {exc}"
    return f"{type(exc).__name__}: {exc}"




def write(app: Flask, records: Iterator[Record | Failure | LeftOut], *, now: dt.datetime,
          authority: str) -> Summary:
    """Store the records in batches; each bad one is rolled back alone and reported."""
    summary = Summary()
    claimed: dict[str, str] = {}  # derived keys given out in this run, to their entry's source
    batch: list[Record] = []
    pending: dict[tuple[str, str | None], Record] = {}  # the batch's live records by key
    try:
        for item in records:
            if isinstance(item, Failure):
                summary.failures.append(item)
                continue
            if isinstance(item, LeftOut):
                summary.left_out.append(item)
                continue
            summary.offsetless += item.offsetless
            summary.unreadable += item.unreadable
            summary.dateless += item.dateless
            _replace_earlier(item, pending, batch, summary)
            batch.append(item)
            if len(batch) >= BATCH:
                _write_batch(app, batch, summary, now, authority, claimed)
                summary._written.save()
                batch, pending = [], {}
        if batch:
            _write_batch(app, batch, summary, now, authority, claimed)
    finally:
        summary._written.close()
    return summary


def _replace_earlier(record: Record, pending: dict[tuple[str, str | None], Record], batch: list[Record],
                     summary: Summary) -> None:
    """A later record of the batch with the same key (and source) and id as an earlier live one
    replaces it: the earlier one is left out, so a file that holds an article twice writes it
    once, and a second run finds it unchanged. (A tombstone is never replaced: an import does
    not revive an article. The same key in a batch already written: counted once, see
    Summary.count.)"""
    mark = (record.key, record.source)
    earlier = pending.get(mark)
    pending[mark] = record
    if earlier is None or earlier.deleted is not None or earlier.uid != record.uid:
        return
    batch.remove(earlier)
    summary.left_out.append(LeftOut(
        earlier.number, f"the same key as {record.unit} {record.number} ({record.key!r}), which "
                        "replaces it", earlier.unit))


@dataclass
class _Notice:
    """What a batch tells changes.record: the scopes it changed now, embargoed articles'
    scopes at their instants, and the pages it changed (changes.pages_of)."""

    touched: set[changes.Scope] = field(default_factory=set)
    due: dict[dt.datetime, set[changes.Scope]] = field(default_factory=dict)
    pages: list[tuple[str, dt.datetime]] = field(default_factory=list)
    withdrawn: list[tuple[str, dt.datetime]] = field(default_factory=list)

    def add(self, saved: articles.Saved) -> None:
        # A bulk load bumps the scopes of embargoed articles too: simpler, and no reader is
        # timing it. Their instants are told apart, so their feeds change again then.
        self.touched |= saved.touched | frozenset(saved.due)
        for scope, instant in saved.due.items():
            self.due.setdefault(instant, set()).add(scope)
        self.pages += saved.pages
        self.withdrawn += saved.withdrawn

    def record(self, app: Flask, session: Session, now: dt.datetime) -> None:
        changes.record(app, session, self.touched, now, pages=self.pages, withdrawn=self.withdrawn)
        for instant, scopes in sorted(self.due.items()):
            changes.record(app, session, (), now, dict.fromkeys(scopes, instant))


def _write_batch(app: Flask, batch: list[Record], summary: Summary, now: dt.datetime,
                 authority: str, claimed: dict[str, str]) -> None:
    notice = _Notice()
    with db.write_session(db.get_engine(app)) as session:
        settle_keys(session, batch, claimed)
        fresh, rest = _split_new(session, batch)
        try:
            with session.begin_nested():
                notice.touched |= articles.create_many(
                    session, [articles.NewArticle(r.key, r.fields, r.uid, r.deleted, r.sanitised)
                              for r in fresh],
                    now=now, authority=authority)
            _notice_fresh(session, fresh, now, notice)
            for record in fresh:
                summary.count("created" if record.deleted is None else "deleted", record)
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
                        and articles.put_changes_nothing(article, record.fields, record.sanitised)):
                    outcome = "unchanged"  # an import run again (after a crash, say): no write
                else:
                    with session.begin_nested():
                        outcome = _write_record(session, record, now, authority, notice)
            except DATABASE_DOWN:
                raise
            except Exception as exc:  # rolled back to the savepoint: this record alone is lost
                summary.failures.append(Failure(record.number, skip_reason(exc), record.unit))
            else:
                summary.count(outcome, record)
        notice.record(app, session, now)  # one notice for the whole batch
    # The session is gone with the batch: memory stays flat however long the file is.


def settle_keys(session: Session, batch: list[Record], claimed: dict[str, str]) -> None:
    """Give each derived key (a feed entry's) its final form: plain unless another entry has it.

    An entry already imported keeps the key it got then, found by its id: a second run maps
    every entry to the same article (issue 18). Otherwise the plain key is used when it is
    free, or held by the same entry (an entry without an id of its own is known by its link;
    one with neither always takes the suffixed key).
    When a different entry holds it, in the database or earlier in this run, the key gets a
    suffix from the entry's source id: "-" and 8 hex digits, the same on every run.
    """
    derived = [r for r in batch if r.source is not None]
    if not derived:
        return
    uids = {r.uid for r in derived if r.uid}
    by_uid = dict(session.execute(select(Article.uid, Article.key).where(
        Article.uid.in_(uids))).all()) if uids else {}
    # Entries whose guid is no URI had ids of ours before their tag URI was made from the guid
    # (see syndication.entry_uid): found by their link, or without one by the key suffixed
    # from their guid, they keep the article, its key and its id.
    guided = [r for r in derived if r.uid and r.uid not in by_uid and _GUID_TAG.match(r.uid)]
    is_guided = {id(r) for r in guided}
    earlier = {url: (key, uid) for key, uid, url in session.execute(
        select(Article.key, Article.uid, Article.url).where(
            Article.url.in_({r.fields["url"] for r in guided if r.fields.get("url")}),
            Article.uid.like("tag:%:article:%")))} if guided else {}
    stored = {key: (uid, url) for key, uid, url in session.execute(
        select(Article.key, Article.uid, Article.url).where(
            Article.key.in_({r.key for r in derived}
                            | {_suffixed(r.key, r.source or "") for r in guided})))}
    for record in derived:
        assert record.source is not None
        key = by_uid.get(record.uid) if record.uid else None
        link = record.fields.get("url")
        if key is None and id(record) in is_guided:
            suffixed = _suffixed(record.key, record.source)
            kept = earlier.get(link) if link else (
                (suffixed, stored[suffixed][0]) if suffixed in stored
                and _MINTED.fullmatch(stored[suffixed][0]) else None)
            if kept is not None:
                key, record.uid = kept
        if key is None and not record.uid and link is None:
            # Known by nothing the database keeps (no id of its own, no link): the plain key
            # could be another article's — one of the API's, or another entry's of the same
            # title — so such an entry always takes the suffixed key of its source, the same
            # on every run.
            key = _suffixed(record.key, record.source)
        elif key is None:
            key = record.key
            holder = claimed.get(key)
            if holder is None and key in stored:
                uid, url = stored[key]
                same = uid == record.uid if record.uid else url == link  # else known by its link
                holder = record.source if same else ""
            if holder not in (None, record.source):
                key = _suffixed(key, record.source)
        claimed[key] = record.source
        record.key = key
        if "key" in record.fields:
            record.fields["key"] = key


_GUID_TAG = re.compile(r"tag:[^,]*,2000:guid:")  # syndication.entry_uid's ids from guids
_MINTED = re.compile(r"tag:[^,]*,\d{4}-\d{2}-\d{2}:article:.*")  # articles.tag_uri's


def _suffixed(key: str, source: str) -> str:
    """``key`` and "-" and 8 hex digits of the entry's source id, within the key's width."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:8]
    return f"{key[:MAX_KEY - 9].rstrip('-')}-{digest}"


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


def _notice_fresh(session: Session, fresh: list[Record], now: dt.datetime, notice: _Notice) -> None:
    """New articles' pages change now (create_many told their scopes); an embargoed one's
    page and scopes change at its instant, which only its stored row tells."""
    later = {r.key for r in fresh if r.deleted is None and (r.fields.get("published") or now) > now}
    scheduled = articles.live_articles(session, later) if later else {}
    notice.pages += [(r.key, now) for r in fresh if r.key not in scheduled]
    for article in scheduled.values():
        due = changes.due_scopes(article, now)
        pages = changes.pages_of(article, frozenset(), due, now)
        notice.add(articles.Saved(article, True, True, frozenset(), due, pages))


def _write_record(session: Session, record: Record, now: dt.datetime, authority: str, notice: _Notice) -> str:
    """Store one record, tell ``notice`` what it changed, and say which of Summary's counts it
    adds to."""
    existing, gone = session.execute(select(Article.uid, Article.deleted).where(
        Article.key == record.key)).one_or_none() or (None, None)
    if existing is not None and record.uid is not None and existing != record.uid:
        raise FeedsvcError(f"key {record.key!r} has id {existing}, not {record.uid}")
    if gone is not None:
        # A tombstone stays one: an article deleted here (through the API, or by an earlier
        # import) is not brought back by a file or feed that still holds it — a takedown
        # survives a re-run of the migration. PUT it through the API to restore it.
        return "unchanged" if record.deleted is not None else "kept_deleted"
    if record.uid is not None and existing is None:
        clash = session.scalar(select(Article.key).where(Article.uid == record.uid))
        if clash is not None:
            raise FeedsvcError(f"id {record.uid} belongs to the article {clash!r}")
    saved = articles.save_article(session, record.key, record.fields, now=now, authority=authority,
                                  replace=True, uid=record.uid, sanitised=record.sanitised)
    article = saved.article
    outcome = "created" if saved.created else "updated" if saved.changed else "unchanged"
    if record.deleted is not None and article.deleted is None:
        article.deleted = record.deleted
        article.modified = now
        # Public before or now: its page changes; one never public: no purge, nothing at its
        # instant (nor at the one it had before this line).
        public = bool(saved.touched) or article.published <= now
        saved = articles.Saved(article, saved.created, True, saved.touched | changes.scopes_of(article),
                               {}, ((article.key, now),) if public else (),
                               saved.withdrawn + changes.withdrawn_by_deletion(article, now))
        outcome = "deleted"
    session.flush()  # a row the database refuses fails here, inside the record's savepoint
    notice.add(saved)
    return outcome
