"""When each consent ends by its date: what `lead timers` reads to record the expiry.

A consent stops covering anyone at its `expires_at` whatever is recorded (reads and the
prosecution feed judge coverage at the moment: `aggregates.consent.Consent.covers`).
The expiry is then recorded once as `consent.expired`, for the trail and the views
that list consents; this table is how the timers find the ones due. Ids and times
only: nothing a person said.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final
from uuid import UUID

import psycopg
from psycopg import sql

from events.base import DomainEvent
from events.consent import ConsentExpired, ConsentGranted, ConsentRevoked
from projections.base import RowChange, Table, Update, Upsert, schema_of

NAME: Final = "consents"
SCHEMA: Final = schema_of(NAME)

ENDS = Table(
    name="ends",
    columns={
        "consent_id": "uuid NOT NULL",
        "person_id": "uuid NOT NULL",
        "expires_at": "timestamptz",
        "revoked_at": "timestamptz",
        "expired_at": "timestamptz",
        "position": "bigint NOT NULL",
    },
    primary_key=("consent_id",),
    indexes=(("expires_at",),),
)


class ConsentsProjection:
    """Consent events -> one row per consent: its end date, its revocation, its expiry."""

    name = NAME
    tables: Sequence[Table] = (ENDS,)

    def handle(self, event: DomainEvent, position: int) -> list[RowChange]:
        match event:
            case ConsentGranted():
                values = {
                    "person_id": event.person_id,
                    "expires_at": event.expires_at,
                    "position": position,
                }
                return [
                    Upsert(
                        ENDS.name,
                        {"consent_id": event.originator_id},
                        values,
                        version=event.originator_version,
                    )
                ]
            case ConsentRevoked():
                return [_update(event, position, revoked_at=event.effective_at)]
            case ConsentExpired():
                return [_update(event, position, expired_at=event.expired_at)]
        return []


def _update(event: DomainEvent, position: int, **values: Any) -> RowChange:
    return Update(
        ENDS.name,
        key={"consent_id": event.originator_id},
        values={**values, "position": position},
        version=event.originator_version,
    )


def due_expiries(conn: psycopg.Connection[Any], *, now: datetime, limit: int = 500) -> list[UUID]:
    """Consents whose end date has come by `now`, not yet recorded as expired, and not
    revoked before it (a revocation that took effect first ended them)."""
    query = sql.SQL(
        "SELECT consent_id FROM {ends} WHERE expires_at <= %s AND expired_at IS NULL "
        "AND (revoked_at IS NULL OR revoked_at > expires_at) "
        "ORDER BY expires_at, consent_id LIMIT %s"
    ).format(ends=sql.Identifier(SCHEMA, ENDS.name))
    return [row[0] for row in conn.execute(query, (now, limit)).fetchall()]
