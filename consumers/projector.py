"""Turns one Kafka message into projection row changes, stored with its offset.

Poison messages (not a CloudEvent, unknown type, bad data, a projection that
raises) are handed back as the error so the agent can dead-letter them; a
database that is down is retried here until it is back, never skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import psycopg

from events.envelope import CloudEvent, decode
from infra.projection_store import apply_message
from projections.base import Projection, RowChange

log = logging.getLogger(__name__)


class Projector:
    def __init__(self, dsn: str, projections: Sequence[Projection]) -> None:
        self.dsn = dsn
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

    async def store(self, topic: str, partition: int, offset: int,
                    changes: dict[str, list[RowChange]]) -> None:
        """Write every projection's changes and position; retries while PostgreSQL is down."""
        delay = 0.2
        while True:
            try:
                conn = await self._connection()
                for name, rows in changes.items():
                    if await apply_message(conn, name, topic, partition, offset, rows):
                        self.applied += 1
                return
            except psycopg.OperationalError as exc:
                log.warning("PostgreSQL unavailable (%s); retrying in %.1fs", exc, delay)
                if self._conn is not None:
                    await self._conn.close()
                self._conn = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def skip(self, topic: str, partition: int, offset: int) -> None:
        """Record a dead-lettered message's offset so it is not processed again."""
        await self.store(topic, partition, offset, {p.name: [] for p in self.projections})
