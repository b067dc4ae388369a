"""The site's clock: the server's time, never a client's, and the site's days.

An intake deadline is a day; it passes at the site's midnight, so "past the deadline"
is decided on the date in the site's time zone (`LEAD_SITE_TIMEZONE`). Tests and demos
may move every process's clock at once with an offset file (`LEAD_CLOCK_OFFSET_FILE`,
refused in production by the settings).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo


def system_now() -> datetime:
    return datetime.now(UTC)


class Clock:
    def __init__(
        self,
        zone: str = "UTC",
        *,
        offset_file: Path | None = None,
        source: Callable[[], datetime] = system_now,
    ) -> None:
        self.zone = ZoneInfo(zone)
        self.offset_file = offset_file
        self.source = source

    def now(self) -> datetime:
        """The time now, aware, in UTC."""
        return self.source().astimezone(UTC) + timedelta(seconds=self._offset())

    def today(self) -> date:
        """The site's date now."""
        return self.day_of(self.now())

    def day_of(self, at: datetime) -> date:
        """The site's date at `at`."""
        return at.astimezone(self.zone).date()

    def midnight_after(self, day: date) -> datetime:
        """The first moment of the site's day after `day` (when a deadline of `day` passes)."""
        return datetime.combine(day + timedelta(days=1), datetime.min.time(), self.zone)

    def _offset(self) -> float:
        """Read on every call (only tests and demos have the file): a test's move is seen
        at once by every process."""
        if self.offset_file is None:
            return 0.0
        try:
            text = self.offset_file.read_text().strip()
        except FileNotFoundError:
            return 0.0
        return float(text) if text else 0.0
