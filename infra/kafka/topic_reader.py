"""Reads topics directly, outside any consumer group: a whole topic (replay tools,
audits, tests) or given offset ranges (a consumer filling a gap in what it stored)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition

from infra.kafka.security import client_kwargs


@dataclass(frozen=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]


def read_topic(bootstrap_servers: str, topic: str) -> Iterator[Message]:
    """Every message on the topic now, each partition in order."""
    consumer = KafkaConsumer(
        **client_kwargs(),
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        group_id=None,
    )
    try:
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if consumer.position(tp) < end[tp]}
        while remaining:
            for tp, records in consumer.poll(timeout_ms=1000, max_records=5000).items():
                for r in records:
                    if r.offset < end[tp]:
                        yield Message(
                            r.topic,
                            r.partition,
                            r.offset,
                            r.key,
                            r.value,
                            {k: v for k, v in r.headers},
                        )
            remaining = {tp for tp in remaining if consumer.position(tp) < end[tp]}
    finally:
        consumer.close()


Range = tuple[int, int]
"""Offsets from the first (included) to the last (excluded)."""


def read_ranges(
    bootstrap_servers: str, ranges: dict[tuple[str, int], Range], limit: int
) -> list[Message]:
    """Up to `limit` messages from the start of each range, each partition in order."""
    consumer = KafkaConsumer(
        **client_kwargs(),
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        group_id=None,
    )
    found: list[Message] = []
    try:
        wanted = {TopicPartition(t, p): r for (t, p), r in ranges.items() if r[0] < r[1]}
        consumer.assign(list(wanted))
        for tp, (start, _) in wanted.items():
            consumer.seek(tp, start)
        taken = dict.fromkeys(wanted, 0)
        remaining = set(wanted)
        while remaining:
            for tp, records in consumer.poll(timeout_ms=1000, max_records=limit).items():
                for r in records:
                    if tp in remaining and r.offset < wanted[tp][1] and taken[tp] < limit:
                        found.append(
                            Message(
                                r.topic,
                                r.partition,
                                r.offset,
                                r.key,
                                r.value,
                                {k: v for k, v in r.headers},
                            )
                        )
                        taken[tp] += 1
            remaining = {
                tp
                for tp in remaining
                if consumer.position(tp) < wanted[tp][1] and taken[tp] < limit
            }
    finally:
        consumer.close()
    return found
