"""The agenda projection: its fact tables, and the fact rows each event writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from events.base import DomainEvent
from events.case import (
    CaseOpened,
    ChargingDecision,
    ChargingDecisionRecorded,
    Severity,
    WarrantIssued,
)
from events.participant import (
    ParticipantEnrolled,
    ParticipantExited,
    ParticipantReengaged,
    ParticipantStatus,
    StatusChanged,
)
from events.referral import (
    EligibilityDecided,
    IntakeCompleted,
    IntakeDeadlineLapsed,
    IntakeScheduled,
    ReferralApproved,
    ReferralDeclined,
    ReferralReceived,
    ReferralWithdrawnByPerson,
)
from projections.base import RowChange, Table, Upsert, schema_of

NAME: Final = "agenda"
SCHEMA: Final = schema_of(NAME)

# Referral facts are named by the status the event moved the referral to.
RECEIVED: Final = "received"
APPROVED: Final = "approved"
INTAKE_SCHEDULED: Final = "intake_scheduled"
LAPSED: Final = "lapsed"
AWAITING_INTAKE: Final = (APPROVED, INTAKE_SCHEDULED)
CLOSED_AFTER_APPROVAL: Final = ("enrolled", LAPSED, "withdrawn")

# Participant facts.
ENROLLED: Final = "enrolled"
STATUS_CHANGED: Final = "status_changed"
EXITED: Final = "exited"
REENGAGED: Final = "reengaged"

# Case facts.
CASE_OPENED: Final = "case_opened"
WARRANT_ISSUED: Final = "warrant_issued"
FILED: Final = "filed"

REFERRAL_FACTS = Table(
    name="referral_facts",
    columns={
        "referral_id": "uuid NOT NULL",
        "seq": "integer NOT NULL",
        "kind": "text NOT NULL",
        "person_id": "uuid NOT NULL",
        "happened_at": "timestamptz NOT NULL",
        "pathway": "text",
        "intake_deadline": "date",
        "intake_scheduled_for": "timestamptz",
        "participant_id": "uuid",
        "position": "bigint NOT NULL",
    },
    primary_key=("referral_id", "seq"),
    indexes=(("happened_at",), ("kind", "happened_at")),
    versioned=False,
)
"""One row per referral event that moved its status; `kind` is that status."""

PARTICIPANT_FACTS = Table(
    name="participant_facts",
    columns={
        "participant_id": "uuid NOT NULL",
        "seq": "integer NOT NULL",
        "kind": "text NOT NULL",
        "person_id": "uuid NOT NULL",
        "status": "text NOT NULL",
        "happened_at": "timestamptz NOT NULL",
        "on_date": "date",
        "exit_reason": "text",
        "position": "bigint NOT NULL",
    },
    primary_key=("participant_id", "seq"),
    indexes=(("happened_at",), ("status", "happened_at")),
    versioned=False,
)
"""One row per participant event that set their status (enrollment, changes, exit,
re-engagement), with the status it set; `on_date` is the day the event names."""

CASE_FACTS = Table(
    name="case_facts",
    columns={
        "case_id": "uuid NOT NULL",
        "seq": "integer NOT NULL",
        "kind": "text NOT NULL",
        "person_id": "uuid NOT NULL",
        "happened_at": "timestamptz NOT NULL",
        "court": "text",
        "severity": "text",
        "incident_date": "date",
        "filing_date": "date",
        "origin": "text",
        "issued_on": "date",
        "position": "bigint NOT NULL",
    },
    primary_key=("case_id", "seq"),
    indexes=(("happened_at",),),
    versioned=False,
)
"""One row per case opened, warrant issued and decision to file. Only the opening
knows the incident date, so a filing is joined to its case's opening when read."""

TABLES: Final[tuple[Table, ...]] = (REFERRAL_FACTS, PARTICIPANT_FACTS, CASE_FACTS)

_SEVERITY_RANK: Final[Mapping[Severity, int]] = {
    Severity.MISDEMEANOR: 0,
    Severity.GROSS_MISDEMEANOR: 1,
    Severity.FELONY: 2,
}


# -- the projection ------------------------------------------------------------------


def _fact(table: Table, key: str, event: DomainEvent, position: int, **values: Any) -> RowChange:
    """A fact keyed by the event's identity: written once, rewritten identically on replay."""
    return Upsert(
        table.name,
        key={key: event.originator_id, "seq": event.originator_version},
        values={
            **values,
            "person_id": event.person_id,
            "happened_at": event.occurred_at,
            "position": position,
        },
    )


def _referral(event: DomainEvent, position: int, kind: str, **values: Any) -> list[RowChange]:
    return [_fact(REFERRAL_FACTS, "referral_id", event, position, kind=kind, **values)]


def _participant(
    event: DomainEvent, position: int, kind: str, status: ParticipantStatus, **values: Any
) -> list[RowChange]:
    return [
        _fact(
            PARTICIPANT_FACTS,
            "participant_id",
            event,
            position,
            kind=kind,
            status=status.value,
            **values,
        )
    ]


def _case(event: DomainEvent, position: int, kind: str, **values: Any) -> list[RowChange]:
    return [_fact(CASE_FACTS, "case_id", event, position, kind=kind, **values)]


class AgendaProjection:
    """Referral, participant and case events -> the facts an OWG agenda is made of."""

    name = NAME
    tables: Sequence[Table] = TABLES

    def handle(self, event: DomainEvent, position: int) -> list[RowChange]:
        """The facts the event adds; events the agenda does not show add none."""
        match event:
            case ReferralReceived():
                return _referral(event, position, RECEIVED, pathway=event.pathway.value)
            case EligibilityDecided():
                return _referral(event, position, "eligible" if event.eligible else "excluded")
            case ReferralApproved():
                return _referral(event, position, APPROVED, intake_deadline=event.intake_deadline)
            case ReferralDeclined():
                return _referral(event, position, "declined")
            case IntakeScheduled():
                return _referral(
                    event, position, INTAKE_SCHEDULED, intake_scheduled_for=event.scheduled_for
                )
            case IntakeCompleted():
                return _referral(event, position, "enrolled", participant_id=event.participant_id)
            case IntakeDeadlineLapsed():
                return _referral(event, position, LAPSED, intake_deadline=event.deadline)
            case ReferralWithdrawnByPerson():
                return _referral(event, position, "withdrawn")
            case ParticipantEnrolled():
                return _participant(
                    event, position, ENROLLED, ParticipantStatus.ACTIVE, on_date=event.enrolled_on
                )
            case StatusChanged():
                return _participant(
                    event, position, STATUS_CHANGED, ParticipantStatus(event.status.value)
                )
            case ParticipantExited():
                return _participant(
                    event,
                    position,
                    EXITED,
                    ParticipantStatus.EXITED,
                    on_date=event.exited_on,
                    exit_reason=event.reason.value,
                )
            case ParticipantReengaged():
                return _participant(
                    event,
                    position,
                    REENGAGED,
                    ParticipantStatus.ACTIVE,
                    on_date=event.reengaged_on,
                )
            case CaseOpened():
                filed = event.filing_date is not None
                severity = max((c.severity for c in event.charges), key=_SEVERITY_RANK.__getitem__)
                return _case(
                    event,
                    position,
                    CASE_OPENED,
                    court=event.court,
                    severity=severity.value,
                    incident_date=event.incident_date,
                    filing_date=event.filing_date,
                    # An unfiled case's origin says nothing yet; its filing decides it.
                    origin=event.origin.value if filed else None,
                )
            case WarrantIssued():
                return _case(
                    event, position, WARRANT_ISSUED, court=event.court, issued_on=event.issued_on
                )
            case ChargingDecisionRecorded() if event.decision is ChargingDecision.FILED:
                return _case(
                    event,
                    position,
                    FILED,
                    filing_date=event.filing_date,
                    origin=event.origin.value if event.origin is not None else None,
                )
        return []
