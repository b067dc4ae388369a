"""The event store's recorder: eventsourcing's, appending with one statement.

eventsourcing's PostgreSQL recorder appends in a pipeline of five statements (a lock
timeout, `LOCK TABLE ... IN EXCLUSIVE MODE`, `NOTIFY`, the insert, then `COMMIT` after
a sync): two waits on the server and, per append, more Python than the insert itself.
This recorder sends one prepared call of a function that does the same in the same
order: the same exclusive lock held to the commit (notification ids stay gapless and in
commit order, and the chain trigger reads the chain's true last row), the same
notification on commit, the same row ids back. The statement is its own transaction
(the connections are in autocommit mode), so one wait on the server.

eventsourcing has a function of its own (`POSTGRES_ENABLE_DB_FUNCTIONS`) but it takes
no table lock: writers could commit out of order and a reader tailing the store could
pass over an id that commits later.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg.sql import SQL, Identifier


class LeadEventRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        schema = Identifier(self.datastore.schema)
        append = Identifier(f"{self.channel_name}_append")
        self.append_function = f"{self.channel_name}_append"
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {schema}.{append}(events {schema}.{event}[]) "
                "RETURNS SETOF bigint LANGUAGE plpgsql AS $BODY$ "
                "BEGIN "
                "SET LOCAL lock_timeout = '{lock_timeout}s'; "
                "LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; "
                "NOTIFY {channel}; "
                "RETURN QUERY INSERT INTO {schema}.{table} "
                "(originator_id, originator_version, topic, state) "
                "SELECT originator_id, originator_version, topic, state FROM unnest(events) "
                "RETURNING notification_id; "
                "END; $BODY$"
            ).format(
                schema=schema,
                append=append,
                event=Identifier(self.stored_event_type_name),
                lock_timeout=self.datastore.lock_timeout,
                table=Identifier(self.events_table_name),
                channel=Identifier(self.channel_name),
            )
        )
        self.append_statement = SQL("SELECT * FROM {schema}.{append}((%s))").format(
            schema=schema, append=append
        )

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return []
        rows = [
            self.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic, e.state)
            for e in stored_events
        ]
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            assert conn.autocommit  # the call is its own transaction
            curs.execute(self.append_statement, (rows,), prepare=True)
            return [row[self.append_function] for row in curs.fetchall()]
