"""The outbox relay: the store's notification log, in order, onto `lead.events.v1`.

It publishes a batch with the idempotent producer (acks=all), waits until Kafka has
acknowledged every message, and only then moves its durable position forward. A
crash between the two republishes that batch: nothing is lost, and consumers
deduplicate by event id / aggregate version.
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import ApplicationRecorder, Mapper
from kafka import KafkaProducer

from events.base import DomainEvent
from events.envelope import CONTENT_TYPE, envelope
from events.topics import EVENTS

log = logging.getLogger(__name__)

RELAY_POSITION_DDL = """
CREATE TABLE IF NOT EXISTS relay_positions (
    relay text PRIMARY KEY,
    position bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
)
"""


class RelayPosition:
    """The last store position known to be on the topic, kept in PostgreSQL."""

    def __init__(self, dsn: str, name: str = EVENTS) -> None:
        self.dsn = dsn
        self.name = name
        self._conn: psycopg.Connection[Any] | None = None

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.dsn, autocommit=True)
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
        bootstrap_servers=bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        max_in_flight_requests_per_connection=5,
        retries=2**31 - 1,
        linger_ms=5,
        compression_type=None,
        client_id="lead-relay",
    )


class OutboxRelay:
    def __init__(
        self,
        recorder: ApplicationRecorder,
        mapper: Mapper[UUID],
        producer: KafkaProducer,
        position: RelayPosition,
        *,
        source: str,
        batch_size: int = 500,
        idle_seconds: float = 0.2,
        topic: str = EVENTS,
    ) -> None:
        self.recorder = recorder
        self.mapper = mapper
        self.producer = producer
        self.position = position
        self.source = source
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self.topic = topic
        self.published = 0

    def run_once(self) -> int:
        """Publish the next batch; returns how many events it published."""
        start = self.position.load()
        notifications = self.recorder.select_notifications(
            start=start, limit=self.batch_size, inclusive_of_start=False
        )
        if not notifications:
            return 0
        futures = []
        for notification in notifications:
            event = self.mapper.to_domain_event(notification)
            assert isinstance(event, DomainEvent)
            message = envelope(event, position=notification.id, source=self.source)
            futures.append(
                self.producer.send(
                    self.topic,
                    key=event.partition_key.encode(),
                    value=message.to_json(),
                    headers=[("content-type", CONTENT_TYPE.encode())],
                )
            )
        self.producer.flush()
        for future in futures:
            future.get(timeout=60)  # raises if Kafka did not take it: position stays put
        self.position.save(notifications[-1].id)
        self.published += len(notifications)
        return len(notifications)

    def run(self, stop: threading.Event) -> None:
        log.info("relay publishing to %s from position %d", self.topic, self.position.load())
        while not stop.is_set():
            if self.run_once() == 0:
                stop.wait(self.idle_seconds)
