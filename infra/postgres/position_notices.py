"""PostgreSQL notifications that a stored position moved, and one listener per process.

The relay writes how far it has published to `relay_positions`; each projection writes
how far it has applied to `projection_positions`. A statement trigger on both sends
`NOTIFY lead_positions` with the table's name, which PostgreSQL delivers at commit (and
sends once per transaction however many rows it wrote). Read-your-writes waits on it
(infra/readside/consistency.py) instead of querying the positions in a loop.

`PositionNotices` holds one LISTEN connection in a daemon thread, started by the first
waiter, and wakes every waiter of the process when a notification arrives. While it has
no connection (PostgreSQL restarting) it tries again every `retry` seconds; waiters look
again at least every `fallback` seconds, and each (re)connection wakes them too, so a
notification lost while disconnected delays no one for long.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg

log = logging.getLogger(__name__)

CHANNEL = "lead_positions"

POSITION_NOTICES_DDL = (
    f"""
CREATE OR REPLACE FUNCTION lead_position_moved() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
    RETURN NULL;
END
$$
""",
    """
CREATE OR REPLACE TRIGGER lead_relay_position_moved
AFTER INSERT OR UPDATE ON relay_positions
FOR EACH STATEMENT EXECUTE FUNCTION lead_position_moved()
""",
    """
CREATE OR REPLACE TRIGGER lead_projection_position_moved
AFTER INSERT OR UPDATE ON projection_positions
FOR EACH STATEMENT EXECUTE FUNCTION lead_position_moved()
""",
)
"""Run by the owner after both tables exist (`Container.prepare`); idempotent."""


def install_position_notices(conn: psycopg.Connection[Any]) -> None:
    """The function and the two triggers, under a lock so that concurrent starts agree."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(4244)")
        for statement in POSITION_NOTICES_DDL:
            conn.execute(statement)


class PositionNotices:
    """Wakes waiters when `lead_positions` is notified; `wait_until(check, deadline)`."""

    def __init__(
        self,
        dsn: str,
        *,
        fallback: float = 1.0,
        retry: float = 1.0,
        connect: Callable[[str], psycopg.Connection[Any]] | None = None,
    ) -> None:
        self.dsn = dsn
        self.fallback = fallback
        self.retry = retry
        self._connect = connect or (lambda dsn: psycopg.connect(dsn, autocommit=True))
        self._changed = threading.Condition()
        self._generation = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = threading.Lock()
        self.connected = threading.Event()

    def wait_until(self, check: Callable[[], bool], deadline: float) -> bool:
        """True as soon as `check()` is; False once `time.monotonic()` passes `deadline`.

        `check` runs first, then again after each notification (or `fallback` seconds).
        """
        self._start()
        while True:
            with self._changed:
                seen = self._generation
            if check():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._changed:
                if self._generation == seen:  # nothing moved since the check
                    self._changed.wait(timeout=min(remaining, self.fallback))

    def close(self) -> None:
        self._stopping.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=5)

    def _start(self) -> None:
        with self._started:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._listen, name="lead-position-notices", daemon=True
                )
                self._thread.start()

    def _wake(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def _listen(self) -> None:
        while not self._stopping.is_set():
            try:
                with self._connect(self.dsn) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.connected.set()
                    self._wake()  # what was notified while disconnected: look again
                    while not self._stopping.is_set():
                        for _ in conn.notifies(timeout=0.5):
                            self._wake()
            except psycopg.Error as exc:
                log.warning("cannot listen for position notices (%s); retrying", exc)
            self.connected.clear()
            self._stopping.wait(self.retry)
