"""The audit trail: every event with who did it, and every disclosure made or withheld.

Auditors read it per person or overall. Events come from `lead.events.v1`; disclosure
records from `lead.audit.v1` (see `disclosure_changes`). Both are keyed by identity,
so a redelivered message changes nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from events.base import DomainEvent
from events.case import ChargingDecisionRecorded, HearingScheduled
from events.consent import ConsentExpired, ConsentGranted, ConsentRevoked
from events.envelope import CloudEvent
from events.participant import CaseManagerAssigned, StatusChanged
from events.privacy import PersonForgotten
from events.referral import ReferralDeclined, ReferralWithdrawnByPerson
from projections.base import (
    Erase,
    RowChange,
    Table,
    Upsert,
    keyset_after,
    limit_clause,
    schema_of,
)

NAME = "audit"
SCHEMA = schema_of(NAME)
# Disclosure records come from another topic, so a rebuild from `lead.events.v1`
# must not replace them: they live in a schema of their own.
DISCLOSURES_SCHEMA = schema_of("disclosures")

EVENTS = Table(
    name="events",
    columns={
        "event_id": "uuid NOT NULL",
        "position": "bigint NOT NULL",
        "person_id": "uuid",
        "aggregate_id": "uuid NOT NULL",
        "event_type": "text NOT NULL",
        "actor_principal": "text NOT NULL",
        "actor_role": "text NOT NULL",
        "actor_organisation": "text NOT NULL",
        "occurred_at": "timestamptz NOT NULL",
        "recorded_at": "timestamptz NOT NULL",
        "reason": "text",
    },
    primary_key=("event_id",),
    indexes=(("person_id", "position"), ("recorded_at",)),
    versioned=False,
)

DISCLOSURES = Table(
    name="disclosures",
    columns={
        "disclosure_id": "text NOT NULL",
        "person_id": "uuid",
        "outcome": "text NOT NULL",
        "recipient_principal": "text",
        "recipient_organisation": "text NOT NULL",
        "recipient_role": "text NOT NULL",
        "channel": "text NOT NULL",
        "event_id": "text",
        "information_kind": "text",
        "purpose": "text",
        "consent_id": "uuid",
        "decided_at": "timestamptz NOT NULL",
        "reason": "text",
    },
    primary_key=("disclosure_id",),
    indexes=(("person_id", "decided_at"),),
    versioned=False,
)

REASON_FIELDS = ("reason", "kind")  # declined/status/exit/revocation reasons; withdrawal kind


@functools.cache
def reason_fields(kind: type) -> tuple[str, ...]:
    """Which of `REASON_FIELDS` an event type has, looked up once per type: asking an
    event for a field it lacks costs pydantic an exception (a tenth of a rebuild)."""
    fields = getattr(kind, "model_fields", {})
    return tuple(f for f in REASON_FIELDS if f in fields or hasattr(kind, f))


class DisclosureRecords:
    """The tables of the disclosures read from `lead.audit.v1` (not rebuilt from events)."""

    name = "disclosures"
    tables: Sequence[Table] = (DISCLOSURES,)

    def handle(self, event: DomainEvent, position: int) -> list[RowChange]:
        return []


def audit_reason(event: DomainEvent) -> str | None:
    """What the trail shows of an event in someone's words: its reason (or kind), the
    note of a withdrawal or a charging decision, a consent's purpose and the event that
    ends it. Never case-management content (contact notes, goals, summaries)."""
    match event:
        case ReferralWithdrawnByPerson():
            return f"{event.kind.value}: {event.note}" if event.note else event.kind.value
        case ChargingDecisionRecorded():
            return event.note
        case ConsentGranted():
            ends = f"; ends on: {event.expiration_event}" if event.expiration_event else ""
            return f"purpose: {event.purpose}{ends}"
        case ConsentExpired():
            return event.by_event
    return next(
        (str(v) for f in reason_fields(type(event)) if (v := getattr(event, f)) is not None),
        None,
    )


class AuditProjection:
    name = NAME
    tables: Sequence[Table] = (EVENTS,)
    # The events whose sealed words `audit_reason` shows auditors (opened with the key).
    reads_sealed: tuple[type[DomainEvent], ...] = (
        ReferralDeclined,
        ReferralWithdrawnByPerson,
        CaseManagerAssigned,
        StatusChanged,
        ChargingDecisionRecorded,
        HearingScheduled,
        ConsentGranted,
        ConsentRevoked,
        ConsentExpired,
    )

    def handle(self, event: DomainEvent, position: int) -> list[RowChange]:
        reason = audit_reason(event)
        forgetting: list[RowChange] = []
        if isinstance(event, PersonForgotten):
            # Reasons are in someone's words: gone with the person (the rows stay, so
            # the trail still shows who did what, when).
            forgetting = [Erase(EVENTS.name, {"person_id": event.person_id}, {"reason": None})]
        return [
            *forgetting,
            Upsert(
                EVENTS.name,
                key={"event_id": event.event_id},
                values={
                    "position": position,
                    "person_id": event.person_id,
                    "aggregate_id": event.originator_id,
                    "event_type": event.cloudevent_type(),
                    "actor_principal": event.actor.principal,
                    "actor_role": event.actor.role.value,
                    "actor_organisation": event.actor.organisation,
                    "occurred_at": event.occurred_at,
                    "recorded_at": event.timestamp,
                    "reason": reason,
                },
            ),
        ]


def disclosure_changes(message: CloudEvent) -> list[RowChange]:
    """A record from `lead.audit.v1` as a row; other record types are not disclosures."""
    if not message.type.startswith("org.lead.disclosure."):
        return []
    data = message.data
    return [
        Upsert(
            DISCLOSURES.name,
            key={"disclosure_id": message.id},
            values={
                "person_id": UUID(message.subject) if message.subject else None,
                "outcome": message.type.split(".")[3],
                "recipient_principal": data.get("recipient_principal"),
                "recipient_organisation": data["recipient_organisation"],
                "recipient_role": data["recipient_role"],
                "channel": data["channel"],
                "event_id": data.get("event_id"),
                "information_kind": data.get("information_kind"),
                "purpose": data.get("purpose"),
                "consent_id": data.get("consent_id"),
                "decided_at": data.get("decided_at") or message.time,
                "reason": data.get("reason"),
            },
        )
    ]


def trail(
    conn: psycopg.Connection[dict[str, Any]],
    *,
    person_id: UUID | None = None,
    since: datetime | None = None,
    limit: int = 1000,
) -> dict[str, list[dict[str, Any]]]:
    """Events (in store order) and disclosures (in time order), for one person or all."""
    conditions: list[sql.Composable] = []
    params: dict[str, Any] = {"limit": limit}
    if person_id is not None:
        conditions.append(sql.SQL("person_id = %(person)s"))
        params["person"] = person_id
    if since is not None:
        params["since"] = since

    def where(time_column: str) -> sql.Composable:
        parts = list(conditions)
        if since is not None:
            parts.append(sql.SQL("{} >= %(since)s").format(sql.Identifier(time_column)))
        return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(parts) if parts else sql.SQL("")

    events = conn.execute(
        sql.SQL("SELECT * FROM {}{} ORDER BY position LIMIT %(limit)s").format(
            sql.Identifier(SCHEMA, EVENTS.name), where("recorded_at")
        ),
        params,
    ).fetchall()
    disclosures = conn.execute(
        sql.SQL("SELECT * FROM {}{} ORDER BY decided_at, disclosure_id LIMIT %(limit)s").format(
            sql.Identifier(DISCLOSURES_SCHEMA, DISCLOSURES.name), where("decided_at")
        ),
        params,
    ).fetchall()
    return {"events": events, "disclosures": disclosures}


DISCLOSED = ("recorded", "permitted")
"""The outcomes that are disclosures made (under a consent, or on a stated basis); a
withheld one disclosed nothing."""

DISCLOSURE_COLUMNS = (
    "disclosure_id",
    "outcome",
    "recipient_principal",
    "recipient_organisation",
    "recipient_role",
    "channel",
    "information_kind",
    "purpose",
    "consent_id",
    "decided_at",
    "reason",
)


def disclosures_of(
    conn: psycopg.Connection[Any],
    *,
    person_id: UUID,
    after: Sequence[Any] | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Every disclosure made of the person's records (42 CFR 2.24, the list a patient may
    ask for): who received what kind of information, when, through which endpoint or
    topic, under which consent; oldest first, after `after` (decided_at, disclosure_id)."""
    seek, params = keyset_after(
        [sql.Identifier("decided_at"), sql.Identifier("disclosure_id")],
        ["timestamptz", "text"],
        after,
    )
    query = sql.SQL(
        "SELECT {columns} FROM {table} WHERE person_id = %(person)s AND outcome = ANY(%(out)s) "
        "AND {seek} ORDER BY decided_at, disclosure_id{limit}"
    ).format(
        columns=sql.SQL(", ").join(map(sql.Identifier, DISCLOSURE_COLUMNS)),
        table=sql.Identifier(DISCLOSURES_SCHEMA, DISCLOSURES.name),
        seek=seek,
        limit=limit_clause(limit),
    )
    rows: list[dict[str, Any]] = conn.execute(
        query, {**params, "person": person_id, "out": list(DISCLOSED)}
    ).fetchall()
    return rows
