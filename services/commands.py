"""Commands: what a caller asks for, validated at the boundary.

Each command's fields are the keyword arguments of the aggregate method it drives,
so a handler passes them on unchanged.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

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
from events.text import Text

CLOCK_SKEW = timedelta(minutes=5)
EARLIEST = date(1900, 1, 1)


def examples(*instances: dict[str, Any]) -> dict[str, Any]:
    """`json_schema_extra` with example instances, shown in the OpenAPI document."""
    return {"examples": list(instances)}


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def arguments(self) -> dict[str, Any]:
        """The fields as keyword arguments, nested models kept as models."""
        return dict(self)


AHEAD = timedelta(days=3650)
"""How far ahead a date may be (a hearing, a consent's expiry): ten years."""


def not_in_future(value: datetime | None) -> datetime | None:
    if value is not None and value > datetime.now(UTC) + CLOCK_SKEW:
        raise ValueError("must not be in the future")
    if value is not None and value.date() < EARLIEST:
        raise ValueError(f"must not be before {EARLIEST}")
    return value


def plausible_date(value: date | None) -> date | None:
    if value is not None and not EARLIEST <= value <= date.today() + AHEAD:
        raise ValueError(f"must be between {EARLIEST} and ten years from today")
    return value


def plausible_moment(value: datetime | None) -> datetime | None:
    if value is not None and not EARLIEST <= value.date() <= date.today() + AHEAD:
        raise ValueError(f"must be between {EARLIEST} and ten years from now")
    return value


def born(value: date | None) -> date | None:
    if value is not None and not EARLIEST <= value <= date.today():
        raise ValueError(f"must be between {EARLIEST} and today")
    return value


FROM_1900 = r"^(?:19[0-9]{2}|[2-9][0-9]{3})-"
"""A date, or a date and time, in 1900 or later: the range checks above as a pattern."""


class _States:
    """States a range check in a request's JSON Schema: FROM_1900 as its `pattern`, and
    the whole range as its `description` (the end moves with today, no pattern says it).
    Schemas of answers are left as they are: what is stored may predate the check."""

    def __init__(self, accepted: str) -> None:
        self.accepted = accepted

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        found = handler(schema)
        if handler.mode == "validation" and found.get("type") == "string":
            found.setdefault("pattern", FROM_1900)
            found.setdefault("description", self.accepted)
        return found


Day = Annotated[
    date, AfterValidator(plausible_date), _States("From 1900-01-01 to ten years from today")
]
"""A calendar date between 1900 and ten years from today (far-off dates are typos)."""
Moment = Annotated[
    AwareDatetime,
    AfterValidator(plausible_moment),
    _States("With its UTC offset; from 1900 to ten years from now"),
]
"""A time with its zone, between 1900 and ten years from now."""
Past = Annotated[AwareDatetime, _States("With its UTC offset; from 1900 to now")]
"""A time with its zone between 1900 and now: the field checks it with `not_in_future`."""


def as_data(value: Any) -> Any:
    """A model given in code is checked again as data (by the stricter command model)."""
    return value.model_dump() if isinstance(value, BaseModel) else value


class ReferredPerson(Person):
    """The person a referral names; a birth date between 1900 and today."""

    birth_date: Annotated[date, _States("From 1900-01-01 to today")] | None = None

    _born = field_validator("birth_date")(born)


class AdoptedTerms(PolicyTerms):
    """Policy terms as adopted; effective from a date between 1900 and ten years ahead."""

    effective_from: Annotated[date, _States("From 1900-01-01 to ten years from today")]

    _effective = field_validator("effective_from")(plausible_date)


class Occurred(Command):
    occurred_at: Past | None = Field(
        None, description="When it happened in the world; defaults to now. Not in the future."
    )

    _occurred_not_future = field_validator("occurred_at")(not_in_future)


# -- policy -------------------------------------------------------------------------
class AdoptPolicy(Occurred):
    """Adopt the site's policy, or a new version of it."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra=examples(
            {
                "terms": {
                    "effective_from": "2026-03-02",
                    "divertible_offenses": [
                        {
                            "statute_code": "69.50.4013",
                            "description": "possession of a controlled substance",
                            "severity": "felony",
                            "nibrs_code": "35A",
                        },
                        {
                            "statute_code": "9A.52.080",
                            "description": "criminal trespass in the second degree",
                            "severity": "misdemeanor",
                            "nibrs_code": "90J",
                        },
                    ],
                    "exclusions": {"max_drug_grams": 3.0, "minimum_age": 18},
                    "social_contact": {
                        "lookback_months": 24,
                        "program_areas": ["Belltown", "Downtown"],
                    },
                    "intake_deadline_days": 14,
                    "caseload": {"target": 15, "warning": 20, "hard_cap": 25},
                    "in_the_wind_days": 30,
                    "program_capacity": 250,
                },
                "occurred_at": "2026-03-02T09:00:00-08:00",
            }
        ),
    )

    terms: Annotated[AdoptedTerms, BeforeValidator(as_data)]


# -- referrals ------------------------------------------------------------------------
class ReceiveReferral(Occurred):
    """Record a referral: the pathway, who referred, the incident and the person."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra=examples(
            {
                "pathway": "arrest_diversion",
                "referrer": {"principal": "officer.reyes", "organisation": "Seattle PD"},
                "incident": {
                    "offense_code": "69.50.4013",
                    "description": "possession of a controlled substance",
                    "nibrs_code": "35A",
                    "place": "3rd Ave & Pine St",
                },
                "person": {
                    "given_name": "Dana",
                    "family_name": "Whitfield",
                    "birth_date": "1984-02-03",
                    "race": "prefers_not_to_answer",
                },
                "facts": {"drug_grams": 0.4, "prior_criminal_legal_contact": True},
                "occurred_at": "2026-03-02T14:20:00-08:00",
            },
            {
                "pathway": "social_contact",
                "referrer": {"principal": "officer.reyes", "organisation": "Seattle PD"},
                "incident": {
                    "offense_code": "9A.52.080",
                    "description": "known to officers for trespass in the alley behind 2nd & Bell",
                    "nibrs_code": "90J",
                    "place": "2nd Ave & Bell St",
                },
                "person": {"given_name": "Marcus", "family_name": "Lee", "aliases": ["Moe"]},
                "facts": {
                    "program_area": "Belltown",
                    "prior_contact_verified_by": "officer_observation",
                    "prior_contact_on": "2026-01-20",
                },
                "occurred_at": "2026-03-02T10:05:00-08:00",
            },
        ),
    )

    pathway: Pathway
    referrer: Referrer
    incident: Incident
    person: Annotated[ReferredPerson, BeforeValidator(as_data)]
    facts: ScreeningFacts = ScreeningFacts()
    person_id: UUID | None = Field(
        None, description="The person's id if they were referred before; omit for a new person."
    )


class ApproveReferral(Occurred):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra=examples({"occurred_at": "2026-03-02T15:05:00-08:00"}),
    )


class DeclineReferral(Occurred):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra=examples(
            {
                "reason": "Referred from Capitol Hill, outside the program areas this site serves.",
                "occurred_at": "2026-03-03T10:00:00-08:00",
            }
        ),
    )

    reason: Text = Field(min_length=1, max_length=1000)


class CompleteWarmHandoff(Occurred):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra=examples(
            {
                "case_manager": "cm.okafor",
                "arrived_at": "2026-03-02T14:52:00-08:00",
                "occurred_at": "2026-03-02T14:52:00-08:00",
            }
        ),
    )

    case_manager: Text = Field(min_length=1, max_length=200)
    arrived_at: Past

    _arrived_not_future = field_validator("arrived_at")(not_in_future)


class ScheduleIntake(Occurred):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra=examples(
            {
                "scheduled_for": "2026-03-05T10:00:00-08:00",
                "case_manager": "cm.okafor",
                "occurred_at": "2026-03-02T15:30:00-08:00",
            }
        ),
    )

    scheduled_for: Moment
    case_manager: Text = Field(min_length=1, max_length=200)


class CompleteIntake(Occurred):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra=examples(
            {
                "completed_on": "2026-03-05",
                "case_manager": "cm.okafor",
                "consent_id": "3a9d6f2e-8b1c-4d7e-a5f0-6c2b9e1d4a73",
                "occurred_at": "2026-03-05T11:00:00-08:00",
            }
        ),
    )

    completed_on: Day
    case_manager: Text = Field(min_length=1, max_length=200)
    consent_id: UUID | None = Field(
        None, description="The signed release of information; intake enrolls only with one."
    )

    _completed_plausible = field_validator("completed_on")(plausible_date)


class LapseReferral(Occurred):
    """A lapse recorded by hand. Whether the deadline has passed is the server's clock's
    to say, in the site's time zone: no date in the request can make it pass sooner."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra=examples({}, {"occurred_at": "2026-03-17T09:00:00-07:00"}),
    )


class WithdrawReferral(Occurred):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra=examples(
            {
                "kind": "withdrew",
                "note": "Moved in with family in Tacoma and chose to stop.",
                "occurred_at": "2026-03-04T16:00:00-08:00",
            }
        ),
    )

    kind: WithdrawalKind
    note: Text | None = Field(None, max_length=1000)


# -- cases ----------------------------------------------------------------------------
class OpenCase(Occurred):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra=examples(
            {
                "person_id": "7c1e2a4b-3f5d-4e6a-9b8c-0d1e2f3a4b5c",
                "case_number": "KCDC-26-004512",
                "court": "King County District Court",
                "jurisdiction": "King County, WA",
                "incident_date": "2026-01-14",
                "filing_date": "2026-02-10",
                "charges": [
                    {
                        "statute_code": "9A.56.050",
                        "description": "theft in the third degree",
                        "severity": "gross_misdemeanor",
                        "nibrs_code": "23C",
                    }
                ],
                "occurred_at": "2026-03-06T09:30:00-08:00",
            }
        ),
    )

    person_id: UUID
    case_number: Text = Field(min_length=1, max_length=80)
    court: Text = Field(min_length=1, max_length=200)
    jurisdiction: Text = Field(min_length=1, max_length=200)
    incident_date: Day
    filing_date: Day | None = None
    charges: tuple[Charge, ...] = Field(min_length=1)

    _dates = field_validator("incident_date", "filing_date")(plausible_date)


class IssueWarrant(Occurred):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra=examples(
            {
                "warrant_id": "BW-26-00871",
                "issued_on": "2026-03-10",
                "court": "King County District Court",
            }
        ),
    )

    warrant_id: Text = Field(min_length=1, max_length=80)
    issued_on: Day
    court: Text = Field(min_length=1, max_length=200)


class QuashWarrant(Occurred):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra=examples({"warrant_id": "BW-26-00871", "quashed_on": "2026-03-12"}),
    )

    warrant_id: Text = Field(min_length=1, max_length=80)
    quashed_on: Day


class RecordChargingDecision(Occurred):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra=examples(
            {
                "decision": "filed",
                "decided_on": "2026-02-10",
                "filing_date": "2026-02-10",
                "note": "Filed; the liaison prosecutor will ask to hold it while they engage.",
            },
            {
                "decision": "declined",
                "decided_on": "2026-03-09",
                "note": "Declined in light of LEAD.",
            },
        ),
    )

    decision: ChargingDecision
    decided_on: Day
    filing_date: Day | None = None
    note: Text | None = Field(None, max_length=2000)


class RecordLiaisonRecommendation(Occurred):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra=examples(
            {
                "recommendation": "Hold in abeyance while the participant engages with case "
                "management; review in 90 days.",
                "recommended_on": "2026-03-09",
            }
        ),
    )

    recommendation: Text = Field(min_length=1, max_length=2000)
    recommended_on: Day


class ScheduleHearing(Occurred):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra=examples(
            {
                "hearing_at": "2026-03-24T09:00:00-07:00",
                "kind": "arraignment",
                "court": "King County District Court",
            }
        ),
    )

    hearing_at: Moment
    kind: Text = Field(min_length=1, max_length=200)
    court: Text = Field(min_length=1, max_length=200)


class RecordDisposition(Occurred):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra=examples({"disposition": "dismissed", "disposed_on": "2026-06-15"}),
    )

    disposition: Disposition
    disposed_on: Day


# -- consent --------------------------------------------------------------------------
class GrantConsent(Occurred):
    """A release of information with the elements of 42 CFR 2.31."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra=examples(
            {
                "person_id": "7c1e2a4b-3f5d-4e6a-9b8c-0d1e2f3a4b5c",
                "disclosing_party": "REACH (Evergreen Treatment Services)",
                "recipients": [
                    {"kind": "role", "name": "liaison_prosecutor"},
                    {"kind": "organisation", "name": "King County Prosecuting Attorney's Office"},
                ],
                "purpose": "Coordinate the pending cases with the liaison prosecutor.",
                "information_kinds": ["legal_status", "program_status", "progress_summary"],
                "signature_method": "e_signature",
                "signed_at": "2026-03-05T10:40:00-08:00",
                "expires_at": "2027-03-05T00:00:00-08:00",
                "criminal_justice": True,
                "irrevocable_until": "2026-06-15T00:00:00-07:00",
            }
        ),
    )

    person_id: UUID
    disclosing_party: Text = Field(min_length=1, max_length=200)
    recipients: tuple[Recipient, ...] = Field(min_length=1)
    purpose: Text = Field(min_length=1, max_length=500)
    information_kinds: tuple[InformationKind, ...] = Field(min_length=1)
    signature_method: SignatureMethod
    signed_at: Past
    expires_at: Moment | None = None
    expiration_event: Text | None = Field(None, min_length=1, max_length=500)
    criminal_justice: bool = False
    irrevocable_until: Moment | None = None

    _signed_not_future = field_validator("signed_at")(not_in_future)


class RevokeConsent(Occurred):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra=examples(
            {
                "effective_at": "2026-07-01T12:00:00-07:00",
                "reason": "The participant asked in person to stop sharing with the prosecutor.",
            }
        ),
    )

    effective_at: Moment
    reason: Text | None = Field(None, max_length=2000)


class ExpireConsent(Occurred):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra=examples(
            {
                "expired_at": "2026-06-15T16:00:00-07:00",
                "by_event": "final disposition of the pending case",
            }
        ),
    )

    expired_at: Moment
    by_event: Text | None = Field(None, min_length=1, max_length=500)


class DisclosureQuestion(Command):
    """May this recipient receive this kind of information about this person at this time?"""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra=examples(
            {
                "person_id": "7c1e2a4b-3f5d-4e6a-9b8c-0d1e2f3a4b5c",
                "recipient_organisation": "King County Prosecuting Attorney's Office",
                "recipient_role": "liaison_prosecutor",
                "kind": "legal_status",
                "at": "2026-03-09T09:00:00-08:00",
            }
        ),
    )

    person_id: UUID
    recipient_organisation: Text = Field(min_length=1, max_length=200)
    recipient_role: Role
    kind: InformationKind
    at: Moment | None = Field(None, description="Defaults to now.")


# -- participants -------------------------------------------------------------------
class AssignCaseManager(Occurred):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra=examples(
            {
                "case_manager": "cm.nguyen",
                "reason": "cm.okafor's caseload is at its cap; the participant knows cm.nguyen.",
            }
        ),
    )

    case_manager: Text = Field(min_length=1, max_length=200)
    reason: Text | None = Field(None, max_length=2000)


class SetGoal(Occurred):
    """A goal the participant set: LEAD goals are the participant's, not the program's."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra=examples(
            {"text": "Get a state ID so I can apply for housing", "domain": "housing"}
        ),
    )

    text: Text = Field(min_length=1, max_length=1000)
    domain: GoalDomain


class RecordGoalProgress(Occurred):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra=examples(
            {
                "goal_id": "e4b7c2d9-1a6f-4c3e-8d5b-2f9a7e6c1b08",
                "note": "Birth certificate ordered from the Department of Health.",
            }
        ),
    )

    goal_id: UUID
    note: Text = Field(min_length=1, max_length=2000)


class ReviseGoal(Occurred):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra=examples(
            {"goal_id": "e4b7c2d9-1a6f-4c3e-8d5b-2f9a7e6c1b08", "status": "achieved"},
            {
                "goal_id": "e4b7c2d9-1a6f-4c3e-8d5b-2f9a7e6c1b08",
                "text": "Get a state ID and a bank account",
            },
        ),
    )

    goal_id: UUID
    text: Text | None = Field(None, min_length=1, max_length=1000)
    status: GoalStatus | None = None


class RecordContact(Occurred):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra=examples(
            {
                "kind": "street_outreach",
                "contacted_on": "2026-03-09T11:15:00-08:00",
                "minutes": 25,
                "place": "3rd Ave & Pine St",
                "notes": "Brought a sleeping bag; talked through the ID appointment.",
            }
        ),
    )

    kind: ContactKind
    contacted_on: Past
    minutes: int = Field(ge=0, le=1440)
    place: Text | None = Field(None, max_length=300)
    notes: Text | None = Field(
        None, max_length=10_000, description="Sensitive: never disclosed outside case management."
    )

    _contacted_not_future = field_validator("contacted_on")(not_in_future)


class RecordLivingSituation(Occurred):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra=examples(
            {"as_of": "2026-03-05", "situation": 116},
            {"as_of": "2026-03-05", "situation": "prefers_not_to_answer"},
        ),
    )

    as_of: Day
    situation: int | DataQuality = Field(
        description="HUD HMIS living situation code (100s homeless, 116 unsheltered, 200s "
        "institutional, 300s temporary, 400s permanent) or a data-quality answer."
    )


class RecordIncome(Occurred):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra=examples(
            {"as_of": "2026-03-05", "sources": ["snap", "general_assistance"]},
            {"as_of": "2026-03-05", "sources": []},
        ),
    )

    as_of: Day
    sources: tuple[IncomeSource, ...] | DataQuality = Field(
        description="Income sources (empty: no income), or a data-quality answer."
    )


class ChangeStatus(Occurred):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra=examples(
            {
                "status": "in_the_wind",
                "reason": "No contact for 30 days; last seen near 2nd Ave & Bell St.",
            }
        ),
    )

    status: EngagementStatus
    reason: Text | None = Field(None, max_length=2000)


class ExitParticipant(Occurred):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra=examples({"exited_on": "2026-09-30", "reason": "moved_away"}),
    )

    exited_on: Day
    reason: ExitReason


class ReengageParticipant(Occurred):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra=examples({"reengaged_on": "2026-11-02"}),
    )

    reengaged_on: Day


class ShareProgressSummary(Occurred):
    """The case manager's explicit act; only under a consent that covers it, never raw notes."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra=examples(
            {
                "recipient_organisation": "King County Prosecuting Attorney's Office",
                "recipient_role": "liaison_prosecutor",
                "summary": "Engaged weekly since enrollment; obtained a state ID and is on the "
                "waitlist for supportive housing.",
            }
        ),
    )

    recipient_organisation: Text = Field(min_length=1, max_length=200)
    recipient_role: Role
    summary: Text = Field(min_length=1, max_length=4000)
