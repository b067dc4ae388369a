"""Read-your-writes: wait until a projection has applied everything up to a store position.

A write answers with the store position it reached. A read that asks for at least
that position waits until (1) the relay has published past it, then (2) the
projection has applied every message that was on the topic at that moment: the
topic's end offsets, taken after the relay passed the position, cover the write.
It looks at the stored positions when PostgreSQL notifies that one moved (LISTEN
`lead_positions`, infra/postgres/position_notices.py), not in a polling loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol

from kafka import KafkaConsumer, TopicPartition
from psycopg_pool import ConnectionPool

from events.topics import EVENTS
from infra.kafka.security import client_kwargs

EndOffsets = Callable[[], dict[int, int]]


class Notices(Protocol):
    """Waits until a check holds, woken when a stored position moves
    (infra.postgres.position_notices.PositionNotices)."""

    def wait_until(self, check: Callable[[], bool], deadline: float) -> bool: ...


class KafkaTopicEnds:
    """The end offsets of `lead.events.v1`, from one long-lived client (not thread-safe alone)."""

    def __init__(self, bootstrap_servers: str, topic: str = EVENTS) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self._lock = threading.Lock()
        self._consumer: KafkaConsumer | None = None

    def __call__(self) -> dict[int, int]:
        with self._lock:
            if self._consumer is None:
                self._consumer = KafkaConsumer(
                    **client_kwargs(), bootstrap_servers=self.bootstrap_servers, group_id=None
                )
            consumer = self._consumer
            partitions = [
                TopicPartition(self.topic, p)
                for p in sorted(consumer.partitions_for_topic(self.topic) or ())
            ]
            return {tp.partition: o for tp, o in consumer.end_offsets(partitions).items()}

    def close(self) -> None:
        with self._lock:
            if self._consumer is not None:
                self._consumer.close()
                self._consumer = None


class KafkaMessageTimes:
    """When messages of `lead.events.v1` were produced (their Kafka timestamps), looked up
    by (partition, offset) from one long-lived client; what it found is kept (a message's
    timestamp never changes), up to `remember` of them. For `lead_projection_lag_seconds`:
    the age of the oldest message a projection has not applied."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str = EVENTS,
        *,
        remember: int = 10_000,
        timeout_ms: int = 2_000,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.remember = remember
        self.timeout_ms = timeout_ms
        self._lock = threading.Lock()
        self._consumer: KafkaConsumer | None = None
        self._found: dict[tuple[int, int], datetime] = {}

    def __call__(self, wanted: Iterable[tuple[int, int]]) -> dict[tuple[int, int], datetime]:
        wanted = set(wanted)
        with self._lock:
            for partition, offset in sorted(wanted - self._found.keys()):
                at = self._read(partition, offset)
                if at is not None:
                    if len(self._found) >= self.remember:
                        self._found.clear()
                    self._found[(partition, offset)] = at
            return {w: self._found[w] for w in wanted if w in self._found}

    def _read(self, partition: int, offset: int) -> datetime | None:
        if self._consumer is None:
            self._consumer = KafkaConsumer(
                **client_kwargs(),
                bootstrap_servers=self.bootstrap_servers,
                group_id=None,
                enable_auto_commit=False,
                max_partition_fetch_bytes=1024 * 1024,
            )
        consumer = self._consumer
        tp = TopicPartition(self.topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        for records in consumer.poll(timeout_ms=self.timeout_ms, max_records=1).values():
            for record in records:
                if record.offset == offset:
                    return datetime.fromtimestamp(record.timestamp / 1000, UTC)
        return None

    def close(self) -> None:
        with self._lock:
            if self._consumer is not None:
                self._consumer.close()
                self._consumer = None


class ReadYourWrites:
    """Waits, on PostgreSQL's notifications that a position moved (`PositionNotices`),
    until the relay and then each projection have passed a write's store position."""

    def __init__(self, pool: ConnectionPool[Any], ends: EndOffsets, notices: Notices) -> None:
        self.pool = pool
        self.ends = ends
        self.notices = notices

    def _published(self) -> int:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT coalesce(max(position), 0) FROM relay_positions").fetchone()
        return int(row[0]) if row else 0

    def _applied(self, projection: str) -> dict[int, int]:
        with self.pool.connection() as conn:
            rows = conn.execute(
                'SELECT partition, "offset" FROM projection_positions '
                "WHERE projection = %s AND topic = %s",
                (projection, EVENTS),
            ).fetchall()
        return {int(p): int(o) for p, o in rows}

    def wait(self, projections: list[str], position: int, timeout: float) -> bool:
        """True once every projection has applied position `position`; False on timeout."""
        deadline = time.monotonic() + timeout
        if not self.notices.wait_until(lambda: self._published() >= position, deadline):
            return False
        ends = self.ends()

        def applied_all(projection: str) -> bool:
            applied = self._applied(projection)
            return all(applied.get(p, -1) + 1 >= end for p, end in ends.items())

        return all(
            self.notices.wait_until(partial(applied_all, projection), deadline)
            for projection in projections
        )
