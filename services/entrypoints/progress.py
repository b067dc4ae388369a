"""Progress of a long-running command: a bar with a rate and an ETA at a terminal, plain
log lines (every 10 % or 10 s, and at the end) when output goes to a file or a pipe, so
log files never get carriage returns or cursor codes."""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

log = logging.getLogger("lead.progress")


class Progress:
    def __init__(
        self,
        what: str,
        stream: TextIO = sys.stderr,
        width: int = 30,
        *,
        every_seconds: float = 10.0,
    ) -> None:
        self.what = what
        self.stream = stream
        self.width = width
        self.started = time.monotonic()
        self.terminal = stream.isatty()
        self.every_seconds = every_seconds
        self._logged_at = self.started
        self._logged_tenth = -1

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        elapsed = max(now - self.started, 1e-6)
        rate = done / elapsed
        eta = (total - done) / rate if rate > 0 else 0.0
        if not self.terminal:
            tenth = 10 * done // total if total else 10
            if (
                done >= total
                or tenth > self._logged_tenth
                or now - self._logged_at >= self.every_seconds
            ):
                self._logged_tenth, self._logged_at = tenth, now
                if done >= total:
                    log.info("%s: done, %d in %.1fs", self.what, done, elapsed)
                else:
                    log.info("%s: %d of %d (%.1f/s, ETA %.0fs)", self.what, done, total, rate, eta)
            return
        filled = int(self.width * done / total) if total else self.width
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{self.what} [{bar}] {done}/{total}  {rate:.1f}/s  ETA {eta:.0f}s ")
        if done >= total:
            self.stream.write(f"\n{self.what}: done in {elapsed:.1f}s\n")
        self.stream.flush()
