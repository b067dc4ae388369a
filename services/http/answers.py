"""What the API's reads answer: the JSON of each, as models for the OpenAPI document.

The handlers build their answers from projection rows and return them as they are;
these models only describe them (``responses={200: {"model": ...}}`` on each route,
so nothing is filtered or converted on the way out). The API fuzzing
(tests/e2e/test_openapi_fuzz.py) checks every answer it gets against them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Generic, Literal, TypeVar
from uuid import UUID

from pydantic import BaseModel, Field

from events.base import Role
from events.participant import ParticipantStatus
from events.policy import PolicyTerms
from events.referral import Pathway
from projections.referrals import ReferralStatus

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")


# -- health, principals, policy ----------------------------------------------------------
class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    """Each check; `ready` only when all pass (`reason` says why not)."""

    postgresql: str = Field(description="`ok`, or why not")
    kafka: str = Field(description="`ok`, or why not")
    projection_lag: dict[str, int] | None = Field(
        None, description="Messages each projection is behind (when both answer)"
    )
    stuck: list[dict[str, Any]] | str | None = Field(
        None, description="Workers stuck on a batch, or why that is unknown"
    )
    ready: bool
    reason: str | None = None


class PrincipalView(BaseModel):
    id: UUID
    name: str
    role: Role
    organisation: str
    registered_at: datetime
    revoked_at: datetime | None
    revoked_reason: str | None
    valid_until: datetime | None = Field(None, description="When the current token stops")


class RevokedPrincipal(BaseModel):
    name: str
    revoked_at: datetime | None


class PolicyVersion(PolicyTerms):
    version: int = Field(ge=1)


class PolicyVersions(BaseModel):
    versions: list[PolicyVersion] = Field(description="Every version adopted, oldest first")


# -- referrals ------------------------------------------------------------------------
class ReferrerOf(BaseModel):
    principal: str
    organisation: str


class IncidentOf(BaseModel):
    offense_code: str
    description: str
    nibrs_code: str | None
    place: str | None = None


class Eligibility(BaseModel):
    eligible: bool | None = Field(description="None until screened")
    reasons: list[str] = Field(description="Each exclusion reason")
    policy_version: int | None = Field(description="The policy it was screened under")


class ReferralView(BaseModel):
    """A referral as the program's staff see it."""

    referral_id: UUID
    person_id: UUID
    pathway: Pathway
    status: ReferralStatus
    referrer: ReferrerOf
    incident: IncidentOf
    eligibility: Eligibility
    intake_deadline: date | None
    case_manager: str | None
    minutes_to_handoff: int | None
    intake_scheduled_for: datetime | None
    participant_id: UUID | None
    closed_reason: str | None
    received_at: datetime
    recorded_at: datetime
    position: int = Field(description="Store position the view has applied for it")


class Screened(BaseModel):
    eligible: bool | None


class ReferrerView(BaseModel):
    """A referral as its referrer sees it: its status only ("closed" where the program
    sees enrolled or withdrawn, unless a consent names the referrer)."""

    referral_id: UUID
    pathway: Pathway
    status: str
    received_at: datetime
    eligibility: Screened
    position: int


# -- caseloads and the case record ----------------------------------------------------------
class CaseloadSize(BaseModel):
    case_manager: str
    size: int = Field(ge=0)
    policy_version: int | None
    target: int | None
    warning: int | None
    hard_cap: int | None
    over_warning: bool | None
    at_cap: bool | None


class CaseloadMember(BaseModel):
    participant_id: UUID
    person_id: UUID
    status: ParticipantStatus
    enrolled_on: date
    last_contact_at: datetime | None
    days_since_contact: int | None
    contacts_last_30_days: int = Field(ge=0)
    open_goals: int = Field(ge=0)
    in_the_wind: bool | None


class GoalProgressOf(BaseModel):
    note: str
    occurred_at: datetime
    recorded_by: str


class GoalOf(BaseModel):
    goal_id: UUID
    text: str
    domain: str
    status: str
    progress: list[GoalProgressOf] = Field(
        default_factory=list, description="Progress recorded towards it, oldest first"
    )


class ContactOf(BaseModel):
    contact_id: UUID
    kind: str
    contacted_on: datetime
    minutes: int
    place: str | None
    notes: str | None
    recorded_by: str


class CaseRecord(BaseModel):
    """The case record, contact notes included."""

    person_id: UUID
    case_manager: str | None
    status: ParticipantStatus
    enrolled_on: date | None
    goals: list[GoalOf]
    contacts: list[ContactOf]
    version: int


# -- queue and OWG agenda --------------------------------------------------------------
class QueueEntry(BaseModel):
    referral_id: UUID
    person_id: UUID
    pathway: Pathway
    status: str
    stage: str
    received_at: datetime
    intake_deadline: date | None
    days_to_deadline: int | None = Field(description="Negative once the deadline has passed")
    intake_scheduled_for: datetime | None
    case_manager: str | None
    minutes_to_handoff: int | None


class Disclosure(BaseModel):
    """One disclosure made of a participant's records."""

    disclosure_id: str
    outcome: Literal["recorded", "permitted"] = Field(
        description="`recorded`: under the consent named; `permitted`: without one, on the "
        "basis in `reason` (the program's own staff, the protocol's return of a lapse)"
    )
    recipient_principal: str | None = Field(description="The person who read it, if one did")
    recipient_organisation: str
    recipient_role: str
    channel: str = Field(description="The API endpoint (api:<route>) or Kafka topic")
    information_kind: str | None
    purpose: str | None
    consent_id: UUID | None
    decided_at: datetime
    reason: str | None


class Disclosures(Page[Disclosure]):
    """Every disclosure of the person's records, oldest first (42 CFR 2.24)."""


class Queue(Page[QueueEntry]):
    capacity_left: int = Field(description="Places left under the program's capacity")


class NewReferral(BaseModel):
    referral_id: UUID
    person_id: UUID
    pathway: str | None
    received_at: datetime
    status: str | None


class AwaitingIntake(BaseModel):
    referral_id: UUID
    person_id: UUID
    pathway: str | None
    approved_at: datetime | None
    intake_deadline: date | None
    days_to_deadline: int | None
    intake_scheduled_for: datetime | None


class Lapsed(BaseModel):
    referral_id: UUID
    person_id: UUID
    pathway: str | None
    lapsed_at: datetime
    intake_deadline: date | None


class InTheWind(BaseModel):
    participant_id: UUID
    person_id: UUID
    in_the_wind_since: datetime
    new: bool = Field(description="Went in the wind during the period")


class CaseNews(BaseModel):
    kind: str
    case_id: UUID
    person_id: UUID
    happened_at: datetime
    court: str | None
    severity: str | None
    incident_date: date | None
    filing_date: date | None
    origin: str | None
    issued_on: date | None


class PostEnrollmentFiling(BaseModel):
    case_id: UUID
    person_id: UUID
    filed_at: datetime
    filing_date: date | None
    incident_date: date | None
    court: str | None
    severity: str | None


class Exit(BaseModel):
    participant_id: UUID
    person_id: UUID
    exited_at: datetime
    exited_on: date | None
    reason: str | None


class Agenda(BaseModel):
    new_referrals: list[NewReferral]
    awaiting_intake: list[AwaitingIntake]
    lapsed: list[Lapsed]
    in_the_wind: list[InTheWind]
    new_filings_and_warrants: list[CaseNews]
    post_enrollment_filings: list[PostEnrollmentFiling]
    exits: list[Exit]


# -- audit trail ------------------------------------------------------------------------
class TrailEvent(BaseModel):
    event_id: UUID
    position: int
    person_id: UUID | None
    aggregate_id: UUID
    event_type: str
    actor_principal: str
    actor_role: str
    actor_organisation: str
    occurred_at: datetime
    recorded_at: datetime
    reason: str | None


class TrailDisclosure(BaseModel):
    disclosure_id: str
    person_id: UUID | None
    outcome: str
    recipient_principal: str | None
    recipient_organisation: str
    recipient_role: str
    channel: str
    event_id: str | None
    information_kind: str | None
    purpose: str | None
    consent_id: UUID | None
    decided_at: datetime
    reason: str | None


class Trail(BaseModel):
    events: list[TrailEvent] = Field(description="In store order")
    disclosures: list[TrailDisclosure] = Field(description="In time order")


# -- the liaison case view --------------------------------------------------------------
class Program(BaseModel):
    participant_id: UUID
    status: ParticipantStatus
    enrolled_on: date
    exited_on: date | None
    reengaged_on: date | None


class ChargeOf(BaseModel):
    statute_code: str
    description: str
    severity: str
    nibrs_code: str | None = None


class WarrantOf(BaseModel):
    warrant_id: str
    issued_on: date
    court: str
    quashed_on: date | None
    outstanding: bool


class HearingOf(BaseModel):
    hearing_at: datetime
    kind: str
    court: str


class CaseOf(BaseModel):
    case_id: UUID
    case_number: str
    court: str
    jurisdiction: str
    origin: str
    incident_date: date
    filing_date: date | None
    charges: list[ChargeOf]
    charging_decision: str | None
    decided_on: date | None
    recommendation: str | None
    recommended_on: date | None
    disposition: str | None
    disposed_on: date | None
    closed: bool
    warrants: list[WarrantOf]
    hearings: list[HearingOf]


class SummaryOf(BaseModel):
    summary_id: UUID
    recipient_organisation: str
    recipient_role: str
    summary: str
    shared_at: datetime
    consent_id: UUID


class LiaisonView(BaseModel):
    """One person's cases, with what their consent covers for the caller now."""

    person_id: UUID
    consent_id: UUID = Field(description="The consent the view is shown under")
    program: Program | None = Field(description="None without consent to program status")
    cases: list[CaseOf]
    progress_summaries: list[SummaryOf] = Field(description="Only those shared with the caller")


# -- evaluation (de-identified) ---------------------------------------------------------
class Cell(BaseModel):
    """A count, withheld (None, `suppressed`) when small enough to point at someone."""

    count: int | None
    suppressed: bool


class ShareOf(BaseModel):
    share: float | None
    suppressed: bool


class Figure(BaseModel):
    value: float | None
    suppressed: bool


class RaceRow(BaseModel):
    race: str
    referrals: Cell
    share_of_referrals: ShareOf
    share_of_comparable: ShareOf | None
    baseline_arrests: Cell | None
    baseline_share: ShareOf | None
    disparity_ratio: Figure | None


class EthnicityRow(BaseModel):
    ethnicity: str
    referrals: Cell
    share_of_referrals: ShareOf


class Equity(BaseModel):
    referrals: Cell
    comparable_referrals: Cell
    baseline_arrests: Cell
    by_race: list[RaceRow]
    by_ethnicity: list[EthnicityRow]


class PathwayMonth(BaseModel):
    month: date
    pathway: str
    referrals: Cell
    enrolled: Cell


class PriorContact(BaseModel):
    referrals: Cell
    no_prior_contact: Cell
    prior_contact: Cell
    unknown: Cell
    share_no_prior_contact: ShareOf


class PriorContactByPathway(PriorContact):
    pathway: str


class NetWidening(BaseModel):
    overall: PriorContact
    by_pathway: list[PriorContactByPathway]


class Durations(BaseModel):
    count: Cell
    median_days: Figure
    p90_days: Figure


class DurationsByPathway(Durations):
    pathway: str


class TimeToIntake(BaseModel):
    overall: Durations
    by_pathway: list[DurationsByPathway]


class Lapses(BaseModel):
    arrest_diversions: Cell
    approved: Cell
    lapsed: Cell
    share_of_approved_lapsed: ShareOf


class Dose(BaseModel):
    participants: Cell
    contacts: Cell
    participant_months: Figure
    contacts_per_participant_month: Figure


class DoseByMonth(Dose):
    month: date


class ContactsPerParticipantMonth(BaseModel):
    overall: Dose
    by_month: list[DoseByMonth]


class FirstToLatest(BaseModel):
    first: str
    latest: str
    participants: Cell


class Transitions(BaseModel):
    """Housing or income: who started at `start`, and who reached `goal` since."""

    start: str
    goal: str
    participants_observed: Cell
    observed_more_than_once: Cell
    unknown_observations: Cell
    first_at_start: Cell
    reached_goal: Cell
    share_reached_goal: ShareOf
    first_to_latest: list[FirstToLatest]


class BeforeAfter(BaseModel):
    before: Cell
    after: Cell
    relative_change: Figure


class Filings(BaseModel):
    months: int
    as_of: date
    participants: Cell
    filings: BeforeAfter
    felony_filings: BeforeAfter
    filings_by_incident_date: BeforeAfter


Metric = (
    list[PathwayMonth]
    | NetWidening
    | TimeToIntake
    | Lapses
    | ContactsPerParticipantMonth
    | Transitions
    | Filings
)
"""GET /v1/metrics/{name}: one of these, by name (see each metric's description)."""
