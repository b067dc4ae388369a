"""The outbox relay: the store's notification log, in order, onto `lead.events.v1`.

It publishes a batch with the idempotent producer (acks=all), waits until Kafka has
acknowledged every message, and only then moves its durable position forward. A
crash between the two republishes that batch: nothing is lost, and consumers
deduplicate by event id / aggregate version.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import ApplicationRecorder, Mapper
from kafka import KafkaProducer
from kafka.partitioner.default import murmur2
from psycopg import sql
from pydantic_core import from_json

from events.envelope import structured_headers
from events.topics import EVENTS
from infra.kafka.publishing import Publisher
from infra.kafka.security import client_kwargs

log = logging.getLogger(__name__)

RELAY_POSITION_DDL = """
CREATE TABLE IF NOT EXISTS relay_positions (
    relay text PRIMARY KEY,
    position bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
)
"""


class Wakeup:
    """Waits for the store's append notifications (LISTEN), at most `timeout` seconds.

    eventsourcing's recorder sends `NOTIFY <its channel>` in every transaction that
    appends (the channel is the events table's name); PostgreSQL delivers it at commit.

    The relay listens before its first look at the store, so a commit between a look
    and the wait that follows still wakes it. Without a connection it just sleeps: the
    relay then polls, and learns of PostgreSQL's absence from the store itself.
    """

    def __init__(self, dsn: str, channel: str) -> None:
        self.dsn = dsn
        self.channel = channel
        self._conn: psycopg.Connection[Any] | None = None

    def listen(self) -> None:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.dsn, autocommit=True)
            self._conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))

    def wait(self, timeout: float, stop: threading.Event) -> None:
        try:
            self.listen()
            assert self._conn is not None
            for _ in self._conn.notifies(timeout=timeout, stop_after=1):
                pass
        except psycopg.Error as exc:
            log.warning("relay cannot listen for appends (%s); polling", exc)
            self.close()
            stop.wait(timeout)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class PostgresRelayPosition:
    """The last store position known to be on the topic, kept in PostgreSQL."""

    def __init__(self, dsn: str, name: str = EVENTS) -> None:
        self.dsn = dsn
        self.name = name
        self._conn: psycopg.Connection[Any] | None = None

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.dsn, autocommit=True)
            # `prepare` makes it; the application's role may not create tables.
            if self._conn.execute("SELECT to_regclass('relay_positions')").fetchone() == (None,):
                self._conn.execute(RELAY_POSITION_DDL)
        return self._conn

    def load(self) -> int:
        row = (
            self._connection()
            .execute("SELECT position FROM relay_positions WHERE relay = %s", (self.name,))
            .fetchone()
        )
        return int(row[0]) if row else 0

    def save(self, position: int) -> None:
        self._connection().execute(
            "INSERT INTO relay_positions (relay, position) VALUES (%s, %s) "
            "ON CONFLICT (relay) DO UPDATE SET position = EXCLUDED.position, updated_at = now() "
            "WHERE relay_positions.position < EXCLUDED.position",
            (self.name, position),
        )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def make_producer(bootstrap_servers: str) -> KafkaProducer:
    return KafkaProducer(
        **client_kwargs(),
        bootstrap_servers=bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        max_in_flight_requests_per_connection=5,
        retries=2**31 - 1,
        linger_ms=5,
        compression_type=None,
        client_id="lead-relay",
    )


class PartitionOf:
    """The partition kafka-python's default partitioner gives a key, remembered per key.

    A person's events keep coming under the same key, and the default partitioner
    hashes every key again (murmur2, in Python) and sorts the topic's partitions for
    every message: a fifth of the relay's time (`lead bench relay`, py-spy). The answer
    is the same (`tests/unit/test_relay_partitions.py`), so a person's events stay on
    one partition whichever producer sends them; it is forgotten when the topic's
    partitions change.
    """

    def __init__(self, producer: KafkaProducer, topic: str, *, remember: int = 100_000) -> None:
        self.producer = producer
        self.topic = topic
        self.remember = remember
        self._partitions: list[int] = []
        self._known: dict[bytes, int] = {}

    def refresh(self) -> None:
        """Look at the topic's partitions again (once per batch)."""
        partitions = sorted(self.producer.partitions_for(self.topic) or ())
        if partitions != self._partitions or len(self._known) > self.remember:
            self._partitions = partitions
            self._known.clear()

    def __call__(self, key: bytes) -> int | None:
        found = self._known.get(key)
        if found is None:
            if not self._partitions:
                return None  # no metadata yet: let the producer choose as it would
            index = (murmur2(key) & 0x7FFFFFFF) % len(self._partitions)
            found = self._known[key] = self._partitions[index]
        return found


def unpublished_since(recorder: ApplicationRecorder, position: int) -> datetime | None:
    """When the oldest event after store position `position` was recorded; None if
    there is none (for `lead_relay_lag_seconds`; safe to call from another thread)."""
    found = recorder.select_notifications(start=position, limit=1, inclusive_of_start=False)
    if not found:
        return None
    recorded = from_json(found[0].state).get("timestamp")
    return datetime.fromisoformat(recorded) if isinstance(recorded, str) else None


class OutboxRelay:
    def __init__(
        self,
        recorder: ApplicationRecorder,
        mapper: Mapper[UUID],
        producer: KafkaProducer,
        position: PostgresRelayPosition,
        *,
        source: str,
        batch_size: int = 500,
        idle_seconds: float = 0.2,
        topic: str = EVENTS,
        wakeup: Wakeup | None = None,
    ) -> None:
        self.recorder = recorder
        self.publisher = Publisher(mapper, source)
        self.producer = producer
        self.position = position
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self.topic = topic
        self.wakeup = wakeup
        self.published = 0  # acknowledged by Kafka
        self.batches = 0  # acknowledged by Kafka
        self.failures = 0  # attempts that raised (Kafka or PostgreSQL away), then retried
        self.headers = structured_headers()
        self._sent: int | None = None  # the position, once read: this relay moves it
        self._in_flight: deque[tuple[int, list[Any]]] = deque()  # (last position, futures)
        self.partition_of = PartitionOf(producer, topic)

    def run_once(self) -> int:
        """Send the next batch; returns how many events it sent (0: nothing new).

        Full batches are pipelined: while one is on its way to Kafka the next is read
        and sent, and the position moves past a batch only once Kafka acknowledged all
        of it (and every batch before it). A batch that is not full is all there is:
        everything in flight is then waited for. A failure forgets what is in flight,
        which is sent again from the position.
        """
        if self._sent is None:
            self._sent = self.position.load()
        try:
            notifications = self.recorder.select_notifications(
                start=self._sent, limit=self.batch_size, inclusive_of_start=False
            )
            if notifications:
                messages = [self.publisher(n.id, n) for n in notifications]
                self.partition_of.refresh()
                futures = [
                    self.producer.send(
                        self.topic,
                        key=key,
                        value=value,
                        headers=self.headers,
                        partition=self.partition_of(key),
                    )
                    for key, value in messages
                ]
                self._in_flight.append((notifications[-1].id, futures))
                self._sent = notifications[-1].id
            if len(notifications) == self.batch_size:
                self._settle(keep=1)  # the one just sent travels while the next is read
            else:  # all there is for now: see it acknowledged before waiting for more
                self.producer.flush()
                self._settle(keep=0)
        except BaseException:
            self._sent = None
            self._in_flight.clear()
            self.failures += 1
            raise
        return len(notifications)

    def _settle(self, keep: int) -> None:
        """Wait for all but the `keep` newest batches; move the position past them."""
        while len(self._in_flight) > keep:
            last, futures = self._in_flight[0]
            for future in futures:
                future.get(timeout=60)  # raises if Kafka did not take it: position stays put
            self.position.save(last)
            self._in_flight.popleft()
            self.published += len(futures)
            self.batches += 1

    def run(self, stop: threading.Event) -> None:
        log.info("relay publishing to %s from position %d", self.topic, self.position.load())
        if self.wakeup is not None:
            self.wakeup.listen()  # before the first look at the store: no append is missed
        try:
            while not stop.is_set():
                if self.run_once() < self.batch_size:  # caught up: wait for the next append
                    if self.wakeup is None:
                        stop.wait(self.idle_seconds)
                    else:
                        self.wakeup.wait(self.idle_seconds, stop)
        finally:
            if self.wakeup is not None:
                self.wakeup.close()
