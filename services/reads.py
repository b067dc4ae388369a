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

from aggregates.consent import first_covering
from events.base import Actor
from events.consent import InformationKind
from events.disclosure import disclosure_record
from events.envelope import CloudEvent
from events.participant import ContactRecorded, GoalProgressRecorded
from projections.liaison import queries as liaison
from projections.liaison.projection import SCHEMA as LIAISON_SCHEMA
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
    *,
    at: datetime | None = None,
    schema: str = LIAISON_SCHEMA,
    withheld: dict[UUID, list[InformationKind]] | None = None,
) -> list[dict[str, Any]]:
    """The case view of everyone whose consent covers this caller's legal-status access now
    (or, for an auditor's replay, at `at`, read from the view as rebuilt then: `schema`).

    What an entry leaves out for want of consent (a program status, summaries shared
    with the caller) is added to `withheld`, per person, to be recorded."""
    now = at or app.clock.now()  # the server's clock, a test's moved one included
    candidates = [person_id] if person_id else liaison.person_ids_in_view(conn, schema=schema)
    consents = {p: app.consents_of(p) for p in candidates}  # each person's, read once, now

    def cover(person: UUID, kind: InformationKind) -> UUID | None:
        found = first_covering(consents[person], actor.organisation, actor.role, kind, now)
        return found.id if found else None

    allowed = {p: c for p in candidates if (c := cover(p, InformationKind.LEGAL_STATUS))}
    view = liaison.case_view(conn, list(allowed), schema=schema) if allowed else []
    for entry in view:
        person = entry["person_id"]
        entry["consent_id"] = allowed[person]
        left_out = []
        if not cover(person, InformationKind.PROGRAM_STATUS) and entry["program"] is not None:
            entry["program"] = None
            left_out.append(InformationKind.PROGRAM_STATUS)
        # A summary is for the one it was shared with, not for whoever has consent.
        mine = [s for s in entry["progress_summaries"] if addressed_to(actor, s)]
        if not cover(person, InformationKind.PROGRESS_SUMMARY):
            entry["progress_summaries"] = []
            if mine:
                left_out.append(InformationKind.PROGRESS_SUMMARY)
        else:
            entry["progress_summaries"] = mine
        if left_out and withheld is not None:
            withheld[person] = left_out
    return view


def addressed_to(actor: Actor, summary: dict[str, Any]) -> bool:
    """Whether a shared progress summary was shared with this caller's organisation and role."""
    return (summary["recipient_organisation"], summary["recipient_role"]) == (
        actor.organisation,
        actor.role.value,
    )


def liaison_withheld(
    conn: psycopg.Connection[dict[str, Any]],
    actor: Actor,
    person_id: UUID,
    *,
    source: str,
    channel: str,
) -> list[CloudEvent]:
    """The record of a refused case-view read: the person has a case view, but no consent
    covers this caller now (a refusal looks like "not found" to the caller, not to an
    auditor). Nothing when the person has no case view at all."""
    if not liaison.case_view(conn, [person_id]):
        return []
    return [
        disclosure_record(
            record_id=f"disclosure:{uuid.uuid4()}",
            source=source,
            person_id=str(person_id),
            recipient_principal=actor.principal,
            recipient_organisation=actor.organisation,
            recipient_role=actor.role.value,
            channel=channel,
            information_kind=InformationKind.LEGAL_STATUS.value,
            purpose=f"asked by {actor.principal} through the liaison case view",
            consent_id=None,
            at=datetime.now(UTC),
        )
    ]


def liaison_disclosures(
    view: list[dict[str, Any]],
    actor: Actor,
    *,
    source: str,
    channel: str,
    withheld: dict[UUID, list[InformationKind]] | None = None,
) -> list[CloudEvent]:
    """One record per person and kind of information this answer disclosed, and one per
    kind it left out for want of consent (`withheld`, from `liaison_case_view`)."""
    now = datetime.now(UTC)
    records = []
    shown = {entry["person_id"] for entry in view}
    for person, kinds in (withheld or {}).items():
        if person not in shown:  # not in this page of the answer
            continue
        for kind in kinds:
            records.append(
                disclosure_record(
                    record_id=f"disclosure:{uuid.uuid4()}",
                    source=source,
                    person_id=str(person),
                    recipient_principal=actor.principal,
                    recipient_organisation=actor.organisation,
                    recipient_role=actor.role.value,
                    channel=channel,
                    information_kind=kind.value,
                    purpose=f"asked by {actor.principal} through the liaison case view",
                    consent_id=None,
                    at=now,
                )
            )
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
                    recipient_principal=actor.principal,
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


# -- what referrers see of their own referrals ------------------------------------------

ENROLMENT_STATUSES = frozenset({"enrolled", "withdrawn"})
"""Statuses that tell of the person's participation: shown to a referrer only under consent."""


def referrer_view(
    app: LeadApplication, actor: Actor, referral: dict[str, Any], now: datetime
) -> tuple[dict[str, Any], UUID | None, str | None]:
    """The status of one's own referral; participation only under consent.

    Returns the view, the consent it was shown under, and the basis when shown
    without one (recorded as a disclosure either way).
    """
    status = referral["status"]
    consent_id = None
    basis: str | None = "the referrer's own referral, before enrolment"
    if status in ENROLMENT_STATUSES:
        consent_id = covered(app, actor, referral["person_id"], InformationKind.PROGRAM_STATUS, now)
        basis = None
        if consent_id is None:
            status = "closed"
    view = {
        "referral_id": referral["referral_id"],
        "pathway": referral["pathway"],
        "status": status,
        "received_at": referral["received_at"],
        "eligibility": {"eligible": referral["eligibility"]["eligible"]},
        "position": referral["position"],
    }
    return view, consent_id, basis


# -- the case record: the participant's case managers and their supervisor -------------------


def participant_record(app: LeadApplication, person_id: UUID) -> dict[str, Any]:
    """The case record, contact notes included, from the participant's own history."""
    participant = app.participant(person_id)
    history = list(app.events.get(participant.id))
    contacts = [
        {
            "contact_id": e.contact_id,
            "kind": e.kind.value,
            "contacted_on": e.contacted_on,
            "minutes": e.minutes,
            "place": e.place,
            "notes": e.notes,
            "recorded_by": e.actor.principal,
        }
        for e in history
        if isinstance(e, ContactRecorded)
    ]
    progress: dict[UUID, list[dict[str, Any]]] = {}
    for e in history:
        if isinstance(e, GoalProgressRecorded):
            progress.setdefault(e.goal_id, []).append(
                {"note": e.note, "occurred_at": e.occurred_at, "recorded_by": e.actor.principal}
            )
    return {
        "person_id": person_id,
        "case_manager": participant.case_manager,
        "status": participant.status.value,
        "enrolled_on": participant.enrolled_on,
        "goals": [
            {
                "goal_id": gid,
                "text": g.text,
                "domain": g.domain.value,
                "status": g.status.value,
                "progress": progress.get(gid, []),
            }
            for gid, g in participant.goals.items()
        ],
        "contacts": contacts,
        "version": participant.version,
    }


# -- disclosure records for every participant-level answer ------------------------------------


def access_records(
    actor: Actor,
    people: list[tuple[UUID, str, UUID | None, str | None]],
    *,
    source: str,
    channel: str,
    purpose: str,
) -> list[CloudEvent]:
    """One record per (person, kind of information, consent, basis) an answer carried."""
    now = datetime.now(UTC)
    return [
        disclosure_record(
            record_id=f"disclosure:{uuid.uuid4()}",
            source=source,
            person_id=str(person),
            recipient_principal=actor.principal,
            recipient_organisation=actor.organisation,
            recipient_role=actor.role.value,
            channel=channel,
            information_kind=kind,
            purpose=purpose,
            consent_id=consent,
            basis=basis,
            at=now,
        )
        for person, kind, consent, basis in people
    ]
