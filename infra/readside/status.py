"""What operators ask of the read side: where each projection is, how far behind, why,
and which partitions are stuck (their batch failing and being tried again)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from kafka import KafkaConsumer, TopicPartition

from events.topics import EVENTS
from infra.kafka.security import client_kwargs
from projections.base import Projection


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    applied: dict[int, int]  # partition -> last applied offset
    lag: int  # messages on the topic not yet applied
    updated_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class Stuck:
    """A partition whose batch failed and is being tried again (table consumer_stuck)."""

    consumer: str
    topic: str
    partition: int
    since: datetime  # the first failure
    failures: int
    error: str  # the last one

    def __str__(self) -> str:
        return (
            f"{self.consumer} {self.topic}[{self.partition}] since "
            f"{self.since:%Y-%m-%d %H:%M:%S} ({self.failures} failures): {self.error}"
        )


@dataclass(frozen=True)
class ConsumerErrors:
    """What one consumer has dead-lettered (table consumer_errors), and the last of it."""

    consumer: str
    count: int
    last_at: datetime
    last_error: str


@dataclass(frozen=True)
class RebuildProgress:
    """One rebuild's progress (table rebuild_progress): `schema` is what it builds."""

    projection: str
    schema: str
    done: int
    total: int
    finished: bool

    @property
    def ratio(self) -> float:
        return 1.0 if self.total <= 0 else min(self.done / self.total, 1.0)


def rebuilds(conn: psycopg.Connection[Any], within_hours: int = 24) -> list[RebuildProgress]:
    """The rebuilds running, and those finished within the last `within_hours`."""
    rows = conn.execute(
        "SELECT projection, schema, messages_done, messages_total, finished_at IS NOT NULL "
        "FROM rebuild_progress WHERE finished_at IS NULL "
        "OR finished_at > now() - make_interval(hours => %s) ORDER BY projection, schema",
        (within_hours,),
    ).fetchall()
    return [RebuildProgress(p, s, int(d), int(t), bool(f)) for p, s, d, t, f in rows]


def stuck_partitions(conn: psycopg.Connection[Any]) -> list[Stuck]:
    rows = conn.execute(
        "SELECT consumer, topic, partition, since, failures, error FROM consumer_stuck "
        "ORDER BY since, consumer, topic, partition"
    ).fetchall()
    return [Stuck(c, t, int(p), s, int(f), e) for c, t, p, s, f, e in rows]


def consumer_errors(conn: psycopg.Connection[Any]) -> list[ConsumerErrors]:
    rows = conn.execute(
        "SELECT DISTINCT ON (consumer) consumer, count(*) OVER (PARTITION BY consumer), at, "
        "error FROM consumer_errors ORDER BY consumer, id DESC"
    ).fetchall()
    return [ConsumerErrors(c, int(n), at, e) for c, n, at, e in rows]


def read_side_stuck(dsn: str) -> list[Stuck]:
    """`stuck_partitions`, for `lead projections status`."""
    with psycopg.connect(dsn) as conn:
        return stuck_partitions(conn)


def end_offsets(bootstrap_servers: str, topic: str = EVENTS) -> dict[int, tuple[int, int]]:
    """Partition -> (beginning, end) offsets of the topic."""
    consumer = KafkaConsumer(**client_kwargs(), bootstrap_servers=bootstrap_servers, group_id=None)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        begin = consumer.beginning_offsets(partitions)
        end = consumer.end_offsets(partitions)
        return {tp.partition: (begin[tp], end[tp]) for tp in partitions}
    finally:
        consumer.close()


def projection_status(
    dsn: str, bootstrap_servers: str, projections: list[Projection]
) -> list[ProjectionStatus]:
    offsets = end_offsets(bootstrap_servers)
    statuses = []
    with psycopg.connect(dsn) as conn:
        last_error = _last_error(conn)
        for projection in projections:
            rows = conn.execute(
                'SELECT partition, "offset", updated_at FROM projection_positions '
                "WHERE projection = %s AND topic = %s",
                (projection.name, EVENTS),
            ).fetchall()
            applied = {int(p): int(o) for p, o, _ in rows}
            lag = sum(
                end - max(applied.get(p, begin - 1) + 1, begin)
                for p, (begin, end) in offsets.items()
            )
            updated = max((u for _, _, u in rows), default=None)
            statuses.append(ProjectionStatus(projection.name, applied, lag, updated, last_error))
    return statuses


def _last_error(conn: psycopg.Connection[Any]) -> str | None:
    row = conn.execute(
        'SELECT at, consumer, topic, partition, "offset", error FROM consumer_errors '
        "ORDER BY id DESC LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    at, consumer, topic, partition, offset, error = row
    return f"{at:%Y-%m-%d %H:%M:%S} {consumer} {topic}[{partition}]@{offset}: {error}"
