"""The referral view: one row per referral, as the referral queue and referrers see it.

It holds no names or birth dates: the people who need those read them from the
case file, not from a list.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from events.base import DomainEvent
from events.privacy import PersonForgotten
from events.referral import (
    EligibilityDecided,
    IntakeCompleted,
    IntakeDeadlineLapsed,
    IntakeScheduled,
    ReferralApproved,
    ReferralDeclined,
    ReferralReceived,
    ReferralWithdrawnByPerson,
    WarmHandoffCompleted,
)
from projections.base import (
    Erase,
    RowChange,
    Table,
    Update,
    Upsert,
    keyset_after,
    limit_clause,
    schema_of,
)

SCHEMA = schema_of("referrals")

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
        "offense_place": "text",
        "received_at": "timestamptz NOT NULL",
        "recorded_at": "timestamptz NOT NULL",
        "eligible": "boolean",
        "exclusion_reasons": "jsonb NOT NULL DEFAULT '[]'",
        "policy_version": "integer",
        "intake_deadline": "date",
        "case_manager": "text",
        "minutes_to_handoff": "integer",
        "intake_scheduled_for": "timestamptz",
        "participant_id": "uuid",
        "closed_reason": "text",
        "position": "bigint NOT NULL",
    },
    primary_key=("referral_id",),
    indexes=(("person_id",), ("referrer_organisation", "received_at"), ("status",)),
)


def _update(event: DomainEvent, position: int, **values: Any) -> list[RowChange]:
    return [
        Update(
            TABLE.name,
            key={"referral_id": event.originator_id},
            values={**values, "position": position},
            version=event.originator_version,
        )
    ]


FORGOTTEN = "[forgotten]"


class ReferralsProjection:
    name = "referrals"
    tables: Sequence[Table] = (TABLE,)
    # The incident, the exclusions found and a decline's reason are shown to the program's
    # staff: sealed in the events, opened with the person's key.
    reads_sealed: tuple[type[DomainEvent], ...] = (
        ReferralReceived,
        EligibilityDecided,
        ReferralDeclined,
    )

    def handle(self, event: DomainEvent, position: int) -> list[RowChange]:
        match event:
            case PersonForgotten():
                # What is in anyone's words goes with the person's key: the incident as
                # the referrer described it, the exclusions found, why it was declined.
                # (A rebuild after the key is gone reads placeholders, then erases the same.)
                return [
                    Erase(
                        TABLE.name,
                        {"person_id": event.person_id},
                        {
                            "offense_description": FORGOTTEN,
                            "offense_place": None,
                            "exclusion_reasons": Jsonb([]),
                        },
                    ),
                    Erase(
                        TABLE.name,
                        {"person_id": event.person_id, "status": ReferralStatus.DECLINED.value},
                        {"closed_reason": FORGOTTEN},
                    ),
                ]
            case ReferralReceived():
                return [
                    Upsert(
                        TABLE.name,
                        key={"referral_id": event.originator_id},
                        values={
                            "person_id": event.person_id,
                            "pathway": event.pathway.value,
                            "status": ReferralStatus.RECEIVED.value,
                            "referrer_principal": event.referrer.principal,
                            "referrer_organisation": event.referrer.organisation,
                            "offense_code": event.incident.offense_code,
                            "offense_description": event.incident.description,
                            "nibrs_code": event.incident.nibrs_code,
                            "offense_place": event.incident.place,
                            "received_at": event.occurred_at,
                            "recorded_at": event.timestamp,
                            "position": position,
                        },
                        version=event.originator_version,
                    )
                ]
            case EligibilityDecided():
                return _update(
                    event,
                    position,
                    eligible=event.eligible,
                    exclusion_reasons=Jsonb(list(event.reasons)),
                    policy_version=event.policy_version,
                    status=(
                        ReferralStatus.ELIGIBLE.value
                        if event.eligible
                        else ReferralStatus.EXCLUDED.value
                    ),
                )
            case ReferralApproved():
                return _update(
                    event,
                    position,
                    status=ReferralStatus.APPROVED.value,
                    intake_deadline=event.intake_deadline,
                )
            case ReferralDeclined():
                return _update(
                    event,
                    position,
                    status=ReferralStatus.DECLINED.value,
                    closed_reason=event.reason,
                )
            case WarmHandoffCompleted():
                return _update(
                    event,
                    position,
                    case_manager=event.case_manager,
                    minutes_to_handoff=event.minutes_to_arrival,
                )
            case IntakeScheduled():
                return _update(
                    event,
                    position,
                    status=ReferralStatus.INTAKE_SCHEDULED.value,
                    intake_scheduled_for=event.scheduled_for,
                    case_manager=event.case_manager,
                )
            case IntakeCompleted():
                return _update(
                    event,
                    position,
                    status=ReferralStatus.ENROLLED.value,
                    participant_id=event.participant_id,
                    case_manager=event.case_manager,
                )
            case IntakeDeadlineLapsed():
                return _update(
                    event,
                    position,
                    status=ReferralStatus.LAPSED.value,
                    closed_reason="intake deadline lapsed; returned to the prosecutor",
                )
            case ReferralWithdrawnByPerson():
                return _update(
                    event,
                    position,
                    status=ReferralStatus.WITHDRAWN.value,
                    closed_reason=f"the person {event.kind.value}",
                )
        return []


class ReferralStatus(StrEnum):
    """Every status a referral's row can hold (what `status` filters by)."""

    RECEIVED = "received"
    ELIGIBLE = "eligible"
    EXCLUDED = "excluded"
    APPROVED = "approved"
    DECLINED = "declined"
    INTAKE_SCHEDULED = "intake_scheduled"
    ENROLLED = "enrolled"
    LAPSED = "lapsed"
    WITHDRAWN = "withdrawn"


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
            "place": row.get("offense_place"),
        },
        "eligibility": {
            "eligible": row["eligible"],
            "reasons": row["exclusion_reasons"],
            "policy_version": row["policy_version"],
        },
        "intake_deadline": row["intake_deadline"],
        "case_manager": row["case_manager"],
        "minutes_to_handoff": row["minutes_to_handoff"],
        "intake_scheduled_for": row["intake_scheduled_for"],
        "participant_id": row["participant_id"],
        "closed_reason": row["closed_reason"],
        "received_at": row["received_at"],
        "recorded_at": row["recorded_at"],
        "position": row["position"],
    }


def get_referral(
    conn: psycopg.Connection[dict[str, Any]], referral_id: UUID
) -> dict[str, Any] | None:
    query = sql.SQL("SELECT * FROM {} WHERE referral_id = %s").format(
        sql.Identifier(SCHEMA, TABLE.name)
    )
    row = conn.execute(query, (referral_id,)).fetchone()
    return row_to_referral(row) if row else None


def list_referrals(
    conn: psycopg.Connection[dict[str, Any]],
    *,
    referrer: str | None = None,
    status: str | None = None,
    pathway: str | None = None,
    after: Sequence[Any] | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Referrals oldest first, optionally one referrer's, one status, one pathway; only
    those after `after` (a `(received_at, referral_id)` of the previous page, as text)
    and at most `limit`."""
    seek, params = keyset_after(
        [sql.Identifier("received_at"), sql.Identifier("referral_id")],
        ["timestamptz", "uuid"],
        after,
    )
    conditions: list[sql.Composable] = [seek]
    for column, value in (
        ("referrer_principal", referrer),
        ("status", status),
        ("pathway", pathway),
    ):
        if value is not None:
            conditions.append(
                sql.SQL("{} = %({})s").format(sql.Identifier(column), sql.SQL(column))
            )
            params[column] = value
    query = sql.SQL("SELECT * FROM {} WHERE {} ORDER BY received_at, referral_id{}").format(
        sql.Identifier(SCHEMA, TABLE.name), sql.SQL(" AND ").join(conditions), limit_clause(limit)
    )
    return [row_to_referral(row) for row in conn.execute(query, params).fetchall()]
