"""Creates the read side's tables: each projection's schema and tables, and the tables
of stored positions, dead-lettered errors and stuck partitions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg import sql

from infra.postgres.roles import grant_projection_schema
from projections.base import Projection, Table, schema_of

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


REBUILDS_DDL = """
CREATE TABLE IF NOT EXISTS rebuild_progress (
    schema text PRIMARY KEY,
    projection text NOT NULL,
    messages_done bigint NOT NULL,
    messages_total bigint NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
)
"""
"""How far each rebuild (or as-of build) has got: one row per schema being built, written
by the rebuilder as it goes, read by every process's `/metrics` (lead_rebuild_*)."""


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
        conn.execute(REBUILDS_DDL)
        for projection in projections:
            create_schema(conn, schema_of(projection.name), projection)
