"""Turns consumed Kafka messages into projection row changes, stored with their offsets.

Poison messages (not a CloudEvent, unknown type, bad data, a projection that
raises) are reported back so the agent can dead-letter them; a database that is
down is retried here until it is back, never skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import psycopg

from events.envelope import CloudEvent, decode
from infra.projection_store import Delivered, apply_batch, record_errors
from projections.base import Projection, RowChange

log = logging.getLogger(__name__)


class Projector:
    def __init__(
        self, dsn: str, projections: Sequence[Projection], consumer: str = "lead-projections"
    ) -> None:
        self.dsn = dsn
        self.consumer = consumer
        self.projections = list(projections)
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self.applied = 0

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
        return self._conn

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()

    def changes(self, value: bytes) -> dict[str, list[RowChange]]:
        """Decode and project; raises for a message no retry would fix."""
        message = CloudEvent.from_json(value)
        event = decode(message)
        return {p.name: p.handle(event, message.position) for p in self.projections}

    def nothing(self) -> dict[str, list[RowChange]]:
        """The changes of a dead-lettered message: none, but its offset is recorded."""
        return {p.name: [] for p in self.projections}

    async def store(
        self,
        batch: Sequence[tuple[str, int, int, dict[str, list[RowChange]]]],
        errors: Sequence[tuple[str, int, int, str]] = (),
    ) -> None:
        """Write every projection's changes and positions; retries while PostgreSQL is down."""
        per_projection = {
            p.name: [
                Delivered(topic, partition, offset, changes[p.name])
                for topic, partition, offset, changes in batch
            ]
            for p in self.projections
        }
        delay = 0.2
        while True:
            try:
                conn = await self._connection()
                for name, delivered in per_projection.items():
                    self.applied += await apply_batch(conn, name, delivered)
                if errors:
                    await record_errors(conn, self.consumer, errors)
                return
            except psycopg.OperationalError as exc:
                log.warning("PostgreSQL unavailable (%s); retrying in %.1fs", exc, delay)
                if self._conn is not None:
                    await self._conn.close()
                self._conn = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
