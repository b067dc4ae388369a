"""Reading the dead-letter topic, and putting its messages back to be tried again."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from kafka import KafkaProducer

from events.envelope import Headers, with_content_type
from events.topics import AUDIT, DEADLETTER, EVENTS
from infra.kafka.relay import make_producer

REPLAY_HEADER = "lead-replayed-from"

REPLAYABLE = (EVENTS, AUDIT)
"""The topics whose consumers dead-letter (the projections, the feed, the audit trail),
and so the only ones a replay sends to: the replay credential may write these alone."""


def replayable(letter: DeadLetter) -> bool:
    """Whether the replay may send this dead letter back (it names a topic it may write)."""
    return letter.record.get("topic") in REPLAYABLE and letter.original is not None


def record_of(value: bytes) -> dict[str, Any]:
    """A dead letter's record: its CloudEvent's `data` (`consumers.deadletter`), or the
    whole JSON of one written before dead letters were CloudEvents. Raises ValueError."""
    body = json.loads(value)
    if not isinstance(body, dict):
        raise ValueError("a dead letter is a JSON object")
    if "specversion" in body:
        data = body.get("data")
        if not isinstance(data, dict):
            raise ValueError("a dead letter's CloudEvent has no data object")
        return data
    return body


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    record: dict[str, Any]

    @property
    def original(self) -> bytes | None:
        encoded = self.record.get("value_b64")
        return base64.b64decode(encoded) if encoded is not None else None

    @property
    def headers(self) -> Headers:
        """What the replay sends: the original message's headers (but an earlier replay's
        mark), with a `content-type` (the CloudEvents one if it had none), and where
        it is replayed from."""
        kept = [
            (str(h["name"]), base64.b64decode(h["value_b64"]))
            for h in self.record.get("headers") or ()
            if isinstance(h, dict) and h.get("name") != REPLAY_HEADER
        ]
        origin = f"{DEADLETTER}:{self.partition}:{self.offset}".encode()
        return [*with_content_type(kept), (REPLAY_HEADER, origin)]


def list_dead_letters(bootstrap_servers: str) -> list[DeadLetter]:
    from infra.kafka.topic_reader import read_topic

    letters = []
    for message in read_topic(bootstrap_servers, DEADLETTER):
        try:
            record = record_of(message.value)
        except ValueError:
            record = {"error": "unreadable dead letter", "value_b64": None}
        letters.append(DeadLetter(message.partition, message.offset, record))
    return letters


def replay(
    bootstrap_servers: str, letters: list[DeadLetter], producer: KafkaProducer | None = None
) -> int:
    """Send the original messages back to their topic, with their headers (and a
    `content-type`: every message on the bus is a CloudEvent); consumers are idempotent.
    Only those `replayable` are sent (the others are left where they are)."""
    producer = producer or make_producer(bootstrap_servers)
    sent = 0
    try:
        for letter in letters:
            value = letter.original
            if value is None or not replayable(letter):
                continue
            key = letter.record.get("key")
            producer.send(
                letter.record["topic"],
                value=value,
                key=key.encode() if isinstance(key, str) else None,
                headers=letter.headers,
            ).get(timeout=60)
            sent += 1
    finally:
        producer.close()
    return sent
