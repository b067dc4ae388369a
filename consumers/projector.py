"""Turns consumed Kafka messages into projection row changes, stored with their offsets.

Poison messages (not a CloudEvent, unknown type, bad data, a projection that
raises) are reported back so the agent can dead-letter them; a database that is
down is retried here until it is back, never skipped.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg

from events.envelope import CloudEvent, decode
from events.topics import projection_topic
from infra.projection_store import Delivered, RowState, apply_batch, record_errors
from projections.audit import DISCLOSURES_SCHEMA
from projections.base import Projection, RowChange

log = logging.getLogger(__name__)

T = TypeVar("T")


DISCLOSURES_POSITION = "audit-disclosures"


@dataclass(frozen=True)
class RowMessage:
    topic: str
    key: bytes
    value: bytes | None


class Projector:
    def __init__(
        self, dsn: str, projections: Sequence[Projection], consumer: str = "lead-projections"
    ) -> None:
        self.dsn = dsn
        self.consumer = consumer
        self.primary_keys = {(p.name, t.name): t.primary_key for p in projections for t in p.tables}
        self.projections = list(projections)
        # One connection per agent: agents run concurrently, a connection cannot.
        self._conns: dict[str, psycopg.AsyncConnection[Any]] = {}
        self.applied = 0

    async def _retrying(
        self, lane: str, work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]
    ) -> T:
        """Run `work` on this lane's connection; wait out PostgreSQL being down, never skip."""
        delay = 0.2
        while True:
            conn = self._conns.get(lane)
            try:
                if conn is None or conn.closed:
                    conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
                    self._conns[lane] = conn
                return await work(conn)
            except psycopg.OperationalError as exc:
                log.warning("PostgreSQL unavailable (%s); retrying in %.1fs", exc, delay)
                if conn is not None:
                    await conn.close()
                self._conns.pop(lane, None)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def close(self) -> None:
        for conn in self._conns.values():
            await conn.close()

    def changes(self, value: bytes) -> dict[str, list[RowChange]]:
        """Decode and project; raises for a message no retry would fix."""
        message = CloudEvent.from_json(value)
        event = decode(message)
        return {p.name: p.handle(event, message.position) for p in self.projections}

    async def store_disclosures(self, batch: Sequence[Delivered]) -> None:
        """Disclosure records from `lead.audit.v1` into the audit trail's schema."""

        async def work(conn: psycopg.AsyncConnection[Any]) -> None:
            await apply_batch(conn, DISCLOSURES_POSITION, batch, schema=DISCLOSURES_SCHEMA)

        await self._retrying("disclosures", work)

    def row_message(self, projection: str, state: RowState) -> RowMessage:
        """A row change for `lead.projections.<name>.v1`: keyed by the row, null when deleted."""
        keys = self.primary_keys[(projection, state.table)]
        key = {"table": state.table, **{k: state.row[k] for k in keys}}
        value = None
        if state.op != "delete":
            value = json.dumps(
                {
                    "projection": projection,
                    "table": state.table,
                    "op": state.op,
                    "key": key,
                    "values": state.row,
                },
                default=str,
                sort_keys=True,
            ).encode()
        return RowMessage(
            projection_topic(projection),
            json.dumps(key, default=str, sort_keys=True).encode(),
            value,
        )

    def nothing(self) -> dict[str, list[RowChange]]:
        """The changes of a dead-lettered message: none, but its offset is recorded."""
        return {p.name: [] for p in self.projections}

    async def store(
        self,
        batch: Sequence[tuple[str, int, int, dict[str, list[RowChange]]]],
        errors: Sequence[tuple[str, int, int, str]] = (),
    ) -> list[RowMessage]:
        """Write every projection's changes and positions; retries while PostgreSQL is down."""
        per_projection = {
            p.name: [
                Delivered(topic, partition, offset, changes[p.name])
                for topic, partition, offset, changes in batch
            ]
            for p in self.projections
        }

        async def work(conn: psycopg.AsyncConnection[Any]) -> list[RowMessage]:
            messages: list[RowMessage] = []
            for name, delivered in per_projection.items():
                changed: list[RowState] = []
                self.applied += await apply_batch(conn, name, delivered, changed=changed)
                messages.extend(self.row_message(name, state) for state in changed)
            if errors:
                await record_errors(conn, self.consumer, errors)
            return messages

        return await self._retrying("projections", work)
