"""Writes projection rows and the Kafka position they came from in one transaction.

A redelivered message (its offset at or below the stored one) changes nothing, and a
republished event (same aggregate version) is stopped by the row's version guard.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row

from infra.postgres.row_statements import (
    Shape,
    change_statement,
    column_types,
    many_statement,
    shape_of,
)
from projections.base import Delete, Erase, RowChange, Table, schema_of


def primary_keys(tables: Iterable[Table]) -> dict[str, tuple[str, ...]]:
    return {table.name: table.primary_key for table in tables}


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


@dataclass(frozen=True)
class Target:
    """One projection's share of a batch: the key its positions are stored under, the
    schema its tables are in, and whether the rows it changes are wanted back."""

    key: str
    schema: str
    batch: Sequence[Delivered]
    primary_keys: Mapping[str, tuple[str, ...]]  # by table
    returning: bool = False
    types: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # `column_types`


@dataclass
class Applied:
    messages: int = 0  # messages new to their target (not redeliveries)
    changed: dict[str, list[RowState]] = field(default_factory=dict)  # by target key


Returned = list[tuple[str, str, str, psycopg.AsyncCursor[Any]]]  # target, table, op, cursor


async def _send_layer(
    conn: psycopg.AsyncConnection[Any],
    target: Target,
    layer: Sequence[RowChange],
    returned: Returned,
) -> None:
    """One layer (see `layers`), sent without waiting for an answer: the changes of one
    shape in one statement (`many_statement`), or where they cannot go together, one
    statement per change. Rows wanted back are read once the transaction has committed
    (executemany(returning=True) would wait for them: a round trip per shape)."""
    groups: dict[Shape | None, list[RowChange]] = {}
    for change in layer:
        groups.setdefault(shape_of(change), []).append(change)
    for shape, group in groups.items():
        many = None
        if shape is not None and len(group) > 1:
            many = many_statement(
                shape, group, target.schema, target.types, returning=target.returning
            )
        if many is not None:
            text, document = many
            cursor = conn.cursor(row_factory=dict_row)
            await cursor.execute(text, document, prepare=True)
            if target.returning:
                op = "delete" if shape and shape[0] == "delete" else "upsert"
                returned.append((target.key, group[0].table, op, cursor))
            continue
        singles: dict[str, list[tuple[RowChange, list[Any]]]] = {}
        for change in group:
            text, params = change_statement(change, target.schema, returning=target.returning)
            singles.setdefault(text, []).append((change, params))
        for text, same in singles.items():
            if not target.returning:
                await conn.cursor().executemany(text, [params for _, params in same])
                continue
            for change, params in same:
                cursor = conn.cursor(row_factory=dict_row)
                await cursor.execute(text, params, prepare=True)
                op = "delete" if isinstance(change, Delete) else "upsert"
                returned.append((target.key, change.table, op, cursor))


@dataclass
class _Ending:
    commit: bool = True  # False: the block ends with ROLLBACK


@asynccontextmanager
async def _pipelined_transaction(conn: psycopg.AsyncConnection[Any]) -> AsyncIterator[_Ending]:
    """BEGIN ... COMMIT sent as one pipeline: what is queued inside goes out without
    waiting for answers, and the block ends with one sync that waits for them all.
    The block may choose to end with ROLLBACK instead (`_Ending`).

    (psycopg's `transaction()` inside a pipeline syncs on entry and twice on exit.)
    Any failure closes the connection, which rolls the transaction back on the server;
    the caller connects again. `conn` must be in autocommit mode and not in a transaction.
    """
    if conn.info.transaction_status != TransactionStatus.IDLE or not conn.autocommit:
        raise psycopg.ProgrammingError("apply_targets needs an idle autocommit connection")
    ending = _Ending()
    try:
        async with conn.pipeline():
            await conn.execute("BEGIN")
            yield ending
            await conn.execute("COMMIT" if ending.commit else "ROLLBACK")
    except BaseException:
        await conn.close()
        raise


Partition = tuple[str, int]
"""A topic and a partition number."""

Starts = Mapping[Partition, int]
"""Per partition, the offset a batch's last unbroken run of messages starts at."""


def gaps(
    stored: Mapping[tuple[str, str, int], int],
    keys: Sequence[str],
    first: Starts,
) -> dict[Partition, tuple[int, int]]:
    """The offsets some position key has not stored, below what a batch starts with.

    `stored` maps (position key, topic, partition) to the last offset stored; a key
    with nothing stored for a partition starts from offset 0. A consumer whose
    committed Kafka offset ran ahead of PostgreSQL (a batch acknowledged but not
    stored, a projection added later) sees a gap here and reads it before going on.
    """
    found: dict[Partition, tuple[int, int]] = {}
    for (topic, partition), offset in first.items():
        behind = min(stored.get((key, topic, partition), -1) for key in keys) + 1
        if behind < offset:
            found[(topic, partition)] = (behind, offset)
    return found


class Behind(Exception):
    """A batch not applied: PostgreSQL lacks offsets below it (`gaps`), which are to be
    read and applied first."""

    def __init__(self, missing: dict[Partition, tuple[int, int]]) -> None:
        super().__init__(f"offsets not stored yet: {missing}")
        self.missing = missing


def layers(
    changes: Sequence[RowChange], primary_keys: Mapping[str, tuple[str, ...]]
) -> list[list[RowChange]]:
    """The changes in layers that give the same result as applying them in order.

    A change by a table's full primary key touches one row: it only has to come after
    the earlier changes to that row, so it goes one layer above the last of them.
    Within a layer every row appears at most once, so its changes can be sent in any
    order (grouped by statement: one round trip per group instead of per change). A
    change by other columns (a Delete or Erase matching many rows) is a barrier: a
    layer of its own, after everything before it and before everything after it.
    """
    planned: list[list[RowChange]] = []
    floor = 0  # the first layer changes after the last barrier may use
    last: dict[tuple[str, tuple[Any, ...]], int] = {}
    by_key: dict[tuple[str, tuple[str, ...]], tuple[str, ...] | None] = {}  # per key shape
    for change in changes:
        order = None
        if not isinstance(change, Erase):
            shape = (change.table, tuple(change.key))
            if shape not in by_key:  # the full primary key, in one order, or None
                full = set(shape[1]) == set(primary_keys.get(change.table, ()))
                by_key[shape] = tuple(sorted(shape[1])) if full else None
            order = by_key[shape]
        if order is None:  # by other columns: a barrier
            planned.append([change])
            floor = len(planned)
            last.clear()
            continue
        assert not isinstance(change, Erase)
        row = (change.table, tuple(str(change.key[c]) for c in order))
        layer = max(floor, last.get(row, -1) + 1)
        if layer == len(planned):
            planned.append([])
        planned[layer].append(change)
        last[row] = layer
    return planned


async def _apply_new(
    conn: psycopg.AsyncConnection[Any],
    targets: Sequence[Target],
    wanted: Sequence[tuple[str, str, int]],
    stored: Mapping[tuple[str, str, int], int],
    result: Applied,
    returned: Returned,
) -> None:
    """Queue each target's changes from messages past its stored positions, in layers,
    and the positions they reach (inside `apply_targets`' transaction)."""
    reached = {w: stored.get(w, -1) for w in wanted}
    for target in targets:
        new: list[RowChange] = []
        for delivered in target.batch:
            where = (target.key, delivered.topic, delivered.partition)
            if delivered.offset > reached[where]:
                new.extend(delivered.changes)
                reached[where] = delivered.offset
                result.messages += 1
        for layer in layers(new, target.primary_keys):
            await _send_layer(conn, target, layer, returned)
    moved = [(*w, o) for w, o in reached.items() if o > stored.get(w, -1)]
    if moved:
        await conn.execute(
            'INSERT INTO projection_positions (projection, topic, partition, "offset") '
            "SELECT * FROM unnest(%s::text[], %s::text[], %s::int[], %s::bigint[]) "
            "ON CONFLICT (projection, topic, partition) "
            'DO UPDATE SET "offset" = EXCLUDED."offset", updated_at = now()',
            tuple([m[i] for m in moved] for i in range(4)),
        )


async def apply_targets(
    conn: psycopg.AsyncConnection[Any],
    targets: Sequence[Target],
    *,
    then: Callable[[psycopg.AsyncConnection[Any]], Awaitable[None]] | None = None,
    starts: Starts | None = None,
) -> Applied:
    """Apply each target's batch and move its positions, all in one transaction; `then`
    adds its own statements to it before the commit.

    With `starts`, the stored positions read first are also checked for gaps below
    them (`gaps`): when a target lacks some, nothing is applied (the transaction
    rolls back) and `Behind` is raised, naming what to read and apply first.

    Messages at or below the stored offset of their partition were applied before
    (a redelivery after a crash or rebalance) and are skipped. The changes go in
    layers, one statement per shape per layer (`layers`), and the transaction is one
    pipeline: two round trips in all, one for the stored positions and one for the
    rest. A change the version guard stopped changed nothing and returns no row.
    A failure closes `conn` (see `_pipelined_transaction`).
    """
    result = Applied()
    targets = [t for t in targets if t.batch]
    if not targets:
        if then is not None:
            async with _pipelined_transaction(conn):
                await then(conn)
        return result
    wanted = sorted(
        {(t.key, d.topic, d.partition) for t in targets for d in t.batch}
    )  # one order for every writer: row locks are taken in it
    returned: Returned = []
    async with _pipelined_transaction(conn) as ending:
        # Shared with other writers of these projections, exclusive to a rebuild's swap.
        await conn.execute(
            "SELECT pg_advisory_xact_lock_shared(k) FROM unnest(%s::bigint[]) AS k",
            (sorted({lock_key(t.key) for t in targets}),),
        )
        cur = await conn.execute(
            'SELECT p.projection, p.topic, p.partition, p."offset" FROM projection_positions p '
            "JOIN unnest(%s::text[], %s::text[], %s::int[]) AS w(projection, topic, partition) "
            "USING (projection, topic, partition) "
            "ORDER BY p.projection, p.topic, p.partition FOR UPDATE OF p",
            ([w[0] for w in wanted], [w[1] for w in wanted], [w[2] for w in wanted]),
        )
        stored = {(k, t, int(p)): int(o) for k, t, p, o in await cur.fetchall()}
        missing = gaps(stored, [t.key for t in targets], starts) if starts else {}
        if missing:
            ending.commit = False  # nothing applied: what is missing goes first
        else:
            await _apply_new(conn, targets, wanted, stored, result, returned)
            if then is not None:
                await then(conn)
    if missing:
        raise Behind(missing)
    for key, table, op, cursor in returned:  # committed: every answer is in
        result.changed.setdefault(key, []).extend(
            RowState(table, op, row) for row in await cursor.fetchall()
        )
    return result


async def apply_batch(
    conn: psycopg.AsyncConnection[Any],
    projection: str,
    batch: Sequence[Delivered],
    *,
    tables: Iterable[Table] = (),
    schema: str | None = None,
    changed: list[RowState] | None = None,
    starts: Starts | None = None,
    then: Callable[[psycopg.AsyncConnection[Any]], Awaitable[None]] | None = None,
) -> int:
    """Apply one projection's batch (see `apply_targets`); returns how many were new.

    When `changed` is given it receives the state of every row the batch changed.
    Without `tables` every change is applied on its own, in order (see `layers`)."""
    tables = list(tables)
    target = Target(
        projection,
        schema or schema_of(projection),
        batch,
        primary_keys(tables),
        changed is not None,
        column_types(tables),
    )
    result = await apply_targets(conn, [target], then=then, starts=starts)
    if changed is not None:
        changed.extend(result.changed.get(projection, []))
    return result.messages


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
