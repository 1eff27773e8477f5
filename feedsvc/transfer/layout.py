"""Where a feed document's entries lie: a large RSS or Atom file read in parts.

feedparser reads a whole document at once, and holds about 45 KB an entry while it does (a
10,000-item feed took 462 MiB). A well-formed document is therefore first scanned with expat
for the byte ranges of its parts (``Layout``): the root's and the RSS channel's start and end
tags, the feed's own elements (title, language, authors, ...: the header) and each entry
(RSS ``item``, Atom ``entry``). Each ``Part`` is then a small document of its own — the
original bytes of the prolog, the opening tags, the whole header and a few entries, then the
closing tags — which feedparser and the importer's raw readings see as they would the whole
document, entry for entry: the same namespaces, ``xml:base``, ``xml:lang``, entities and
encoding, because every byte is the document's own.

A document this cannot lay out is read whole, as before (``layout`` returns None): one not
well-formed, UTF-16, not RSS 2.0 / Atom / RSS 1.0 at its root, with an element feedparser
takes for an entry (``item`` or ``entry``, in any case) where no entry belongs, with a feed's
element given again after an entry (feedparser then takes the later title, say), or with a
namespace prefix used unbound or bound to two namespaces (feedparser remembers a binding past
its element). So is one where feedparser finds other entries in a part than the layout put
there (syndication.py). expat resolves no external entity and stops entity expansion past a
fixed amplification (expat 2.4.1 and later), as bylines.py relies on.
"""

from __future__ import annotations

import re
import xml.parsers.expat
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from feedsvc.transfer.ahead import Progress

_PIECE = 1024 * 1024  # bytes fed to expat at a time
_TAG = 64 * 1024  # the longest tag (with its attributes) found where expat reports it
# The feeds laid out: the root's local name -> the entries' container under it. RSS 2.0 keeps
# its items in <channel>; Atom and RSS 1.0 at the root.
_ROOTS = {"rss": "channel", "feed": None, "RDF": None}
# What feedparser takes for an entry, in any feed, at any depth: an element of either name,
# in any case (it lower-cases names). Anywhere but among the entries, the document is read whole.
_ENTRIES = {"item", "entry"}
# A start tag, from its "<" to its ">" (XML 1.0 section 3.1): a ">" inside a quoted
# attribute value does not end it.
_START_TAG = re.compile(rb"<[^\s/>]+(?:\s+[^\s=/>]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*\s*/?>")


class _Unlaid(Exception):
    """The document cannot be laid out; it is read whole."""


@dataclass
class Layout:
    """Byte ranges (start, end) of a document's parts, in document order within each list."""

    prolog: tuple[int, int] = (0, 0)  # before the root's start tag: XML declaration, DOCTYPE
    opening: list[tuple[int, int]] = field(default_factory=list)  # root, then <channel>
    header: list[tuple[int, int]] = field(default_factory=list)  # the feed's own elements
    entries: list[tuple[int, int]] = field(default_factory=list)
    closing: list[tuple[int, int]] = field(default_factory=list)  # </channel>, then the root's


@dataclass(frozen=True)
class Part:
    """A document of a few entries: ``data``, whose first entry is the document's entry
    ``first`` (from 1), and ``end``, the byte of the document its last entry ends at;
    ``entries``, how many entries it holds (None: the whole document, not counted)."""

    data: bytes
    first: int
    end: int
    entries: int | None = None


def layout(stream: IO[bytes], progress: Progress | None = None) -> Layout | None:
    """The ranges of a feed document's parts, or None when it is to be read whole (see the
    module's docstring). Reads the seekable ``stream`` from its start, telling ``progress``
    the bytes read."""
    stream.seek(0)
    head = stream.read(4)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head:
        return None  # UTF-16 or UTF-32: its tags are not ASCII bytes
    stream.seek(0)
    try:
        return _Scan().run(stream, progress)
    except (_Unlaid, xml.parsers.expat.ExpatError, ValueError, RecursionError):
        return None


class _Scan:
    """One pass of expat over the document, noting the ranges of the elements that matter.

    expat reports where each tag opens (``CurrentByteIndex``); where it closes is found in the
    bytes just fed and the ``_TAG`` bytes before them, which hold any tag but a longer one
    (a document with one is read whole)."""

    def __init__(self) -> None:
        # Namespaces processed: a prefix used unbound is an error (read whole, as feedparser
        # reads it loosely), and one bound to two namespaces is found (``declare``).
        self.parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
        self.parser.StartNamespaceDeclHandler = self.declare
        self.parser.StartElementHandler = self.start
        self.parser.EndElementHandler = self.end
        self.found = Layout()
        self.depth = 0
        self.container: str | None = None  # the local name of the entries' parent but the root
        self.entry_depth = 0
        self.in_entry = False  # the element open at entry_depth is an entry
        self.named: dict[str, int] = {}  # a feed element's name -> the entries before it first
        self.bound: dict[str, str] = {}  # a prefix -> the namespace it was first bound to
        self.opened: dict[int, tuple[int, int, bool]] = {}  # depth -> its open element's _start_tag
        self.window = b""  # the bytes fed last and _TAG before, from byte ``base`` of the document
        self.base = 0

    def run(self, stream: IO[bytes], progress: Progress | None) -> Layout:
        offset = 0
        while piece := stream.read(_PIECE):
            if progress is not None:
                progress.update(len(piece))
            kept = self.window[-_TAG:]
            self.window, self.base = kept + piece, offset - len(kept)
            self.parser.Parse(piece, False)
            offset += len(piece)
        self.parser.Parse(b"", True)
        if not self.found.opening:
            raise _Unlaid("no root")
        return self.found

    def _start_tag(self) -> tuple[int, int, bool]:
        """The start tag expat is at: where it starts and ends, and whether it is an empty
        element's (``<item/>``), which is all of that element."""
        at = self.parser.CurrentByteIndex
        match = _START_TAG.match(self.window, at - self.base) if at >= self.base else None
        if match is None:
            raise _Unlaid("a start tag not where expat said")
        return at, match.end() + self.base, match[0].endswith(b"/>")

    def _end_tag(self) -> tuple[int, int]:
        at = self.parser.CurrentByteIndex
        if at < self.base:
            raise _Unlaid("an end tag not where expat said")
        close = self.window.find(b">", at - self.base)
        if close < 0:
            raise _Unlaid("an end tag not where expat said")
        return at, close + 1 + self.base

    def declare(self, prefix: str | None, uri: str | None) -> None:
        """feedparser maps a prefix bound to a namespace it knows for the rest of the document,
        past the element that binds it; a part has not the entries before it, and the feed's
        elements first. A prefix bound to two namespaces is therefore read whole."""
        if prefix is not None and self.bound.setdefault(prefix, uri or "") != (uri or ""):
            raise _Unlaid("a prefix bound to two namespaces")

    def start(self, name: str, attributes: object) -> None:
        self.depth += 1
        local = name.rpartition(" ")[2]  # "namespace local", or "local" in none
        if self.depth == 1:
            if local not in _ROOTS:
                raise _Unlaid("not a feed's root")
            self.container = _ROOTS[local]
            self.entry_depth = 3 if self.container else 2
            self.opened[1] = self._start_tag()
            self.found.prolog = (0, self.opened[1][0])
            self.found.opening.append(self.opened[1][:2])
        elif self.depth == 2 and self.container is not None:
            if local != self.container or 2 in self.opened or len(self.found.opening) > 1:
                raise _Unlaid("not one <channel> alone under <rss>")
            self.opened[2] = self._start_tag()
            self.found.opening.append(self.opened[2][:2])
        elif self.depth == self.entry_depth:
            self.opened[self.depth] = self._start_tag()
            self.in_entry = local.lower() in _ENTRIES
            # feedparser keeps a feed's first title but one after an entry instead: a part has
            # the feed's elements before its entries, so a name given again past an entry is
            # read whole (by local name, any case: <title> and <dc:title> are one to feedparser).
            entries = len(self.found.entries)
            if not self.in_entry and self.named.setdefault(local.lower(), entries) != entries:
                raise _Unlaid("a feed's element given again after an entry")
        elif local.lower() in _ENTRIES:
            raise _Unlaid("an entry where no entry belongs")

    def end(self, name: str) -> None:
        depth, self.depth = self.depth, self.depth - 1
        if depth > self.entry_depth:
            return
        start, tag_end, empty = self.opened.pop(depth)
        if depth < self.entry_depth:  # </channel> or the root's end
            if empty:
                raise _Unlaid("an empty root or channel")  # no entries: read whole
            self.found.closing.append(self._end_tag())
            return
        end = tag_end if empty else self._end_tag()[1]
        if self.in_entry:
            self.found.entries.append((start, end))
            self.in_entry = False
        else:
            self.found.header.append((start, end))


def parts(stream: IO[bytes], found: Layout, *, entries: int = 100,
          size: int = 2 * 1024 * 1024) -> Iterator[Part]:
    """The document as Parts of at most ``entries`` entries each (fewer past ``size`` bytes
    of entries), in order; one Part without entries when the document has none."""

    def read(span: tuple[int, int]) -> bytes:
        stream.seek(span[0])
        return stream.read(span[1] - span[0])

    prolog = read(found.prolog)
    opening = b"".join(read(span) for span in found.opening)
    header = b"".join(read(span) for span in found.header)
    closing = b"".join(read(span) for span in found.closing)
    wrap = prolog + opening + header
    if not found.entries:
        yield Part(wrap + closing, 1, found.closing[-1][1] if found.closing else 0, 0)
        return
    batch: list[bytes] = []
    first, held = 1, 0
    for number, span in enumerate(found.entries, start=1):
        data = read(span)
        batch.append(data)
        held += len(data)
        if len(batch) >= entries or held >= size or number == len(found.entries):
            yield Part(wrap + b"".join(batch) + closing, first, span[1], len(batch))
            batch, first, held = [], number + 1, 0
