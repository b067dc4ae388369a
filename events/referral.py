"""Referral events: how a person comes to LEAD."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any, ClassVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from events.base import CreationEvent, DomainEvent
from events.numbers import Finite
from events.policy import VerificationSource
from events.text import Text


class Pathway(StrEnum):
    ARREST_DIVERSION = "arrest_diversion"
    SOCIAL_CONTACT = "social_contact"
    COMMUNITY = "community"


class SelfReported(StrEnum):
    """The HMIS-style answers allowed wherever a person self-reports."""

    DOESNT_KNOW = "doesnt_know"
    PREFERS_NOT_TO_ANSWER = "prefers_not_to_answer"
    NOT_COLLECTED = "not_collected"


class Referrer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    principal: Text = Field(min_length=1, max_length=200)
    organisation: Text = Field(min_length=1, max_length=200)


class Incident(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    offense_code: Text = Field(min_length=1, max_length=40, examples=["69.50.4013"])
    report_number: Text | None = Field(
        None,
        max_length=40,
        description="The police report or booking number: the reference the prosecutor's "
        "file carries, by which a lapse returns the case to it.",
        examples=["2026-104377"],
    )
    description: Text = Field(min_length=1, max_length=500)
    nibrs_code: Text | None = Field(None, max_length=4, examples=["35A"])
    place: Text | None = Field(None, max_length=300)


class Person(BaseModel):
    """The person referred; the sensitive part (names, birth date) of a referral."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    given_name: Text = Field(min_length=1, max_length=200)
    family_name: Text = Field(min_length=1, max_length=200)
    aliases: tuple[Annotated[Text, Field(min_length=1, max_length=200)], ...] = Field(
        (), max_length=20
    )
    birth_date: date | None = None
    race: Text = Field(SelfReported.NOT_COLLECTED.value, max_length=80)
    ethnicity: Text = Field(SelfReported.NOT_COLLECTED.value, max_length=80)
    gender: Text = Field(SelfReported.NOT_COLLECTED.value, max_length=80)


class ScreeningFacts(BaseModel):
    """What the referrer reports that the site's exclusions and criteria look at."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    drug_grams: Finite | None = Field(
        None,
        ge=0,
        description="Quantity of drugs involved, if any.",
    )
    delivery_beyond_subsistence: bool = False
    exploitation_of_minors: bool = False
    promoting_prostitution: bool = False
    last_violent_conviction_on: date | None = None
    pending_specialty_court: bool = Field(
        False, description="A pending drug-court or mental-health-court case."
    )
    protection_order_naming_participant: bool = False
    prior_contact_verified_by: VerificationSource | None = Field(
        None, description="Social contact: how prior low-level involvement was verified."
    )
    prior_contact_on: date | None = None
    program_area: Text | None = Field(None, max_length=200)
    prior_criminal_legal_contact: bool | None = Field(
        None,
        description="Any prior arrest, charge or conviction (net-widening check); "
        "None when not known.",
    )


class ReferralReceived(CreationEvent):
    """A referral arrived on one of the three pathways.

    Version 1 had no ``occurred_at``: its upcaster takes the recording time, the
    best that version knew.
    """

    event_type: ClassVar[str] = "referral.received"
    SENSITIVE: ClassVar[tuple[str, ...]] = (
        "person.given_name",
        "person.family_name",
        "person.aliases",
        "person.birth_date",
        "incident.description",
        "incident.place",
        "incident.report_number",
    )
    class_version: ClassVar[int] = 2

    person_id: UUID
    pathway: Pathway
    referrer: Referrer
    incident: Incident
    person: Person
    facts: ScreeningFacts = ScreeningFacts()

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["occurred_at"] = state["timestamp"]


class ReferralEvent(DomainEvent):
    person_id: UUID


class EligibilityDecided(ReferralEvent):
    """Screened against the policy in force when the referral was made."""

    event_type: ClassVar[str] = "referral.eligibility_decided"
    # The exclusions found say what the person did or is subject to (a protection order).
    SENSITIVE: ClassVar[tuple[str, ...]] = ("reasons",)

    eligible: bool
    reasons: tuple[Annotated[Text, Field(max_length=500)], ...] = Field((), max_length=50)
    policy_version: int


class ReferralApproved(ReferralEvent):
    """A designated approver accepted the referral (a referral is not an approval)."""

    event_type: ClassVar[str] = "referral.approved"

    intake_deadline: date | None = Field(
        None, description="Arrest diversions only: intake must be completed by this day."
    )
    policy_version: int | None = Field(
        None, description="The site policy whose intake deadline set `intake_deadline`."
    )


class ReferralDeclined(ReferralEvent):
    """The approver declined it."""

    event_type: ClassVar[str] = "referral.declined"
    SENSITIVE: ClassVar[tuple[str, ...]] = ("reason",)

    reason: Text = Field(min_length=1, max_length=1000)


class WarmHandoffCompleted(ReferralEvent):
    """The officer handed the person to a case manager in person."""

    event_type: ClassVar[str] = "referral.warm_handoff_completed"

    case_manager: Text = Field(min_length=1, max_length=200)
    case_manager_arrived_at: AwareDatetime
    minutes_to_arrival: int = Field(ge=0, description="From the referral to the arrival.")


class IntakeScheduled(ReferralEvent):
    event_type: ClassVar[str] = "referral.intake_scheduled"

    scheduled_for: AwareDatetime
    case_manager: Text = Field(min_length=1, max_length=200)


class IntakeCompleted(ReferralEvent):
    """Psychosocial intake done and release of information signed: the person is enrolled."""

    event_type: ClassVar[str] = "referral.intake_completed"

    completed_on: date
    case_manager: Text = Field(min_length=1, max_length=200)
    consent_id: UUID
    participant_id: UUID


class IntakeDeadlineLapsed(ReferralEvent):
    """Intake was not completed in time: returned to the prosecutor, nothing filed."""

    event_type: ClassVar[str] = "referral.intake_deadline_lapsed"
    SENSITIVE: ClassVar[tuple[str, ...]] = ("report_number",)

    deadline: date = Field(description="The last day intake could have been completed.")
    returned_to_prosecutor: bool = True
    policy_version: int | None = Field(
        None, description="The site policy whose intake deadline this was."
    )
    offense_code: Text | None = Field(None, max_length=40, description="The incident's.")
    report_number: Text | None = Field(
        None, max_length=40, description="The incident's police report or booking number."
    )


class WithdrawalKind(StrEnum):
    DECLINED = "declined"
    WITHDREW = "withdrew"


class ReferralWithdrawnByPerson(ReferralEvent):
    """The person declined or withdrew; participation is voluntary."""

    event_type: ClassVar[str] = "referral.withdrawn_by_person"
    SENSITIVE: ClassVar[tuple[str, ...]] = ("note",)

    kind: WithdrawalKind
    note: Text | None = Field(None, max_length=1000)
