"""A progress line with a rate and an ETA, for long-running commands."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, what: str, stream: TextIO = sys.stderr, width: int = 30) -> None:
        self.what = what
        self.stream = stream
        self.width = width
        self.started = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = done / elapsed
        eta = (total - done) / rate if rate > 0 else 0.0
        filled = int(self.width * done / total) if total else self.width
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{self.what} [{bar}] {done}/{total}  {rate:.1f}/s  ETA {eta:.0f}s ")
        if done >= total:
            self.stream.write(f"\n{self.what}: done in {elapsed:.1f}s\n")
        self.stream.flush()
