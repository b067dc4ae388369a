"""Turns consumed Kafka messages into projection row changes, stored with their offsets.

Poison messages (not a CloudEvent, unknown type, bad data, a projection that
raises) are reported back so the agent can dead-letter them. Each store here is one
attempt: the agents retry, wait or set aside what fails (`consumers.failures`), and
record partitions whose batch keeps failing as stuck (table `consumer_stuck`).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
import psycopg
from psycopg.pq import TransactionStatus

from consumers.failures import Retry, Unreachable, describe
from events.envelope import (
    CloudEvent,
    Headers,
    Opener,
    binary_headers,
    decode_opening,
    structured_headers,
)
from events.topics import DASHBOARD_PROJECTIONS, projection_topic
from infra.postgres.consumer_status import clear_stuck, mark_stuck, record_errors
from infra.postgres.projection_store import (
    Delivered,
    Partition,
    RowState,
    Starts,
    Target,
    apply_batch,
    apply_targets,
    primary_keys,
)
from infra.postgres.row_statements import column_types
from projections.audit import DISCLOSURES, DISCLOSURES_SCHEMA
from projections.base import Projection, RowChange, reads_sealed, schema_of

log = logging.getLogger(__name__)

T = TypeVar("T")


DISCLOSURES_POSITION = "audit-disclosures"
PROJECTIONS = "lead-projections"  # the agents, as consumer_errors and consumer_stuck name them
AUDIT_TRAIL = "lead-audit-trail"
PROSECUTION_FEED = "lead-prosecution-feed"

Error = tuple[str, int, int, str]
"""A dead-lettered message's topic, partition, offset, and why (`describe`)."""


ROW_CHANGED = "org.lead.projection.row_changed.v1"
ROW_DELETED = "org.lead.projection.row_deleted.v1"


@dataclass(frozen=True)
class RowMessage:
    topic: str
    key: bytes
    value: bytes | None
    headers: Headers = field(default_factory=structured_headers)


class Projector:
    def __init__(
        self,
        dsn: str,
        projections: Sequence[Projection],
        consumer: str = PROJECTIONS,
        opener: Opener | None = None,
        source: str = "urn:lead:site:unknown",
    ) -> None:
        self.dsn = dsn
        self.source = source  # CloudEvents `source` of the row changes it publishes
        self.opener = opener  # opens sealed fields the views may hold (progress summaries)
        self.consumer = consumer
        self.primary_keys = {(p.name, t.name): t.primary_key for p in projections for t in p.tables}
        self.types = {p.name: column_types(p.tables) for p in projections}
        self.projections = list(projections)
        self.opens = reads_sealed(self.projections)
        # One connection per agent (by its name): agents run concurrently, a connection cannot.
        self._conns: dict[str, psycopg.AsyncConnection[Any]] = {}
        self._not_stuck: set[tuple[str, str, int]] = set()  # (consumer, topic, partition)
        self.applied = 0

    async def _once(
        self, lane: str, work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]
    ) -> T:
        """Run `work` once on this lane's connection, connecting first if it has none
        (or lost it): retrying is the agents' business (`consumers.failures.Retry`)."""
        conn = self._conns.get(lane)
        if conn is None or conn.closed:
            self._conns.pop(lane, None)
            try:
                conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
            except psycopg.Error as exc:
                raise Unreachable(describe(exc)) from exc
            self._conns[lane] = conn
        try:
            return await work(conn)
        except BaseException:
            if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
                await conn.close()  # the next attempt starts on a fresh connection
            raise

    def _maybe_stuck(self, consumer: str, partitions: Sequence[Partition]) -> list[Partition]:
        """Those of `partitions` this process has not seen go through since it started or
        since it marked them stuck: they may have a row in consumer_stuck to clear."""
        return sorted({p for p in partitions if (consumer, *p) not in self._not_stuck})

    async def mark_stuck(self, consumer: str, partitions: Sequence[Partition], error: str) -> None:
        """Record that these partitions' batch failed and is tried again; best effort, as
        PostgreSQL may well be what fails."""
        self._not_stuck.difference_update((consumer, *p) for p in partitions)
        try:
            await self._once(consumer, lambda conn: mark_stuck(conn, consumer, partitions, error))
        except Exception as exc:
            log.warning("%s: could not record the stuck partitions: %s", consumer, describe(exc))

    async def unstick(self, consumer: str, partitions: Sequence[Partition]) -> None:
        """The partitions' messages went through: clear any stuck mark (waits for
        PostgreSQL, as a batch's store does)."""
        clearing = self._maybe_stuck(consumer, partitions)
        if clearing:
            await Retry().run(
                lambda: self._once(consumer, lambda c: clear_stuck(c, consumer, clearing)),
                bounded=False,
            )
            self._not_stuck.update((consumer, *p) for p in clearing)

    async def record_errors(self, consumer: str, errors: Sequence[Error]) -> None:
        """What an agent without a transaction of its own set aside (the prosecution feed)."""
        await Retry().run(
            lambda: self._once(consumer, lambda c: record_errors(c, consumer, errors)),
            bounded=False,
        )

    async def close(self) -> None:
        for conn in self._conns.values():
            await conn.close()

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.projections]

    def changes(self, value: bytes) -> dict[str, list[RowChange]]:
        """Decode and project; raises for a message no retry would fix."""
        return self.traced_changes(value)[0]

    def traced_changes(self, value: bytes) -> tuple[dict[str, list[RowChange]], str | None]:
        """`changes`, and the traceparent of the command behind the event."""
        message = CloudEvent.from_json(value)
        event = decode_opening(message, self.opener, self.opens)
        changes = {p.name: p.handle(event, message.position) for p in self.projections}
        return changes, message.traceparent

    def _then(
        self, consumer: str, errors: Sequence[Error], clear: Sequence[Partition]
    ) -> tuple[Callable[[psycopg.AsyncConnection[Any]], Awaitable[None]] | None, list[Partition]]:
        """What a batch's transaction adds: the errors, and clearing its partitions' stuck
        marks (only of those that may have one: nothing to send otherwise)."""
        clearing = self._maybe_stuck(consumer, clear)
        if not errors and not clearing:
            return None, clearing

        async def then(conn: psycopg.AsyncConnection[Any]) -> None:
            await record_errors(conn, consumer, errors)
            await clear_stuck(conn, consumer, clearing)

        return then, clearing

    async def store_disclosures(
        self,
        batch: Sequence[Delivered],
        errors: Sequence[Error] = (),
        starts: Starts | None = None,
        *,
        clear: Sequence[Partition] = (),
    ) -> None:
        """Disclosure records from `lead.audit.v1` into the audit trail's schema, once;
        raises `Behind` when offsets below `starts` are not stored yet (see
        `apply_targets`). The stuck marks of `clear` go in the same transaction."""
        then, clearing = self._then(AUDIT_TRAIL, errors, clear)

        async def work(conn: psycopg.AsyncConnection[Any]) -> None:
            await apply_batch(
                conn,
                DISCLOSURES_POSITION,
                batch,
                tables=[DISCLOSURES],
                schema=DISCLOSURES_SCHEMA,
                starts=starts,
                then=then,
            )

        await self._once(AUDIT_TRAIL, work)
        self._not_stuck.update((AUDIT_TRAIL, *p) for p in clearing)

    def row_message(self, projection: str, state: RowState) -> RowMessage:
        """A row change for `lead.projections.<name>.v1`, keyed by the row: a structured-mode
        CloudEvent (`ROW_CHANGED`) whose data is the change; a deleted row is a tombstone
        (no value, so compaction drops the row), a binary-mode CloudEvent (`ROW_DELETED`)
        with its attributes in headers. `subject` is the key's text; `id` is new for
        each change published (a change is a row's state, not an event to deduplicate)."""
        keys = self.primary_keys[(projection, state.table)]
        key = {"table": state.table, **{k: state.row[k] for k in keys}}
        # The key's bytes are the row's identity on a compacted topic: never reformat.
        key_bytes = json.dumps(key, default=str, sort_keys=True).encode()
        topic = projection_topic(projection)
        attributes = {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": self.source,
            "subject": key_bytes.decode(),
            "time": datetime.now(UTC).isoformat(),
            "datacontenttype": "application/json",
        }
        if state.op == "delete":
            event = CloudEvent.model_validate({**attributes, "type": ROW_DELETED, "data": {}})
            return RowMessage(topic, key_bytes, None, binary_headers(event))
        # Dates and times as `str` writes them, as they always were on these topics.
        value = orjson.dumps(
            {
                **attributes,
                "type": ROW_CHANGED,
                "data": {
                    "projection": projection,
                    "table": state.table,
                    "op": state.op,
                    "key": key,
                    "values": state.row,
                },
            },
            default=str,
            option=orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME,
        )
        return RowMessage(topic, key_bytes, value)

    def nothing(self) -> dict[str, list[RowChange]]:
        """The changes of a dead-lettered message: none, but its offset is recorded."""
        return {p.name: [] for p in self.projections}

    async def store(
        self,
        batch: Sequence[tuple[str, int, int, dict[str, list[RowChange]]]],
        errors: Sequence[Error] = (),
        starts: Starts | None = None,
        *,
        clear: Sequence[Partition] = (),
    ) -> list[RowMessage]:
        """Write every projection's changes and positions, once (a failure is raised).

        Raises `Behind`, storing nothing, when a projection has not stored the offsets
        below `starts` (see `apply_targets`). The stuck marks of `clear` and the `errors`
        go in the same transaction."""
        per_projection = {
            p.name: [
                Delivered(topic, partition, offset, changes[p.name])
                for topic, partition, offset, changes in batch
            ]
            for p in self.projections
        }

        targets = [
            Target(
                p.name,
                schema_of(p.name),
                per_projection[p.name],
                primary_keys(p.tables),
                returning=p.name in DASHBOARD_PROJECTIONS,
                types=self.types[p.name],
            )
            for p in self.projections
        ]

        then, clearing = self._then(self.consumer, errors, clear)

        async def work(conn: psycopg.AsyncConnection[Any]) -> list[RowMessage]:
            # One transaction: every projection has the batch, or none has.
            result = await apply_targets(conn, targets, then=then, starts=starts)
            self._not_stuck.update((self.consumer, *p) for p in clearing)
            self.applied += result.messages
            # The topics are compacted: a row changed twice in a batch is sent once, as it
            # stands after the batch.
            latest: dict[tuple[str, bytes], RowMessage] = {}
            for name, states in result.changed.items():
                for state in states:
                    message = self.row_message(name, state)
                    latest.pop((message.topic, message.key), None)
                    latest[(message.topic, message.key)] = message
            return list(latest.values())

        return await self._once(self.consumer, work)
