"""Changes of one shape go to PostgreSQL as one statement (`many_statement`): applied
that way, a batch leaves the tables as applying its changes one at a time does."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from psycopg import sql
from psycopg.types.json import Jsonb

from infra.postgres.projection_schema import create_schema
from infra.postgres.projection_store import (
    Delivered,
    Target,
    apply_batch,
    apply_targets,
    primary_keys,
)
from infra.postgres.row_statements import column_types
from infra.settings import Settings
from projections.base import Delete, Erase, RowChange, Table, Update, Upsert

pytestmark = pytest.mark.integration

T = Table(
    "t",
    columns={
        "id": "uuid NOT NULL",
        "x": "integer",
        "color": "text NOT NULL DEFAULT 'none'",
        "day": "date",
        "at": "timestamptz",
        "facts": "jsonb",
    },
    primary_key=("id",),
)
U = Table(
    "u",
    columns={"a": "integer NOT NULL", "b": "text NOT NULL", "x": "integer"},
    primary_key=("a", "b"),
)
NOTES = Table("notes", columns={"id": "uuid NOT NULL", "x": "integer"}, primary_key=("id",))
NOTES = Table(NOTES.name, NOTES.columns, NOTES.primary_key, versioned=False)
TABLES = [T, U, NOTES]
IDS = [uuid.UUID(int=i + 1) for i in range(4)]


class Scratch:
    """A projection-like set of tables, in a schema of its own."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.tables: Sequence[Table] = TABLES

    def handle(self, event: Any, position: int) -> list[RowChange]:
        return []


def scratch(dsn: str, schema: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        create_schema(conn, schema, Scratch(schema))


def drop(dsn: str, *schemas: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


small = st.integers(0, 3)
t_values = st.fixed_dictionaries(
    {
        "x": st.one_of(st.none(), small),
        "color": st.sampled_from(["red", "blue"]),
        "day": st.sampled_from([date(2026, 1, 1), date(2026, 2, 1)]),
        "at": st.sampled_from([datetime(2026, 1, 1, tzinfo=UTC), None]),
        "facts": st.sampled_from([Jsonb(["a"]), Jsonb({"k": 1}), None]),
    }
)
t_key = st.builds(lambda i: {"id": IDS[i]}, small)
u_key = st.builds(lambda a, b: {"a": a, "b": b}, small, st.sampled_from(["p", "q"]))
version = st.integers(1, 6)
change = st.one_of(
    st.builds(Upsert, st.just("t"), t_key, t_values, version),
    st.builds(Upsert, st.just("u"), u_key, st.builds(lambda x: {"x": x}, small), version),
    st.builds(Update, st.just("t"), t_key, st.builds(lambda x: {"x": x}, small), version),
    st.builds(Update, st.just("u"), u_key, st.builds(lambda x: {"x": x}, small), version),
    st.builds(Delete, st.just("t"), t_key),
    st.builds(Delete, st.just("u"), u_key),
    st.builds(Delete, st.just("u"), st.builds(lambda a: {"a": a}, small)),  # by part of a key
    st.builds(Erase, st.just("t"), st.just({"color": "red"}), st.just({"x": -1})),
    st.builds(Upsert, st.just("notes"), t_key, st.builds(lambda x: {"x": x}, small), st.none()),
)


async def contents(conn: psycopg.AsyncConnection[Any], schema: str) -> dict[str, list[Any]]:
    found = {}
    for table in TABLES:
        cur = await conn.execute(
            sql.SQL("SELECT * FROM {} ORDER BY 1, 2").format(sql.Identifier(schema, table.name))
        )
        found[table.name] = await cur.fetchall()
    return found


async def both_ways(dsn: str, changes: list[RowChange]) -> None:
    together, alone = f"t_many_{uuid.uuid4().hex[:8]}", f"t_one_{uuid.uuid4().hex[:8]}"
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        for schema in (together, alone):
            scratch(dsn, schema)
        try:
            # Together: half the batch in each of two messages, rows wanted back.
            half = len(changes) // 2
            target = Target(
                together,
                together,
                [Delivered("t", 0, 1, changes[:half]), Delivered("t", 0, 2, changes[half:])],
                primary_keys(TABLES),
                returning=True,
                types=column_types(TABLES),
            )
            result = await apply_targets(conn, [target])
            for offset, one in enumerate(changes):  # no tables given: each on its own
                await apply_batch(conn, alone, [Delivered("t", 0, offset, [one])], schema=alone)
            assert await contents(conn, together) == await contents(conn, alone)
            # The rows handed back are those the batch left (or removed, last).
            last: dict[tuple[str, tuple[Any, ...]], dict[str, Any] | None] = {}
            for state in result.changed.get(together, []):
                keys = next(t.primary_key for t in TABLES if t.name == state.table)
                row_key = (state.table, tuple(state.row[k] for k in keys))
                last[row_key] = None if state.op == "delete" else state.row
            stood = await contents(conn, together)
            for (table, key), row in last.items():
                if row is not None:
                    keys = next(t.primary_key for t in TABLES if t.name == table)
                    now = [r for r in stood[table] if tuple(r[: len(keys)]) == key]
                    assert now == [tuple(row.values())]
        finally:
            drop(dsn, together, alone)


@examples(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(change, min_size=2, max_size=40))
def test_changes_applied_together_equal_the_changes_one_at_a_time(
    settings: Settings, changes: list[RowChange]
) -> None:
    asyncio.run(both_ways(settings.dsn, changes))


def test_new_rows_their_updates_and_deletions_in_one_batch(
    settings: Settings,
) -> None:
    """100 new rows, their updates, and half of them deleted, in one batch: every row as
    its update left it, the deleted gone, and each change's row handed back."""
    changes: list[RowChange] = []
    for i in range(100):
        key = {"id": uuid.UUID(int=1000 + i)}
        changes.append(Upsert("t", key, {"x": 1, "color": "red"}, 1))
        changes.append(Update("t", key, {"x": 2}, 2))
        if i % 2:
            changes.append(Delete("t", key))

    async def run() -> None:
        schema = f"t_many_{uuid.uuid4().hex[:8]}"
        async with await psycopg.AsyncConnection.connect(settings.dsn, autocommit=True) as conn:
            scratch(settings.dsn, schema)
            try:
                target = Target(
                    schema,
                    schema,
                    [Delivered("t", 0, 1, changes)],
                    primary_keys(TABLES),
                    returning=True,
                    types=column_types(TABLES),
                )
                result = await apply_targets(conn, [target])
                ops = [state.op for state in result.changed[schema]]
                assert (ops.count("upsert"), ops.count("delete")) == (200, 50)
                cur = await conn.execute(
                    sql.SQL("SELECT x, version, count(*) FROM {} GROUP BY 1, 2").format(
                        sql.Identifier(schema, "t")
                    )
                )
                assert await cur.fetchall() == [(2, 2, 50)]
            finally:
                drop(settings.dsn, schema)

    asyncio.run(run())
