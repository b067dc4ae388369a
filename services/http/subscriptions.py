"""Server-Sent Events for dashboards: one stream per projection, resumable with Last-Event-ID.

The consumers publish every row change of the dashboard projections to the compacted
topics `lead.projections.<name>.v1` (see `consumers.projector.row_message`). A stream
reads one such topic outside any consumer group, with every partition assigned, and
turns each message into an SSE event after asking the API's `visible` function what the
caller may see of it.

Cursor, the SSE event id
    The position of a stream is the next offset to read in each partition. An event's
    id is that position *after* its message, written `<partition>:<offset>` pairs joined
    by `.` in partition order (`0:15.1:7.4:120`), and it covers every partition of the
    topic, not only the one of its message. A client that reconnects with it as
    Last-Event-ID has each partition sought to that offset: it continues exactly after
    the last event it received, with no gap and no repeat. Messages that `visible`
    rejects (or that cannot be parsed) advance the cursor too; the next id sent covers
    them. Partitions that a cursor does not name are read from their beginning.

Events
    `event: change` for a row written, `event: delete` for a tombstone, `data:` the
    compact JSON that `visible` returned. The first block is `retry: 2000`, the
    `: subscribed` comment and the id of the starting position, sent only once every
    partition is assigned and positioned. After `heartbeat_seconds` without sending
    anything, a `: heartbeat` comment keeps proxies from closing the connection; when
    the cursor moved since the last id sent (rejected changes), that block carries the
    new `id:` as well. An id-only block sets the browser's last event id without firing
    an event, so a reconnect does not replay what was already filtered out.

Kafka I/O is kept to `stream_changes` and the consumer it is given (`consumer_factory`,
by default an `aiokafka.AIOKafkaConsumer`); the cursor, the event format and the parsing
of messages are pure functions.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from sse_starlette import EventSourceResponse

from infra.kafka.security import aiokafka_kwargs

log = logging.getLogger(__name__)

Change = dict[str, Any]
"""{"table", "op" ("upsert" | "delete"), "key", "values" (None for a delete)}."""

Visible = Callable[[Change], Awaitable[dict[str, Any] | None]]
"""What the caller may see of a change (possibly fewer columns), or None to skip it."""

RETRY_MS = 2000
"""How long a client waits before reconnecting, sent as the stream's `retry:` field."""

MAX_CURSOR_CHARS = 4096
MAX_OFFSET = 2**63 - 1  # Kafka offsets are signed 64-bit integers
_POLL_SECONDS = 1.0  # longest wait for messages before checking for a disconnect
_MAX_RECORDS = 500  # records per poll: the disconnect is checked between polls
_METADATA_ATTEMPTS = 3
_METADATA_BACKOFF_SECONDS = 0.5

CURSOR_FORM = "<partition>:<offset> pairs joined by '.', e.g. '0:15.1:7.4:120'"
_CURSOR = re.compile(r"[0-9]{1,9}:[0-9]{1,19}(?:\.[0-9]{1,9}:[0-9]{1,19})*")
CURSOR_PATTERN = f"^(?:{_CURSOR.pattern})?$"
"""A Last-Event-ID as the OpenAPI document states it (empty: from `start`)."""


class TopicNotFoundError(LookupError):
    """The projection's topic is not in the cluster (or not visible to this client)."""


# --- cursor ------------------------------------------------------------------------------


def encode_cursor(offsets: Mapping[int, int]) -> str:
    """Partition -> next offset to read, as `0:15.1:7.4:120` (partition order; URL/header-safe).

    An empty mapping is the empty string, which `decode_cursor` reads back as {}.
    """
    parts = []
    for partition, offset in sorted(offsets.items()):
        for name, number, highest in (
            ("partition", partition, 999_999_999),
            ("offset", offset, MAX_OFFSET),
        ):
            if isinstance(number, bool) or not isinstance(number, int):
                raise TypeError(f"cursor {name} must be an int, not {number!r}")
            if not 0 <= number <= highest:
                raise ValueError(f"cursor {name} {number} is outside 0..{highest}")
        parts.append(f"{partition}:{offset}")
    return ".".join(parts)


def decode_cursor(text: str) -> dict[int, int]:
    """The partition -> offset mapping of a cursor written by `encode_cursor`.

    Raises ValueError, naming Last-Event-ID and the accepted form, for anything else.
    """

    def invalid(reason: str) -> ValueError:
        shown = text if len(text) <= 80 else text[:80] + "..."
        return ValueError(
            f"invalid Last-Event-ID {shown!r}: {reason}; expected a stream cursor of "
            f"{CURSOR_FORM}, as sent in the `id:` of an event of this stream"
        )

    if not isinstance(text, str):
        raise TypeError(f"Last-Event-ID must be a str, not {type(text).__name__}")
    if text == "":
        return {}
    if len(text) > MAX_CURSOR_CHARS:
        raise invalid(f"longer than {MAX_CURSOR_CHARS} characters")
    if _CURSOR.fullmatch(text) is None:
        raise invalid("malformed")
    offsets: dict[int, int] = {}
    for pair in text.split("."):
        partition_text, offset_text = pair.split(":")
        partition, offset = int(partition_text), int(offset_text)
        if partition in offsets:
            raise invalid(f"partition {partition} appears more than once")
        if offset > MAX_OFFSET:
            raise invalid(f"offset {offset} of partition {partition} is too large")
        offsets[partition] = offset
    return offsets


# --- SSE format --------------------------------------------------------------------------


def _field_value(name: str, value: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"SSE {name} must be a str, not {type(value).__name__}")
    if not value:
        raise ValueError(f"SSE {name} must not be empty")
    if "\n" in value or "\r" in value or "\0" in value:
        raise ValueError(f"SSE {name} must not contain a line break or NUL: {value!r}")
    return value


def format_event(*, id: str, event: str, data: Any) -> bytes:
    """One SSE event: `id:`, `event:`, `data:` (compact JSON on one line), blank line."""
    event_id = _field_value("id", id)
    name = _field_value("event", event)
    # json.dumps escapes line breaks inside strings, so the JSON is always a single line.
    payload = json.dumps(data, separators=(",", ":"), sort_keys=True, default=str)
    return f"id: {event_id}\nevent: {name}\ndata: {payload}\n\n".encode()


def format_comment(text: str) -> bytes:
    """A comment line, which clients ignore (no line breaks allowed)."""
    if "\n" in text or "\r" in text:
        raise ValueError(f"SSE comment must not contain a line break: {text!r}")
    return f": {text}\n".encode()


def subscribed_block(cursor: str) -> bytes:
    """The stream's first block: reconnect delay, the `: subscribed` comment, the start id."""
    return f"retry: {RETRY_MS}\n".encode() + format_comment("subscribed") + _id_line(cursor) + b"\n"


def heartbeat_block(cursor: str | None) -> bytes:
    """`: heartbeat`, with the cursor's `id:` when it moved since the last id sent."""
    return format_comment("heartbeat") + (_id_line(cursor) if cursor else b"") + b"\n"


def _id_line(cursor: str) -> bytes:
    # A block with an id and no data sets the client's last event id without an event.
    return f"id: {_field_value('id', cursor)}\n".encode()


# --- messages ----------------------------------------------------------------------------


def decode_change(key: bytes | None, value: bytes | None) -> Change | None:
    """The change a projection-topic message carries, or None when it is not one.

    A message with a value is a row written: a structured-mode CloudEvent whose data
    holds the table, op, key and values (or, published before the row changes were
    CloudEvents, that JSON itself: a compacted topic keeps a row's last message). A
    tombstone (no value) is the row deleted: {"table", "op": "delete", "key", "values": None}
    from the message key.
    """
    try:
        if value is None:
            row_key = json.loads(key) if key is not None else None
            if not isinstance(row_key, dict) or not isinstance(row_key.get("table"), str):
                return None
            return {"table": row_key["table"], "op": "delete", "key": row_key, "values": None}
        body = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(body, dict) and "specversion" in body:
        body = body.get("data")
    if not isinstance(body, dict):
        return None
    table, op, row_key, values = (body.get(k) for k in ("table", "op", "key", "values"))
    if not (isinstance(table, str) and isinstance(op, str) and isinstance(row_key, dict)):
        return None
    if not isinstance(values, dict):
        return None
    return {"table": table, "op": op, "key": row_key, "values": values}


def event_name(change: Change) -> str:
    return "delete" if change["op"] == "delete" else "change"


# --- Kafka -------------------------------------------------------------------------------


class Record(Protocol):
    """What the stream reads of a consumer record (aiokafka's ConsumerRecord has these)."""

    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


class Consumer(Protocol):
    """The part of `aiokafka.AIOKafkaConsumer` the stream uses (a fake in the unit tests)."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def partitions_for_topic(self, topic: str) -> set[int] | None: ...
    def assign(self, partitions: list[TopicPartition]) -> None: ...
    def seek(self, partition: TopicPartition, offset: int) -> None: ...
    async def seek_to_beginning(self, *partitions: TopicPartition) -> bool: ...
    async def seek_to_end(self, *partitions: TopicPartition) -> bool: ...
    async def position(self, partition: TopicPartition) -> int: ...
    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> Mapping[TopicPartition, Sequence[Record]]: ...


ConsumerFactory = Callable[[str], Consumer]


def kafka_consumer(bootstrap_servers: str) -> Consumer:
    """A consumer outside any group, committing nothing: the stream positions it itself."""
    consumer: Consumer = AIOKafkaConsumer(
        **aiokafka_kwargs(),
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        # An offset no longer (or not yet) in the log: replay rather than skip changes.
        auto_offset_reset="earliest",
        client_id="lead-dashboard-stream",
    )
    return consumer


async def topic_partitions(consumer: Consumer, topic: str) -> list[int]:
    """The topic's partitions, fetching its metadata if the started consumer has none yet."""
    for attempt in range(_METADATA_ATTEMPTS):
        found = consumer.partitions_for_topic(topic)
        if found:
            return sorted(found)
        # aiokafka bootstraps without any topic's metadata; with no topic tracked yet,
        # an update asks for every topic's.
        client = getattr(consumer, "_client", None)
        if client is None:
            break
        if attempt:
            await asyncio.sleep(_METADATA_BACKOFF_SECONDS * attempt)
        await client.force_metadata_update()
    raise TopicNotFoundError(
        f"Kafka topic {topic!r} does not exist (or this client may not describe it); "
        "the projection topics are created by `lead infra up` (infra.kafka.admin.ensure_topics)"
    )


async def position(
    consumer: Consumer,
    topic: str,
    partitions: Sequence[int],
    cursor: Mapping[int, int] | None,
    start: Literal["beginning", "now"],
) -> dict[int, int]:
    """Assign every partition, seek each where the stream starts; partition -> next offset."""
    tps = {p: TopicPartition(topic, p) for p in partitions}
    consumer.assign(list(tps.values()))
    if cursor is not None:
        unknown = sorted(set(cursor) - set(tps))
        if unknown:
            log.warning("Last-Event-ID names partitions %s that %s does not have", unknown, topic)
        for p, tp in tps.items():
            if p in cursor:
                consumer.seek(tp, cursor[p])
        rest = [tp for p, tp in tps.items() if p not in cursor]
        if rest:
            await consumer.seek_to_beginning(*rest)
    elif start == "beginning":
        await consumer.seek_to_beginning(*tps.values())
    else:
        await consumer.seek_to_end(*tps.values())
    return {p: await consumer.position(tp) for p, tp in tps.items()}


_stopping: set[asyncio.Future[None]] = set()


async def _stop(consumer: Consumer) -> None:
    """Stop the consumer even if the task is being cancelled (it finishes in the background)."""
    stopping = asyncio.ensure_future(consumer.stop())
    _stopping.add(stopping)
    stopping.add_done_callback(_stopping.discard)
    try:
        await asyncio.shield(stopping)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("stopping the dashboard stream's Kafka consumer failed")


async def stream_changes(
    *,
    bootstrap_servers: str,
    topic: str,
    visible: Visible,
    last_event_id: str | None,
    start: Literal["beginning", "now"] = "beginning",
    heartbeat_seconds: float = 15.0,
    is_disconnected: Callable[[], Awaitable[bool]] | None = None,
    consumer_factory: ConsumerFactory | None = None,
) -> AsyncIterator[bytes]:
    """The SSE byte stream of a projection topic's changes that `visible` lets through.

    With `last_event_id` (a cursor this stream sent), each partition continues at its
    offset there, partitions it does not name from their beginning. Without it (None or
    empty), `start="beginning"` replays the compacted topic (the latest of every row,
    then live changes) and `start="now"` only sends changes made from now on. Stops when
    `is_disconnected()` is true or the generator is closed; the consumer is always stopped.

    Raises ValueError for a bad `last_event_id` (check it with `decode_cursor` before
    answering 200) and TopicNotFoundError when the topic does not exist.
    """
    if start not in ("beginning", "now"):
        raise ValueError(f"start must be 'beginning' or 'now', not {start!r}")
    if not heartbeat_seconds > 0:
        raise ValueError(f"heartbeat_seconds must be positive, not {heartbeat_seconds!r}")
    cursor = decode_cursor(last_event_id) if last_event_id else None

    consumer = (consumer_factory or kafka_consumer)(bootstrap_servers)
    try:
        await consumer.start()
        partitions = await topic_partitions(consumer, topic)
        offsets = await position(consumer, topic, partitions, cursor, start)
        sent_id = encode_cursor(offsets)
        yield subscribed_block(sent_id)

        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        while True:
            if is_disconnected is not None and await is_disconnected():
                return
            wait = min(_POLL_SECONDS, quiet_since + heartbeat_seconds - loop.time())
            batch = await consumer.getmany(
                timeout_ms=max(1, round(wait * 1000)), max_records=_MAX_RECORDS
            )
            for records in batch.values():
                for record in records:
                    offsets[record.partition] = record.offset + 1
                    change = decode_change(record.key, record.value)
                    if change is None:
                        log.warning(
                            "skipping a message that is not a row change: %s[%d]@%d",
                            topic,
                            record.partition,
                            record.offset,
                        )
                        continue
                    shown = await visible(change)
                    if shown is None:
                        continue
                    sent_id = encode_cursor(offsets)
                    yield format_event(id=sent_id, event=event_name(change), data=shown)
                    quiet_since = loop.time()
            if loop.time() - quiet_since >= heartbeat_seconds:
                current = encode_cursor(offsets)
                yield heartbeat_block(current if current != sent_id else None)
                sent_id = current
                quiet_since = loop.time()
    finally:
        await _stop(consumer)


SEND_TIMEOUT_SECONDS = 30.0
"""A client that takes no bytes for this long is frozen: its stream is closed."""


def sse_response(iterator: AsyncIterator[bytes]) -> EventSourceResponse:
    """An event-stream response (sse-starlette) that proxies and caches neither buffer nor
    keep. It ends when the client goes away, when a send stalls, and when the server
    shuts down (sse-starlette watches uvicorn's exit), so an open subscription never holds
    the API's shutdown. Its keep-alive is this module's heartbeat, which carries the
    cursor; sse-starlette's own ping is off."""
    return EventSourceResponse(
        iterator,
        headers={"Cache-Control": "no-store"},
        ping=0,
        send_timeout=SEND_TIMEOUT_SECONDS,
    )
