"""A row change as dashboards read it from `lead.projections.<name>.v1`."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from cloudevents.core.bindings.kafka import KafkaMessage, from_binary, from_structured
from cloudevents.core.formats.json import JSONFormat

from consumers.projector import ROW_CHANGED, ROW_DELETED, Projector
from infra.postgres.projection_store import RowState
from projections.referrals import ReferralsProjection

ROW = {
    "referral_id": uuid.UUID(int=7),
    "person_id": uuid.UUID(int=8),
    "status": "eligible",
    "received_at": datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
    "intake_deadline": date(2026, 3, 31),
    "exclusion_reasons": ["é", {"n": 1}],
    "score": Decimal("1.50"),
    "position": 12,
}


def projector() -> Projector:
    return Projector("postgresql://unused", [ReferralsProjection()], source="urn:lead:site:t")


def test_the_value_says_what_the_row_holds_dates_and_times_written_as_before() -> None:
    message = projector().row_message("referrals", RowState("referrals", "upsert", ROW))
    assert message.topic == "lead.projections.referrals.v1"
    assert message.value is not None
    envelope = json.loads(message.value)
    assert message.headers == [("content-type", b"application/cloudevents+json")]
    assert envelope["type"] == ROW_CHANGED and envelope["source"] == "urn:lead:site:t"
    assert envelope["subject"] == message.key.decode()
    value = envelope["data"]
    # What `json.dumps(..., default=str)` wrote before: the same document.
    assert value == json.loads(
        json.dumps(
            {
                "projection": "referrals",
                "table": "referrals",
                "op": "upsert",
                "key": {"table": "referrals", "referral_id": ROW["referral_id"]},
                "values": ROW,
            },
            default=str,
        )
    )
    assert value["values"]["received_at"] == "2026-03-01 09:30:00+00:00"
    assert value["values"]["score"] == "1.50"
    event = from_structured(
        KafkaMessage(dict(message.headers), message.key, message.value), JSONFormat()
    )
    assert event.get_type() == ROW_CHANGED
    assert event.get_data() == value


def test_a_deleted_row_is_a_binary_mode_cloudevent_tombstone() -> None:
    message = projector().row_message("referrals", RowState("referrals", "delete", ROW))
    assert message.value is None
    headers = dict(message.headers)
    assert headers["content-type"] == b"application/json"
    event = from_binary(KafkaMessage(headers, message.key, None), JSONFormat())
    assert event.get_type() == ROW_DELETED
    assert event.get_subject() == message.key.decode()
    assert event.get_source() == "urn:lead:site:t"
    assert event.get_data() is None


def test_the_key_bytes_stay_as_they_were_so_compaction_keeps_one_record_per_row() -> None:
    message = projector().row_message("referrals", RowState("referrals", "delete", ROW))
    assert message.value is None  # a tombstone
    assert message.key == (
        b'{"referral_id": "00000000-0000-0000-0000-000000000007", "table": "referrals"}'
    )
