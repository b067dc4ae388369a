"""The dashboards' SSE streams: cursors, the event format, and the stream over a fake consumer."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.http.subscriptions import (
    MAX_OFFSET,
    Change,
    TopicNotFoundError,
    decode_change,
    decode_cursor,
    encode_cursor,
    format_event,
    sse_response,
    stream_changes,
)

TOPIC = "lead.projections.referrals.v1"

# --- a tiny SSE parser (the WHATWG event-stream interpretation) ---------------------------


@dataclass
class Event:
    id: str | None  # the last event id after this event
    event: str
    data: str


@dataclass
class Parsed:
    items: list[Any] = field(default_factory=list)  # Event, ("comment", text), ("id", id)
    retry: int | None = None

    @property
    def events(self) -> list[Event]:
        return [i for i in self.items if isinstance(i, Event)]

    @property
    def comments(self) -> list[str]:
        return [i[1] for i in self.items if isinstance(i, tuple) and i[0] == "comment"]

    @property
    def bare_ids(self) -> list[str]:
        """Ids sent in blocks without data: they set the last event id, firing no event."""
        return [i[1] for i in self.items if isinstance(i, tuple) and i[0] == "id"]


def last_id_of(parsed: Parsed) -> str | None:
    """The client's last event id after the stream so far: what it reconnects with."""
    last = None
    for item in parsed.items:
        if isinstance(item, Event):
            last = item.id
        elif item[0] == "id":
            last = item[1]
    return last


def parse_sse(stream: bytes) -> Parsed:
    """Interprets a byte stream as a browser's EventSource does (blocks end at a blank line)."""
    parsed = Parsed()
    last_id: str | None = None
    event, data, id_seen = "", [], False
    text = stream.decode("utf-8")
    assert text == "" or text.endswith("\n"), "the stream must end on a line end"
    for line in re.split(r"\r\n|\r|\n", text)[:-1]:
        if line == "":
            if data:
                parsed.items.append(Event(last_id, event or "message", "\n".join(data)))
            elif id_seen:
                parsed.items.append(("id", last_id))
            event, data, id_seen = "", [], False
            continue
        if line.startswith(":"):
            parsed.items.append(("comment", line[1:].removeprefix(" ")))
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id":
            assert "\0" not in value
            last_id, id_seen = value, True
        elif name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "retry":
            assert value.isdigit()
            parsed.retry = int(value)
        else:
            raise AssertionError(f"unknown field {name!r}")
    return parsed


# --- cursors ------------------------------------------------------------------------------


def test_cursor_is_compact_ordered_and_round_trips() -> None:
    assert encode_cursor({4: 120, 0: 15, 1: 7}) == "0:15.1:7.4:120"
    assert decode_cursor("0:15.1:7.4:120") == {0: 15, 1: 7, 4: 120}
    assert encode_cursor({}) == ""
    assert decode_cursor("") == {}


@given(st.dictionaries(st.integers(0, 999_999_999), st.integers(0, MAX_OFFSET), max_size=64))
def test_cursor_round_trip(offsets: dict[int, int]) -> None:
    text = encode_cursor(offsets)
    assert re.fullmatch(r"[0-9:.]*", text)  # safe in a URL and in a header as it is
    assert decode_cursor(text) == offsets
    assert encode_cursor(decode_cursor(text)) == text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("abc", "malformed"),
        ("0:", "malformed"),
        (":1", "malformed"),
        ("0:1.", "malformed"),
        ("0:1,1:2", "malformed"),
        ("0:1 ", "malformed"),
        ("-1:3", "malformed"),
        ("0:-3", "malformed"),
        ("0:1.5", "malformed"),
        ("0:\uff11", "malformed"),  # a full-width digit: int() would take it
        ("0:1_000", "malformed"),
        ("1:2.1:3", "partition 1 appears more than once"),
        (f"0:{2**63}", "too large"),
        ("0:1." * 2000 + "0:1", "longer than"),
    ],
)
def test_bad_cursor_is_a_clear_error(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match="Last-Event-ID") as raised:
        decode_cursor(text)
    message = str(raised.value)
    assert reason in message
    assert "<partition>:<offset>" in message and "0:15.1:7.4:120" in message
    assert len(message) < 400  # a long header is not echoed whole


def test_encode_rejects_what_cannot_be_a_position() -> None:
    with pytest.raises(ValueError, match="offset -1"):
        encode_cursor({0: -1})
    with pytest.raises(TypeError):
        encode_cursor({0: True})


# --- the event format ---------------------------------------------------------------------


def test_format_event_is_exactly_the_sse_fields() -> None:
    data = {"values": {"name": "Ana\nLine\r2", "n": 1}, "table": "referrals"}
    out = format_event(id="0:3.1:0", event="change", data=data)
    assert out == (
        b'id: 0:3.1:0\nevent: change\ndata: {"table":"referrals","values":'
        b'{"n":1,"name":"Ana\\nLine\\r2"}}\n\n'
    )
    parsed = parse_sse(out)
    assert parsed.events == [
        Event("0:3.1:0", "change", json.dumps(data, separators=(",", ":"), sort_keys=True))
    ]
    assert json.loads(parsed.events[0].data) == data


def test_format_event_data_is_one_line_for_any_json() -> None:
    data = ["\u2028", "\x85", {"a": None, "b": [1.5, True]}, "é"]
    out = format_event(id="1", event="delete", data=data)
    assert out.count(b"\n") == 4  # three field lines and the blank line
    assert json.loads(parse_sse(out).events[0].data) == data


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\r\n", "", "a\0b"])
def test_format_event_rejects_ids_and_events_that_would_break_the_stream(bad: str) -> None:
    with pytest.raises(ValueError, match="id"):
        format_event(id=bad, event="change", data={})
    with pytest.raises(ValueError, match="event"):
        format_event(id="1", event=bad, data={})


def test_sse_response_headers() -> None:
    async def nothing() -> AsyncIterator[bytes]:
        yield b""

    response = sse_response(nothing())
    assert response.media_type == "text/event-stream"
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-accel-buffering"] == "no"


# --- messages -----------------------------------------------------------------------------


def key_of(table: str, id_: int) -> bytes:
    return json.dumps({"id": id_, "table": table}, sort_keys=True).encode()


def value_of(table: str, id_: int, **values: Any) -> bytes:
    key = {"id": id_, "table": table}
    body = {"projection": "referrals", "table": table, "op": "upsert", "key": key}
    return json.dumps({**body, "values": {"id": id_, **values}}, sort_keys=True).encode()


def test_decode_change() -> None:
    assert decode_change(key_of("referrals", 1), value_of("referrals", 1, s="open")) == {
        "table": "referrals",
        "op": "upsert",
        "key": {"id": 1, "table": "referrals"},
        "values": {"id": 1, "s": "open"},
    }
    assert decode_change(key_of("referrals", 1), None) == {
        "table": "referrals",
        "op": "delete",
        "key": {"id": 1, "table": "referrals"},
        "values": None,
    }
    for key, value in [
        (None, None),
        (b"not json", None),
        (b"[1]", None),
        (b'{"id": 1}', None),
        (key_of("t", 1), b"\xff"),
        (key_of("t", 1), b"[]"),
        (key_of("t", 1), b'{"table": "t", "op": "upsert", "key": {}}'),
    ]:
        assert decode_change(key, value) is None


# --- the stream over a fake consumer ------------------------------------------------------


@dataclass(frozen=True)
class FakeRecord:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class FakeConsumer:
    """Scripted partition logs (offsets may have gaps, as compaction leaves them)."""

    def __init__(self, logs: dict[int, list[FakeRecord]], per_poll: int = 2) -> None:
        self.logs = logs
        self.per_poll = per_poll
        self.max_wait = 0.01  # an idle poll returns sooner than Kafka would: faster tests
        self.positions: dict[int, int] = {}
        self.assigned: list[Any] = []
        self.started = self.stopped = False
        self.polls = 0

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return set(self.logs) if topic == TOPIC else None

    def assign(self, partitions: list[Any]) -> None:
        assert self.started
        self.assigned = list(partitions)

    def _assigned(self, tp: Any) -> int:
        assert tp in self.assigned and tp.topic == TOPIC
        return int(tp.partition)

    def seek(self, partition: Any, offset: int) -> None:
        self.positions[self._assigned(partition)] = offset

    async def seek_to_beginning(self, *partitions: Any) -> bool:
        for tp in partitions:
            p = self._assigned(tp)
            self.positions[p] = self.logs[p][0].offset if self.logs[p] else 0
        return True

    async def seek_to_end(self, *partitions: Any) -> bool:
        for tp in partitions:
            p = self._assigned(tp)
            self.positions[p] = self.logs[p][-1].offset + 1 if self.logs[p] else 0
        return True

    async def position(self, partition: Any) -> int:
        return self.positions[self._assigned(partition)]

    async def getmany(
        self, *partitions: Any, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[Any, list[FakeRecord]]:
        assert not self.stopped
        self.polls += 1
        batch: dict[Any, list[FakeRecord]] = {}
        for tp in self.assigned:
            p = tp.partition
            found = [r for r in self.logs[p] if r.offset >= self.positions[p]][: self.per_poll]
            if found:
                batch[tp] = found
                self.positions[p] = found[-1].offset + 1
        if not batch:
            await asyncio.sleep(min(timeout_ms / 1000, self.max_wait))
        return batch

    def append(self, partition: int, key: bytes | None, value: bytes | None) -> FakeRecord:
        log = self.logs[partition]
        record = FakeRecord(partition, log[-1].offset + 1 if log else 0, key, value)
        log.append(record)
        return record


def script() -> dict[int, list[FakeRecord]]:
    """Three partitions; partition 1 has a gap (compacted) and a tombstone; 2 is empty."""
    return {
        0: [
            FakeRecord(0, 0, key_of("referrals", 1), value_of("referrals", 1, s="open")),
            FakeRecord(0, 1, key_of("notes", 2), value_of("notes", 2, text="secret")),
            FakeRecord(0, 2, key_of("referrals", 3), value_of("referrals", 3, s="open")),
        ],
        1: [
            FakeRecord(1, 4, key_of("referrals", 10), value_of("referrals", 10, s="open")),
            FakeRecord(1, 7, key_of("referrals", 11), value_of("referrals", 11, s="closed")),
            FakeRecord(1, 8, key_of("referrals", 10), None),
            FakeRecord(1, 9, key_of("notes", 12), value_of("notes", 12, text="secret")),
        ],
        2: [],
    }


class Seen:
    """A `visible` that hides the notes table and drops a column, recording what it was given."""

    def __init__(self) -> None:
        self.given: list[Change] = []

    async def __call__(self, change: Change) -> dict[str, Any] | None:
        self.given.append(change)
        if change["table"] == "notes":
            return None
        values = change["values"]
        shown = None if values is None else {k: v for k, v in values.items() if k != "s"}
        return {**change, "values": shown, "status": values and values.get("s")}


async def read(
    stream: AsyncIterator[bytes],
    until: Callable[[Parsed], bool],
    seconds: float = 5.0,
) -> Parsed:
    """Reads chunks until `until(parsed so far)`; each chunk must be whole blocks."""
    received = b""
    async with asyncio.timeout(seconds):
        while True:
            chunk = await anext(stream)
            assert chunk.endswith(b"\n\n"), chunk
            received += chunk
            parsed = parse_sse(received)
            if until(parsed):
                return parsed


def events_at_least(n: int) -> Callable[[Parsed], bool]:
    return lambda parsed: len(parsed.events) >= n


def open_stream(
    consumer: FakeConsumer,
    visible: Callable[[Change], Awaitable[dict[str, Any] | None]] | None = None,
    **options: Any,
) -> AsyncIterator[bytes]:
    options.setdefault("last_event_id", None)
    return stream_changes(
        bootstrap_servers="kafka:9092",
        topic=TOPIC,
        visible=visible or Seen(),
        consumer_factory=lambda servers: consumer,
        **options,
    )


def where(event: Event) -> tuple[int, Any]:
    """The (table, id) a change event is about."""
    data = json.loads(event.data)
    return data["table"], data["key"]["id"]


def test_first_block_is_sent_once_partitions_are_assigned_and_positioned() -> None:
    async def run() -> None:
        consumer = FakeConsumer(script())
        stream = open_stream(consumer)
        first = await anext(stream)
        assert first.startswith(b"retry: 2000\n: subscribed\n")
        assert sorted(tp.partition for tp in consumer.assigned) == [0, 1, 2]
        assert consumer.positions == {0: 0, 1: 4, 2: 0}
        assert consumer.polls == 0
        parsed = parse_sse(first)
        assert parsed.retry == 2000
        assert parsed.comments == ["subscribed"]
        assert parsed.items[-1] == ("id", "0:0.1:4.2:0")  # reconnecting resumes here
        await stream.aclose()
        assert consumer.stopped

    asyncio.run(run())


def test_ids_advance_per_message_and_visible_decides_what_is_sent() -> None:
    async def run() -> None:
        consumer = FakeConsumer(script())
        seen = Seen()
        stream = open_stream(consumer, seen)
        parsed = await read(stream, events_at_least(4))
        await stream.aclose()

        events = parsed.events
        # Poll 1: partition 0 offsets 0-1 (1 is a note), partition 1 offsets 4, 7; poll 2: 0@2.
        assert [(e.id, e.event, where(e)) for e in events] == [
            ("0:1.1:4.2:0", "change", ("referrals", 1)),
            ("0:2.1:5.2:0", "change", ("referrals", 10)),
            ("0:2.1:8.2:0", "change", ("referrals", 11)),
            ("0:3.1:8.2:0", "change", ("referrals", 3)),
        ]
        # No column `visible` removed, every change it was given sent or rejected.
        assert all("s" not in json.loads(e.data)["values"] for e in events)
        assert {json.loads(e.data)["status"] for e in events} == {"open", "closed"}
        # Each id is the position after its message, every partition in it, never going back.
        cursors = [decode_cursor(e.id or "") for e in events]
        for before, after in itertools.pairwise(cursors):
            assert all(after[p] >= before[p] for p in before) and after != before
        for event, cursor in zip(events, cursors, strict=True):
            _, id_ = where(event)
            record = next(
                r for rs in script().values() for r in rs if json.loads(r.key or b"")["id"] == id_
            )
            assert cursor[record.partition] == record.offset + 1
            assert set(cursor) == {0, 1, 2}
        assert consumer.stopped

    asyncio.run(run())


def test_tombstones_are_delete_events() -> None:
    async def run() -> None:
        seen = Seen()
        consumer = FakeConsumer({0: [], 1: script()[1]})
        stream = open_stream(consumer, seen)
        parsed = await read(stream, events_at_least(3))
        await stream.aclose()
        delete = parsed.events[2]
        assert delete.event == "delete"
        assert decode_cursor(delete.id or "") == {0: 0, 1: 9}
        tombstone = {
            "table": "referrals",
            "op": "delete",
            "key": {"id": 10, "table": "referrals"},
            "values": None,
        }
        assert tombstone in seen.given
        assert json.loads(delete.data) == {**tombstone, "status": None}
        assert [e.event for e in parsed.events] == ["change", "change", "delete"]

    asyncio.run(run())


def test_rejected_changes_are_not_sent_but_advance_the_cursor() -> None:
    async def run() -> None:
        logs = {
            0: [
                FakeRecord(0, 0, key_of("notes", 1), value_of("notes", 1, text="secret")),
                FakeRecord(0, 1, key_of("notes", 2), value_of("notes", 2, text="secret")),
                FakeRecord(0, 2, key_of("referrals", 3), value_of("referrals", 3, s="open")),
                FakeRecord(0, 3, b"junk", b"junk"),  # not a row change: skipped too
                FakeRecord(0, 4, key_of("notes", 4), value_of("notes", 4, text="secret")),
            ]
        }
        seen = Seen()
        consumer = FakeConsumer(logs, per_poll=10)
        stream = open_stream(consumer, seen, heartbeat_seconds=0.05)
        parsed = await read(stream, lambda p: "heartbeat" in p.comments)
        await stream.aclose()
        assert [(e.id, where(e)) for e in parsed.events] == [("0:3", ("referrals", 3))]
        assert b"secret" not in repr(parsed).encode()
        assert [c["table"] for c in seen.given] == ["notes", "notes", "referrals", "notes"]
        # The heartbeat after the trailing rejected ones carries the cursor past them.
        assert parsed.comments == ["subscribed", "heartbeat"]
        assert parsed.bare_ids == ["0:0", "0:5"]
        assert last_id_of(parsed) == "0:5"

    asyncio.run(run())


def partition_of(event: Event) -> int:
    """The partition of the row an event is about (a row's key always lands in one)."""
    table, id_ = where(event)
    for partition, records in script().items():
        for record in records:
            if record.key == key_of(table, id_):
                return partition
    raise AssertionError(f"no record for {table} {id_}")


def test_resuming_from_any_id_yields_exactly_the_remaining_messages() -> None:
    async def run() -> None:
        consumer = FakeConsumer(script(), per_poll=1)
        stream = open_stream(consumer)
        everything = (await read(stream, events_at_least(5))).events
        await stream.aclose()
        assert len(everything) == 5  # 7 messages, 2 of them notes

        ids = ["0:0.1:4.2:0"] + [e.id or "" for e in everything]
        for k, last_id in enumerate(ids):
            resumed = FakeConsumer(script(), per_poll=3)
            stream = open_stream(resumed, last_event_id=last_id, heartbeat_seconds=0.1)
            parsed = await read(stream, lambda p: "heartbeat" in p.comments)
            await stream.aclose()
            assert resumed.stopped
            # The same changes, each partition's in its order (partitions may interleave).
            for partition in (0, 1):
                got = [(e.event, e.data) for e in parsed.events if partition_of(e) == partition]
                expected = [
                    (e.event, e.data) for e in everything[k:] if partition_of(e) == partition
                ]
                assert got == expected, (last_id, partition)
            # Past the rejected last message too, whatever the last event sent.
            assert last_id_of(parsed) == "0:3.1:10.2:0"

    asyncio.run(run())


def test_partitions_missing_from_the_cursor_start_from_the_beginning() -> None:
    async def run() -> None:
        consumer = FakeConsumer(script())
        stream = open_stream(consumer, last_event_id="0:3.7:100")  # partition 7 is unknown
        first = parse_sse(await anext(stream))
        await stream.aclose()
        assert consumer.positions == {0: 3, 1: 4, 2: 0}
        assert first.items[-1] == ("id", "0:3.1:4.2:0")

    asyncio.run(run())


def test_start_now_sends_only_later_changes() -> None:
    async def run() -> None:
        consumer = FakeConsumer(script())
        stream = open_stream(consumer, start="now", heartbeat_seconds=0.02)
        first = parse_sse(await anext(stream))
        assert first.items[-1] == ("id", "0:3.1:10.2:0")
        consumer.append(2, key_of("referrals", 20), value_of("referrals", 20, s="open"))
        parsed = await read(stream, events_at_least(1))
        await stream.aclose()
        assert [(e.id, where(e)) for e in parsed.events] == [("0:3.1:10.2:1", ("referrals", 20))]

    asyncio.run(run())


def test_an_empty_last_event_id_is_no_last_event_id() -> None:
    async def run() -> None:
        consumer = FakeConsumer(script())
        stream = open_stream(consumer, last_event_id="", start="now")
        await anext(stream)
        await stream.aclose()
        assert consumer.positions == {0: 3, 1: 10, 2: 0}

    asyncio.run(run())


def test_heartbeat_when_idle() -> None:
    async def run() -> None:
        consumer = FakeConsumer({0: []})
        stream = open_stream(consumer, heartbeat_seconds=0.01)
        parsed = await read(stream, lambda p: p.comments.count("heartbeat") >= 3)
        await stream.aclose()
        assert parsed.events == []
        assert parsed.comments == ["subscribed", "heartbeat", "heartbeat", "heartbeat"]
        # Nothing moved: the heartbeats carry no id.
        assert parsed.bare_ids == ["0:0"]
        assert consumer.stopped

    asyncio.run(run())


def test_no_heartbeat_while_events_flow() -> None:
    async def run() -> None:
        consumer = FakeConsumer(script(), per_poll=1)
        stream = open_stream(consumer, heartbeat_seconds=60)
        parsed = await read(stream, events_at_least(5))
        await stream.aclose()
        assert parsed.comments == ["subscribed"]

    asyncio.run(run())


def test_stops_when_the_client_disconnects() -> None:
    async def run() -> None:
        consumer = FakeConsumer({0: []})
        calls = 0

        async def disconnected() -> bool:
            nonlocal calls
            calls += 1
            return calls > 3

        chunks = [c async for c in open_stream(consumer, is_disconnected=disconnected)]
        assert len(chunks) == 1 and consumer.stopped and consumer.polls == 3

    asyncio.run(run())


def test_consumer_is_stopped_when_the_generator_is_closed_or_fails() -> None:
    async def run() -> None:
        consumer = FakeConsumer(script())
        stream = open_stream(consumer)
        await read(stream, events_at_least(1))
        assert not consumer.stopped
        await stream.aclose()
        assert consumer.stopped

        consumer = FakeConsumer(script())

        async def failing(change: Change) -> dict[str, Any] | None:
            raise RuntimeError("policy store down")

        stream = open_stream(consumer, failing)
        await anext(stream)
        with pytest.raises(RuntimeError, match="policy store down"):
            await anext(stream)
        assert consumer.stopped

        consumer = FakeConsumer({0: []})
        task = asyncio.create_task(read(open_stream(consumer), events_at_least(1)))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)
        assert consumer.stopped

    asyncio.run(run())


def test_missing_topic_is_a_clear_error_and_the_consumer_is_stopped() -> None:
    async def run() -> None:
        consumer = FakeConsumer(script())
        stream = stream_changes(
            bootstrap_servers="kafka:9092",
            topic="lead.projections.nope.v1",
            visible=Seen(),
            last_event_id=None,
            consumer_factory=lambda servers: consumer,
        )
        with pytest.raises(
            TopicNotFoundError, match=re.escape("'lead.projections.nope.v1' does not exist")
        ):
            await anext(stream)
        assert consumer.stopped

    asyncio.run(run())


def test_bad_arguments_fail_before_connecting() -> None:
    async def run() -> None:
        for options in [
            {"last_event_id": "yesterday"},
            {"start": "later"},
            {"heartbeat_seconds": 0},
        ]:
            consumer = FakeConsumer(script())
            with pytest.raises(ValueError):
                await anext(open_stream(consumer, **options))
            assert not consumer.started

    asyncio.run(run())
