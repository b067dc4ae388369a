"""Turns consumed Kafka messages into projection row changes, stored with their offsets.

Poison messages (not a CloudEvent, unknown type, bad data, a projection that
raises) are reported back so the agent can dead-letter them; a database that is
down is retried here until it is back, never skipped.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
import psycopg

from events.envelope import CloudEvent, Opener, decode_opening
from events.topics import DASHBOARD_PROJECTIONS, projection_topic
from infra.projection_store import (
    Delivered,
    RowState,
    Starts,
    Target,
    apply_batch,
    apply_targets,
    column_types,
    primary_keys,
    record_errors,
)
from projections.audit import DISCLOSURES, DISCLOSURES_SCHEMA
from projections.base import Projection, RowChange, reads_sealed, schema_of

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
        self,
        dsn: str,
        projections: Sequence[Projection],
        consumer: str = "lead-projections",
        opener: Opener | None = None,
    ) -> None:
        self.dsn = dsn
        self.opener = opener  # opens sealed fields the views may hold (progress summaries)
        self.consumer = consumer
        self.primary_keys = {(p.name, t.name): t.primary_key for p in projections for t in p.tables}
        self.types = {p.name: column_types(p.tables) for p in projections}
        self.projections = list(projections)
        self.opens = reads_sealed(self.projections)
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

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.projections]

    def changes(self, value: bytes) -> dict[str, list[RowChange]]:
        """Decode and project; raises for a message no retry would fix."""
        message = CloudEvent.from_json(value)
        event = decode_opening(message, self.opener, self.opens)
        return {p.name: p.handle(event, message.position) for p in self.projections}

    async def store_disclosures(
        self, batch: Sequence[Delivered], starts: Starts | None = None
    ) -> None:
        """Disclosure records from `lead.audit.v1` into the audit trail's schema; raises
        `Behind` when offsets below `starts` are not stored yet (see `apply_targets`)."""

        async def work(conn: psycopg.AsyncConnection[Any]) -> None:
            await apply_batch(
                conn,
                DISCLOSURES_POSITION,
                batch,
                tables=[DISCLOSURES],
                schema=DISCLOSURES_SCHEMA,
                starts=starts,
            )

        await self._retrying("disclosures", work)

    def row_message(self, projection: str, state: RowState) -> RowMessage:
        """A row change for `lead.projections.<name>.v1`: keyed by the row, null when deleted."""
        keys = self.primary_keys[(projection, state.table)]
        key = {"table": state.table, **{k: state.row[k] for k in keys}}
        value = None
        if state.op != "delete":
            # Dates and times as `str` writes them, as they always were on these topics.
            value = orjson.dumps(
                {
                    "projection": projection,
                    "table": state.table,
                    "op": state.op,
                    "key": key,
                    "values": state.row,
                },
                default=str,
                option=orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME,
            )
        return RowMessage(
            projection_topic(projection),
            # The key's bytes are the row's identity on a compacted topic: never reformat.
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
        starts: Starts | None = None,
    ) -> list[RowMessage]:
        """Write every projection's changes and positions; retries while PostgreSQL is down.

        Raises `Behind`, storing nothing, when a projection has not stored the offsets
        below `starts` (see `apply_targets`)."""
        per_projection = {
            p.name: [
                Delivered(topic, partition, offset, changes[p.name])
                for topic, partition, offset, changes in batch
            ]
            for p in self.projections
        }

        targets = [
            Target(
                p.name,
                schema_of(p.name),
                per_projection[p.name],
                primary_keys(p.tables),
                returning=p.name in DASHBOARD_PROJECTIONS,
                types=self.types[p.name],
            )
            for p in self.projections
        ]

        async def work(conn: psycopg.AsyncConnection[Any]) -> list[RowMessage]:
            # One transaction: every projection has the batch, or none has.
            record = functools.partial(record_errors, consumer=self.consumer, errors=errors)
            result = await apply_targets(
                conn, targets, then=record if errors else None, starts=starts
            )
            self.applied += result.messages
            # The topics are compacted: a row changed twice in a batch is sent once, as it
            # stands after the batch.
            latest: dict[tuple[str, bytes], RowMessage] = {}
            for name, states in result.changed.items():
                for state in states:
                    message = self.row_message(name, state)
                    latest.pop((message.topic, message.key), None)
                    latest[(message.topic, message.key)] = message
            return list(latest.values())

        return await self._retrying("projections", work)
