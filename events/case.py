"""Court case events: the participant's non-diverted cases the liaison prosecutor coordinates.

Incident and filing dates are both kept because they differ: a filing made after
enrollment may concern an incident from before it, and evaluations count both.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from events.base import CreationEvent, DomainEvent
from events.text import Text


class CaseOrigin(StrEnum):
    """Whether the case was already there at enrollment or was filed afterwards."""

    PRE_EXISTING = "pre_existing"
    POST_ENROLLMENT = "post_enrollment"


class Severity(StrEnum):
    """The charge's degree or severity level."""

    FELONY = "felony"
    GROSS_MISDEMEANOR = "gross_misdemeanor"
    MISDEMEANOR = "misdemeanor"


class ChargingDecision(StrEnum):
    FILED = "filed"
    DECLINED = "declined"
    USED_IN_ANOTHER_CASE = "used_in_another_case"
    MORE_EVIDENCE_NEEDED = "more_evidence_needed"


class Disposition(StrEnum):
    DISMISSED = "dismissed"
    DIVERTED = "diverted"
    PLED = "pled"
    CONVICTED = "convicted"
    ACQUITTED = "acquitted"
    OTHER = "other"


class Charge(BaseModel):
    """One charge, in the spirit of NIEM's Charge and Statute elements."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    statute_code: Text = Field(min_length=1, max_length=40, examples=["69.50.4013"])
    description: Text = Field(min_length=1, max_length=500)
    severity: Severity
    nibrs_code: Text | None = Field(None, max_length=4, examples=["35A"])


class CaseOpened(CreationEvent):
    """A court case about a participant was recorded, pre-existing or filed after enrollment."""

    event_type: ClassVar[str] = "case.opened"
    SENSITIVE: ClassVar[tuple[str, ...]] = ("charges.*.description",)
    class_version: ClassVar[int] = 1

    person_id: UUID
    case_number: Text = Field(min_length=1, max_length=80)
    court: Text = Field(min_length=1, max_length=200)
    jurisdiction: Text = Field(min_length=1, max_length=200)
    origin: CaseOrigin
    incident_date: date
    filing_date: date | None = None  # None while the case is not filed yet
    charges: tuple[Charge, ...] = Field(min_length=1)


class CaseEvent(DomainEvent):
    """Base of the events after `CaseOpened`: each concerns the case's participant."""

    person_id: UUID


class WarrantIssued(CaseEvent):
    """A court issued a warrant in the case."""

    event_type: ClassVar[str] = "case.warrant_issued"
    class_version: ClassVar[int] = 1

    warrant_id: Text = Field(min_length=1, max_length=80)
    issued_on: date
    court: Text = Field(min_length=1, max_length=200)


class WarrantQuashed(CaseEvent):
    """A warrant was quashed, so it no longer stands against the participant."""

    event_type: ClassVar[str] = "case.warrant_quashed"
    class_version: ClassVar[int] = 1

    warrant_id: Text = Field(min_length=1, max_length=80)
    quashed_on: date


class ChargingDecisionRecorded(CaseEvent):
    """The prosecutor's charging decision; a decision to file gives the filing date."""

    event_type: ClassVar[str] = "case.charging_decision_recorded"
    SENSITIVE: ClassVar[tuple[str, ...]] = ("note",)
    class_version: ClassVar[int] = 1

    decision: ChargingDecision
    decided_on: date
    filing_date: date | None = None  # set exactly when the decision is `filed`
    note: Text | None = Field(None, max_length=2000)
    origin: CaseOrigin | None = Field(
        None, description="With a filing: pre-existing or post-enrollment, by the filing date."
    )


class LiaisonRecommendationRecorded(CaseEvent):
    """The liaison prosecutor's recommendation for the case."""

    event_type: ClassVar[str] = "case.liaison_recommendation_recorded"
    SENSITIVE: ClassVar[tuple[str, ...]] = ("recommendation",)
    class_version: ClassVar[int] = 1

    recommendation: Text = Field(min_length=1, max_length=2000)
    recommended_on: date


class HearingScheduled(CaseEvent):
    """A hearing was set, so the case manager can help the participant get there."""

    event_type: ClassVar[str] = "case.hearing_scheduled"
    # Typed freely ("review of treatment compliance"): it may say more than a label.
    SENSITIVE: ClassVar[tuple[str, ...]] = ("kind",)
    class_version: ClassVar[int] = 1

    hearing_at: AwareDatetime
    kind: Text = Field(min_length=1, max_length=200, examples=["arraignment"])
    court: Text = Field(min_length=1, max_length=200)


class DispositionRecorded(CaseEvent):
    """The case was disposed of; it is closed from then on."""

    event_type: ClassVar[str] = "case.disposition_recorded"
    class_version: ClassVar[int] = 1

    disposition: Disposition
    disposed_on: date
