"""Reading the dead-letter topic, and putting its messages back to be tried again."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from kafka import KafkaProducer

from events.topics import DEADLETTER
from infra.relay import make_producer

REPLAY_HEADER = "lead-replayed-from"


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    record: dict[str, Any]

    @property
    def original(self) -> bytes | None:
        encoded = self.record.get("value_b64")
        return base64.b64decode(encoded) if encoded is not None else None


def list_dead_letters(bootstrap_servers: str) -> list[DeadLetter]:
    from infra.topic_reader import read_topic

    letters = []
    for message in read_topic(bootstrap_servers, DEADLETTER):
        try:
            record = json.loads(message.value)
        except ValueError:
            record = {"error": "unreadable dead letter", "value_b64": None}
        letters.append(DeadLetter(message.partition, message.offset, record))
    return letters


def replay(
    bootstrap_servers: str, letters: list[DeadLetter], producer: KafkaProducer | None = None
) -> int:
    """Send the original messages back to their topic; consumers are idempotent."""
    producer = producer or make_producer(bootstrap_servers)
    sent = 0
    try:
        for letter in letters:
            value = letter.original
            if value is None:
                continue
            key = letter.record.get("key")
            producer.send(
                letter.record["topic"],
                value=value,
                key=key.encode() if isinstance(key, str) else None,
                headers=[
                    (REPLAY_HEADER, f"{DEADLETTER}:{letter.partition}:{letter.offset}".encode())
                ],
            ).get(timeout=60)
            sent += 1
    finally:
        producer.close()
    return sent
