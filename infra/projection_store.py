"""Writes projection rows and the Kafka position they came from in one transaction.

A redelivered message (its offset at or below the stored one) changes nothing, and a
republished event (same aggregate version) is stopped by the row's version guard.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from infra.pg_roles import grant_projection_schema
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


STUCK_DDL = """
CREATE TABLE IF NOT EXISTS consumer_stuck (
    consumer text NOT NULL,
    topic text NOT NULL,
    partition integer NOT NULL,
    since timestamptz NOT NULL DEFAULT now(),
    failures integer NOT NULL DEFAULT 1,
    error text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, topic, partition)
)
"""


def _storable(error: str) -> str:
    """An error's text as a text column can hold it: no NUL (an error may quote the value
    that caused it), at most 2000 characters."""
    return error.replace("\x00", "\\x00")[:2000]


async def record_errors(
    conn: psycopg.AsyncConnection[Any], consumer: str, errors: Sequence[tuple[str, int, int, str]]
) -> None:
    """What was dead-lettered and why, for `lead projections status` (in the caller's
    transaction: `apply_targets(..., then=...)`)."""
    if errors:
        await conn.cursor().executemany(
            'INSERT INTO consumer_errors (consumer, topic, partition, "offset", error) '
            "VALUES (%s, %s, %s, %s, %s)",
            [
                (consumer, topic, part, offset, _storable(error))
                for topic, part, offset, error in errors
            ],
        )


async def mark_stuck(
    conn: psycopg.AsyncConnection[Any],
    consumer: str,
    partitions: Sequence[tuple[str, int]],
    error: str,
) -> None:
    """Partitions whose batch failed and is being tried again, for `/readyz`, `/metrics`
    and `lead projections status`: since when (the first failure), how often, the last error."""
    await conn.execute(
        "INSERT INTO consumer_stuck AS s (consumer, topic, partition, error) "
        "SELECT %s, t, p, %s FROM unnest(%s::text[], %s::int[]) AS u(t, p) "
        "ON CONFLICT (consumer, topic, partition) DO UPDATE SET error = EXCLUDED.error, "
        "failures = s.failures + 1, updated_at = now()",
        (consumer, _storable(error), [t for t, _ in partitions], [p for _, p in partitions]),
    )


async def clear_stuck(
    conn: psycopg.AsyncConnection[Any], consumer: str, partitions: Sequence[tuple[str, int]]
) -> None:
    """The partitions' batches went through: they are not stuck (in the caller's
    transaction, when it is the batch's)."""
    if partitions:
        await conn.execute(
            "DELETE FROM consumer_stuck WHERE consumer = %s AND (topic, partition) IN "
            "(SELECT * FROM unnest(%s::text[], %s::int[]))",
            (consumer, [t for t, _ in partitions], [p for _, p in partitions]),
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
    grant_projection_schema(conn, schema)  # the read side writes it, the others read it


def ensure_tables(conn: psycopg.Connection[Any], projections: Iterable[Projection]) -> None:
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(4242)")
        conn.execute(POSITIONS_DDL)
        conn.execute(ERRORS_DDL)
        conn.execute(STUCK_DDL)
        for projection in projections:
            create_schema(conn, schema_of(projection.name), projection)


def primary_keys(tables: Iterable[Table]) -> dict[str, tuple[str, ...]]:
    return {table.name: table.primary_key for table in tables}


def _ident(*names: str) -> str:
    return ".".join('"' + name.replace('"', '""') + '"' for name in names)


@functools.lru_cache(maxsize=4096)
def _statement(
    kind: str,
    schema: str,
    table: str,
    key: tuple[str, ...],
    values: tuple[str, ...],
    versioned: bool,
    returning: bool,
) -> str:
    """The SQL of one change shape, rendered once: the same string each time lets
    psycopg prepare it on the server after a few uses."""
    target = _ident(schema, table)
    where = " AND ".join(f"{_ident(k)} = %s" for k in key)
    if kind == "erase":
        sets = ", ".join(f"{_ident(k)} = %s" for k in values)
        text = f"UPDATE {target} SET {sets} WHERE {where}"
    elif kind == "delete":
        text = f"DELETE FROM {target} WHERE {where}"
    elif kind == "update":
        sets = ", ".join(f"{_ident(k)} = %s" for k in (*values, "version"))
        text = f"UPDATE {target} SET {sets} WHERE {where} AND version < %s"
    else:
        names = (*key, *values, *(("version",) if versioned else ()))
        text = _upsert(target, key, names, versioned, f"VALUES ({', '.join(['%s'] * len(names))})")
    return text + (" RETURNING *" if returning else "")


def _upsert(
    target: str, key: tuple[str, ...], names: tuple[str, ...], versioned: bool, rows: str
) -> str:
    """`INSERT ... ON CONFLICT` of `rows` (a VALUES list or a query) into `names`: a row
    already there takes the new values, unless it has a newer version."""
    updates = [n for n in names if n not in key]
    text = (
        f"INSERT INTO {target} AS t ({', '.join(map(_ident, names))}) {rows} "
        f"ON CONFLICT ({', '.join(map(_ident, key))}) "
    )
    if not updates:
        return text + "DO NOTHING"
    text += "DO UPDATE SET " + ", ".join(f"{_ident(n)} = EXCLUDED.{_ident(n)}" for n in updates)
    return text + (" WHERE t.version < EXCLUDED.version" if versioned else "")


def change_statement(
    change: RowChange, schema: str, *, returning: bool = False
) -> tuple[str, list[Any]]:
    """The statement and parameters that apply `change` to its table in `schema`."""
    if isinstance(change, Erase):
        text = _statement(
            "erase",
            schema,
            change.table,
            tuple(change.where),
            tuple(change.values),
            False,
            returning,
        )
        return text, [*change.values.values(), *change.where.values()]
    if isinstance(change, Delete):
        text = _statement("delete", schema, change.table, tuple(change.key), (), False, returning)
        return text, list(change.key.values())
    if isinstance(change, Update):
        text = _statement(
            "update", schema, change.table, tuple(change.key), tuple(change.values), True, returning
        )
        return text, [
            *change.values.values(),
            change.version,
            *change.key.values(),
            change.version,
        ]
    assert isinstance(change, Upsert)
    row = {**change.key, **change.values}
    versioned = change.version is not None
    columns = tuple(n for n in row if n not in change.key)
    text = _statement(
        "upsert", schema, change.table, tuple(change.key), columns, versioned, returning
    )
    params = list(row.values())
    if versioned:
        params.append(change.version)
    return text, params


_CONSTRAINT = re.compile(
    r"\s+(?:NOT\s+NULL|NULL|DEFAULT|PRIMARY|UNIQUE|CHECK|REFERENCES|GENERATED|COLLATE)\b.*$",
    re.IGNORECASE | re.DOTALL,
)


def column_types(tables: Iterable[Table]) -> dict[str, dict[str, str]]:
    """Each table's column types (`text NOT NULL` -> `text`), with the version column
    `table_ddl` adds: what a statement applying many changes at once (`many_statement`)
    casts each value to."""
    types: dict[str, dict[str, str]] = {}
    for table in tables:
        columns = {name: _CONSTRAINT.sub("", kind).strip() for name, kind in table.columns.items()}
        if table.versioned:
            columns["version"] = "integer"
        types[table.name] = columns
    return types


@functools.lru_cache(maxsize=1024)
def _many_statement(
    kind: str,
    schema: str,
    table: str,
    key: tuple[str, ...],
    values: tuple[str, ...],
    types: tuple[str, ...],
    versioned: bool,
    returning: bool,
) -> str:
    """One statement applying a group of same-shaped changes, whose rows come as one
    JSON array of arrays (`many_statement`): the same text whatever the group's size.

    `types` are the SQL types of (*key, *values, version if versioned), in that order.
    The rows of a group are distinct (`layers`), so the order they apply in is immaterial."""
    target = _ident(schema, table)
    names = (*key, *values, *(("version",) if versioned else ()))
    rows = (
        "SELECT "
        + ", ".join(
            f"(r.e->>{i})::{kind_} AS {_ident(n)}"
            for i, (n, kind_) in enumerate(zip(names, types, strict=True))
        )
        + " FROM jsonb_array_elements(%s::jsonb) AS r(e)"
    )
    match = " AND ".join(f"t.{_ident(k)} = v.{_ident(k)}" for k in key)
    back = " RETURNING t.*" if returning else ""
    if kind == "delete":
        return f"DELETE FROM {target} AS t USING ({rows}) AS v WHERE {match}{back}"
    if kind == "update":
        sets = ", ".join(f"{_ident(n)} = v.{_ident(n)}" for n in (*values, "version"))
        return (
            f"UPDATE {target} AS t SET {sets} FROM ({rows}) AS v "
            f"WHERE {match} AND t.version < v.version{back}"
        )
    assert kind == "upsert"
    return _upsert(target, key, names, versioned, rows) + (" RETURNING *" if returning else "")


Shape = tuple[str, str, tuple[str, ...], tuple[str, ...], bool]
"""A change's kind, table, key columns, value columns and whether it carries a version."""


def shape_of(change: RowChange) -> Shape | None:
    """What changes must share to go in one statement; None for those that go alone."""
    if isinstance(change, Upsert):
        return (
            "upsert",
            change.table,
            tuple(change.key),
            tuple(n for n in change.values if n not in change.key),
            change.version is not None,
        )
    if isinstance(change, Update):
        return ("update", change.table, tuple(change.key), tuple(change.values), True)
    if isinstance(change, Delete):
        return ("delete", change.table, tuple(change.key), (), False)
    return None


def _plain(value: Any) -> Any:
    """What orjson cannot write itself: a number kept exact, as text."""
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(type(value).__name__)


def _json_text(value: Any) -> str | None:
    """A jsonb column's value as the JSON text the column is to hold (text is taken as
    JSON already, as PostgreSQL takes a text parameter)."""
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value.obj if isinstance(value, Jsonb) else value, default=_plain).decode()


def many_statement(
    shape: Shape,
    changes: Sequence[RowChange],
    schema: str,
    types: Mapping[str, Mapping[str, str]],
    *,
    returning: bool = False,
) -> tuple[str, tuple[str]] | None:
    """The statement and its one parameter, every change's row in one JSON document,
    that apply `changes` (all of `shape`, each to a distinct row) at once.

    Each value goes as JSON text and is cast to its column's type in PostgreSQL, as
    a parameter of a single statement is. None when the changes cannot go together:
    a column type unknown or an array type, or a value JSON cannot carry."""
    kind, table, key, values, versioned = shape
    names = (*key, *values, *(("version",) if versioned else ()))
    known = types.get(table, {})
    if any(n not in known or known[n].endswith("]") for n in names):
        return None
    as_json = [i for i, n in enumerate(names) if known[n] in ("json", "jsonb")]
    rows: list[list[Any]] = []
    for change in changes:
        if isinstance(change, Delete):
            row = list(change.key.values())
        elif isinstance(change, Update):
            row = [*change.key.values(), *change.values.values(), change.version]
        else:
            assert isinstance(change, Upsert)
            row = [*change.key.values(), *(change.values[n] for n in values)]
            if versioned:
                row.append(change.version)
        for i in as_json:
            row[i] = _json_text(row[i])
        rows.append(row)
    try:
        document = orjson.dumps(rows, default=_plain).decode()
    except TypeError:
        return None
    text = _many_statement(
        kind, schema, table, key, values, tuple(known[n] for n in names), versioned, returning
    )
    return text, (document,)


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
