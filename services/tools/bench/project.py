"""The project benchmark: the faust agents applying a backlog to every view, against a
bare consumer reading the same messages (rebuild's baseline too)."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg

from events.envelope import CloudEvent, decode_opening
from events.topics import EVENTS
from infra.kafka.security import aiokafka_kwargs
from services.tools.bench.measure import Figure, rate
from services.tools.bench.workload import lag, referrals, save, spawn, stop, wait


def _publish_pending(container: Any) -> None:
    relay = container.relay()
    try:
        while relay.run_once():
            pass
    finally:
        relay.producer.close()


def bare_consume(
    bootstrap: str,
    starts: dict[int, int],
    ends: dict[int, int],
    work: Callable[[bytes], object] | None = None,
) -> int:
    """A bare aiokafka consumer reading partitions from `starts` up to `ends`, discarding
    (or giving each message's value to `work`)."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import TopicPartition as Partition

    async def consume() -> int:
        consumer = AIOKafkaConsumer(
            **aiokafka_kwargs(),
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            parts = [Partition(EVENTS, p) for p in ends]
            consumer.assign(parts)
            for tp in parts:
                consumer.seek(tp, starts.get(tp.partition, 0))
            count = 0
            remaining = {tp for tp in parts if starts.get(tp.partition, 0) < ends[tp.partition]}
            while remaining:
                fetched = await consumer.getmany(*remaining, timeout_ms=500, max_records=5000)
                for tp, records in fetched.items():
                    mine = [r for r in records if r.offset < ends[tp.partition]]
                    count += len(mine)
                    if work is not None:
                        for r in mine:
                            work(r.value)
                remaining = {
                    tp for tp in remaining if await consumer.position(tp) < ends[tp.partition]
                }
            return count
        finally:
            await consumer.stop()

    return asyncio.run(consume())


def bench_project(container: Any, events: int, rounds: int) -> list[Figure]:
    """The faust agents applying a backlog to every view, against a bare consumer reading
    the same messages and discarding them."""
    from infra.readside.status import end_offsets

    settings = container.settings
    figure = Figure("project, topic -> every view", "events/s", goal=0.5)
    # What any consumer of these events must at least do, against the same bare consumer:
    # decode each event (the CloudEvent, then its model), and then project it in memory.
    from consumers.projector import Projector

    decoding = Figure("project floor: bare consumer + decode", "events/s")
    projecting = Figure("project floor: + every view in memory", "events/s")
    projector = Projector(
        settings.dsn, container.projections, opener=container.opener, source=container.source
    )

    def decode(value: bytes) -> object:
        return decode_opening(CloudEvent.from_json(value), projector.opener, projector.opens)

    policy = container.application.policy_in_force(datetime.now(UTC).date())
    worker = spawn("consumers", settings)  # catch up with whatever is there first
    try:
        _publish_pending(container)
        wait(lambda: lag(container) == 0, 600)
    finally:
        stop(worker)
    for _ in range(rounds):
        with psycopg.connect(settings.dsn) as conn:
            row = conn.execute(
                'SELECT partition, min("offset") FROM projection_positions WHERE topic = %s '
                "GROUP BY partition",
                (EVENTS,),
            ).fetchall()
        starts = {int(p): int(o) + 1 for p, o in row}
        save(container.application, referrals(policy, max(events // 2, 1)), 200)
        _publish_pending(container)
        ends = {p: e for p, (_, e) in end_offsets(settings.bootstrap_servers).items()}
        backlog = lag(container)
        spawned = time.perf_counter()
        worker = spawn("consumers", settings)
        try:
            wait(functools.partial(_below, container, backlog), 120)  # the worker started
            started, remaining = time.perf_counter(), lag(container)
            if remaining == 0:  # a backlog too small to time once started: count start-up
                started, remaining = spawned, backlog
            wait(lambda: lag(container) == 0, 600)
            figure.backend.append(remaining / max(time.perf_counter() - started, 1e-9))
        finally:
            stop(worker)
        count = sum(ends[p] - starts.get(p, 0) for p in ends)
        bare = functools.partial(bare_consume, settings.bootstrap_servers, starts, ends)
        figure.baseline.append(rate(count, bare))
        for floor, work in ((decoding, decode), (projecting, projector.changes)):
            floor.backend.append(rate(count, functools.partial(bare, work)))
            floor.baseline.append(figure.baseline[-1])
    return [figure, decoding, projecting]


def _below(container: Any, backlog: int) -> bool:
    return lag(container) < backlog
