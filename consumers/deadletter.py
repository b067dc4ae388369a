"""What goes on the dead-letter topic: the original message and why it failed."""

from __future__ import annotations

import base64
import json
from typing import Any


def deadletter_record(
    *,
    consumer: str,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    error: BaseException | str,
) -> bytes:
    """The dead letter's JSON; `error` as the consumer describes it, or an exception."""
    record: dict[str, Any] = {
        "consumer": consumer,
        "error": error if isinstance(error, str) else f"{type(error).__name__}: {error}",
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key": key.decode("utf-8", "replace") if key is not None else None,
        "value_b64": base64.b64encode(value).decode() if value is not None else None,
    }
    return json.dumps(record).encode()
