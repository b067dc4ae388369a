"""The evaluation projection: its tables of de-identified facts, and the rows each event
writes into them (see the package docstring for what is kept and why).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from events.base import DomainEvent
from events.case import CaseOpened, ChargingDecision, ChargingDecisionRecorded, Severity
from events.participant import (
    ContactRecorded,
    DataQuality,
    IncomeRecorded,
    LivingSituationRecorded,
    ParticipantEnrolled,
    ParticipantExited,
    ParticipantReengaged,
    housing_category,
)
from events.referral import (
    EligibilityDecided,
    IntakeCompleted,
    IntakeDeadlineLapsed,
    ReferralApproved,
    ReferralDeclined,
    ReferralReceived,
    ReferralWithdrawnByPerson,
)
from projections.base import RowChange, Table, Update, Upsert

SCHEMA: Final = "proj_evaluation"
"""The PostgreSQL schema the projection's tables live in; row changes name tables bare."""

# -- tables ---------------------------------------------------------------------------

REFERRALS = Table(
    name="referrals",
    columns={
        "referral_id": "uuid NOT NULL",
        "person_id": "uuid NOT NULL",
        "pathway": "text NOT NULL",
        "received_at": "timestamptz NOT NULL",
        "received_on": "date NOT NULL",
        "received_month": "date NOT NULL",
        "race": "text NOT NULL",
        "ethnicity": "text NOT NULL",
        "prior_criminal_legal_contact": "boolean",
        "outcome": "text NOT NULL",
        "approved": "boolean NOT NULL DEFAULT false",
        "intake_on": "date",
        "enrolled_at": "timestamptz",
        "lapsed": "boolean NOT NULL DEFAULT false",
    },
    primary_key=("referral_id",),
    indexes=(("received_month", "pathway"), ("received_on",)),
)
"""One row per referral: pathway, self-reported race and ethnicity, the net-widening fact
and how the referral ended ("open", "excluded", "declined", "withdrawn", "lapsed",
"enrolled")."""

ENROLLMENTS = Table(
    name="enrollments",
    columns={
        "participant_id": "uuid NOT NULL",
        "person_id": "uuid NOT NULL",
        "referral_id": "uuid NOT NULL",
        "enrolled_on": "date NOT NULL",
        "exited_on": "date",
        "reengaged_on": "date",
    },
    primary_key=("participant_id",),
    indexes=(("person_id",),),
)
"""One row per participant (a person has one participant record): enrollment and the
latest exit and re-engagement, for exposure months and before/after windows."""

CONTACTS = Table(
    name="contacts",
    columns={
        "contact_id": "uuid NOT NULL",
        "participant_id": "uuid NOT NULL",
        "person_id": "uuid NOT NULL",
        "contacted_on": "date NOT NULL",
        "kind": "text NOT NULL",
        "minutes": "integer NOT NULL",
    },
    primary_key=("contact_id",),
    indexes=(("contacted_on",),),
)
"""One row per contact, the dose of case management; never its place or notes."""

HOUSING = Table(
    name="housing",
    columns={
        "event_id": "uuid NOT NULL",
        "participant_id": "uuid NOT NULL",
        "person_id": "uuid NOT NULL",
        "as_of": "date NOT NULL",
        "situation": "text NOT NULL",
        "category": "text NOT NULL",
    },
    primary_key=("event_id",),
    indexes=(("participant_id",),),
)
"""One row per living-situation observation: the HMIS code (or data-quality answer) and
its group (homeless, institutional, temporary, permanent, unknown)."""

INCOME = Table(
    name="income",
    columns={
        "event_id": "uuid NOT NULL",
        "participant_id": "uuid NOT NULL",
        "person_id": "uuid NOT NULL",
        "as_of": "date NOT NULL",
        "has_income": "boolean",
    },
    primary_key=("event_id",),
    indexes=(("participant_id",),),
)
"""One row per income observation; `has_income` is NULL for a data-quality answer."""

FILINGS = Table(
    name="filings",
    columns={
        "case_id": "uuid NOT NULL",
        "person_id": "uuid NOT NULL",
        "incident_date": "date NOT NULL",
        "filing_date": "date",
        "origin": "text",
        "felony": "boolean NOT NULL",
    },
    primary_key=("case_id",),
    indexes=(("person_id",),),
)
"""One row per case; a filing is a row with a filing date (a case referred for charging
and not filed has none). Incident and filing dates both, since they differ."""

OPEN: Final = "open"


def _referral_update(event: DomainEvent, **values: Any) -> list[RowChange]:
    return [
        Update(
            REFERRALS.name,
            key={"referral_id": event.originator_id},
            values=values,
            version=event.originator_version,
        )
    ]


def _situation(situation: int | DataQuality) -> str:
    return situation.value if isinstance(situation, DataQuality) else str(situation)


class EvaluationProjection:
    """Event -> de-identified fact rows. Pure: the same event always gives the same rows."""

    name = "evaluation"
    tables: Sequence[Table] = (REFERRALS, ENROLLMENTS, CONTACTS, HOUSING, INCOME, FILINGS)

    def handle(self, event: DomainEvent, position: int) -> list[RowChange]:
        version = event.originator_version
        match event:
            case ReferralReceived():
                received_on = event.occurred_at.date()
                return [
                    Upsert(
                        REFERRALS.name,
                        key={"referral_id": event.originator_id},
                        values={
                            "person_id": event.person_id,
                            "pathway": event.pathway.value,
                            "received_at": event.occurred_at,
                            "received_on": received_on,
                            "received_month": received_on.replace(day=1),
                            "race": event.person.race,
                            "ethnicity": event.person.ethnicity,
                            "prior_criminal_legal_contact": (
                                event.facts.prior_criminal_legal_contact
                            ),
                            "outcome": OPEN,
                            "approved": False,
                            "lapsed": False,
                        },
                        version=version,
                    )
                ]
            case EligibilityDecided():
                return _referral_update(event, outcome=OPEN if event.eligible else "excluded")
            case ReferralApproved():
                return _referral_update(event, approved=True)
            case ReferralDeclined():
                return _referral_update(event, outcome="declined")
            case IntakeCompleted():
                return _referral_update(
                    event,
                    outcome="enrolled",
                    intake_on=event.completed_on,
                    enrolled_at=event.occurred_at,
                )
            case IntakeDeadlineLapsed():
                return _referral_update(event, outcome="lapsed", lapsed=True)
            case ReferralWithdrawnByPerson():
                return _referral_update(event, outcome="withdrawn")
            case ParticipantEnrolled():
                return [
                    Upsert(
                        ENROLLMENTS.name,
                        key={"participant_id": event.originator_id},
                        values={
                            "person_id": event.person_id,
                            "referral_id": event.referral_id,
                            "enrolled_on": event.enrolled_on,
                        },
                        version=version,
                    )
                ]
            case ParticipantExited():
                return [
                    Update(
                        ENROLLMENTS.name,
                        key={"participant_id": event.originator_id},
                        values={"exited_on": event.exited_on},
                        version=version,
                    )
                ]
            case ParticipantReengaged():
                return [
                    Update(
                        ENROLLMENTS.name,
                        key={"participant_id": event.originator_id},
                        values={"reengaged_on": event.reengaged_on},
                        version=version,
                    )
                ]
            case ContactRecorded():
                return [
                    Upsert(
                        CONTACTS.name,
                        key={"contact_id": event.contact_id},
                        values={
                            "participant_id": event.originator_id,
                            "person_id": event.person_id,
                            "contacted_on": event.contacted_on.date(),
                            "kind": event.kind.value,
                            "minutes": event.minutes,
                        },
                        version=version,
                    )
                ]
            case LivingSituationRecorded():
                return [
                    Upsert(
                        HOUSING.name,
                        key={"event_id": event.event_id},
                        values={
                            "participant_id": event.originator_id,
                            "person_id": event.person_id,
                            "as_of": event.as_of,
                            "situation": _situation(event.situation),
                            "category": housing_category(event.situation),
                        },
                        version=version,
                    )
                ]
            case IncomeRecorded():
                sources = event.sources
                return [
                    Upsert(
                        INCOME.name,
                        key={"event_id": event.event_id},
                        values={
                            "participant_id": event.originator_id,
                            "person_id": event.person_id,
                            "as_of": event.as_of,
                            "has_income": (
                                None if isinstance(sources, DataQuality) else bool(sources)
                            ),
                        },
                        version=version,
                    )
                ]
            case CaseOpened():
                filed = event.filing_date is not None
                return [
                    Upsert(
                        FILINGS.name,
                        key={"case_id": event.originator_id},
                        values={
                            "person_id": event.person_id,
                            "incident_date": event.incident_date,
                            "filing_date": event.filing_date,
                            # An unfiled case's origin says nothing yet; its filing decides it.
                            "origin": event.origin.value if filed else None,
                            "felony": any(c.severity is Severity.FELONY for c in event.charges),
                        },
                        version=version,
                    )
                ]
            case ChargingDecisionRecorded() if event.decision is ChargingDecision.FILED:
                values: dict[str, Any] = {"filing_date": event.filing_date}
                if event.origin is not None:
                    values["origin"] = event.origin.value
                return [
                    Update(
                        FILINGS.name,
                        key={"case_id": event.originator_id},
                        values=values,
                        version=version,
                    )
                ]
        return []
