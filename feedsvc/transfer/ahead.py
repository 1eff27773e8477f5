"""Read ahead: the importer's records read, checked and sanitised in a child process while
this one writes the batch before them (issue 18).

Reading a JSON Lines record (parse, every check of the API, the sanitiser) costs about as much
as writing it; done in turn on one core, each waited for the other. The child is forked (it
inherits the open source, standard input included, and the checks), and sends its records in
order, in batches of ``records.BATCH``, through a pipe: the pipe holds about one batch, so the
child is at most a batch or two ahead and memory stays flat. What it sends is what the reader
gave, unchanged (line numbers, failures); the bytes it read come with each batch, for the
progress bar. Nothing it does touches the database. Where ``os.fork`` is missing, the records
are read here, as before.

Ctrl-C reaches both processes; the child ignores it and this process, stopping, ends the child
(``close``): the batch being written rolls back as it always did.
"""

from __future__ import annotations

import os
import pickle
import signal
from collections.abc import Callable, Iterator
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Progress(Protocol):
    """What a reader tells of its progress: bytes read (a tqdm bar, or a count)."""

    def update(self, n: int) -> Any: ...


class _Count:
    """The bytes read since the last batch was sent (the child's stand-in for the bar)."""

    def __init__(self) -> None:
        self.bytes = 0

    def update(self, n: int) -> None:
        self.bytes += n

    def take(self) -> int:
        taken, self.bytes = self.bytes, 0
        return taken


class ReadAhead(Iterator[T]):
    """The items of ``read(progress)``, made in a child process, in their order.

    ``finish``, if given, is called where the reading ran once it has read everything, and
    what it returns (picklable) is ``result``: what the reader learnt on the way (a WordPress
    export's count of what it skipped), which the child's memory would otherwise keep.
    Use it as a context manager: leaving it ends the child however the writing went.
    """

    def __init__(self, read: Callable[[Progress | None], Iterator[T]], progress: Progress | None,
                 batch: int, finish: Callable[[], Any] | None = None) -> None:
        self._progress = progress
        self._pid: int | None = None
        self._pending: Iterator[T] = iter(())
        self._done = False
        self._finish, self._result = finish, None
        if not hasattr(os, "fork"):
            self._pending, self._done = read(progress), True
            return
        receiver, sender = Pipe(duplex=False)
        pid = os.fork()
        if pid == 0:  # the child: read, send, and leave without running this process's cleanup
            code = 1
            try:
                receiver.close()
                code = _child(read, sender, batch, finish)
            finally:
                os._exit(code)
        sender.close()
        self._pid, self._receiver = pid, receiver

    def __next__(self) -> T:
        while True:
            try:
                return next(self._pending)
            except StopIteration:
                if self._done:
                    raise
            try:
                kind, payload, size = self._receiver.recv()
            except EOFError:
                raise RuntimeError("the process reading the records ended unexpectedly") from None
            if self._progress is not None and size:
                self._progress.update(size)
            if kind == "error":
                raise payload
            if kind == "result":
                self._result = payload
                continue
            self._pending, self._done = iter(payload), kind == "end"

    @property
    def result(self) -> Any:
        """What ``finish`` returned once every item was read (None without ``finish``)."""
        if not hasattr(os, "fork") and self._finish is not None:
            return self._finish()  # read here: finish sees this process's reader
        return self._result

    def close(self) -> None:
        """End the child (at once, if it is still reading) and wait for it."""
        if self._pid is None:
            return
        pid, self._pid = self._pid, None
        self._receiver.close()
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)

    def __enter__(self) -> ReadAhead[T]:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


def _child(read: Callable[[Progress | None], Iterator[T]], sender: Connection, size: int,
           finish: Callable[[], Any] | None = None) -> int:
    """Send ``read``'s items in batches of ``size``, then what ``finish`` returns, then "end";
    an error that stops the reading (one the reader does not turn into a Failure) is sent to
    be raised there."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the writer's to handle (close)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    count = _Count()
    batch: list[T] = []
    try:
        for item in read(count):
            batch.append(item)
            if len(batch) >= size:
                sender.send(("items", batch, count.take()))
                batch = []
        if finish is not None:
            sender.send(("result", finish(), 0))
        sender.send(("end", batch, count.take()))
    except (BrokenPipeError, ConnectionResetError):
        return 0  # the writer stopped first: nothing left to tell it
    except Exception as exc:
        try:
            pickle.loads(pickle.dumps(exc))  # one the writer could not rebuild fails here
        except Exception:  # an error that cannot cross the pipe: its words, then
            exc = RuntimeError(f"{type(exc).__name__}: {exc}")
        sender.send(("error", exc, count.take()))
    return 0
