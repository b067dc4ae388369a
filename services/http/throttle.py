"""Repeated failed authentication from one source is slowed down.

A source (the client's address) that fails `limit` times within `window` seconds is
refused (429, `Retry-After`) until that window ends, whatever token it sends: guessing
tokens costs time, and the failures stop reaching the store and the audit trail at a
bounded rate. Counts are kept per API process (each replica throttles on its own).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_SOURCES = 100_000
"""Sources remembered at once; the oldest windows are forgotten first beyond it."""


@dataclass
class _Window:
    started: float
    failures: int = 0
    throttle_recorded: bool = False


class FailureThrottle:
    def __init__(
        self, limit: int = 10, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def _current(self, source: str, now: float) -> _Window:
        found = self._windows.get(source)
        if found is None or now - found.started >= self.window:
            if len(self._windows) >= MAX_SOURCES:
                self._forget_expired(now)
            found = self._windows[source] = _Window(now)
        return found

    def _forget_expired(self, now: float) -> None:
        for source in [s for s, w in self._windows.items() if now - w.started >= self.window]:
            del self._windows[source]
        while len(self._windows) >= MAX_SOURCES:  # all still current: drop the oldest
            del self._windows[next(iter(self._windows))]

    def retry_after(self, source: str) -> float | None:
        """Seconds until `source` may try again, or None when it is not throttled."""
        now = self.clock()
        with self._lock:
            window = self._windows.get(source)
            if window is None or window.failures < self.limit:
                return None
            left = window.started + self.window - now
            return left if left > 0 else None

    def first_refusal(self, source: str) -> bool:
        """Whether this is the first request refused in the source's window (recorded once)."""
        with self._lock:
            window = self._windows.get(source)
            if window is None or window.throttle_recorded:
                return False
            window.throttle_recorded = True
            return True

    def failed(self, source: str) -> None:
        with self._lock:
            self._current(source, self.clock()).failures += 1
