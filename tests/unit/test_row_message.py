"""A row change as dashboards read it from `lead.projections.<name>.v1`."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from consumers.projector import Projector
from infra.projection_store import RowState
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
    return Projector("postgresql://unused", [ReferralsProjection()])


def test_the_value_says_what_the_row_holds_dates_and_times_written_as_before() -> None:
    message = projector().row_message("referrals", RowState("referrals", "upsert", ROW))
    assert message.topic == "lead.projections.referrals.v1"
    assert message.value is not None
    value = json.loads(message.value)
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


def test_the_key_bytes_stay_as_they_were_so_compaction_keeps_one_record_per_row() -> None:
    message = projector().row_message("referrals", RowState("referrals", "delete", ROW))
    assert message.value is None  # a tombstone
    assert message.key == (
        b'{"referral_id": "00000000-0000-0000-0000-000000000007", "table": "referrals"}'
    )
