"""Writes projection rows and the Kafka position they came from in one transaction.

A redelivered message (its offset at or below the stored one) changes nothing, and a
republished event (same aggregate version) is stopped by the row's version guard.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from projections.base import (
    Delete,
    Erase,
    Projection,
    RowChange,
    Table,
    Update,
    Upsert,
    schema_of,
)

POSITIONS_DDL = """
CREATE TABLE IF NOT EXISTS projection_positions (
    projection text NOT NULL,
    topic text NOT NULL,
    partition integer NOT NULL,
    "offset" bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, topic, partition)
)
"""


ERRORS_DDL = """
CREATE TABLE IF NOT EXISTS consumer_errors (
    id bigserial PRIMARY KEY,
    consumer text NOT NULL,
    topic text NOT NULL,
    partition integer NOT NULL,
    "offset" bigint NOT NULL,
    error text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
)
"""


async def record_errors(
    conn: psycopg.AsyncConnection[Any], consumer: str, errors: Sequence[tuple[str, int, int, str]]
) -> None:
    """What was dead-lettered and why, for `lead projections status`."""
    async with conn.transaction():
        for topic, partition, offset, error in errors:
            await conn.execute(
                'INSERT INTO consumer_errors (consumer, topic, partition, "offset", error) '
                "VALUES (%s, %s, %s, %s, %s)",
                (consumer, topic, partition, offset, error[:2000]),
            )


def table_ddl(schema: str, table: Table) -> list[sql.Composed]:
    columns: list[sql.Composable] = [
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(kind))
        for name, kind in table.columns.items()
    ]
    if table.versioned:
        columns.append(sql.SQL("version integer NOT NULL"))
    columns.append(
        sql.SQL("PRIMARY KEY ({})").format(
            sql.SQL(", ").join(map(sql.Identifier, table.primary_key))
        )
    )
    statements = [
        sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
            sql.Identifier(schema, table.name), sql.SQL(", ").join(columns)
        )
    ]
    # A column added to the code later is added to an existing table (it must allow
    # NULL or have a default; otherwise `prepare` fails and the projection needs a rebuild).
    for name, kind in table.columns.items():
        statements.append(
            sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
                sql.Identifier(schema, table.name), sql.Identifier(name), sql.SQL(kind)
            )
        )
    for index in table.indexes:
        statements.append(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                sql.Identifier(f"{table.name}_{'_'.join(index)}_idx"),
                sql.Identifier(schema, table.name),
                sql.SQL(", ").join(map(sql.Identifier, index)),
            )
        )
    return statements


def create_schema(conn: psycopg.Connection[Any], schema: str, projection: Projection) -> None:
    """A projection's tables, in a schema of their own (so a rebuild can swap it whole)."""
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    for table in projection.tables:
        for statement in table_ddl(schema, table):
            conn.execute(statement)


def ensure_tables(conn: psycopg.Connection[Any], projections: Iterable[Projection]) -> None:
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(4242)")
        conn.execute(POSITIONS_DDL)
        conn.execute(ERRORS_DDL)
        for projection in projections:
            create_schema(conn, schema_of(projection.name), projection)


def change_statement(change: RowChange, schema: str) -> tuple[sql.Composed, list[Any]]:
    target = sql.Identifier(schema, change.table)
    if isinstance(change, Erase):
        sets = sql.SQL(", ").join(
            sql.SQL("{} = %s").format(sql.Identifier(k)) for k in change.values
        )
        where = sql.SQL(" AND ").join(
            sql.SQL("{} = %s").format(sql.Identifier(k)) for k in change.where
        )
        return (
            sql.SQL("UPDATE {} SET {} WHERE {}").format(target, sets, where),
            [*change.values.values(), *change.where.values()],
        )
    if isinstance(change, Delete):
        where = sql.SQL(" AND ").join(
            sql.SQL("{} = %s").format(sql.Identifier(k)) for k in change.key
        )
        return (
            sql.SQL("DELETE FROM {} WHERE {}").format(target, where),
            list(change.key.values()),
        )
    if isinstance(change, Update):
        sets = sql.SQL(", ").join(
            sql.SQL("{} = %s").format(sql.Identifier(k)) for k in [*change.values, "version"]
        )
        where = sql.SQL(" AND ").join(
            sql.SQL("{} = %s").format(sql.Identifier(k)) for k in change.key
        )
        statement = sql.SQL("UPDATE {} SET {} WHERE {} AND version < %s").format(
            target, sets, where
        )
        return statement, [
            *change.values.values(),
            change.version,
            *change.key.values(),
            change.version,
        ]
    assert isinstance(change, Upsert)
    row = {**change.key, **change.values}
    if change.version is not None:
        row["version"] = change.version
    names = list(row)
    updates = [n for n in names if n not in change.key]
    statement = sql.SQL(
        "INSERT INTO {t} AS t ({cols}) VALUES ({vals}) ON CONFLICT ({key}) "
    ).format(
        t=target,
        cols=sql.SQL(", ").join(map(sql.Identifier, names)),
        vals=sql.SQL(", ").join(sql.Placeholder() * len(names)),
        key=sql.SQL(", ").join(map(sql.Identifier, change.key)),
    )
    if not updates:
        statement += sql.SQL("DO NOTHING")
    else:
        statement += sql.SQL("DO UPDATE SET {}").format(
            sql.SQL(", ").join(
                sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(n)) for n in updates
            )
        )
        if change.version is not None:
            statement += sql.SQL(" WHERE t.version < EXCLUDED.version")
    return statement, list(row.values())


@dataclass(frozen=True)
class RowState:
    """A row as a change left it (`delete`: the row as it was removed)."""

    table: str
    op: str
    row: dict[str, Any]


def lock_key(projection: str) -> int:
    """The advisory lock a projection's writers share and a rebuild's swap takes alone."""
    return int.from_bytes(hashlib.sha256(projection.encode()).digest()[:8], "big", signed=True)


@dataclass(frozen=True)
class Delivered:
    """One consumed message and the row changes it implies for one projection."""

    topic: str
    partition: int
    offset: int
    changes: Sequence[RowChange]


async def apply_batch(
    conn: psycopg.AsyncConnection[Any],
    projection: str,
    batch: Sequence[Delivered],
    *,
    schema: str | None = None,
    changed: list[RowState] | None = None,
) -> int:
    """Apply a batch of messages in one transaction; returns how many were new.

    Messages at or below the stored offset of their partition were applied before
    (a redelivery after a crash or rebalance) and are skipped. When `changed` is
    given it receives the state of every row the batch really changed (a change the
    version guard stopped changed nothing), for the compacted projection topics.
    """
    if not batch:
        return 0
    schema = schema or schema_of(projection)
    partitions = sorted({(d.topic, d.partition) for d in batch})
    applied = 0
    async with conn.transaction():
        # Shared with other writers of this projection, exclusive to a rebuild's swap.
        await conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (lock_key(projection),))
        stored: dict[tuple[str, int], int] = {}
        for topic, partition in partitions:
            cur = await conn.execute(
                'SELECT "offset" FROM projection_positions '
                "WHERE projection = %s AND topic = %s AND partition = %s FOR UPDATE",
                (projection, topic, partition),
            )
            row = await cur.fetchone()
            stored[(topic, partition)] = row[0] if row else -1
        reached = dict(stored)
        for delivered in batch:
            where = (delivered.topic, delivered.partition)
            if delivered.offset <= reached[where]:
                continue
            for change in delivered.changes:
                statement, params = change_statement(change, schema)
                cur = conn.cursor(row_factory=dict_row)
                await cur.execute(statement + sql.SQL(" RETURNING *"), params)
                rows = await cur.fetchall()
                if changed is not None:
                    op = "delete" if isinstance(change, Delete) else "upsert"
                    changed.extend(RowState(change.table, op, row) for row in rows)
            reached[where] = delivered.offset
            applied += 1
        for (topic, partition), offset in reached.items():
            if offset > stored[(topic, partition)]:
                await conn.execute(
                    'INSERT INTO projection_positions (projection, topic, partition, "offset") '
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (projection, topic, partition) "
                    'DO UPDATE SET "offset" = EXCLUDED."offset", updated_at = now()',
                    (projection, topic, partition, offset),
                )
    return applied


async def apply_message(
    conn: psycopg.AsyncConnection[Any],
    projection: str,
    topic: str,
    partition: int,
    offset: int,
    changes: Sequence[RowChange],
) -> bool:
    """Apply one message's changes; False if this offset was applied already."""
    return await apply_batch(conn, projection, [Delivered(topic, partition, offset, changes)]) == 1
