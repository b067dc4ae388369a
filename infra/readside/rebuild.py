"""Rebuilding projections from offset 0, and building them as they stood at a past time.

A rebuild reads `lead.events.v1` from the beginning, once for all the projections it
builds, into fresh schemas while the live agent keeps serving the old ones. To swap,
it takes the projections' advisory locks (the live agent takes the same locks,
shared, for every batch), catches up to exactly where the live agent got to, and
renames the schemas in one transaction: queries see the old rows or the new, never a
mixture, and nothing is missed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from kafka import KafkaConsumer, TopicPartition
from psycopg import sql

from events.envelope import CloudEvent, Opener, decode_opening
from events.topics import EVENTS
from infra.kafka.security import client_kwargs
from infra.postgres.projection_schema import create_schema
from infra.postgres.projection_store import (
    Delivered,
    Target,
    apply_targets,
    lock_key,
    primary_keys,
)
from infra.postgres.row_statements import column_types
from projections.base import Projection, RowChange, reads_sealed, schema_of

Progress = Callable[[int, int], None]
REPORT_SECONDS = 1.0  # how often a running rebuild writes its progress to rebuild_progress
Targets = dict[str, dict[TopicPartition, int]]
"""Per projection, the offset of each partition to apply up to (not including)."""


@dataclass
class RebuildResult:
    schemas: dict[str, str]  # projection -> the schema it is in now
    messages: int = 0
    applied: int = 0  # messages applied (to at least one projection)
    skipped: int = 0  # messages that are not events this code reads (dead letters)
    after_as_of: int = 0
    seconds: float = 0.0
    by_projection: dict[str, int] = field(default_factory=dict)  # messages applied

    @property
    def schema(self) -> str:
        """The schema of a one-projection rebuild."""
        (schema,) = self.schemas.values()
        return schema


class Rebuilder:
    def __init__(
        self,
        *,
        dsn: str,
        bootstrap_servers: str,
        projections: Sequence[Projection],
        as_of: datetime | None = None,
        progress: Progress | None = None,
        batch_size: int = 2000,
        opener: Opener | None = None,
    ) -> None:
        if not projections:
            raise ValueError("a rebuild needs at least one projection")
        self.opener = opener
        self.dsn = dsn
        self.bootstrap_servers = bootstrap_servers
        self.projections = list(projections)
        self.opens = reads_sealed(self.projections)
        self.as_of = as_of
        self.progress = progress
        self.batch_size = batch_size
        suffix = "__next" if as_of is None else f"__asof_{as_of.strftime('%Y%m%dt%H%M%S')}"
        self.schemas = {p.name: f"{schema_of(p.name)}{suffix}" for p in self.projections}
        self.keys = {p.name: primary_keys(p.tables) for p in self.projections}
        self.types = {p.name: column_types(p.tables) for p in self.projections}
        self.result = RebuildResult(dict(self.schemas))
        self._reported_at = 0.0

    def positions_key(self, name: str) -> str:
        return self.schemas[name].removeprefix("proj_")

    def run(self) -> RebuildResult:
        return asyncio.run(self._run())

    async def _run(self) -> RebuildResult:
        started = asyncio.get_running_loop().time()
        self._fresh_schemas()
        consumer = KafkaConsumer(
            **client_kwargs(),
            bootstrap_servers=self.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            max_poll_records=self.batch_size,
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=8 * 1024 * 1024,
        )
        try:
            partitions = [
                TopicPartition(EVENTS, p)
                for p in sorted(consumer.partitions_for_topic(EVENTS) or ())
            ]
            consumer.assign(partitions)
            consumer.seek_to_beginning(*partitions)
            start = consumer.beginning_offsets(partitions)
            end = consumer.end_offsets(partitions)
            total = sum(end[tp] - start[tp] for tp in partitions)
            async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
                await self._report(conn, total, started=True)
                targets = {p.name: dict(end) for p in self.projections}
                await self._consume_until(consumer, conn, targets, total)
                await self._analyze(conn)
                if self.as_of is None:
                    await self._swap(consumer, conn, partitions, total)
                await self._report(conn, total, finished=True)
        finally:
            consumer.close()
        self.result.seconds = asyncio.get_running_loop().time() - started
        return self.result

    async def _report(
        self,
        conn: psycopg.AsyncConnection[Any],
        total: int,
        *,
        started: bool = False,
        finished: bool = False,
    ) -> None:
        """How far it has got, in rebuild_progress (every process's /metrics shows it):
        at the start, at most once a second while it runs, and at the end."""
        now = asyncio.get_running_loop().time()
        if not (started or finished) and now - self._reported_at < REPORT_SECONDS:
            return
        self._reported_at = now
        done = total if finished else min(self.result.messages, total)
        for projection in self.projections:
            await conn.execute(
                "INSERT INTO rebuild_progress (schema, projection, messages_done, "
                "messages_total, finished_at) VALUES (%s, %s, %s, %s, "
                "CASE WHEN %s THEN now() END) ON CONFLICT (schema) DO UPDATE SET "
                "messages_done = EXCLUDED.messages_done, messages_total = "
                "EXCLUDED.messages_total, updated_at = now(), finished_at = "
                "EXCLUDED.finished_at" + (", started_at = now()" if started else ""),
                (self.schemas[projection.name], projection.name, done, total, finished),
            )

    async def _analyze(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Fresh statistics before the tables serve queries: filled in one go, they have
        none yet, and the planner would guess (scanning whole tables where an index fits)."""
        for projection in self.projections:
            for table in projection.tables:
                await conn.execute(
                    sql.SQL("ANALYZE {}").format(
                        sql.Identifier(self.schemas[projection.name], table.name)
                    )
                )

    def _fresh_schemas(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn, conn.transaction():
            for projection in self.projections:
                schema = self.schemas[projection.name]
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )
                conn.execute(
                    "DELETE FROM projection_positions WHERE projection = %s",
                    (self.positions_key(projection.name),),
                )
                create_schema(conn, schema, projection)

    async def _consume_until(
        self,
        consumer: KafkaConsumer,
        conn: psycopg.AsyncConnection[Any],
        targets: Targets,
        total: int,
    ) -> None:
        """Apply, for each projection, every message below its target offset, no further."""
        furthest = {tp: max(t[tp] for t in targets.values()) for tp in next(iter(targets.values()))}
        for tp, target in furthest.items():
            if consumer.position(tp) >= target:
                consumer.pause(tp)
            else:
                consumer.resume(tp)
        while remaining := [tp for tp in furthest if consumer.position(tp) < furthest[tp]]:
            batch: list[tuple[int, TopicPartition, dict[str, list[RowChange]]]] = []
            for tp, records in consumer.poll(timeout_ms=1000).items():
                for record in records:
                    if record.offset >= furthest[tp]:
                        consumer.seek(tp, record.offset)  # read it again in a later pass
                        break
                    batch.append((record.offset, tp, self._changes(record.value)))
            for tp in remaining:
                if consumer.position(tp) >= furthest[tp]:
                    consumer.pause(tp)
            if batch:
                await self._apply(conn, batch, targets)
                if self.progress:
                    self.progress(min(self.result.messages, total), total)
                await self._report(conn, total)

    async def _apply(
        self,
        conn: psycopg.AsyncConnection[Any],
        batch: list[tuple[int, TopicPartition, dict[str, list[RowChange]]]],
        targets: Targets,
    ) -> None:
        plans = [
            Target(
                self.positions_key(p.name),
                self.schemas[p.name],
                [
                    Delivered(tp.topic, tp.partition, offset, changes[p.name])
                    for offset, tp, changes in batch
                    if offset < targets[p.name][tp]
                ],
                self.keys[p.name],
                types=self.types[p.name],
            )
            for p in self.projections
        ]
        done = await apply_targets(conn, plans)
        for plan, projection in zip(plans, self.projections, strict=True):
            self.result.by_projection[projection.name] = self.result.by_projection.get(
                projection.name, 0
            ) + len(plan.batch)
        self.result.messages += len(batch)
        self.result.applied += min(done.messages, len(batch))

    def _changes(self, value: bytes) -> dict[str, list[RowChange]]:
        try:
            message = CloudEvent.from_json(value)
            event = decode_opening(message, self.opener, self.opens)
        except Exception:  # the live agent dead-lettered it; a rebuild skips it alike
            self.result.skipped += 1
            return {p.name: [] for p in self.projections}
        if self.as_of is not None and event.timestamp > self.as_of:
            self.result.after_as_of += 1
            return {p.name: [] for p in self.projections}
        return {p.name: p.handle(event, message.position) for p in self.projections}

    async def _swap(
        self,
        consumer: KafkaConsumer,
        conn: psycopg.AsyncConnection[Any],
        partitions: list[TopicPartition],
        total: int,
    ) -> None:
        names = [p.name for p in self.projections]
        locks = sorted({lock_key(name) for name in names})
        for key in locks:
            await conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        try:
            cur = await conn.execute(
                'SELECT projection, partition, "offset" FROM projection_positions '
                "WHERE projection = ANY(%s) AND topic = %s",
                (names, EVENTS),
            )
            live: dict[str, dict[int, int]] = {name: {} for name in names}
            for name, partition, offset in await cur.fetchall():
                live[name][int(partition)] = int(offset)
            targets = {
                name: {tp: live[name].get(tp.partition, -1) + 1 for tp in partitions}
                for name in names
            }
            await self._consume_until(consumer, conn, targets, total)
            async with conn.transaction():
                for name in names:
                    await self._rename(conn, name)
            self.result.schemas = {name: schema_of(name) for name in names}
        finally:
            for key in locks:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

    async def _rename(self, conn: psycopg.AsyncConnection[Any], name: str) -> None:
        live = schema_of(name)
        old = sql.Identifier(f"{live}__old")
        await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(old))
        await conn.execute(
            sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(live), old)
        )
        await conn.execute(
            sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(
                sql.Identifier(self.schemas[name]), sql.Identifier(live)
            )
        )
        await conn.execute("DELETE FROM projection_positions WHERE projection = %s", (name,))
        await conn.execute(
            "UPDATE projection_positions SET projection = %s WHERE projection = %s",
            (name, self.positions_key(name)),
        )
        await conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(old))
