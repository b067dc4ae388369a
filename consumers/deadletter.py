"""What goes on the dead-letter topic: the original message and why it failed, as a
CloudEvent (`org.lead.deadletter.recorded.v1`) whose data is the dead letter's record."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from events.envelope import CloudEvent

DEADLETTER_TYPE = "org.lead.deadletter.recorded.v1"


def deadletter_id(consumer: str, topic: str, partition: int, offset: int) -> str:
    """The same message set aside twice by one consumer is one dead letter: one id."""
    return f"deadletter:{consumer}:{topic}:{partition}:{offset}"


def deadletter_record(
    *,
    consumer: str,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    error: BaseException | str,
    source: str,
    headers: Sequence[tuple[str, bytes]] = (),
    at: datetime | None = None,
) -> bytes:
    """The dead letter's CloudEvent JSON; `error` as the consumer describes it, or an
    exception; `headers` the original message's, kept so that a replay sends them again."""
    record: dict[str, Any] = {
        "consumer": consumer,
        "error": error if isinstance(error, str) else f"{type(error).__name__}: {error}",
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key": key.decode("utf-8", "replace") if key is not None else None,
        "value_b64": base64.b64encode(value).decode() if value is not None else None,
        "headers": [
            {"name": name, "value_b64": base64.b64encode(raw or b"").decode()}
            for name, raw in headers
        ],
    }
    return CloudEvent(
        id=deadletter_id(consumer, topic, partition, offset),
        source=source,
        type=DEADLETTER_TYPE,
        subject=f"{topic}/{partition}/{offset}",
        time=at or datetime.now(UTC),
        data=record,
    ).to_json()
