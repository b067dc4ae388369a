"""The faust app and its agent. Built by the composition root; nothing connects at import."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import faust

from consumers.deadletter import deadletter_record
from consumers.failures import Failed, Failure, Retry, classify, describe, isolate
from consumers.projector import AUDIT_TRAIL, PROJECTIONS, PROSECUTION_FEED, Error, Projector
from consumers.prosecution import Outgoing, ProsecutionFeed
from consumers.transport import App
from events import tracing
from events.envelope import CloudEvent, EnvelopeError, structured_headers
from events.registry import UnknownEventTypeError
from events.topics import (
    AUDIT,
    DASHBOARD_PROJECTIONS,
    DEADLETTER,
    EVENTS,
    PROSECUTION,
    projection_topic,
)
from infra.kafka.topic_reader import Message
from infra.otel import NoSpans, Spans
from infra.postgres.projection_store import Behind, Delivered, Partition, Starts
from infra.readside.metrics import WorkerCounters
from projections.audit import disclosure_changes
from projections.base import RowChange

log = logging.getLogger(__name__)

Agent = Callable[[Any], Awaitable[None]]
T = TypeVar("T")
X = TypeVar("X")


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
    headers: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def of(cls, event: Any) -> Record:
        msg = event.message
        return cls(msg.topic, msg.partition, msg.offset, msg.key, event.value, headers_of(msg))


def headers_of(message: Any) -> tuple[tuple[str, bytes], ...]:
    """A consumed message's headers, as pairs (faust hands a list or a mapping)."""
    found = getattr(message, "headers", None) or ()
    pairs = found.items() if isinstance(found, dict) else found
    return tuple((str(k), bytes(v or b"")) for k, v in pairs)


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


async def feed_outgoing(
    feed: ProsecutionFeed,
    record: Record,
    retry: Retry,
    *,
    failed: Failed,
    set_aside: Callable[[Record, Exception], Awaitable[None]],
) -> list[Outgoing]:
    """What the prosecution feed publishes for `record`: nothing for a message that is
    not an event (the projections agent dead-letters it), nor for one the feed cannot
    handle, which goes to `set_aside`. The consent look-up (it reads the event store)
    is retried as a store is (`Retry`)."""
    try:
        if not feed.concerns(record.value):
            return []
        # The consent look-up blocks: a thread.
        return await retry.run(
            lambda: asyncio.to_thread(feed.outgoing, record.value), failed=failed
        )
    except (EnvelopeError, UnknownEventTypeError) as exc:
        log.info("prosecution feed skips %s: %s", record.offset, exc)
        return []
    except Exception as exc:
        await set_aside(record, exc)
        return []


async def decoded(compute: Callable[[], T], retry: Retry, *, failed: Failed) -> T:
    """`compute()` (decode a message, open its sealed fields, project it). Opening reads
    the person keys from PostgreSQL: a failure that is PostgreSQL's (unavailable, or
    transient) is not the message's fault, so it is retried as a store is (`Retry`: an
    unavailable PostgreSQL is waited out) in a thread; only a permanent failure (or one
    that gave up) is raised, for the caller to dead-letter."""
    try:
        return compute()  # in the loop, as almost always nothing fails
    except Exception as exc:
        if classify(exc) is Failure.PERMANENT:
            raise
    return await retry.run(lambda: asyncio.to_thread(compute), failed=failed)


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
    retry: Retry | None = None,
    max_attempts: int = Retry.max_attempts,
    credentials: Any = None,
    source: str = "urn:lead:site:unknown",
    counters: WorkerCounters | None = None,
    spans: Spans | None = None,
) -> faust.App:
    """The workers' app: the projections, the audit trail and the prosecution feed.

    A message none of them can handle is dead-lettered and the partition goes on; a
    failure that may pass is retried, and waited out while PostgreSQL is unavailable
    (`consumers.failures`: `retry`, or one of `max_attempts`). Everything it sends is a
    CloudEvent from `source` with its `content-type` header (`events.envelope`)."""
    retry = retry or Retry(max_attempts=max_attempts)
    traced: Spans = spans or NoSpans()
    app = App(
        app_id,
        broker=[f"kafka://{server.strip()}" for server in bootstrap_servers.split(",")],
        broker_credentials=credentials,  # infra.kafka.security: TLS + SCRAM
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

    def counted(consumer: str, messages: int, began: float) -> None:
        if counters is not None:
            counters.batch(consumer, messages, time.monotonic() - began)

    rows_out = {
        projection_topic(p.name) for p in projector.projections if p.name in DASHBOARD_PROJECTIONS
    }

    audit = app.topic(
        AUDIT, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )

    async def dead_letter(consumer: str, record: Record, exc: BaseException) -> Any:
        """Send `record` to the dead-letter topic with why; returns the delivery to await."""
        if counters is not None:
            counters.dead_letter(consumer)
        log.warning(
            "dead-lettering %s[%d]@%d: %s",
            record.topic,
            record.partition,
            record.offset,
            describe(exc),
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
                error=describe(exc),
                source=source,
                headers=record.headers,
            ),
            headers=structured_headers(),
        )

    def reporting(consumer: str, records: Sequence[Record]) -> Failed:
        """Logs each failure retried and marks the records' partitions stuck meanwhile."""
        where = sorted({(r.topic, r.partition) for r in records})
        began = time.monotonic()

        async def failed(exc: BaseException, kind: Failure, attempts: int) -> None:
            of = f" (attempt {attempts} of {retry.max_attempts})" if attempts else ""
            log.warning(
                "%s: %s stuck for %.1f s, %s%s: %s",
                consumer,
                ", ".join(f"{t}[{p}]" for t, p in where),
                time.monotonic() - began,
                kind.value,
                of,
                describe(exc),
            )
            await projector.mark_stuck(consumer, where, describe(exc))

        return failed

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
                        [
                            Record(
                                m.topic,
                                m.partition,
                                m.offset,
                                m.key,
                                m.value,
                                tuple(m.headers.items()),
                            )
                            for m in found
                        ],
                        None,
                    )

    async def settle(
        consumer: str,
        ready: list[tuple[Record, X]],
        errors: dict[tuple[str, int, int], str],
        starts: dict[Partition, int] | None,
        store: Callable[
            [list[tuple[Record, X]], list[Error], Starts | None, bool], Awaitable[None]
        ],
        nothing: X,
        again: Callable[[Sequence[Record], None], Awaitable[None]],
    ) -> None:
        """Store `ready` (records with what they change) and the `errors` of those already
        dead-lettered; a failure no retry fixes is narrowed down to the messages causing
        it (`isolate`), which are dead-lettered and stored as changing nothing, so their
        offsets count as applied and the partition goes on. The batch's own store also
        clears its partitions' stuck marks, in its transaction; after any trouble they
        are cleared once the whole batch is through."""

        async def attempt(part: Sequence[tuple[Record, X]]) -> None:
            whole = part is ready
            records = [r for r, _ in part]
            offsets = {(r.topic, r.partition, r.offset) for r in records} if errors else set()
            found = [(*k, e) for k, e in errors.items() if k in offsets]
            checked = starts if whole else run_starts(records)
            await gaps_first(
                consumer,
                lambda: retry.run(
                    lambda: store(list(part), found, checked, whole),
                    failed=reporting(consumer, records),
                ),
                checked,
                again,
            )

        async def dead(item: tuple[Record, X], exc: Exception) -> None:
            record = item[0]
            await (await dead_letter(consumer, record, exc))  # before its offset is stored
            why = [(record.topic, record.partition, record.offset, describe(exc))]
            checked = {(record.topic, record.partition): record.offset}
            await gaps_first(
                consumer,
                lambda: retry.run(
                    lambda: store([(record, nothing)], why, checked, False),
                    failed=reporting(consumer, [record]),
                    bounded=False,  # holds nothing of the message: only PostgreSQL can fail it
                ),
                checked,
                again,
            )

        troubled = False

        async def store_part(part: Sequence[tuple[Record, X]]) -> None:
            nonlocal troubled
            try:
                await attempt(part)
            except Exception:
                troubled = True
                raise

        await isolate(ready, store_part, dead)
        if troubled:
            await projector.unstick(consumer, sorted({(r.topic, r.partition) for r, _ in ready}))

    async def store_disclosures(
        records: Sequence[Record], starts: dict[Partition, int] | None
    ) -> None:
        ready: list[tuple[Record, list[RowChange]]] = []
        errors: dict[tuple[str, int, int], str] = {}
        for record in records:
            try:
                changes = disclosure_changes(CloudEvent.from_json(record.value))
            except Exception as exc:  # not a disclosure this code reads, or a bug: set aside
                await (await dead_letter(AUDIT_TRAIL, record, exc))
                errors[(record.topic, record.partition, record.offset)] = describe(exc)
                changes = []
            ready.append((record, changes))

        async def store(
            part: list[tuple[Record, list[RowChange]]],
            found: list[Error],
            checked: Starts | None,
            whole: bool,
        ) -> None:
            await projector.store_disclosures(
                [Delivered(r.topic, r.partition, r.offset, c) for r, c in part],
                found,
                checked,
                clear=sorted({(r.topic, r.partition) for r, _ in part}) if whole else (),
            )

        await settle(AUDIT_TRAIL, ready, errors, starts, store, [], store_disclosures)

    async def project_records(
        records: Sequence[Record], starts: dict[Partition, int] | None
    ) -> None:
        """Project and store `records`. With `starts` (`run_starts`), what PostgreSQL
        lacks below them is read and stored first: Kafka's committed offset is only a
        hint, what PostgreSQL stored is the truth."""
        ready: list[tuple[Record, dict[str, list[RowChange]]]] = []
        deliveries = []
        errors: dict[tuple[str, int, int], str] = {}
        traces: set[str] = set()
        for record in records:
            try:
                changes, traceparent = await decoded(
                    functools.partial(projector.traced_changes, record.value),
                    retry,
                    failed=reporting(projector.consumer, [record]),
                )
                if traceparent:
                    traces.add(traceparent)
            except Exception as exc:  # a poison message: dead-letter it and carry on
                deliveries.append(await dead_letter(projector.consumer, record, exc))
                changes = projector.nothing()
                errors[(record.topic, record.partition, record.offset)] = describe(exc)
            ready.append((record, changes))
        for delivery in deliveries:
            await delivery  # on the dead-letter topic before its offset is recorded

        async def store(
            part: list[tuple[Record, dict[str, list[RowChange]]]],
            found: list[Error],
            checked: Starts | None,
            whole: bool,
        ) -> None:
            rows = await projector.store(
                [(r.topic, r.partition, r.offset, c) for r, c in part],
                found,
                checked,
                clear=sorted({(r.topic, r.partition) for r, _ in part}) if whole else (),
            )
            for row in rows:
                if row.topic in rows_out:  # only the projections dashboards may read
                    # Straight to the producer: faust's topic layer costs more than the write.
                    await app.producer.send(row.topic, row.key, row.value, None, None, row.headers)

        # A span of its own, linked to the commands whose events it stores.
        with traced.span(
            f"project {projector.consumer}",
            links=sorted(traces),
            kind="consumer",
            attributes={"messaging.batch.message_count": len(records)},
        ):
            await settle(
                projector.consumer,
                ready,
                errors,
                starts,
                store,
                projector.nothing(),
                project_records,
            )
        if traces and log.isEnabledFor(logging.INFO):
            log.info(
                "%s: stored %d messages of %d commands",
                projector.consumer,
                len(records),
                len(traces),
                extra={"trace_ids": sorted(filter(None, map(tracing.trace_id, traces)))},
            )

    @app.agent(audit, name=AUDIT_TRAIL)
    @fail_fast
    async def audit_trail(stream: Any) -> None:
        # Acknowledged only once stored: a batch cut short is read again.
        async for batch in stream.noack_take(batch_size, within=batch_wait):
            began = time.monotonic()
            records = in_order(batch)
            await store_disclosures(records, run_starts(records))
            for event in batch:
                await stream.ack(event)
            counted(AUDIT_TRAIL, len(batch), began)

    @app.agent(events, name=PROJECTIONS)
    @fail_fast
    async def project(stream: Any) -> None:
        async for batch in stream.noack_take(batch_size, within=batch_wait):
            began = time.monotonic()
            records = in_order(batch)
            await project_records(records, run_starts(records))
            for event in batch:
                await stream.ack(event)
            counted(projector.consumer, len(batch), began)

    if feed is not None:
        outbound = {
            name: app.topic(
                name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
            )
            for name in (PROSECUTION, AUDIT)
        }

        async def set_aside(record: Record, exc: Exception) -> None:
            await (await dead_letter(PROSECUTION_FEED, record, exc))
            error = (record.topic, record.partition, record.offset, describe(exc))
            await projector.record_errors(PROSECUTION_FEED, [error])

        async def outgoing(record: Record) -> list[Outgoing]:
            found = await feed_outgoing(
                feed,
                record,
                retry,
                failed=reporting(PROSECUTION_FEED, [record]),
                set_aside=set_aside,
            )
            await projector.unstick(PROSECUTION_FEED, [(record.topic, record.partition)])
            return found

        @app.agent(events, name=PROSECUTION_FEED)
        @fail_fast
        async def publish(stream: Any) -> None:
            # Acknowledged only once published: an event cut short is published again.
            async for batch in stream.noack_take(batch_size, within=batch_wait):
                began = time.monotonic()
                for event in batch:
                    for item in await outgoing(Record.of(event)):
                        delivery = await outbound[item.topic].send(
                            key=item.key, value=item.value, headers=structured_headers()
                        )
                        await delivery  # acknowledged before the offset is committed
                    await stream.ack(event)
                counted(PROSECUTION_FEED, len(batch), began)

    return app
