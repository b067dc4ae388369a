"""Reads a whole topic from offset 0 to its current end: replay tools, audits, tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition


@dataclass(frozen=True)
class Message:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]


def read_topic(bootstrap_servers: str, topic: str) -> Iterator[Message]:
    """Every message on the topic now, each partition in order."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap_servers, enable_auto_commit=False, group_id=None
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
                            r.partition, r.offset, r.key, r.value, {k: v for k, v in r.headers}
                        )
            remaining = {tp for tp in remaining if consumer.position(tp) < end[tp]}
    finally:
        consumer.close()
