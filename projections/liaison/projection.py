"""The liaison projection: its tables, and the rows each event writes into them (none for
what this view must not show).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg.types.json import Jsonb

from events.base import DomainEvent, Role
from events.case import (
    CaseOpened,
    ChargingDecisionRecorded,
    DispositionRecorded,
    HearingScheduled,
    LiaisonRecommendationRecorded,
    WarrantIssued,
    WarrantQuashed,
)
from events.participant import (
    ParticipantEnrolled,
    ParticipantExited,
    ParticipantReengaged,
    ParticipantStatus,
    ProgressSummaryShared,
    StatusChanged,
)
from events.privacy import PersonForgotten
from projections.base import Delete, Erase, RowChange, Table, Update, Upsert, schema_of

NAME = "liaison"
SCHEMA = schema_of(NAME)

LEGAL_READERS = frozenset({Role.LIAISON_PROSECUTOR, Role.PUBLIC_DEFENDER})
"""Who reads this view (each under a consent naming them)."""

FORGOTTEN = "[forgotten]"
"""What stands where a forgotten person's words were (a charge's description, a hearing's kind)."""

CASES = Table(
    name="cases",
    columns={
        "case_id": "uuid NOT NULL",
        "person_id": "uuid NOT NULL",
        "case_number": "text NOT NULL",
        "court": "text NOT NULL",
        "jurisdiction": "text NOT NULL",
        "origin": "text NOT NULL",
        "incident_date": "date NOT NULL",
        "filing_date": "date",
        "charges": "jsonb NOT NULL",  # without their descriptions, which are in:
        "charge_descriptions": "jsonb",  # in the words of whoever recorded them; NULL forgotten
        "charging_decision": "text",
        "decided_on": "date",
        "recommendation": "text",
        "recommended_on": "date",
        "disposition": "text",
        "disposed_on": "date",
        "closed": "boolean NOT NULL",
        "position": "bigint NOT NULL",
    },
    primary_key=("case_id",),
    indexes=(("person_id",),),
)

# Keyed by the case and the warrant's own id: the id names one warrant within its case.
WARRANTS = Table(
    name="warrants",
    columns={
        "case_id": "uuid NOT NULL",
        "warrant_id": "text NOT NULL",
        "person_id": "uuid NOT NULL",
        "issued_on": "date NOT NULL",
        "court": "text NOT NULL",
        "quashed_on": "date",
        "position": "bigint NOT NULL",
    },
    primary_key=("case_id", "warrant_id"),
    indexes=(("person_id",),),
)

# A hearing has no id of its own, so it is keyed by the case event that set it (the
# case and that event's version): a redelivered event rewrites its own row instead of
# adding a second hearing.
HEARINGS = Table(
    name="hearings",
    columns={
        "case_id": "uuid NOT NULL",
        "case_version": "integer NOT NULL",
        "person_id": "uuid NOT NULL",
        "hearing_at": "timestamptz NOT NULL",
        "kind": "text NOT NULL",
        "court": "text NOT NULL",
        "position": "bigint NOT NULL",
    },
    primary_key=("case_id", "case_version"),
    indexes=(("person_id",),),
)

# One participant per person (the participant id is derived from the person id), so the
# person is the key and the participant aggregate's version guards it.
PROGRAM_STATUS = Table(
    name="program_status",
    columns={
        "person_id": "uuid NOT NULL",
        "participant_id": "uuid NOT NULL",
        "status": "text NOT NULL",
        "enrolled_on": "date NOT NULL",
        "exited_on": "date",
        "reengaged_on": "date",
        "position": "bigint NOT NULL",
    },
    primary_key=("person_id",),
)

PROGRESS_SUMMARIES = Table(
    name="progress_summaries",
    columns={
        "summary_id": "uuid NOT NULL",
        "person_id": "uuid NOT NULL",
        "recipient_organisation": "text NOT NULL",
        "recipient_role": "text NOT NULL",
        "summary": "text NOT NULL",
        "shared_at": "timestamptz NOT NULL",
        "consent_id": "uuid NOT NULL",
        "position": "bigint NOT NULL",
    },
    primary_key=("summary_id",),
    indexes=(("person_id",),),
)

TABLES: tuple[Table, ...] = (CASES, WARRANTS, HEARINGS, PROGRAM_STATUS, PROGRESS_SUMMARIES)


# -- the projection ------------------------------------------------------------------


def _update(
    table: Table, key: dict[str, Any], event: DomainEvent, position: int, **values: Any
) -> list[RowChange]:
    """A change to an existing row, guarded by its aggregate's version."""
    return [
        Update(
            table.name,
            key=key,
            values={**values, "position": position},
            version=event.originator_version,
        )
    ]


class LiaisonProjection:
    """Cases, warrants, hearings, program status and shared summaries, per person."""

    name = NAME
    tables: Sequence[Table] = TABLES
    # The sealed text this view holds (summaries, charges as described, recommendations):
    # the rest is decoded without the key look-up.
    reads_sealed: tuple[type[DomainEvent], ...] = (
        ProgressSummaryShared,
        CaseOpened,
        LiaisonRecommendationRecorded,
        HearingScheduled,
    )

    def handle(self, event: DomainEvent, position: int) -> list[RowChange]:
        """The row changes the event implies; every event this view must not show implies none."""
        match event:
            case PersonForgotten():
                # Legal status stays (codes, dates, decisions); words go with the key.
                return [
                    Delete(PROGRESS_SUMMARIES.name, {"person_id": event.person_id}),
                    Erase(
                        CASES.name,
                        {"person_id": event.person_id},
                        {"charge_descriptions": Jsonb(None), "recommendation": None},
                    ),
                    Erase(HEARINGS.name, {"person_id": event.person_id}, {"kind": FORGOTTEN}),
                ]
            case CaseOpened():
                return [
                    Upsert(
                        CASES.name,
                        key={"case_id": event.originator_id},
                        values={
                            "person_id": event.person_id,
                            "case_number": event.case_number,
                            "court": event.court,
                            "jurisdiction": event.jurisdiction,
                            "origin": event.origin.value,
                            "incident_date": event.incident_date,
                            "filing_date": event.filing_date,
                            "charges": Jsonb(
                                [
                                    c.model_dump(mode="json", exclude={"description"})
                                    for c in event.charges
                                ]
                            ),
                            "charge_descriptions": Jsonb([c.description for c in event.charges]),
                            "charging_decision": None,
                            "decided_on": None,
                            "recommendation": None,
                            "recommended_on": None,
                            "disposition": None,
                            "disposed_on": None,
                            "closed": False,
                            "position": position,
                        },
                        version=event.originator_version,
                    )
                ]
            case WarrantIssued():
                return [
                    Upsert(
                        WARRANTS.name,
                        key={"case_id": event.originator_id, "warrant_id": event.warrant_id},
                        values={
                            "person_id": event.person_id,
                            "issued_on": event.issued_on,
                            "court": event.court,
                            "quashed_on": None,
                            "position": position,
                        },
                        version=event.originator_version,
                    )
                ]
            case WarrantQuashed():
                key = {"case_id": event.originator_id, "warrant_id": event.warrant_id}
                return _update(WARRANTS, key, event, position, quashed_on=event.quashed_on)
            case ChargingDecisionRecorded():
                # As the case aggregate does: only a filing brings a filing date and an
                # origin. The decision's free-text note is left out, as the feed leaves it.
                values: dict[str, Any] = {
                    "charging_decision": event.decision.value,
                    "decided_on": event.decided_on,
                }
                if event.filing_date is not None:
                    values["filing_date"] = event.filing_date
                if event.origin is not None:
                    values["origin"] = event.origin.value
                return _update(CASES, {"case_id": event.originator_id}, event, position, **values)
            case LiaisonRecommendationRecorded():
                return _update(
                    CASES,
                    {"case_id": event.originator_id},
                    event,
                    position,
                    recommendation=event.recommendation,
                    recommended_on=event.recommended_on,
                )
            case HearingScheduled():
                return [
                    Upsert(
                        HEARINGS.name,
                        key={
                            "case_id": event.originator_id,
                            "case_version": event.originator_version,
                        },
                        values={
                            "person_id": event.person_id,
                            "hearing_at": event.hearing_at,
                            "kind": event.kind,
                            "court": event.court,
                            "position": position,
                        },
                        version=event.originator_version,
                    )
                ]
            case DispositionRecorded():
                return _update(
                    CASES,
                    {"case_id": event.originator_id},
                    event,
                    position,
                    disposition=event.disposition.value,
                    disposed_on=event.disposed_on,
                    closed=True,
                )
            case ParticipantEnrolled():
                return [
                    Upsert(
                        PROGRAM_STATUS.name,
                        key={"person_id": event.person_id},
                        values={
                            "participant_id": event.originator_id,
                            "status": ParticipantStatus.ACTIVE.value,
                            "enrolled_on": event.enrolled_on,
                            "exited_on": None,
                            "reengaged_on": None,
                            "position": position,
                        },
                        version=event.originator_version,
                    )
                ]
            case StatusChanged():
                # The status only: a typed reason may say more than program status.
                return _update(
                    PROGRAM_STATUS,
                    {"person_id": event.person_id},
                    event,
                    position,
                    status=event.status.value,
                )
            case ParticipantExited():
                # Not the exit reason: "incarcerated" or "deceased" is not program status.
                return _update(
                    PROGRAM_STATUS,
                    {"person_id": event.person_id},
                    event,
                    position,
                    status=ParticipantStatus.EXITED.value,
                    exited_on=event.exited_on,
                )
            case ParticipantReengaged():
                return _update(
                    PROGRAM_STATUS,
                    {"person_id": event.person_id},
                    event,
                    position,
                    status=ParticipantStatus.ACTIVE.value,
                    exited_on=None,
                    reengaged_on=event.reengaged_on,
                )
            case ProgressSummaryShared() if event.recipient_role in LEGAL_READERS:
                # A summary written for someone else (a court, a provider) was shared under
                # a consent naming them, not a reader of this view: it has no place here.
                return [
                    Upsert(
                        PROGRESS_SUMMARIES.name,
                        key={"summary_id": event.summary_id},
                        values={
                            "person_id": event.person_id,
                            "recipient_organisation": event.recipient_organisation,
                            "recipient_role": event.recipient_role.value,
                            "summary": event.summary,
                            "shared_at": event.occurred_at,
                            "consent_id": event.consent_id,
                            "position": position,
                        },
                        version=event.originator_version,
                    )
                ]
        return []
