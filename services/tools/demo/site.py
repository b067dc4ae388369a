"""The demo site's makings: who acts, its policy, what its people and records look like
(the tables every draw picks from), and the random draws themselves."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import TypeVar

from events.base import Actor, Role
from events.case import Charge, Disposition, Severity
from events.participant import (
    ContactKind,
    DataQuality,
    ExitReason,
    GoalDomain,
    IncomeSource,
)
from events.policy import (
    CaseloadLimits,
    DivertibleOffense,
    PolicyTerms,
    SocialContactCriteria,
)
from events.referral import Pathway

T = TypeVar("T")

CASELOAD_TARGET = 15
"""Participants planned per case manager: LEAD's 12-15 target, far below the 25 hard cap."""

EVERY_OUTCOME_FROM = 10
"""From this many participants on, each outcome and rarer event appears at least once."""

MONTH = timedelta(days=30)

PATHWAY_WEIGHTS = (
    (Pathway.ARREST_DIVERSION, 60),
    (Pathway.SOCIAL_CONTACT, 25),
    (Pathway.COMMUNITY, 15),
)


class Outcome(StrEnum):
    """How a planned referral ends; the values are the referral's final status."""

    ENROLLED = "enrolled"
    EXCLUDED = "excluded"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    LAPSED = "lapsed"


OUTCOME_SHARES = {
    Outcome.EXCLUDED: 0.10,
    Outcome.DECLINED: 0.05,
    Outcome.WITHDRAWN: 0.06,
    Outcome.LAPSED: 0.06,
}
"""Shares of all referrals; the rest enroll."""


# -- who acts -------------------------------------------------------------------------
PCG = Actor(principal="admin.pcg", role=Role.ADMINISTRATOR, organisation="LEAD PCG")
PM = Actor(principal="pm.kim", role=Role.PROJECT_MANAGER, organisation="LEAD PDA")
LIAISON = Actor(
    principal="dpa.nguyen", role=Role.LIAISON_PROSECUTOR, organisation="King County Prosecutor"
)
OFFICERS = tuple(
    Actor(principal=f"officer.{n:02d}", role=Role.OFFICER, organisation="Seattle PD")
    for n in range(1, 9)
)
PARTNERS = tuple(
    Actor(principal=f"outreach.{n:02d}", role=Role.COMMUNITY_PARTNER, organisation=organisation)
    for n, organisation in enumerate(
        (
            "Belltown Business Association",
            "Downtown Emergency Service Center",
            "Pioneer Square Alliance",
        ),
        start=1,
    )
)
CASE_MANAGEMENT = "REACH"

# -- the demo policy --------------------------------------------------------------------
DEMO_OFFENSES = (
    DivertibleOffense(
        statute_code="69.50.4013",
        description="possession of a controlled substance",
        severity=Severity.FELONY,
        nibrs_code="35A",
    ),
    DivertibleOffense(
        statute_code="69.50.412",
        description="use of drug paraphernalia",
        severity=Severity.MISDEMEANOR,
        nibrs_code="35B",
    ),
    DivertibleOffense(
        statute_code="9A.52.070",
        description="criminal trespass in the first degree",
        severity=Severity.GROSS_MISDEMEANOR,
        nibrs_code="90J",
    ),
    DivertibleOffense(
        statute_code="9A.52.080",
        description="criminal trespass in the second degree",
        severity=Severity.MISDEMEANOR,
        nibrs_code="90J",
    ),
    DivertibleOffense(
        statute_code="9A.56.050",
        description="theft in the third degree",
        severity=Severity.GROSS_MISDEMEANOR,
        nibrs_code="23H",
    ),
    DivertibleOffense(
        statute_code="9A.88.030",
        description="prostitution",
        severity=Severity.MISDEMEANOR,
        nibrs_code="40A",
    ),
)
PROGRAM_AREAS = ("Belltown", "Downtown", "Pioneer Square", "Chinatown-International District")
OUTSIDE_AREAS = ("Rainier Beach", "Lake City", "White Center")


def demo_policy(effective_from: date, *, capacity: int = 100) -> PolicyTerms:
    """Seattle-like terms: the original LEAD offenses and exclusions, a 25-person hard cap."""
    return PolicyTerms(
        effective_from=effective_from,
        divertible_offenses=DEMO_OFFENSES,
        social_contact=SocialContactCriteria(program_areas=PROGRAM_AREAS),
        intake_deadline_days=14,
        caseload=CaseloadLimits(target=CASELOAD_TARGET, warning=20, hard_cap=25),
        program_capacity=max(1, capacity),
    )


# -- what people and records look like ------------------------------------------------
GIVEN_NAMES = (
    "James", "Maria", "Robert", "Keisha", "Michael", "Linda", "David", "Tanya", "Jose",
    "Angela", "Marcus", "Crystal", "Daniel", "Nicole", "Anthony", "Rosa", "Terrence", "Amy",
    "Samuel", "Jasmine", "Luis", "Denise", "Kevin", "Shauna",
)  # fmt: skip
FAMILY_NAMES = (
    "Johnson", "Garcia", "Williams", "Nguyen", "Brown", "Martinez", "Jones", "Lee", "Davis",
    "Thompson", "Jackson", "White", "Harris", "Clark", "Lewis", "Walker", "Young", "Allen",
)  # fmt: skip
RACES = (
    ("black", 34), ("white", 36), ("american_indian_alaska_native", 7), ("asian", 4),
    ("native_hawaiian_pacific_islander", 2), ("multiracial", 8),
    ("prefers_not_to_answer", 4), ("doesnt_know", 2), ("not_collected", 3),
)  # fmt: skip
ETHNICITIES = (
    ("not_hispanic_latino", 80), ("hispanic_latino", 12), ("prefers_not_to_answer", 4),
    ("not_collected", 4),
)  # fmt: skip
GENDERS = (
    ("man", 64), ("woman", 30), ("transgender", 2), ("non_binary", 2),
    ("prefers_not_to_answer", 2),
)  # fmt: skip
STREET_PLACES = (
    "3rd Ave & Pine St", "2nd Ave & Bell St", "Westlake Park", "Occidental Square",
    "City Hall Park", "Hing Hay Park", "5th Ave & Jackson St", "Belltown P-Patch",
)  # fmt: skip
DECLINE_REASONS = (
    "already working with another case management program",
    "referral is missing the person's contact information",
    "protection order under review; revisit next OWG",
)
WITHDRAWAL_NOTES = (
    "does not want case management right now",
    "moving to stay with family out of town",
    None,
)
CONTACT_KINDS = (
    (ContactKind.STREET_OUTREACH, 45),
    (ContactKind.OFFICE, 30),
    (ContactKind.PHONE, 17),
    (ContactKind.CASE_CONFERENCE, 8),
)
CONTACTS_PER_MONTH = ((0, 6), (1, 10), (2, 16), (3, 18), (4, 16), (5, 12), (6, 9), (7, 7), (8, 6))
CONTACT_NOTES = (
    "checked in; talked about shelter options",
    "brought food and socks; person is using at night",
    "went together to DSHS for an EBT card",
    "followed up on the ID card application",
    "short check-in, person tired, agreed to meet tomorrow",
    "talked through a court date and transport",
    "helped fill in a housing application",
    "naloxone kit replaced; talked about safer use",
)
GOALS = (
    (GoalDomain.HOUSING, "get on the housing list"),
    (GoalDomain.HOUSING, "find a safe place to sleep"),
    (GoalDomain.INCOME, "apply for SSI"),
    (GoalDomain.INCOME, "get an EBT card"),
    (GoalDomain.HEALTH, "see a doctor about my leg"),
    (GoalDomain.SUBSTANCE_USE, "start buprenorphine"),
    (GoalDomain.LEGAL, "get an ID card"),
    (GoalDomain.LEGAL, "clear my warrants"),
    (GoalDomain.RELATIONSHIPS, "call my daughter"),
    (GoalDomain.OTHER, "get a phone"),
)
GOAL_NOTES = (
    "first appointment made",
    "paperwork submitted",
    "waiting to hear back",
    "missed the appointment; rescheduled",
)
LIVING_AT_INTAKE: tuple[tuple[int | DataQuality, int], ...] = (
    (116, 48), (101, 18), (118, 5), (207, 4), (313, 6), (314, 5), (302, 4), (410, 2),
    (DataQuality.DOESNT_KNOW, 4), (DataQuality.PREFERS_NOT_TO_ANSWER, 4),
)  # fmt: skip
LIVING_LATER: tuple[tuple[int | DataQuality, int], ...] = (
    (302, 15), (312, 8), (314, 7), (410, 20), (421, 10), (435, 25), (422, 15),
)  # fmt: skip
INCOME_AT_INTAKE: tuple[tuple[tuple[IncomeSource, ...] | DataQuality, int], ...] = (
    ((), 40), ((IncomeSource.SNAP,), 24), ((IncomeSource.SNAP, IncomeSource.GENERAL_ASSISTANCE), 9),
    ((IncomeSource.SSI,), 7), ((IncomeSource.EARNED,), 5), ((IncomeSource.SSDI,), 3),
    (DataQuality.DOESNT_KNOW, 6), (DataQuality.PREFERS_NOT_TO_ANSWER, 6),
)  # fmt: skip
INCOME_LATER: tuple[tuple[tuple[IncomeSource, ...] | DataQuality, int], ...] = (
    ((IncomeSource.SSI, IncomeSource.SNAP), 30), ((IncomeSource.SSDI,), 15),
    ((IncomeSource.EARNED,), 20), ((IncomeSource.GENERAL_ASSISTANCE, IncomeSource.SNAP), 25),
    ((IncomeSource.UNEMPLOYMENT,), 10),
)  # fmt: skip
EXIT_REASONS = (
    (ExitReason.MOVED_AWAY, 30),
    (ExitReason.GRADUATED, 20),
    (ExitReason.DECLINED_SERVICES, 20),
    (ExitReason.INCARCERATED, 20),
    (ExitReason.OTHER, 10),
)
CASE_CHARGES = (
    Charge(
        statute_code="9A.56.050",
        description="theft in the third degree",
        severity=Severity.GROSS_MISDEMEANOR,
        nibrs_code="23C",
    ),
    Charge(
        statute_code="9A.52.080",
        description="criminal trespass in the second degree",
        severity=Severity.MISDEMEANOR,
        nibrs_code="90J",
    ),
    Charge(
        statute_code="69.50.4013",
        description="possession of a controlled substance",
        severity=Severity.FELONY,
        nibrs_code="35A",
    ),
    Charge(
        statute_code="9A.56.040",
        description="theft in the second degree",
        severity=Severity.FELONY,
        nibrs_code="23H",
    ),
    Charge(
        statute_code="46.20.342",
        description="driving while license suspended, third degree",
        severity=Severity.MISDEMEANOR,
    ),
)
RECOMMENDATIONS = (
    "dismiss on continued LEAD engagement",
    "hold for 90 days while the participant engages",
    "resolve with the participant's pending matters in one hearing",
)
SUMMARIES = (
    "Engaged weekly with case management; working on housing.",
    "In contact most weeks; ID card obtained, benefits pending.",
    "Contact has been irregular; the case manager continues outreach.",
)
DISPOSITIONS = (
    (Disposition.DISMISSED, 50),
    (Disposition.DIVERTED, 20),
    (Disposition.PLED, 20),
    (Disposition.OTHER, 10),
)


# -- helpers --------------------------------------------------------------------------
def weighted(rng: random.Random, options: Sequence[tuple[T, int]]) -> T:
    return rng.choices([value for value, _ in options], weights=[w for _, w in options])[0]


def between(rng: random.Random, low: datetime, high: datetime) -> datetime:
    return low + (high - low) * rng.random()


def on_day(rng: random.Random, day: date) -> datetime:
    """Some time in office hours on a day: for things only a date is known for."""
    return datetime.combine(day, time(rng.randint(8, 16), rng.randint(0, 59)), tzinfo=UTC)


def some(
    rng: random.Random, population: Sequence[int], share: float, minimum: int
) -> frozenset[int]:
    """A quota rather than coin flips, so even a small site shows the rarer events."""
    wanted = max(minimum, round(len(population) * share * rng.uniform(0.7, 1.3)))
    return frozenset(rng.sample(population, min(len(population), wanted)))
