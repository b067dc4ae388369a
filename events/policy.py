"""Site policy events: what the PCG adopted, versioned and effective from a date.

A referral is judged against the policy in force when it was made, so every
version is kept, never overwritten.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from events.base import CreationEvent, DomainEvent
from events.case import Severity
from events.numbers import Finite
from events.text import Text


class VerificationSource(StrEnum):
    """How a social contact referral's prior low-level involvement was verified."""

    CRIMINAL_HISTORY = "criminal_history"
    OFFICER_OBSERVATION = "officer_observation"
    RELIABLE_REPORT = "reliable_report"


class DivertibleOffense(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    statute_code: Text = Field(min_length=1, max_length=40, examples=["69.50.4013"])
    description: Text = Field(min_length=1, max_length=500)
    severity: Severity
    nibrs_code: Text | None = Field(None, max_length=4, examples=["35A", "90J"])


class Exclusions(BaseModel):
    """What makes a person ineligible; each can be switched off by the site."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_drug_grams: Finite | None = Field(
        3.0,
        gt=0,
        description="Drug quantity above this excludes (3 g Seattle, 6 g Santa Fe).",
    )
    delivery_beyond_subsistence: bool = True
    exploitation_of_minors: bool = True
    promoting_prostitution: bool = True
    minimum_age: int = Field(18, ge=0, le=30)
    disqualifying_history_years: int | None = Field(
        10, ge=1, le=50, description="A violent conviction within this many years excludes."
    )
    pending_specialty_court: bool = True
    protection_order_naming_participant: bool = True


class SocialContactCriteria(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    lookback_months: int = Field(24, ge=1, le=120)
    program_areas: tuple[Annotated[Text, Field(min_length=1, max_length=200)], ...] = Field(
        (),
        max_length=200,
        description="Where social contact referrals may come from; empty means anywhere.",
    )
    verification_sources: tuple[VerificationSource, ...] = tuple(VerificationSource)


class CaseloadLimits(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    target: int = Field(15, ge=1, le=100)
    warning: int = Field(20, ge=1, le=100)
    hard_cap: int = Field(25, ge=1, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> CaseloadLimits:
        if not self.target <= self.warning <= self.hard_cap:
            raise ValueError("caseload limits must satisfy target <= warning <= hard_cap")
        return self


class PolicyTerms(BaseModel):
    """One version of the site's policy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    effective_from: date
    divertible_offenses: tuple[DivertibleOffense, ...] = Field(min_length=1)
    exclusions: Exclusions = Exclusions()
    social_contact: SocialContactCriteria = SocialContactCriteria()
    intake_deadline_days: int = Field(
        14, ge=7, le=30, description="Days to complete intake after an arrest diversion (7-30)."
    )
    caseload: CaseloadLimits = CaseloadLimits()
    in_the_wind_days: int = Field(30, ge=1, le=365)
    program_capacity: int = Field(100, ge=1, description="Participants the site can serve at once.")

    def divertible(self, statute_code: str) -> bool:
        return any(o.statute_code == statute_code for o in self.divertible_offenses)


class PolicyAdopted(CreationEvent):
    """The PCG adopted the site's first policy."""

    event_type: ClassVar[str] = "policy.adopted"

    version: int
    terms: PolicyTerms


class PolicyAmended(DomainEvent):
    """The PCG adopted a new version, effective from its date."""

    event_type: ClassVar[str] = "policy.amended"

    version: int
    terms: PolicyTerms
