"""Moving articles in and out: ``feedsvc import`` and ``feedsvc export``.

- ``records`` — an import's records, failures and summary, and how they are written
- ``jsonl`` — JSON Lines in (the API's article shape) and out (the export)
- ``ahead`` — records read, checked and sanitised in a child process while the batch before is written
- ``syndication`` — RSS 2.0 and Atom feeds in, read with feedparser a part at a time
- ``layout`` — where a feed document's entries lie, so that a large one is read in parts
- ``wxr`` — WordPress exports (WXR) in, streamed: published and scheduled posts
- ``autop`` — WordPress's automatic paragraphs for classic-editor posts
- ``bylines`` — the authors of a feed entry, RSS author strings read from their raw value
- ``commands`` — the two commands: sources, progress, the summary
"""

from __future__ import annotations
