"""An independent reader of a topic, as an auditor or a downstream system would read it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka_event
from kafka import KafkaConsumer, TopicPartition

from infra.kafka.security import client_kwargs


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]

    def cloudevent(self) -> Any:
        """Parsed by the CloudEvents SDK, not by our own code."""
        return from_kafka_event(KafkaMessage(headers=self.headers, key=self.key, value=self.value))


def read_all(bootstrap: str, topic: str) -> list[Record]:
    """Every record on the topic from offset 0 to the current end, per partition in order."""
    consumer = KafkaConsumer(
        **client_kwargs(),
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        consumer_timeout_ms=2000,
    )
    try:
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        records: list[Record] = []
        remaining = {tp for tp in partitions if end[tp] > 0}
        while remaining:
            batch = consumer.poll(timeout_ms=1000, max_records=5000)
            for tp, messages in batch.items():
                for m in messages:
                    records.append(
                        Record(m.partition, m.offset, m.key, m.value, {k: v for k, v in m.headers})
                    )
                if consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
            if not batch:
                remaining = {tp for tp in remaining if consumer.position(tp) < end[tp]}
        return records
    finally:
        consumer.close()


def message_of(record: Record) -> dict[str, Any]:
    """The CloudEvent as JSON, or {} for a message that is not one (the topic may hold junk)."""
    try:
        value = json.loads(record.value) if record.value is not None else None
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def data_of(record: Record) -> dict[str, Any]:
    """The CloudEvent's data, or {} for a message that is not one (the topic may hold junk)."""
    try:
        value = json.loads(record.value)
    except ValueError:
        return {}
    data = value.get("data") if isinstance(value, dict) else None
    return data if isinstance(data, dict) else {}


def referred_by(records: list[Record], organisation: str) -> list[Record]:
    """The records of referrals made by one organisation (each test uses its own)."""
    return [
        r for r in records if data_of(r).get("referrer", {}).get("organisation") == organisation
    ]
