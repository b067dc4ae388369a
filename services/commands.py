"""Commands: what a caller asks for, validated at the boundary.

Each command's fields are the keyword arguments of the aggregate method it drives,
so a handler passes them on unchanged.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from events.base import Role
from events.case import Charge, ChargingDecision, Disposition
from events.consent import InformationKind, Recipient, SignatureMethod
from events.participant import (
    ContactKind,
    DataQuality,
    EngagementStatus,
    ExitReason,
    GoalDomain,
    GoalStatus,
    IncomeSource,
)
from events.policy import PolicyTerms
from events.referral import Incident, Pathway, Person, Referrer, ScreeningFacts, WithdrawalKind

CLOCK_SKEW = timedelta(minutes=5)
EARLIEST = date(1900, 1, 1)


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def arguments(self) -> dict[str, Any]:
        """The fields as keyword arguments, nested models kept as models."""
        return dict(self)


def not_in_future(value: datetime | None) -> datetime | None:
    if value is not None and value > datetime.now(UTC) + CLOCK_SKEW:
        raise ValueError("must not be in the future")
    return value


def plausible_date(value: date | None) -> date | None:
    if value is not None and not EARLIEST <= value <= date.today() + timedelta(days=3650):
        raise ValueError(f"must be between {EARLIEST} and ten years from today")
    return value


class Occurred(Command):
    occurred_at: AwareDatetime | None = Field(
        None, description="When it happened in the world; defaults to now. Not in the future."
    )

    _occurred_not_future = field_validator("occurred_at")(not_in_future)


# -- policy -------------------------------------------------------------------------
class AdoptPolicy(Occurred):
    """Adopt the site's policy, or a new version of it."""

    terms: PolicyTerms


# -- referrals ------------------------------------------------------------------------
class ReceiveReferral(Occurred):
    """Record a referral: the pathway, who referred, the incident and the person."""

    pathway: Pathway
    referrer: Referrer
    incident: Incident
    person: Person
    facts: ScreeningFacts = ScreeningFacts()
    person_id: UUID | None = Field(
        None, description="The person's id if they were referred before; omit for a new person."
    )


class ApproveReferral(Occurred):
    pass


class DeclineReferral(Occurred):
    reason: str = Field(min_length=1, max_length=1000)


class CompleteWarmHandoff(Occurred):
    case_manager: str = Field(min_length=1, max_length=200)
    arrived_at: AwareDatetime

    _arrived_not_future = field_validator("arrived_at")(not_in_future)


class ScheduleIntake(Occurred):
    scheduled_for: AwareDatetime
    case_manager: str = Field(min_length=1, max_length=200)


class CompleteIntake(Occurred):
    completed_on: date
    case_manager: str = Field(min_length=1, max_length=200)
    consent_id: UUID | None = Field(
        None, description="The signed release of information; intake enrolls only with one."
    )

    _completed_plausible = field_validator("completed_on")(plausible_date)


class LapseReferral(Occurred):
    today: date | None = Field(None, description="Defaults to today.")


class WithdrawReferral(Occurred):
    kind: WithdrawalKind
    note: str | None = Field(None, max_length=1000)


# -- cases ----------------------------------------------------------------------------
class OpenCase(Occurred):
    person_id: UUID
    case_number: str = Field(min_length=1, max_length=100)
    court: str = Field(min_length=1, max_length=200)
    jurisdiction: str = Field(min_length=1, max_length=200)
    incident_date: date
    filing_date: date | None = None
    charges: tuple[Charge, ...] = Field(min_length=1)

    _dates = field_validator("incident_date", "filing_date")(plausible_date)


class IssueWarrant(Occurred):
    warrant_id: str = Field(min_length=1, max_length=100)
    issued_on: date
    court: str = Field(min_length=1, max_length=200)


class QuashWarrant(Occurred):
    warrant_id: str = Field(min_length=1, max_length=100)
    quashed_on: date


class RecordChargingDecision(Occurred):
    decision: ChargingDecision
    decided_on: date
    filing_date: date | None = None
    note: str | None = Field(None, max_length=2000)


class RecordLiaisonRecommendation(Occurred):
    recommendation: str = Field(min_length=1, max_length=2000)
    recommended_on: date


class ScheduleHearing(Occurred):
    hearing_at: AwareDatetime
    kind: str = Field(min_length=1, max_length=200)
    court: str = Field(min_length=1, max_length=200)


class RecordDisposition(Occurred):
    disposition: Disposition
    disposed_on: date


# -- consent --------------------------------------------------------------------------
class GrantConsent(Occurred):
    """A release of information with the elements of 42 CFR 2.31."""

    person_id: UUID
    disclosing_party: str = Field(min_length=1, max_length=200)
    recipients: tuple[Recipient, ...] = Field(min_length=1)
    purpose: str = Field(min_length=1, max_length=500)
    information_kinds: tuple[InformationKind, ...] = Field(min_length=1)
    signature_method: SignatureMethod
    signed_at: AwareDatetime
    expires_at: AwareDatetime | None = None
    expiration_event: str | None = Field(None, min_length=1, max_length=500)
    criminal_justice: bool = False
    irrevocable_until: AwareDatetime | None = None

    _signed_not_future = field_validator("signed_at")(not_in_future)


class RevokeConsent(Occurred):
    effective_at: AwareDatetime
    reason: str | None = Field(None, max_length=2000)


class ExpireConsent(Occurred):
    expired_at: AwareDatetime
    by_event: str | None = Field(None, min_length=1, max_length=500)


class DisclosureQuestion(Command):
    """May this recipient receive this kind of information about this person at this time?"""

    person_id: UUID
    recipient_organisation: str = Field(min_length=1, max_length=200)
    recipient_role: Role
    kind: InformationKind
    at: AwareDatetime | None = Field(None, description="Defaults to now.")


# -- participants -------------------------------------------------------------------
class AssignCaseManager(Occurred):
    case_manager: str = Field(min_length=1, max_length=200)
    reason: str | None = Field(None, max_length=2000)


class SetGoal(Occurred):
    """A goal the participant set: LEAD goals are the participant's, not the program's."""

    text: str = Field(min_length=1, max_length=1000)
    domain: GoalDomain


class RecordGoalProgress(Occurred):
    goal_id: UUID
    note: str = Field(min_length=1, max_length=2000)


class ReviseGoal(Occurred):
    goal_id: UUID
    text: str | None = Field(None, min_length=1, max_length=1000)
    status: GoalStatus | None = None


class RecordContact(Occurred):
    kind: ContactKind
    contacted_on: AwareDatetime
    minutes: int = Field(ge=0, le=1440)
    place: str | None = Field(None, max_length=300)
    notes: str | None = Field(
        None, max_length=10_000, description="Sensitive: never disclosed outside case management."
    )

    _contacted_not_future = field_validator("contacted_on")(not_in_future)


class RecordLivingSituation(Occurred):
    as_of: date
    situation: int | DataQuality = Field(
        description="HUD HMIS living situation code (100s homeless, 116 unsheltered, 200s "
        "institutional, 300s temporary, 400s permanent) or a data-quality answer."
    )


class RecordIncome(Occurred):
    as_of: date
    sources: tuple[IncomeSource, ...] | DataQuality = Field(
        description="Income sources (empty: no income), or a data-quality answer."
    )


class ChangeStatus(Occurred):
    status: EngagementStatus
    reason: str | None = Field(None, max_length=2000)


class ExitParticipant(Occurred):
    exited_on: date
    reason: ExitReason


class ReengageParticipant(Occurred):
    reengaged_on: date


class ShareProgressSummary(Occurred):
    """The case manager's explicit act; only under a consent that covers it, never raw notes."""

    recipient_organisation: str = Field(min_length=1, max_length=200)
    recipient_role: Role
    summary: str = Field(min_length=1, max_length=4000)
