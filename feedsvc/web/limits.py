"""Sliding-window limits per client: bad API tokens, and pollers that never revalidate.

Kept in each process's memory: behind several processes a limit applies per process, which
still turns guessing into a crawl and hammering into a trickle.
"""

from __future__ import annotations

import threading
from collections import deque

_MAX_KEYS = 100_000  # bounds memory under a spray of addresses or URLs


class Throttle:
    """Events per key in a sliding window; past the limit, how long to wait."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait(self, key: str, now: float) -> float:
        """Seconds ``key`` must wait before its next event counts; 0 when it may go now."""
        with self._lock:
            events = self._events.get(key)
            if not events:
                return 0.0
            while events and events[0] <= now - self.window:
                events.popleft()
            if not events:
                del self._events[key]
                return 0.0
            return events[0] + self.window - now if len(events) >= self.limit else 0.0

    def add(self, key: str, now: float) -> None:
        with self._lock:
            if len(self._events) > _MAX_KEYS:
                self._events.clear()
            self._events.setdefault(key, deque()).append(now)
