"""The faust app and its agent. Built by the composition root; nothing connects at import."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import faust

from consumers.deadletter import deadletter_record
from consumers.projector import Projector
from consumers.prosecution import ProsecutionFeed
from consumers.transport import App
from events.envelope import CloudEvent, EnvelopeError
from events.registry import UnknownEventTypeError
from events.topics import (
    AUDIT,
    DASHBOARD_PROJECTIONS,
    DEADLETTER,
    EVENTS,
    PROSECUTION,
    projection_topic,
)
from infra.projection_store import Behind, Delivered, Partition
from infra.topic_reader import Message
from projections.audit import disclosure_changes

log = logging.getLogger(__name__)

Agent = Callable[[Any], Awaitable[None]]
T = TypeVar("T")


def fail_fast(agent: Agent) -> Agent:
    """An agent that fails for a reason no retry fixes ends the worker process.

    faust would otherwise keep the worker alive with the agent dead, silently
    consuming nothing. Exiting leaves the batch uncommitted, so the restarted worker
    (or another in the group) applies it: at-least-once, and idempotent downstream.
    """

    @functools.wraps(agent)
    async def guarded(stream: Any) -> None:
        try:
            await agent(stream)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("agent %s failed; exiting so the worker is restarted", agent.__name__)
            logging.shutdown()
            os._exit(70)

    return guarded


@dataclass(frozen=True)
class Record:
    """One consumed message, from the stream or read back to fill a gap."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes

    @classmethod
    def of(cls, event: Any) -> Record:
        msg = event.message
        return cls(msg.topic, msg.partition, msg.offset, msg.key, event.value)


def in_order(batch: Sequence[Any]) -> list[Record]:
    """A batch's records by partition and offset.

    Around a rebalance faust can hand over a message fetched before the seek back to
    the committed offset ahead of those fetched again (offsets 867, 860, 861, ...).
    Stored positions are high-water marks: in that order 860-866 would be skipped.
    """
    return sorted((Record.of(e) for e in batch), key=lambda r: (r.topic, r.partition, r.offset))


def run_starts(records: Sequence[Record]) -> dict[Partition, int]:
    """Per partition, where the last unbroken run of `records` (in order) starts: below
    it everything must be stored before the batch is (offsets 865, 867: 866 too)."""
    first: dict[Partition, int] = {}
    last: dict[Partition, int] = {}
    for record in records:
        where = (record.topic, record.partition)
        if where not in last or record.offset > last[where] + 1:
            first[where] = record.offset
        last[where] = record.offset
    return first


ReadRanges = Callable[[dict[tuple[str, int], tuple[int, int]], int], list[Message]]


def create_app(
    *,
    app_id: str,
    bootstrap_servers: str,
    projector: Projector,
    read_ranges: ReadRanges,
    web_port: int = 6066,
    batch_size: int = 500,
    batch_wait: float = 0.01,
    feed: ProsecutionFeed | None = None,
) -> faust.App:
    app = App(
        app_id,
        broker=[f"kafka://{server.strip()}" for server in bootstrap_servers.split(",")],
        store="memory://",
        topic_allow_declare=False,  # the project creates its topics with explicit settings
        topic_disable_leader=True,
        web_enabled=False,
        web_port=web_port,
        consumer_auto_offset_reset="earliest",
        broker_commit_every=500,
        broker_commit_interval=1.0,
        stream_wait_empty=False,
        # A SIGKILLed worker holds its partitions until the session times out:
        # keep that short so a replacement takes over within seconds.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        producer_acks=-1,
    )
    events = app.topic(
        EVENTS, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    deadletter = app.topic(
        DEADLETTER, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )

    if feed is not None:
        outbound = {
            name: app.topic(
                name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
            )
            for name in (PROSECUTION, AUDIT)
        }

        @app.agent(events, name="lead-prosecution-feed")
        @fail_fast
        async def publish(stream: Any) -> None:
            # Acknowledged only once published: an event cut short is published again.
            async for batch in stream.noack_take(batch_size, within=batch_wait):
                for event in batch:
                    try:
                        outgoing = []
                        if feed.concerns(event.value):  # the consent look-up blocks: a thread
                            outgoing = await asyncio.to_thread(feed.outgoing, event.value)
                    except (EnvelopeError, UnknownEventTypeError, ValueError) as exc:
                        # Not an event: the projections agent dead-letters it.
                        log.info("prosecution feed skips %s: %s", event.message.offset, exc)
                        outgoing = []
                    for item in outgoing:
                        delivery = await outbound[item.topic].send(key=item.key, value=item.value)
                        await delivery  # acknowledged before the offset is committed
                    await stream.ack(event)

    rows_out = {
        projection_topic(p.name) for p in projector.projections if p.name in DASHBOARD_PROJECTIONS
    }

    audit = app.topic(
        AUDIT, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )

    async def dead_letter(record: Record, exc: Exception) -> Any:
        log.warning(
            "dead-lettering %s[%d]@%d: %s", record.topic, record.partition, record.offset, exc
        )
        return await deadletter.send(
            key=record.key,
            value=deadletter_record(
                consumer=app_id,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                key=record.key,
                value=record.value,
                error=exc,
            ),
        )

    async def gaps_first(
        lane: str,
        store: Callable[[], Awaitable[T]],
        starts: dict[Partition, int] | None,
        handle: Callable[[Sequence[Record], None], Awaitable[None]],
    ) -> T:
        """`store()` a batch; when it is refused (`Behind`), store what PostgreSQL lacks
        below it, read from Kafka, and try again. A partition with nothing there to read
        (no such offsets) is not checked again."""
        while True:
            try:
                return await store()
            except Behind as behind:
                assert starts is not None  # only a batch with starts is checked
                log.warning("%s: reading offsets not yet stored first: %s", lane, behind.missing)
                found = await asyncio.to_thread(read_ranges, behind.missing, batch_size)
                for where in set(behind.missing) - {(m.topic, m.partition) for m in found}:
                    del starts[where]
                if found:
                    await handle(
                        [Record(m.topic, m.partition, m.offset, m.key, m.value) for m in found],
                        None,
                    )

    async def store_disclosures(
        records: Sequence[Record], starts: dict[Partition, int] | None
    ) -> None:
        ready = []
        for record in records:
            try:
                changes = disclosure_changes(CloudEvent.from_json(record.value))
            except (EnvelopeError, KeyError, ValueError) as exc:
                await (await dead_letter(record, exc))
                changes = []
            ready.append(Delivered(record.topic, record.partition, record.offset, changes))
        await gaps_first(
            "disclosures",
            lambda: projector.store_disclosures(ready, starts),
            starts,
            store_disclosures,
        )

    async def project_records(
        records: Sequence[Record], starts: dict[Partition, int] | None
    ) -> None:
        """Project and store `records`. With `starts` (`run_starts`), what PostgreSQL
        lacks below them is read and stored first: Kafka's committed offset is only a
        hint, what PostgreSQL stored is the truth."""
        ready = []
        deliveries = []
        errors: list[tuple[str, int, int, str]] = []
        for record in records:
            try:
                changes = projector.changes(record.value)
            except Exception as exc:  # a poison message: dead-letter it and carry on
                deliveries.append(await dead_letter(record, exc))
                changes = projector.nothing()
                errors.append(
                    (record.topic, record.partition, record.offset, f"{type(exc).__name__}: {exc}")
                )
            ready.append((record.topic, record.partition, record.offset, changes))
        for delivery in deliveries:
            await delivery  # on the dead-letter topic before its offset is recorded
        rows = await gaps_first(
            "projections", lambda: projector.store(ready, errors, starts), starts, project_records
        )
        for row in rows:
            if row.topic in rows_out:  # only the projections dashboards may read
                # Straight to the producer: faust's topic layer costs more than the write.
                await app.producer.send(row.topic, row.key, row.value, None, None, None)

    @app.agent(audit, name="lead-audit-trail")
    @fail_fast
    async def audit_trail(stream: Any) -> None:
        # Acknowledged only once stored: a batch cut short is read again.
        async for batch in stream.noack_take(batch_size, within=batch_wait):
            records = in_order(batch)
            await store_disclosures(records, run_starts(records))
            for event in batch:
                await stream.ack(event)

    @app.agent(events, name="lead-projections")
    @fail_fast
    async def project(stream: Any) -> None:
        async for batch in stream.noack_take(batch_size, within=batch_wait):
            records = in_order(batch)
            await project_records(records, run_starts(records))
            for event in batch:
                await stream.ack(event)

    return app
