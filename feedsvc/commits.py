"""A count of commits that changed feeds, shared through memory by the processes on one SQLite file.

On SQLite every process is on the same machine, so a poll need not ask the database whether a
feed changed: each write that moves a scope's version (or records a due instant) advances this
counter once it has committed, before it is acknowledged; a process that finds the counter
where it was when it last read a scope's row knows that row is still current. The counter is
eight bytes in ``<database>-feeds`` beside the database file, mapped into every process;
writers advance it under an exclusive ``flock``, so no increment is lost between processes.

Another program writing to the database does not advance it, nor does a writer killed between
its commit and the increment (that write was never acknowledged); readers therefore also read
the row again once it is ``RECHECK`` seconds old. PostgreSQL has no such counter: its processes
may be on several machines, and they read the row on every poll.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
import threading
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

RECHECK = 1.0  # seconds a row read on the counter's word stays trusted
_CHANGED = "feedsvc.feeds_changed"
_SIZE = 8
_WORD = struct.Struct("<Q")  # the counter, little-endian


class Counter:
    """The shared counter of one SQLite database file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if os.fstat(self._fd).st_size < _SIZE:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                if os.fstat(self._fd).st_size < _SIZE:
                    os.ftruncate(self._fd, _SIZE)  # zeros
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._map = mmap.mmap(self._fd, _SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)

    def read(self) -> int:
        return int(_WORD.unpack_from(self._map)[0])

    def advance(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            self._map[:_SIZE] = ((self.read() + 1) % 2**64).to_bytes(_SIZE, "little")
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)


_counters: dict[str, Counter] = {}
_lock = threading.Lock()


def for_engine(engine: Engine) -> Counter | None:
    """The counter of a SQLite database file (one per file and process); None otherwise."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:" \
            or database.startswith("file:"):
        return None
    path = os.path.abspath(database) + "-feeds"
    with _lock:
        if path not in _counters:
            _counters[path] = Counter(path)
        return _counters[path]


def changed(session: Session) -> None:
    """Mark the session's transaction as one that changes feeds: its commit advances the counter."""
    session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _advance(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        bind: Any = session.get_bind()
        counter = for_engine(bind if isinstance(bind, Engine) else bind.engine)
        if counter is not None:
            counter.advance()


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, previous_transaction: Any) -> None:
    session.info.pop(_CHANGED, None)
