"""Read-your-writes wakes on PostgreSQL's notification that a stored position moved."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from infra.postgres.position_notices import CHANNEL, PositionNotices
from services.bootstrap import Container

pytestmark = pytest.mark.integration


@pytest.fixture
def projection(container: Container) -> Iterator[str]:
    """A made-up projection's stored position, removed afterwards."""
    name = f"test_notices_{uuid.uuid4().hex[:8]}"
    yield name
    with psycopg.connect(container.settings.dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM projection_positions WHERE projection = %s", (name,))


@pytest.fixture
def notices(container: Container) -> Iterator[PositionNotices]:
    """A listener whose waiters, without a notification, would look again only after a
    minute: a wait that ends sooner was woken by NOTIFY."""
    found = PositionNotices(container.settings.dsn, fallback=60)
    found.wait_until(lambda: True, 0)  # starts the listener
    assert found.connected.wait(10), "the listener did not connect"
    yield found
    found.close()


def offset_of(container: Container, projection: str) -> int:
    with psycopg.connect(container.settings.dsn, autocommit=True) as conn:
        row = conn.execute(
            'SELECT "offset" FROM projection_positions WHERE projection = %s', (projection,)
        ).fetchone()
    return -1 if row is None else int(row[0])


def move(container: Container, projection: str, offset: int, after: float) -> threading.Thread:
    def write() -> None:
        time.sleep(after)
        with psycopg.connect(container.settings.dsn) as conn:
            conn.execute(
                'INSERT INTO projection_positions (projection, topic, partition, "offset") '
                "VALUES (%s, 'lead.events.v1', 0, %s) ON CONFLICT (projection, topic, partition) "
                'DO UPDATE SET "offset" = EXCLUDED."offset"',
                (projection, offset),
            )

    thread = threading.Thread(target=write)
    thread.start()
    return thread


def woken(
    container: Container, notices: PositionNotices, projection: str, offset: int, within: float
) -> bool:
    """Whether a waiter for `offset` wakes within `within` seconds of a commit of it."""
    started = time.monotonic()
    writer = move(container, projection, offset, after=0.5)
    woke = notices.wait_until(lambda: offset_of(container, projection) >= offset, started + within)
    writer.join()
    return woke


def test_a_waiter_wakes_when_a_position_is_committed_not_by_polling(
    container: Container, projection: str, notices: PositionNotices
) -> None:
    assert not notices.wait_until(lambda: offset_of(container, projection) >= 7, 0)
    assert woken(container, notices, projection, 7, 30), "no notification woke the waiter"


def test_the_trigger_notifies_the_channel_at_commit(container: Container, projection: str) -> None:
    with psycopg.connect(container.settings.dsn, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        move(container, projection, 3, after=0).join()
        got = [n.payload for n in listener.notifies(timeout=10, stop_after=1)]
    assert got == ["projection_positions"]


def test_a_listener_postgres_dropped_reconnects_and_waiters_still_wake(
    container: Container, projection: str, notices: PositionNotices
) -> None:
    with psycopg.connect(container.settings.dsn, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE query = %s AND pid <> pg_backend_pid()",
            (f"LISTEN {CHANNEL}",),
        )
    assert woken(container, notices, projection, 11, 45), (
        "the waiter never saw the position move after the listener's reconnect"
    )
