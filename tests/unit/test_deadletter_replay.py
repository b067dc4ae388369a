"""A dead letter is a CloudEvent; its replay sends the original's headers again."""

from __future__ import annotations

import json

from consumers.deadletter import deadletter_record
from infra.kafka.deadletters import REPLAY_HEADER, DeadLetter, record_of
from services.http.subscriptions import decode_change


def letter(headers: list[tuple[str, bytes]]) -> DeadLetter:
    value = deadletter_record(
        consumer="lead-projections",
        topic="lead.events.v1",
        partition=1,
        offset=5,
        key=b"k",
        value=b"{}",
        error="ValueError: bad",
        source="urn:lead:site:t",
        headers=headers,
    )
    return DeadLetter(0, 9, record_of(value))


def test_a_replay_keeps_the_original_headers_and_its_content_type() -> None:
    found = letter([("content-type", b"application/cloudevents+json"), ("traceparent", b"00-x")])
    assert found.headers == [
        ("content-type", b"application/cloudevents+json"),
        ("traceparent", b"00-x"),
        (REPLAY_HEADER, b"lead.deadletter.v1:0:9"),
    ]


def test_a_replay_of_a_message_sent_without_content_type_gets_the_cloudevents_one() -> None:
    found = letter([(REPLAY_HEADER, b"lead.deadletter.v1:0:1")])  # an earlier replay's mark
    assert found.headers == [
        ("content-type", b"application/cloudevents+json"),
        (REPLAY_HEADER, b"lead.deadletter.v1:0:9"),
    ]


def test_a_dead_letter_written_before_they_were_cloudevents_is_still_read() -> None:
    old = {"consumer": "c", "error": "e", "topic": "t", "partition": 0, "offset": 1}
    record = record_of(json.dumps({**old, "key": None, "value_b64": "e30="}).encode())
    assert DeadLetter(0, 2, record).headers == [
        ("content-type", b"application/cloudevents+json"),
        (REPLAY_HEADER, b"lead.deadletter.v1:0:2"),
    ]


def test_a_dashboard_reads_a_row_change_in_its_cloudevent_and_as_it_was_before() -> None:
    change = {"table": "t", "op": "upsert", "key": {"table": "t", "id": 1}, "values": {"a": 1}}
    wrapped = {"specversion": "1.0", "id": "x", "source": "s", "type": "y", "data": change}
    assert decode_change(b"k", json.dumps(wrapped).encode()) == change
    assert decode_change(b"k", json.dumps(change).encode()) == change
