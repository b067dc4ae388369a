"""What operators ask of the read side: where each projection is, how far behind, why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from kafka import KafkaConsumer, TopicPartition

from events.topics import EVENTS
from projections.base import Projection


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    applied: dict[int, int]  # partition -> last applied offset
    lag: int  # messages on the topic not yet applied
    updated_at: datetime | None
    last_error: str | None


def end_offsets(bootstrap_servers: str, topic: str = EVENTS) -> dict[int, tuple[int, int]]:
    """Partition -> (beginning, end) offsets of the topic."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None)
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
        'SELECT at, topic, partition, "offset", error FROM consumer_errors ORDER BY id DESC LIMIT 1'
    ).fetchone()
    if row is None:
        return None
    at, topic, partition, offset, error = row
    return f"{at:%Y-%m-%d %H:%M:%S} {topic}[{partition}]@{offset}: {error}"
