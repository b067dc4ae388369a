"""The referral view: one row per referral, as the referral queue and referrers see it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import psycopg

from events.base import DomainEvent
from events.referral import ReferralReceived
from projections.base import RowChange, Table, Upsert

TABLE = Table(
    name="referrals",
    columns={
        "referral_id": "uuid NOT NULL",
        "person_id": "uuid NOT NULL",
        "pathway": "text NOT NULL",
        "status": "text NOT NULL",
        "referrer_principal": "text NOT NULL",
        "referrer_organisation": "text NOT NULL",
        "offense_code": "text NOT NULL",
        "offense_description": "text NOT NULL",
        "nibrs_code": "text",
        "received_at": "timestamptz NOT NULL",
        "recorded_at": "timestamptz NOT NULL",
        "position": "bigint NOT NULL",
    },
    primary_key=("referral_id",),
    indexes=(("person_id",), ("referrer_organisation", "received_at")),
)


class ReferralsProjection:
    name = "referrals"
    tables: Sequence[Table] = (TABLE,)

    def handle(self, event: DomainEvent, position: int) -> list[RowChange]:
        if isinstance(event, ReferralReceived):
            return [
                Upsert(
                    TABLE.name,
                    key={"referral_id": event.originator_id},
                    values={
                        "person_id": event.person_id,
                        "pathway": event.pathway.value,
                        "status": "received",
                        "referrer_principal": event.referrer.principal,
                        "referrer_organisation": event.referrer.organisation,
                        "offense_code": event.incident.offense_code,
                        "offense_description": event.incident.description,
                        "nibrs_code": event.incident.nibrs_code,
                        "received_at": event.occurred_at,
                        "recorded_at": event.timestamp,
                        "position": position,
                    },
                    version=event.originator_version,
                )
            ]
        return []


def row_to_referral(row: dict[str, Any]) -> dict[str, Any]:
    """A referral row as the API returns it."""
    return {
        "referral_id": row["referral_id"],
        "person_id": row["person_id"],
        "pathway": row["pathway"],
        "status": row["status"],
        "referrer": {
            "principal": row["referrer_principal"],
            "organisation": row["referrer_organisation"],
        },
        "incident": {
            "offense_code": row["offense_code"],
            "description": row["offense_description"],
            "nibrs_code": row["nibrs_code"],
        },
        "received_at": row["received_at"],
        "recorded_at": row["recorded_at"],
        "position": row["position"],
    }


def get_referral(
    conn: psycopg.Connection[dict[str, Any]], referral_id: UUID
) -> dict[str, Any] | None:
    row = conn.execute("SELECT * FROM referrals WHERE referral_id = %s", (referral_id,)).fetchone()
    return row_to_referral(row) if row else None
