"""The faust app and its agent. Built by the composition root; nothing connects at import."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

import faust

from consumers.deadletter import deadletter_record
from consumers.projector import Projector
from consumers.prosecution import ProsecutionFeed
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
from infra.projection_store import Delivered
from projections.audit import disclosure_changes

log = logging.getLogger(__name__)

Agent = Callable[[Any], Awaitable[None]]


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


def create_app(
    *,
    app_id: str,
    bootstrap_servers: str,
    projector: Projector,
    web_port: int = 6066,
    batch_size: int = 500,
    batch_wait: float = 0.05,
    feed: ProsecutionFeed | None = None,
) -> faust.App:
    app = faust.App(
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
            async for event in stream.events():
                try:
                    outgoing = await asyncio.to_thread(feed.outgoing, event.value)
                except (EnvelopeError, UnknownEventTypeError, ValueError) as exc:
                    # Not an event: the projections agent dead-letters it.
                    log.info("prosecution feed skips %s: %s", event.message.offset, exc)
                    continue
                for item in outgoing:
                    delivery = await outbound[item.topic].send(key=item.key, value=item.value)
                    await delivery  # acknowledged before the offset is committed

    rows_out = {
        projection_topic(p.name): app.topic(
            projection_topic(p.name),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )
        for p in projector.projections
        if p.name in DASHBOARD_PROJECTIONS
    }

    audit = app.topic(
        AUDIT, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )

    @app.agent(audit, name="lead-audit-trail")
    @fail_fast
    async def audit_trail(stream: Any) -> None:
        async for batch in stream.take_events(batch_size, within=batch_wait):
            ready = []
            for event in batch:
                msg = event.message
                try:
                    changes = disclosure_changes(CloudEvent.from_json(event.value))
                except (EnvelopeError, KeyError, ValueError) as exc:
                    log.warning(
                        "dead-lettering %s[%d]@%d: %s", msg.topic, msg.partition, msg.offset, exc
                    )
                    delivery = await deadletter.send(
                        key=msg.key,
                        value=deadletter_record(
                            consumer=app_id,
                            topic=msg.topic,
                            partition=msg.partition,
                            offset=msg.offset,
                            key=msg.key,
                            value=event.value,
                            error=exc,
                        ),
                    )
                    await delivery
                    changes = []
                ready.append(Delivered(msg.topic, msg.partition, msg.offset, changes))
            await projector.store_disclosures(ready)

    @app.agent(events, name="lead-projections")
    @fail_fast
    async def project(stream: Any) -> None:
        async for batch in stream.take_events(batch_size, within=batch_wait):
            ready = []
            deliveries = []
            errors: list[tuple[str, int, int, str]] = []
            for event in batch:
                msg = event.message
                try:
                    changes = projector.changes(event.value)
                except Exception as exc:  # a poison message: dead-letter it and carry on
                    log.warning(
                        "dead-lettering %s[%d]@%d: %s", msg.topic, msg.partition, msg.offset, exc
                    )
                    deliveries.append(
                        await deadletter.send(
                            key=msg.key,
                            value=deadletter_record(
                                consumer=app_id,
                                topic=msg.topic,
                                partition=msg.partition,
                                offset=msg.offset,
                                key=msg.key,
                                value=event.value,
                                error=exc,
                            ),
                        )
                    )
                    changes = projector.nothing()
                    errors.append(
                        (msg.topic, msg.partition, msg.offset, f"{type(exc).__name__}: {exc}")
                    )
                ready.append((msg.topic, msg.partition, msg.offset, changes))
            for delivery in deliveries:
                await delivery  # on the dead-letter topic before its offset is recorded
            for row in await projector.store(ready, errors):
                if row.topic in rows_out:  # only the projections dashboards may read
                    await rows_out[row.topic].send(key=row.key, value=row.value)

    return app
