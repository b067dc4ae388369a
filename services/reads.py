"""Reads that disclose participant-level data: consent is checked at the moment of reading.

The projection holds what may ever be shown; what is shown to this caller now is
decided here, per person and per kind of information, against the consent in force.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg

from events.base import Actor
from events.consent import InformationKind
from events.disclosure import disclosure_record
from events.envelope import CloudEvent
from projections import liaison
from services.application import LeadApplication
from services.commands import DisclosureQuestion


def covered(
    app: LeadApplication, actor: Actor, person_id: UUID, kind: InformationKind, at: datetime
) -> UUID | None:
    consent = app.consent_for_disclosure(
        DisclosureQuestion(
            person_id=person_id,
            recipient_organisation=actor.organisation,
            recipient_role=actor.role,
            kind=kind,
            at=at,
        )
    )
    return consent.id if consent else None


def liaison_case_view(
    app: LeadApplication,
    conn: psycopg.Connection[dict[str, Any]],
    actor: Actor,
    person_id: UUID | None = None,
) -> list[dict[str, Any]]:
    """The case view of everyone whose consent covers this caller's legal-status access now."""
    now = datetime.now(UTC)
    candidates = [person_id] if person_id else liaison.person_ids_with_cases(conn)
    allowed = {
        p: c for p in candidates if (c := covered(app, actor, p, InformationKind.LEGAL_STATUS, now))
    }
    view = liaison.case_view(conn, list(allowed)) if allowed else []
    for entry in view:
        person = entry["person_id"]
        entry["consent_id"] = allowed[person]
        if not covered(app, actor, person, InformationKind.PROGRAM_STATUS, now):
            entry["program"] = None
        if not covered(app, actor, person, InformationKind.PROGRESS_SUMMARY, now):
            entry["progress_summaries"] = []
    return view


def liaison_disclosures(
    view: list[dict[str, Any]], actor: Actor, *, source: str, channel: str
) -> list[CloudEvent]:
    """One record per person and kind of information this answer disclosed."""
    now = datetime.now(UTC)
    records = []
    for entry in view:
        kinds = [InformationKind.LEGAL_STATUS]
        if entry.get("program") is not None:
            kinds.append(InformationKind.PROGRAM_STATUS)
        if entry.get("progress_summaries"):
            kinds.append(InformationKind.PROGRESS_SUMMARY)
        for kind in kinds:
            records.append(
                disclosure_record(
                    record_id=f"disclosure:{uuid.uuid4()}",
                    source=source,
                    person_id=str(entry["person_id"]),
                    recipient_organisation=actor.organisation,
                    recipient_role=actor.role.value,
                    channel=channel,
                    information_kind=kind.value,
                    purpose=f"read by {actor.principal} through the liaison case view",
                    consent_id=entry["consent_id"],
                    at=now,
                )
            )
    return records
