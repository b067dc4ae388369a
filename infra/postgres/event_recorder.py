"""The event store's recorder: eventsourcing's, appending with one statement.

eventsourcing's PostgreSQL recorder appends in a pipeline of five statements (a lock
timeout, `LOCK TABLE ... IN EXCLUSIVE MODE`, `NOTIFY`, the insert, then `COMMIT` after
a sync): two waits on the server and, per append, more Python than the insert itself.
This recorder sends one prepared call of a function that does the same in the same
order: the same exclusive lock held to the commit (notification ids stay gapless and in
commit order, and the chain trigger reads the chain's true last row), the same
notification on commit, the same row ids back. The statement is its own transaction
(the connections are in autocommit mode), so one wait on the server. Under the lock it
can also check that an aggregate (the site policy a referral was screened under) has no
event after a given version, and refuse the whole append if it has (`unchanged=`).

eventsourcing has a function of its own (`POSTGRES_ENABLE_DB_FUNCTIONS`) but it takes
no table lock: writers could commit out of order and a reader tailing the store could
pass over an id that commits later.

Reading an aggregate's events and the notification log are eventsourcing's queries,
rendered once per shape (eventsourcing composes and renders them on every call).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import (
    InterfaceError,
    Notification,
    OperationalError,
    StoredEvent,
)
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
)
from eventsourcing.utils import retry
from psycopg.sql import SQL, Identifier

from aggregates.base import ChangedSinceError

# The SQLSTATE the append raises when the aggregate it was to find unchanged has changed.
CHANGED = "LDCHG"


CONNINFO = "LEAD_POSTGRES_CONNINFO"


class LeadPostgresFactory(PostgresFactory):
    """eventsourcing's PostgreSQL factory, whose pool connects with the whole DSN.

    eventsourcing builds its connections from five POSTGRES_* settings alone (database,
    host, port, user, password), so a DSN's other parameters (sslmode, sslrootcert,
    target_session_attrs, ...) would not reach the event store. Its pool is made closed;
    before it opens, it is given the DSN as its conninfo (the five keyword arguments,
    read from the same DSN, agree with it)."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        conninfo = self.env.get(CONNINFO)
        if conninfo:
            self.datastore.pool.conninfo = conninfo


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def array_literals(events: Sequence[StoredEvent]) -> tuple[str, str, str, str]:
    """The events as four PostgreSQL array literals (ids, versions, topics, states; a
    state in bytea's hex form), cast by the statement: not eventsourcing's array of a
    composite type, nor lists, which psycopg writes element by element in Python."""
    return (
        "{" + ",".join([str(e.originator_id) for e in events]) + "}",
        "{" + ",".join([str(e.originator_version) for e in events]) + "}",
        "{" + ",".join([_quoted(e.topic) for e in events]) + "}",
        "{" + ",".join(['"\\\\x' + e.state.hex() + '"' for e in events]) + "}",
    )


class PostgresEventRecorder(PostgresApplicationRecorder):
    guards_appends = True  # insert_events takes `unchanged=`

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        schema = Identifier(self.datastore.schema)
        self.append_function = f"{self.channel_name}_append"
        append = Identifier(self.append_function)
        id_type = Identifier(self.datastore.originator_id_type)
        # The version before the guard (four arguments) goes: a call must not be ambiguous.
        self.sql_create_statements.append(
            SQL(
                "DROP FUNCTION IF EXISTS {schema}.{append}({id_type}[], bigint[], text[], bytea[])"
            ).format(schema=schema, append=append, id_type=id_type)
        )
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {schema}.{append}("
                "ids {id_type}[], versions bigint[], topics text[], states bytea[], "
                "unchanged_id {id_type}, unchanged_version bigint) "
                "RETURNS SETOF bigint LANGUAGE plpgsql "
                # As the owner: the application role may neither lock the table
                # exclusively nor change it (infra/postgres/roles.py); only it may call this.
                "SECURITY DEFINER SET search_path = {schema}, pg_temp AS $BODY$ "
                "BEGIN "
                "SET LOCAL lock_timeout = '{lock_timeout}s'; "
                "LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; "
                "IF unchanged_id IS NOT NULL AND EXISTS (SELECT 1 FROM {schema}.{table} "
                "WHERE originator_id = unchanged_id "
                "AND originator_version > unchanged_version) THEN "
                "RAISE EXCEPTION USING ERRCODE = '{changed}', MESSAGE = unchanged_id "
                "|| ' has changed since version ' || unchanged_version; "
                "END IF; "
                "NOTIFY {channel}; "
                "RETURN QUERY INSERT INTO {schema}.{table} "
                "(originator_id, originator_version, topic, state) "
                "SELECT * FROM unnest(ids, versions, topics, states) "
                "RETURNING notification_id; "
                "END; $BODY$"
            ).format(
                schema=schema,
                append=append,
                id_type=id_type,
                lock_timeout=self.datastore.lock_timeout,
                changed=SQL(CHANGED),
                table=Identifier(self.events_table_name),
                channel=Identifier(self.channel_name),
            )
        )
        # Rendered once: psycopg renders a composed statement again on every execute.
        self.append_statement = (
            SQL(
                "SELECT * FROM {schema}.{append}"
                "(%s::{id_type}[], %s::bigint[], %s::text[], %s::bytea[], %s::{id_type}, %s)"
            )
            .format(schema=schema, append=append, id_type=id_type)
            .as_string()
        )
        self._statements: dict[tuple[Any, ...], str] = {}

    def _rows(self, statement: str, params: Sequence[Any]) -> list[Any]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, params, prepare=True)
            return curs.fetchall()

    def _select(self, gt: bool, lte: bool, desc: bool, limit: bool) -> str:
        """eventsourcing's statement for reading an aggregate's events, rendered once
        per shape (it composes and renders it again on every read)."""
        shape = ("e", gt, lte, desc, limit)
        if (found := self._statements.get(shape)) is None:
            statement = self.select_events_statement
            if gt:
                statement += SQL(" AND originator_version > %s")
            if lte:
                statement += SQL(" AND originator_version <= %s")
            statement += SQL(
                " ORDER BY originator_version DESC" if desc else " ORDER BY originator_version ASC"
            )
            if limit:
                statement += SQL(" LIMIT %s")
            found = self._statements[shape] = statement.as_string()
        return found

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """eventsourcing's query for the notification log (what the relay tails),
        rendered once per shape."""
        shape = ("n", start is not None, inclusive_of_start, stop is not None, bool(topics))
        if (statement := self._statements.get(shape)) is None:
            where = []
            if start is not None:
                where.append("notification_id>=%s" if inclusive_of_start else "notification_id>%s")
            if stop is not None:
                where.append("notification_id <= %s")
            if topics:
                where.append("topic = ANY(%s)")
            composed = SQL("SELECT * FROM {schema}.{table}").format(
                schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name)
            )
            if where:
                composed += SQL(" WHERE " + " AND ".join(where))
            composed += SQL(" ORDER BY notification_id LIMIT %s")
            statement = self._statements[shape] = composed.as_string()
        params: list[Any] = [p for p in (start, stop) if p is not None]
        if topics:
            params.append(list(topics))
        params.append(limit)
        return [
            Notification(
                id=row["notification_id"],
                originator_id=row["originator_id"],
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=bytes(row["state"]),
            )
            for row in self._rows(statement, params)
        ]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        params = [originator_id, *(p for p in (gt, lte, limit) if p is not None)]
        statement = self._select(gt is not None, lte is not None, desc, limit is not None)
        return [
            StoredEvent(
                originator_id=row["originator_id"],
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=bytes(row["state"]),
            )
            for row in self._rows(statement, params)
        ]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        unchanged: tuple[UUID, int] | None = None,
        **kwargs: Any,
    ) -> Sequence[int] | None:
        """Append, all or nothing. `unchanged` (an aggregate's id and version): append
        only if that aggregate has no event after that version, checked under the table
        lock (so exactly: nothing can be appended between the check and the insert);
        otherwise nothing is appended and `ChangedSinceError` is raised."""
        if not stored_events:
            return []
        params = (*array_literals(stored_events), *(unchanged or (None, None)))
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            assert conn.autocommit  # the call is its own transaction
            try:
                curs.execute(self.append_statement, params, prepare=True)
            except psycopg.Error as exc:
                if exc.sqlstate == CHANGED:
                    raise ChangedSinceError(str(exc.diag.message_primary)) from None
                raise
            return [row[self.append_function] for row in curs.fetchall()]
