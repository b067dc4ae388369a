"""The database roles and what each may do: least privilege, enforced by PostgreSQL.

- the **owner** (`lead`; locally the cluster's superuser, against a managed server the
  role of `LEAD_DATABASE_URL`) owns every table and runs the DDL (`Container.prepare`),
  rebuilds and the operator's tools;
- the **application** (`lead_app`: API, relay, commands, `lead privacy forget`) appends
  events and reads them, but may not UPDATE, DELETE or TRUNCATE the events or the chain;
- the **read side** (`lead_read`: the projection workers) writes only the projection
  tables and their positions, error and stuck tables;
- the **auditor** (`lead_auditor`: `lead audit verify`) only reads.

`GRANTS` is the whole of it: `apply_grants` revokes everything else from those roles
on each table and grants exactly this (so a privilege granted by mistake is gone at the
next `lead infra up`), and docs/security.md's table is generated from it. The events and
chain tables also carry a trigger refusing UPDATE, DELETE and TRUNCATE by any role other
than their owner, with an error naming the table: a privilege mistake is caught too.
Appending goes through the recorder's function, which runs as the owner (SECURITY
DEFINER: PostgreSQL 15's `LOCK TABLE ... EXCLUSIVE` would need UPDATE or DELETE), and
only the application may call it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from infra.settings import DB_USERS, DbRole

APP, READ, AUDITOR = DB_USERS["app"], DB_USERS["read"], DB_USERS["auditor"]
LEAST_PRIVILEGE: tuple[str, ...] = (APP, READ, AUDITOR)

EVENTS = "{events}"  # the event store's table, named after the application
PROJECTIONS = "{projections}"  # every table of every projection's schema (proj_*)
RW = ("SELECT", "INSERT", "UPDATE", "DELETE")

# role -> table -> privileges; a table a role is not given here it may not touch.
GRANTS: dict[str, dict[str, tuple[str, ...]]] = {
    APP: {
        EVENTS: ("SELECT", "INSERT"),
        "event_chain": ("SELECT", "INSERT"),
        "chain_checkpoints": ("SELECT", "INSERT"),
        "person_keys": RW,  # forgetting destroys a key, never an event
        "idempotency_keys": RW,
        "relay_positions": RW,
        "projection_positions": ("SELECT",),
        "consumer_errors": ("SELECT",),
        "consumer_stuck": ("SELECT",),
        "rebuild_progress": ("SELECT",),
        PROJECTIONS: ("SELECT",),
    },
    READ: {
        EVENTS: ("SELECT",),  # consents, for the prosecution feed
        "person_keys": ("SELECT",),  # to open what a view shows
        "relay_positions": ("SELECT",),
        "projection_positions": RW,
        "consumer_errors": RW,
        "consumer_stuck": RW,
        "rebuild_progress": RW,
        PROJECTIONS: RW,
    },
    AUDITOR: {
        EVENTS: ("SELECT",),
        "event_chain": ("SELECT",),
        "chain_checkpoints": ("SELECT",),
        "relay_positions": ("SELECT",),
        "projection_positions": ("SELECT",),
        "consumer_errors": ("SELECT",),
        "consumer_stuck": ("SELECT",),
        "rebuild_progress": ("SELECT",),
        PROJECTIONS: ("SELECT",),
    },
}

APPEND_ONLY = (EVENTS, "event_chain", "chain_checkpoints")

APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION lead_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID),
                   'USAGE') THEN
        RETURN NULL;  -- the owner (or a superuser): a deliberate act, e.g. a repair
    END IF;
    RAISE EXCEPTION USING
        ERRCODE = 'insufficient_privilege',
        MESSAGE = format('%s is append-only: %s refused for role %s',
                         TG_TABLE_NAME, TG_OP, current_user),
        HINT = 'Stored events and their chain are never changed; forgetting a person '
               'destroys their key (lead privacy forget).';
END
$$
"""


def role_of(user: str) -> DbRole | None:
    return next((role for role, name in DB_USERS.items() if name == user), None)


def ensure_roles(conn: psycopg.Connection[Any], password: Callable[[str], str]) -> None:
    """(Superuser.) Each least-privilege role, able to log in with its password (set
    again each time: the password file is what counts) and to connect to `lead`."""
    for user in LEAST_PRIVILEGE:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(
            sql.SQL(
                verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD {}"
            ).format(sql.Identifier(user), sql.Literal(password(user)))
        )
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE lead TO {}").format(sql.Identifier(user)))


def existing_roles(conn: psycopg.Connection[Any]) -> list[str]:
    rows = conn.execute(
        "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s) ORDER BY rolname",
        (list(LEAST_PRIVILEGE),),
    ).fetchall()
    return [r[0] for r in rows]


def _grant(conn: psycopg.Connection[Any], table: sql.Composable, role: str, what: str) -> None:
    privileges = GRANTS[role].get(what)
    conn.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(table, sql.Identifier(role)))
    if privileges:
        conn.execute(
            sql.SQL("GRANT {} ON {} TO {}").format(
                sql.SQL(", ").join(sql.SQL(p) for p in privileges), table, sql.Identifier(role)
            )
        )


def grant_projection_schema(conn: psycopg.Connection[Any], schema: str) -> None:
    """(Owner.) The roles' privileges on one projection schema's tables: run when it is
    made, by `prepare` and by a rebuild (whose new schema replaces the live one)."""
    tables = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)
    ).fetchall()
    for role in existing_roles(conn):
        conn.execute(
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
                sql.Identifier(schema), sql.Identifier(role)
            )
        )
        for (table,) in tables:
            _grant(conn, sql.Identifier(schema, table), role, PROJECTIONS)
        if "INSERT" in GRANTS[role].get(PROJECTIONS, ()):
            conn.execute(
                sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA {} TO {}").format(
                    sql.Identifier(schema), sql.Identifier(role)
                )
            )


def apply_grants(conn: psycopg.Connection[Any], events_table: str, append_function: str) -> None:
    """(Owner.) The append-only triggers, then exactly `GRANTS` for each role that
    exists (an external server's operator may not have made them all)."""
    with conn.transaction():
        conn.execute(APPEND_ONLY_FUNCTION)
        for name in APPEND_ONLY:
            table = sql.Identifier(events_table if name == EVENTS else name)
            conn.execute(
                sql.SQL(
                    "CREATE OR REPLACE TRIGGER lead_append_only "
                    "BEFORE UPDATE OR DELETE OR TRUNCATE ON {} "
                    "FOR EACH STATEMENT EXECUTE FUNCTION lead_append_only()"
                ).format(table)
            )
        function = sql.Identifier(append_function)
        conn.execute(sql.SQL("REVOKE ALL ON FUNCTION {} FROM PUBLIC").format(function))
        roles = existing_roles(conn)
        named = sorted({t for grants in GRANTS.values() for t in grants} - {PROJECTIONS})
        for role in roles:
            for name in named:
                table = sql.Identifier(events_table if name == EVENTS else name)
                _grant(conn, table, role, name)
            if "INSERT" in GRANTS[role].get("consumer_errors", ()):
                conn.execute(
                    sql.SQL("GRANT USAGE ON SEQUENCE consumer_errors_id_seq TO {}").format(
                        sql.Identifier(role)
                    )
                )
        if APP in roles:
            conn.execute(
                sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(function, sql.Identifier(APP))
            )
        schemas = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'proj\\_%%' "
            "AND nspowner = (SELECT relowner FROM pg_class WHERE oid = %s::regclass)",
            (events_table,),
        ).fetchall()
        for (schema,) in schemas:
            grant_projection_schema(conn, schema)
