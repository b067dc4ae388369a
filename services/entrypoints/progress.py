"""Progress of a long-running command: a `rich` bar with a rate and an ETA at a terminal,
plain log lines (every 10 % or 10 s, and at the end) when output goes to a file or a
pipe, so log files never get carriage returns or cursor codes."""

from __future__ import annotations

import atexit
import logging
import sys
import time
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as Bar

log = logging.getLogger("lead.progress")


class Progress:
    def __init__(
        self,
        what: str,
        stream: TextIO = sys.stderr,
        width: int = 30,
        *,
        every_seconds: float = 10.0,
        terminal: bool | None = None,
    ) -> None:
        self.what = what
        self.stream = stream
        self.width = width
        self.started = time.monotonic()
        self.terminal = stream.isatty() if terminal is None else terminal
        self._bar: Bar | None = None
        self._task: TaskID | None = None
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
        if self._bar is None:
            console = Console(file=self.stream, force_terminal=True)
            self._bar = Bar(
                TextColumn("{task.description}"),
                BarColumn(bar_width=self.width),
                MofNCompleteColumn(),
                TaskProgressColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            )
            self._task = self._bar.add_task(self.what, total=total)
            self._bar.start()
            atexit.register(self.close)  # an interrupted run leaves the cursor shown
        assert self._task is not None
        self._bar.update(self._task, completed=done, total=total)
        if done >= total:
            self.close()
            self.stream.write(f"{self.what}: done in {elapsed:.1f}s\n")
            self.stream.flush()

    def close(self) -> None:
        """Stop the bar (at the end, or when the command stops early)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
