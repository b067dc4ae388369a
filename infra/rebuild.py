"""Rebuilding a projection from offset 0, and building it as it stood at a past time.

A rebuild reads `lead.events.v1` from the beginning into a fresh schema while the
live agent keeps serving the old one. To swap, it takes the projection's advisory
lock (the live agent takes the same lock, shared, for every batch), catches up to
exactly where the live agent got to, and renames the schemas in one transaction:
queries see the old rows or the new, never a mixture, and nothing is missed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from kafka import KafkaConsumer, TopicPartition
from psycopg import sql

from events.envelope import CloudEvent, Opener, decode_opening
from events.topics import EVENTS
from infra.projection_store import Delivered, apply_batch, create_schema, lock_key
from projections.base import Projection, RowChange, reads_sealed, schema_of

Progress = Callable[[int, int], None]


@dataclass
class RebuildResult:
    schema: str
    messages: int
    applied: int
    skipped: int  # messages that are not events this code reads (dead letters)
    after_as_of: int


class Rebuilder:
    def __init__(
        self,
        *,
        dsn: str,
        bootstrap_servers: str,
        projection: Projection,
        as_of: datetime | None = None,
        progress: Progress | None = None,
        batch_size: int = 2000,
        opener: Opener | None = None,
    ) -> None:
        self.opener = opener
        self.dsn = dsn
        self.bootstrap_servers = bootstrap_servers
        self.projection = projection
        self.as_of = as_of
        self.progress = progress
        self.batch_size = batch_size
        live = schema_of(projection.name)
        if as_of is None:
            self.schema = f"{live}__next"
        else:
            self.schema = f"{live}__asof_{as_of.strftime('%Y%m%dt%H%M%S')}"
        self.positions_key = self.schema.removeprefix("proj_")
        self.result = RebuildResult(self.schema, 0, 0, 0, 0)

    def run(self) -> RebuildResult:
        return asyncio.run(self._run())

    async def _run(self) -> RebuildResult:
        self._fresh_schema()
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            max_poll_records=self.batch_size,
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
                await self._consume_until(consumer, conn, {tp: end[tp] for tp in partitions}, total)
                if self.as_of is None:
                    await self._swap(consumer, conn, partitions, total)
        finally:
            consumer.close()
        return self.result

    def _fresh_schema(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn, conn.transaction():
            conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema))
            )
            conn.execute(
                "DELETE FROM projection_positions WHERE projection = %s", (self.positions_key,)
            )
            create_schema(conn, self.schema, self.projection)

    async def _consume_until(
        self,
        consumer: KafkaConsumer,
        conn: psycopg.AsyncConnection[Any],
        targets: dict[TopicPartition, int],
        total: int,
    ) -> None:
        """Apply every message below the target offset of each partition, and no further."""
        for tp, target in targets.items():
            if consumer.position(tp) >= target:
                consumer.pause(tp)
            else:
                consumer.resume(tp)
        while remaining := [tp for tp in targets if consumer.position(tp) < targets[tp]]:
            batch: list[Delivered] = []
            for tp, records in consumer.poll(timeout_ms=1000).items():
                for record in records:
                    if record.offset >= targets[tp]:
                        consumer.seek(tp, record.offset)  # read it again in a later pass
                        break
                    batch.append(
                        Delivered(
                            record.topic,
                            record.partition,
                            record.offset,
                            self._changes(record.value),
                        )
                    )
            for tp in remaining:
                if consumer.position(tp) >= targets[tp]:
                    consumer.pause(tp)
            if batch:
                self.result.applied += await apply_batch(
                    conn,
                    self.positions_key,
                    batch,
                    tables=self.projection.tables,
                    schema=self.schema,
                )
                self.result.messages += len(batch)
                if self.progress:
                    self.progress(min(self.result.messages, total), total)

    def _changes(self, value: bytes) -> list[RowChange]:
        try:
            message = CloudEvent.from_json(value)
            event = decode_opening(message, self.opener, reads_sealed([self.projection]))
        except Exception:  # the live agent dead-lettered it; a rebuild skips it alike
            self.result.skipped += 1
            return []
        if self.as_of is not None and event.timestamp > self.as_of:
            self.result.after_as_of += 1
            return []
        return self.projection.handle(event, message.position)

    async def _swap(
        self,
        consumer: KafkaConsumer,
        conn: psycopg.AsyncConnection[Any],
        partitions: list[TopicPartition],
        total: int,
    ) -> None:
        name = self.projection.name
        live = schema_of(name)
        await conn.execute("SELECT pg_advisory_lock(%s)", (lock_key(name),))
        try:
            cur = await conn.execute(
                'SELECT partition, "offset" FROM projection_positions '
                "WHERE projection = %s AND topic = %s",
                (name, EVENTS),
            )
            applied = {int(p): int(o) for p, o in await cur.fetchall()}
            targets = {tp: applied.get(tp.partition, -1) + 1 for tp in partitions}
            await self._consume_until(consumer, conn, targets, total)
            async with conn.transaction():
                old = sql.Identifier(f"{live}__old")
                await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(old))
                await conn.execute(
                    sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(live), old)
                )
                await conn.execute(
                    sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(
                        sql.Identifier(self.schema), sql.Identifier(live)
                    )
                )
                await conn.execute(
                    "DELETE FROM projection_positions WHERE projection = %s", (name,)
                )
                await conn.execute(
                    "UPDATE projection_positions SET projection = %s WHERE projection = %s",
                    (name, self.positions_key),
                )
                await conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(old))
            self.result.schema = live
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (lock_key(name),))
