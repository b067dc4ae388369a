"""A synthetic LEAD site: a realistic, deterministic history for demos, load and projection tests.

The history is made only through `LeadApplication`'s use cases, never by writing events,
so it obeys every rule the aggregates enforce and runs the same code as real input does.
A `DomainError` raised while seeding is therefore a bug in this generator: none is caught.

Every choice comes from one `random.Random(seed)`, and every time is an offset from the
start of today (UTC), so a seed always gives the same counts, whatever the time of day.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import partial
from typing import TypeVar
from uuid import UUID

from eventsourcing.utils import get_topic

from aggregates.base import DomainError
from aggregates.referral import Referral
from events.base import Actor, Role
from events.case import Charge, ChargingDecision, Disposition, Severity
from events.consent import InformationKind, Recipient, RecipientKind, SignatureMethod
from events.participant import (
    CaseloadOpened,
    ContactKind,
    DataQuality,
    EngagementStatus,
    ExitReason,
    GoalDomain,
    GoalStatus,
    IncomeSource,
)
from events.policy import (
    CaseloadLimits,
    DivertibleOffense,
    PolicyTerms,
    SocialContactCriteria,
    VerificationSource,
)
from events.referral import Incident, Pathway, Person, Referrer, ScreeningFacts, WithdrawalKind
from services import commands as c
from services.application import LeadApplication

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


@dataclass(frozen=True)
class SeedReport:
    """What one `seed_site` run recorded, counted from what the application accepted."""

    referrals: int
    enrolled: int
    excluded: int
    declined: int
    withdrawn: int
    lapsed: int
    contacts: int
    cases: int
    filings: int
    consents: int
    revocations: int
    exits: int
    events: int


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


def seed_site(
    app: LeadApplication,
    *,
    participants: int,
    months: int,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> SeedReport:
    """Record `months` months of a site's life, ending today, until `participants` enrolled.

    Adopts the demo policy first if the site has none; an adopted policy is kept and
    followed. `progress(done, total)` is called after each enrolled participant.
    """
    if participants < 0:
        raise ValueError("participants must not be negative")
    if months < 1:
        raise ValueError("months must be at least 1")
    rng = random.Random(seed)  # noqa: S311  # reproducible demo data, not secrecy
    return _Seeder(app, rng, participants, months, progress).run()


# -- helpers --------------------------------------------------------------------------
def _weighted(rng: random.Random, options: Sequence[tuple[T, int]]) -> T:
    return rng.choices([value for value, _ in options], weights=[w for _, w in options])[0]


def _between(rng: random.Random, low: datetime, high: datetime) -> datetime:
    return low + (high - low) * rng.random()


def _on_day(rng: random.Random, day: date) -> datetime:
    """Some time in office hours on a day: for things only a date is known for."""
    return datetime.combine(day, time(rng.randint(8, 16), rng.randint(0, 59)), tzinfo=UTC)


def _some(
    rng: random.Random, population: Sequence[int], share: float, minimum: int
) -> frozenset[int]:
    """A quota rather than coin flips, so even a small site shows the rarer events."""
    wanted = max(minimum, round(len(population) * share * rng.uniform(0.7, 1.3)))
    return frozenset(rng.sample(population, min(len(population), wanted)))


@dataclass(frozen=True)
class _Plan:
    """One referral to make: when, on which pathway, and how it is meant to end."""

    at: datetime
    pathway: Pathway
    outcome: Outcome


@dataclass(frozen=True)
class _Selection:
    """Which participants, by order of enrollment, get the less common parts of a history."""

    liaison: frozenset[int]
    exits: frozenset[int]
    reengagements: frozenset[int]
    revocations: frozenset[int]
    pre_existing: frozenset[int]
    filings: frozenset[int]
    pauses: frozenset[int]
    summaries: frozenset[int]

    @classmethod
    def draw(cls, rng: random.Random, n: int) -> _Selection:
        everyone = range(n)
        least = 1 if n >= EVERY_OUTCOME_FROM else 0
        liaison = _some(rng, everyone, 0.70, least)
        exits = _some(rng, everyone, 0.10, least)
        return cls(
            liaison=liaison,
            exits=exits,
            reengagements=_some(rng, sorted(exits), 0.30, least),
            revocations=_some(rng, everyone, 0.05, least),
            pre_existing=_some(rng, everyone, 0.35, least),
            filings=_some(rng, everyone, 0.25, least),
            pauses=_some(rng, everyone, 0.25, least),
            summaries=_some(rng, sorted(liaison), 0.30, least),
        )


@dataclass(frozen=True)
class _Pause:
    """A spell of being inactive or in the wind; `until` None means it lasts to today."""

    status: EngagementStatus
    since: datetime
    until: datetime | None


@dataclass(frozen=True)
class _Timeline:
    """When a participant can be worked with: from intake to today, except while exited."""

    enrolled_at: datetime
    end: datetime
    exited_at: datetime | None = None
    reengaged_at: datetime | None = None
    pause: _Pause | None = None

    @property
    def settled_at(self) -> datetime:
        """Intake's own records come first; everything later starts from here."""
        return self.enrolled_at + timedelta(minutes=10)

    def intervals(self) -> list[tuple[datetime, datetime]]:
        if self.exited_at is None:
            return [(self.enrolled_at, self.end)]
        spans = [(self.enrolled_at, self.exited_at)]
        if self.reengaged_at is not None:
            spans.append((self.reengaged_at, self.end))
        return spans

    def engaged(self, at: datetime) -> bool:
        return any(start <= at < end for start, end in self.intervals())

    def reachable(self, at: datetime) -> bool:
        """Engaged and not on a pause: when outreach finds the person."""
        pause = self.pause
        paused = pause is not None and pause.since <= at < (pause.until or self.end)
        return self.engaged(at) and not paused

    def later(self, rng: random.Random, low: float, high: float) -> datetime:
        """A time after intake, as a share of the time left until today."""
        return self.settled_at + (self.end - self.settled_at) * rng.uniform(low, high)

    def pick(
        self, rng: random.Random, after: datetime, before: datetime | None = None
    ) -> datetime | None:
        """A time while engaged, uniformly, between two bounds; None if there is none."""
        spans = [
            (max(start, after), min(end, before or end))
            for start, end in self.intervals()
            if max(start, after) < min(end, before or end)
        ]
        if not spans:
            return None
        total = sum((end - start for start, end in spans), timedelta())
        offset = total * rng.random()
        for start, end in spans:
            if offset < end - start:
                return start + offset
            offset -= end - start
        return spans[-1][1] - timedelta(seconds=1)


@dataclass(frozen=True)
class _Step:
    """One thing in a participant's history, run in order of `at` with the others.

    `participant` steps change the participant and so are dropped while they are
    exited; cases, consents and the exit and re-engagement themselves are not.
    """

    at: datetime
    run: Callable[[], object]
    tally: str | None = None
    participant: bool = True


@dataclass
class _Ids:
    """Ids the application makes while the steps run, for the steps after them."""

    case: UUID | None = None
    goals: dict[int, UUID] = field(default_factory=dict)


@dataclass(frozen=True)
class _Enrollment:
    """Who was enrolled, when, by whom and under which consent: what their history needs."""

    index: int
    person_id: UUID
    enrolled_at: datetime
    case_manager: Actor
    consent_id: UUID
    signed_at: datetime
    expires_at: datetime


class _Seeder:
    """One run of `seed_site`: the plan, then each referral and participant in turn."""

    def __init__(
        self,
        app: LeadApplication,
        rng: random.Random,
        participants: int,
        months: int,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        self._app = app
        self._rng = rng
        self._participants = participants
        self._months = months
        self._progress = progress
        self._tally: Counter[str] = Counter()
        self._end = datetime.combine(datetime.now(UTC).date(), time(), tzinfo=UTC)
        self._start = self._end - timedelta(days=round(months * 365.25 / 12))
        count = math.ceil(participants / CASELOAD_TARGET)
        # New case managers for each run, so a second run never overfills the first's.
        existing = len(
            app.recorder.select_notifications(
                start=1, limit=1_000_000, topics=[get_topic(CaseloadOpened)]
            )
        )
        self._case_managers = tuple(
            Actor(principal=f"cm.{n:02d}", role=Role.CASE_MANAGER, organisation=CASE_MANAGEMENT)
            for n in range(existing + 1, existing + count + 1)
        )
        self._case_number = rng.randint(1000, 8999)
        self._deadline_days = 30
        self._selection = _Selection.draw(rng, participants)

    def run(self) -> SeedReport:
        first = self._app.recorder.max_notification_id() or 0
        self._ensure_policy()
        for plan in self._plan():
            self._refer(plan)
        events = (self._app.recorder.max_notification_id() or 0) - first
        counts = {f.name: self._tally[f.name] for f in fields(SeedReport) if f.name != "events"}
        return SeedReport(**counts, events=events)

    # -- setup ------------------------------------------------------------------------
    def _ensure_policy(self) -> None:
        """Adopt the demo policy unless the site has one; the period must lie inside it."""
        try:
            self._app.get_policy()
        except DomainError:
            effective = self._start.date() - timedelta(days=365)
            terms = demo_policy(effective, capacity=max(100, self._participants))
            adopted_at = _on_day(self._rng, effective - timedelta(days=30))
            self._app.adopt_policy(c.AdoptPolicy(terms=terms, occurred_at=adopted_at), PCG)
        versions = [terms for _, terms in self._app.get_policy().versions]
        first = min(terms.effective_from for terms in versions)
        self._start = max(self._start, datetime.combine(first, time(), tzinfo=UTC))
        self._deadline_days = max(terms.intake_deadline_days for terms in versions)

    def _plan(self) -> list[_Plan]:
        """Every referral up front, outcomes as quotas, in the order they were made."""
        n = self._participants
        total = n / (1 - sum(OUTCOME_SHARES.values()))
        least = 1 if n >= EVERY_OUTCOME_FROM else 0
        outcomes = [Outcome.ENROLLED] * n
        for outcome, share in OUTCOME_SHARES.items():
            wanted = round(total * share * self._rng.uniform(0.7, 1.3))
            outcomes += [outcome] * (max(least, wanted) if n else 0)
        return sorted((self._plan_one(outcome) for outcome in outcomes), key=lambda p: p.at)

    def _plan_one(self, outcome: Outcome) -> _Plan:
        """Referrals leave room before today: for intake, or for a deadline to pass."""
        if outcome is Outcome.LAPSED:
            pathway = Pathway.ARREST_DIVERSION
            last = self._end - timedelta(days=self._deadline_days + 4)
        else:
            pathway = _weighted(self._rng, PATHWAY_WEIGHTS)
            last = self._end - timedelta(days=3)
        if last <= self._start:
            raise ValueError(
                f"{self._months} month(s) inside the site's policy leave no room for referrals "
                f"to be made and followed up (intake deadline {self._deadline_days} days)"
            )
        return _Plan(at=_between(self._rng, self._start, last), pathway=pathway, outcome=outcome)

    # -- referrals --------------------------------------------------------------------
    def _refer(self, plan: _Plan) -> None:
        _, terms = self._app.policy_in_force(plan.at.date())
        command, actor = self._referral(plan, terms)
        receipt = self._app.receive_referral(command, actor)
        self._tally["referrals"] += 1
        person_id = receipt.person_id
        assert person_id is not None
        expected = "excluded" if plan.outcome is Outcome.EXCLUDED else "eligible"
        if self._status(receipt.id) != expected:
            raise RuntimeError(
                f"generator bug: a referral meant to be {expected} was "
                f"{self._status(receipt.id)} under policy terms {terms.effective_from}"
            )
        if plan.outcome is Outcome.DECLINED:
            self._decline(plan, receipt.id)
        elif plan.outcome is Outcome.WITHDRAWN:
            self._withdraw(plan, receipt.id)
        elif plan.outcome is Outcome.LAPSED:
            self._lapse(plan, receipt.id, terms)
        elif plan.outcome is Outcome.ENROLLED:
            self._enroll(plan, receipt.id, person_id, terms)
        self._tally[self._status(receipt.id)] += 1
        if plan.outcome is Outcome.ENROLLED and self._progress is not None:
            self._progress(self._tally["enrolled"], self._participants)

    def _status(self, referral_id: UUID) -> str:
        referral: object = self._app.repository.get(referral_id)
        assert isinstance(referral, Referral)
        return referral.status

    def _referral(self, plan: _Plan, terms: PolicyTerms) -> tuple[c.ReceiveReferral, Actor]:
        rng = self._rng
        actor = rng.choice(PARTNERS if plan.pathway is Pathway.COMMUNITY else OFFICERS)
        offense = rng.choice(terms.divertible_offenses)
        pathway, facts = self._facts(plan, terms, offense)
        command = c.ReceiveReferral(
            pathway=pathway,
            referrer=Referrer(principal=actor.principal, organisation=actor.organisation),
            incident=Incident(
                offense_code=offense.statute_code,
                description=offense.description,
                nibrs_code=offense.nibrs_code,
                place=rng.choice(STREET_PLACES),
            ),
            person=self._person(plan.at.date(), terms),
            facts=facts,
            occurred_at=plan.at,
        )
        return command, actor

    def _person(self, day: date, terms: PolicyTerms) -> Person:
        """An adult a year clear of the policy's minimum age, so age never excludes."""
        rng = self._rng
        age = rng.randint(max(18, terms.exclusions.minimum_age) + 1, 66)
        given, family = rng.choice(GIVEN_NAMES), rng.choice(FAMILY_NAMES)
        aliases = (f"{rng.choice(GIVEN_NAMES)} {family}",) if rng.random() < 0.15 else ()
        return Person(
            given_name=given,
            family_name=family,
            aliases=aliases,
            birth_date=day - timedelta(days=int(age * 365.25) + rng.randint(0, 300)),
            race=_weighted(rng, RACES),
            ethnicity=_weighted(rng, ETHNICITIES),
            gender=_weighted(rng, GENDERS),
        )

    def _facts(
        self, plan: _Plan, terms: PolicyTerms, offense: DivertibleOffense
    ) -> tuple[Pathway, ScreeningFacts]:
        if plan.outcome is Outcome.EXCLUDED:
            pathway, facts = self._excluding_facts(plan.pathway, terms, plan.at.date())
        else:
            pathway = plan.pathway
            facts = self._eligible_facts(plan.pathway, terms, plan.at.date(), offense)
        # Most people LEAD sees have had prior contact; community referrals less often.
        share = {Pathway.ARREST_DIVERSION: 0.8, Pathway.SOCIAL_CONTACT: 0.95}.get(pathway, 0.5)
        draw = self._rng.random()
        prior = None if draw > 0.95 else draw < share * 0.95
        return pathway, facts.model_copy(update={"prior_criminal_legal_contact": prior})

    def _eligible_facts(
        self, pathway: Pathway, terms: PolicyTerms, day: date, offense: DivertibleOffense
    ) -> ScreeningFacts:
        """Facts that pass every exclusion the policy has switched on."""
        rng = self._rng
        if pathway is Pathway.SOCIAL_CONTACT:
            criteria = terms.social_contact
            sources = criteria.verification_sources or tuple(VerificationSource)
            lookback_days = max(7, criteria.lookback_months * 30 - 31)
            return ScreeningFacts(
                prior_contact_verified_by=rng.choice(sources),
                prior_contact_on=day - timedelta(days=rng.randint(7, lookback_days)),
                program_area=rng.choice(criteria.program_areas or PROGRAM_AREAS),
            )
        limit = terms.exclusions.max_drug_grams
        drugs = offense.nibrs_code == "35A" or offense.statute_code.startswith("69.50")
        if pathway is Pathway.ARREST_DIVERSION and drugs:
            grams = rng.uniform(0.05, 0.9) * (limit or 3.0)
            return ScreeningFacts(drug_grams=math.floor(grams * 100) / 100)
        return ScreeningFacts()

    def _excluding_facts(
        self, pathway: Pathway, terms: PolicyTerms, day: date
    ) -> tuple[Pathway, ScreeningFacts]:
        """Facts that one of the policy's exclusions catches, as screening would in life."""
        rng = self._rng
        exclusions = terms.exclusions
        options: list[ScreeningFacts] = []
        if pathway is Pathway.ARREST_DIVERSION and exclusions.max_drug_grams is not None:
            grams = round(exclusions.max_drug_grams + rng.uniform(1, 12), 1)
            options.append(ScreeningFacts(drug_grams=grams))
        if exclusions.pending_specialty_court:
            options.append(ScreeningFacts(pending_specialty_court=True))
        if pathway is Pathway.COMMUNITY and exclusions.protection_order_naming_participant:
            options.append(ScreeningFacts(protection_order_naming_participant=True))
        if pathway is Pathway.SOCIAL_CONTACT:
            outside = [a for a in OUTSIDE_AREAS if a not in terms.social_contact.program_areas]
            if terms.social_contact.program_areas and outside:
                eligible = self._eligible_facts(pathway, terms, day, DEMO_OFFENSES[0])
                options.append(eligible.model_copy(update={"program_area": rng.choice(outside)}))
            options.append(ScreeningFacts())  # no verified prior low-level involvement
        if not options:  # the site switched off every exclusion that could apply here
            return Pathway.SOCIAL_CONTACT, ScreeningFacts()
        return pathway, rng.choice(options)

    def _approve(self, referral_id: UUID, at: datetime) -> None:
        self._app.approve_referral(referral_id, c.ApproveReferral(occurred_at=at), PM)

    def _decline(self, plan: _Plan, referral_id: UUID) -> None:
        at = plan.at + timedelta(hours=self._rng.uniform(1, 48))
        reason = self._rng.choice(DECLINE_REASONS)
        self._app.decline_referral(
            referral_id, c.DeclineReferral(reason=reason, occurred_at=at), PM
        )

    def _withdraw(self, plan: _Plan, referral_id: UUID) -> None:
        """Half say no at once; the others change their mind after approval."""
        rng = self._rng
        kind = WithdrawalKind.DECLINED
        at = plan.at + timedelta(minutes=rng.uniform(5, 60))
        if rng.random() < 0.5:
            approved_at = plan.at + timedelta(minutes=rng.uniform(10, 24 * 60))
            self._approve(referral_id, approved_at)
            kind = WithdrawalKind.WITHDREW
            at = approved_at + timedelta(minutes=rng.uniform(60, 24 * 60))
        command = c.WithdrawReferral(kind=kind, note=rng.choice(WITHDRAWAL_NOTES), occurred_at=at)
        self._app.withdraw_referral(referral_id, command, PM)

    def _lapse(self, plan: _Plan, referral_id: UUID, terms: PolicyTerms) -> None:
        """Approved, sometimes scheduled, never taken in: a few days after the deadline."""
        rng = self._rng
        days = terms.intake_deadline_days
        approved_at = plan.at + timedelta(minutes=rng.uniform(5, 60))
        self._approve(referral_id, approved_at)
        if rng.random() < 0.5:
            day = plan.at.date() + timedelta(days=rng.randint(1, days - 1))
            command = c.ScheduleIntake(
                scheduled_for=_on_day(rng, day),
                case_manager=rng.choice(self._case_managers or (PM,)).principal,
                occurred_at=approved_at + timedelta(minutes=5),
            )
            self._app.schedule_intake(referral_id, command, PM)
        today = plan.at.date() + timedelta(days=days + rng.randint(1, 3))
        command_lapse = c.LapseReferral(today=today, occurred_at=_on_day(rng, today))
        self._app.lapse_referral(referral_id, command_lapse, PM)

    # -- enrollment -------------------------------------------------------------------
    def _enroll(self, plan: _Plan, referral_id: UUID, person_id: UUID, terms: PolicyTerms) -> None:
        """Approval, handoff, release of information and intake, then the person's history."""
        rng = self._rng
        index = self._tally["enrolled"]
        case_manager = self._case_managers[index % len(self._case_managers)]
        arrest = plan.pathway is Pathway.ARREST_DIVERSION
        minutes = rng.uniform(5, 20) if arrest else rng.uniform(60, 48 * 60)
        approved_at = plan.at + timedelta(minutes=minutes)
        self._approve(referral_id, approved_at)
        if arrest and rng.random() < 0.5:
            self._warm_handoff(referral_id, approved_at, case_manager)
        intake_at = self._intake_time(plan, approved_at, terms)
        if rng.random() < 0.4:
            command = c.ScheduleIntake(
                scheduled_for=intake_at,
                case_manager=case_manager.principal,
                occurred_at=approved_at + timedelta(minutes=2),
            )
            self._app.schedule_intake(referral_id, command, case_manager)
        enrollment = self._grant_consent(index, person_id, intake_at, case_manager)
        intake = c.CompleteIntake(
            completed_on=intake_at.date(),
            case_manager=case_manager.principal,
            consent_id=enrollment.consent_id,
            occurred_at=intake_at,
        )
        self._app.complete_intake(referral_id, intake, case_manager)
        self._live(enrollment, terms)

    def _warm_handoff(self, referral_id: UUID, approved_at: datetime, case_manager: Actor) -> None:
        """The officer waits with the person; the case manager arrives within the hour."""
        arrived_at = approved_at + timedelta(minutes=self._rng.uniform(5, 40))
        command = c.CompleteWarmHandoff(
            case_manager=case_manager.principal, arrived_at=arrived_at, occurred_at=arrived_at
        )
        self._app.complete_warm_handoff(referral_id, command, self._rng.choice(OFFICERS))

    def _intake_time(self, plan: _Plan, approved_at: datetime, terms: PolicyTerms) -> datetime:
        """Mostly soon after approval; for an arrest diversion never after its deadline."""
        first = approved_at + timedelta(hours=1)
        if plan.pathway is Pathway.ARREST_DIVERSION:
            deadline = plan.at.date() + timedelta(days=terms.intake_deadline_days)
            last = datetime.combine(deadline, time(23), tzinfo=UTC)
        else:
            last = approved_at + timedelta(days=14)
        last = min(last, self._end - timedelta(hours=1))
        return first + (last - first) * self._rng.random() ** 2

    def _grant_consent(
        self, index: int, person_id: UUID, intake_at: datetime, case_manager: Actor
    ) -> _Enrollment:
        """The release of information signed at intake, for a year; most name the prosecutor."""
        rng = self._rng
        recipients = [Recipient(kind=RecipientKind.ROLE, name=Role.PUBLIC_DEFENDER.value)]
        if index in self._selection.liaison:
            recipients.insert(0, Recipient(kind=RecipientKind.ROLE, name="liaison_prosecutor"))
        signed_at = intake_at - timedelta(minutes=rng.uniform(5, 40))
        expires_at = signed_at + timedelta(days=365)
        command = c.GrantConsent(
            person_id=person_id,
            disclosing_party=f"{CASE_MANAGEMENT} case management",
            recipients=tuple(recipients),
            purpose="coordinate legal matters and services with LEAD partners",
            information_kinds=(
                InformationKind.LEGAL_STATUS,
                InformationKind.PROGRAM_STATUS,
                InformationKind.PROGRESS_SUMMARY,
            ),
            signature_method=_weighted(
                rng,
                (
                    (SignatureMethod.E_SIGNATURE, 50),
                    (SignatureMethod.PAPER, 40),
                    (SignatureMethod.VERBAL, 10),
                ),
            ),
            signed_at=signed_at,
            expires_at=expires_at,
            occurred_at=signed_at,
        )
        receipt = self._app.grant_consent(command, case_manager)
        self._tally["consents"] += 1
        return _Enrollment(
            index=index,
            person_id=person_id,
            enrolled_at=intake_at,
            case_manager=case_manager,
            consent_id=receipt.id,
            signed_at=signed_at,
            expires_at=expires_at,
        )

    # -- a participant's history ----------------------------------------------------------
    def _live(self, who: _Enrollment, terms: PolicyTerms) -> None:
        """Plan the whole history, then run it in time order, skipping what an exit forbids."""
        timeline = self._timeline(who)
        steps = [
            *self._intake_records(who),
            *self._goals(who, timeline),
            *self._contacts(who, timeline),
            *self._status_changes(who, timeline, terms),
            *self._exit(who, timeline),
            *self._circumstances(who, timeline),
            *self._consent_steps(who, timeline),
            *self._cases(who, timeline),
        ]
        for step in sorted(steps, key=lambda s: s.at):
            if step.participant and not timeline.engaged(step.at):
                continue
            step.run()
            if step.tally is not None:
                self._tally[step.tally] += 1

    def _timeline(self, who: _Enrollment) -> _Timeline:
        """Exits fall in the second half of enrollment; a pause ends before any exit."""
        rng, selection, end = self._rng, self._selection, self._end
        exited_at = reengaged_at = None
        if who.index in selection.exits:
            exited_at = _between(rng, who.enrolled_at + (end - who.enrolled_at) * 0.5, end)
            exited_at = min(exited_at, end - timedelta(minutes=1))
            if who.index in selection.reengagements:
                reengaged_at = exited_at + (end - exited_at) * rng.uniform(0.2, 0.8)
        pause = None
        if who.index in selection.pauses:
            pause = self._pause(who.enrolled_at, exited_at)
        return _Timeline(who.enrolled_at, end, exited_at, reengaged_at, pause)

    def _pause(self, enrolled_at: datetime, exited_at: datetime | None) -> _Pause:
        rng = self._rng
        status = EngagementStatus.INACTIVE if rng.random() < 0.6 else EngagementStatus.IN_THE_WIND
        start = enrolled_at + timedelta(minutes=15)
        if exited_at is not None:
            room = exited_at - start
            since = start + room * rng.uniform(0.2, 0.5)
            return _Pause(status, since, since + room * rng.uniform(0.1, 0.4))
        since = start + (self._end - start) * rng.uniform(0.2, 0.7)
        until = since + timedelta(days=rng.uniform(20, 90))
        return _Pause(status, since, until if until < self._end else None)

    def _update(self, who: _Enrollment, command: c.Command) -> Callable[[], object]:
        return partial(self._app.update_participant, who.person_id, command, who.case_manager)

    def _intake_records(self, who: _Enrollment) -> list[_Step]:
        """HMIS living situation and income, taken at intake."""
        rng, day = self._rng, who.enrolled_at.date()
        living_at = who.enrolled_at + timedelta(minutes=1)
        income_at = who.enrolled_at + timedelta(minutes=2)
        living = c.RecordLivingSituation(
            as_of=day, situation=_weighted(rng, LIVING_AT_INTAKE), occurred_at=living_at
        )
        income = c.RecordIncome(
            as_of=day, sources=_weighted(rng, INCOME_AT_INTAKE), occurred_at=income_at
        )
        return [
            _Step(living_at, self._update(who, living)),
            _Step(income_at, self._update(who, income)),
        ]

    def _goals(self, who: _Enrollment, timeline: _Timeline) -> list[_Step]:
        """One to three goals set in the first days, some progress, some achieved or set aside."""
        rng = self._rng
        ids = _Ids()
        first_end = timeline.intervals()[0][1]
        window = min(timedelta(days=10), (first_end - timeline.settled_at) * 0.3)
        steps = []
        for number, (domain, text) in enumerate(rng.sample(GOALS, rng.randint(1, 3))):
            set_at = timeline.settled_at + window * rng.random()
            command = c.SetGoal(text=text, domain=domain, occurred_at=set_at)
            steps.append(_Step(set_at, partial(self._set_goal, who, ids, number, command)))
            for _ in range(rng.randint(0, 2)):
                at = timeline.pick(rng, after=set_at)
                if at is not None:
                    note = rng.choice(GOAL_NOTES)
                    steps.append(
                        _Step(at, partial(self._goal_progress, who, ids, number, note, at))
                    )
            at = timeline.pick(rng, after=set_at)
            if at is not None and rng.random() < 0.55:
                status = GoalStatus.ACHIEVED if rng.random() < 0.75 else GoalStatus.SET_ASIDE
                steps.append(_Step(at, partial(self._revise_goal, who, ids, number, status, at)))
        return steps

    def _set_goal(self, who: _Enrollment, ids: _Ids, number: int, command: c.SetGoal) -> None:
        """The application makes the goal's id; later steps find it here."""
        before = set(self._app.participant(who.person_id).goals)
        self._app.update_participant(who.person_id, command, who.case_manager)
        (ids.goals[number],) = set(self._app.participant(who.person_id).goals) - before

    def _goal_progress(
        self, who: _Enrollment, ids: _Ids, number: int, note: str, at: datetime
    ) -> None:
        command = c.RecordGoalProgress(goal_id=ids.goals[number], note=note, occurred_at=at)
        self._app.update_participant(who.person_id, command, who.case_manager)

    def _revise_goal(
        self, who: _Enrollment, ids: _Ids, number: int, status: GoalStatus, at: datetime
    ) -> None:
        command = c.ReviseGoal(goal_id=ids.goals[number], status=status, occurred_at=at)
        self._app.update_participant(who.person_id, command, who.case_manager)

    def _contacts(self, who: _Enrollment, timeline: _Timeline) -> list[_Step]:
        """The dose: 0-8 contacts in each month enrolled, none while exited or paused."""
        rng = self._rng
        steps = []
        month = timeline.settled_at
        while month < timeline.end:
            for _ in range(_weighted(rng, CONTACTS_PER_MONTH)):
                at = month + MONTH * rng.random()
                if at >= timeline.end or not timeline.reachable(at):
                    continue
                kind = _weighted(rng, CONTACT_KINDS)
                command = c.RecordContact(
                    kind=kind,
                    contacted_on=at,
                    minutes=rng.randint(10, 90),
                    place=self._contact_place(kind),
                    notes=rng.choice(CONTACT_NOTES),
                    occurred_at=at,
                )
                steps.append(_Step(at, self._update(who, command), tally="contacts"))
            month += MONTH
        return steps

    def _contact_place(self, kind: ContactKind) -> str | None:
        if kind is ContactKind.OFFICE:
            return f"{CASE_MANAGEMENT} office"
        if kind is ContactKind.CASE_CONFERENCE:
            return "OWG case conference"
        if kind is ContactKind.PHONE:
            return None
        return self._rng.choice(STREET_PLACES)

    def _status_changes(
        self, who: _Enrollment, timeline: _Timeline, terms: PolicyTerms
    ) -> list[_Step]:
        """Into the pause and, unless it lasts to today, back to active before any exit."""
        pause = timeline.pause
        if pause is None:
            return []
        reason = (
            f"no contact for {terms.in_the_wind_days} days"
            if pause.status is EngagementStatus.IN_THE_WIND
            else "not engaging for now; outreach continues"
        )
        start = c.ChangeStatus(status=pause.status, reason=reason, occurred_at=pause.since)
        steps = [_Step(pause.since, self._update(who, start))]
        if pause.until is not None:
            back = c.ChangeStatus(
                status=EngagementStatus.ACTIVE,
                reason="reconnected through street outreach",
                occurred_at=pause.until,
            )
            steps.append(_Step(pause.until, self._update(who, back)))
        return steps

    def _exit(self, who: _Enrollment, timeline: _Timeline) -> list[_Step]:
        """An exit is a fact of the person's life; whoever comes back is re-engaged."""
        if timeline.exited_at is None:
            return []
        exited_at = timeline.exited_at
        reasons: Sequence[tuple[ExitReason, int]] = EXIT_REASONS
        if timeline.reengaged_at is None:
            reasons = (*EXIT_REASONS, (ExitReason.DECEASED, 5))
        exit_command = c.ExitParticipant(
            exited_on=exited_at.date(), reason=_weighted(self._rng, reasons), occurred_at=exited_at
        )
        steps = [
            _Step(
                exited_at,
                partial(self._app.exit_participant, who.person_id, exit_command, who.case_manager),
                tally="exits",
                participant=False,
            )
        ]
        if timeline.reengaged_at is not None:
            back = c.ReengageParticipant(
                reengaged_on=timeline.reengaged_at.date(), occurred_at=timeline.reengaged_at
            )
            run = partial(self._app.reengage_participant, who.person_id, back, who.case_manager)
            steps.append(_Step(timeline.reengaged_at, run, participant=False))
        return steps

    def _circumstances(self, who: _Enrollment, timeline: _Timeline) -> list[_Step]:
        """Later housing and income, where case management got somewhere."""
        rng = self._rng
        steps = []
        span = timeline.end - timeline.settled_at
        housed_at = timeline.pick(rng, after=timeline.settled_at + span * 0.3)
        if housed_at is not None and rng.random() < 0.3:
            command: c.Command = c.RecordLivingSituation(
                as_of=housed_at.date(),
                situation=_weighted(rng, LIVING_LATER),
                occurred_at=housed_at,
            )
            steps.append(_Step(housed_at, self._update(who, command)))
        income_at = timeline.pick(rng, after=timeline.settled_at + span * 0.2)
        if income_at is not None and rng.random() < 0.3:
            command = c.RecordIncome(
                as_of=income_at.date(), sources=_weighted(rng, INCOME_LATER), occurred_at=income_at
            )
            steps.append(_Step(income_at, self._update(who, command)))
        return steps

    # -- consents -----------------------------------------------------------------------
    def _consent_steps(self, who: _Enrollment, timeline: _Timeline) -> list[_Step]:
        """A summary for the prosecutor before any revocation, so the consent still covers it."""
        rng = self._rng
        steps = []
        revoked_at = None
        if who.index in self._selection.revocations:
            revoked_at = _between(rng, who.signed_at, min(self._end, who.expires_at))
            revoked_at = max(revoked_at, who.signed_at + timedelta(seconds=1))
            revoke = c.RevokeConsent(
                effective_at=revoked_at, reason="participant's wish", occurred_at=revoked_at
            )
            run = partial(self._app.revoke_consent, who.consent_id, revoke, who.case_manager)
            steps.append(_Step(revoked_at, run, tally="revocations", participant=False))
        # The application judges a disclosure now, so the consent must outlive today.
        lasts = who.expires_at > self._end + timedelta(days=2)
        if who.index in self._selection.summaries and lasts:
            after = timeline.settled_at + (timeline.end - timeline.settled_at) * 0.2
            at = timeline.pick(rng, after=after, before=revoked_at)
            if at is not None:
                summary = rng.choice(SUMMARIES)
                steps.append(_Step(at, partial(self._share_summary, who, summary, at)))
        return steps

    def _share_summary(self, who: _Enrollment, summary: str, at: datetime) -> None:
        """Shared only under a consent covering the liaison prosecutor; otherwise not at all."""
        organisation = LIAISON.organisation
        question = c.DisclosureQuestion(
            person_id=who.person_id,
            recipient_organisation=organisation,
            recipient_role=Role.LIAISON_PROSECUTOR,
            kind=InformationKind.PROGRESS_SUMMARY,
        )
        if self._app.consent_for_disclosure(question) is None:
            return
        command = c.ShareProgressSummary(
            recipient_organisation=organisation,
            recipient_role=Role.LIAISON_PROSECUTOR,
            summary=summary,
            occurred_at=at,
        )
        self._app.share_progress_summary(who.person_id, command, who.case_manager)

    # -- cases --------------------------------------------------------------------------
    def _cases(self, who: _Enrollment, timeline: _Timeline) -> list[_Step]:
        steps = []
        if who.index in self._selection.pre_existing:
            steps += self._pre_existing_case(who, timeline)
        if who.index in self._selection.filings:
            steps += self._post_enrollment_case(who, timeline, ChargingDecision.FILED)
        elif self._rng.random() < 0.08:
            decision = self._rng.choice(
                (ChargingDecision.DECLINED, ChargingDecision.MORE_EVIDENCE_NEEDED)
            )
            steps += self._post_enrollment_case(who, timeline, decision)
        return steps

    def _next_case_number(self, filed: date) -> str:
        self._case_number += 1
        return f"{filed.year % 100:02d}-1-{self._case_number:05d}-{self._case_number % 9 + 1}"

    def _court(self, charge: Charge) -> tuple[str, str]:
        if charge.severity is Severity.FELONY:
            return "King County Superior Court", "King County"
        if self._rng.random() < 0.6:
            return "Seattle Municipal Court", "City of Seattle"
        return "King County District Court", "King County"

    def _pre_existing_case(self, who: _Enrollment, timeline: _Timeline) -> list[_Step]:
        """Filed before enrollment, entered at intake; warrants, then the liaison's work."""
        rng = self._rng
        ids = _Ids()
        charge = rng.choice(CASE_CHARGES)
        court, jurisdiction = self._court(charge)
        enrolled_on = who.enrolled_at.date()
        incident = enrolled_on - timedelta(days=rng.randint(30, 540))
        filed = incident + timedelta(days=rng.randint(0, 20))
        number = self._next_case_number(filed)
        opening = c.OpenCase(
            person_id=who.person_id,
            case_number=number,
            court=court,
            jurisdiction=jurisdiction,
            incident_date=incident,
            filing_date=filed,
            charges=(charge,),
            occurred_at=_on_day(rng, filed),
        )
        entered_at = who.enrolled_at + timedelta(minutes=3)
        steps = [_Step(entered_at, partial(self._open_case, ids, opening), "cases", False)]
        gap = (enrolled_on - filed).days
        if gap >= 2 and rng.random() < 0.35:
            issued_on = filed + timedelta(days=rng.randint(1, gap - 1))
            warrant = f"W-{number}"
            issue = c.IssueWarrant(
                warrant_id=warrant, issued_on=issued_on, court=court,
                occurred_at=_on_day(rng, issued_on),
            )  # fmt: skip
            steps.append(_Step(entered_at, partial(self._update_case, ids, issue), None, False))
            if rng.random() < 0.7:
                quashed_at = timeline.later(rng, 0.02, 0.5)
                quash = c.QuashWarrant(
                    warrant_id=warrant, quashed_on=quashed_at.date(), occurred_at=quashed_at
                )
                steps.append(_Step(quashed_at, partial(self._update_case, ids, quash), None, False))
        return steps + self._court_work(ids, timeline, court, timeline.settled_at, recommend=True)

    def _post_enrollment_case(
        self, who: _Enrollment, timeline: _Timeline, decision: ChargingDecision
    ) -> list[_Step]:
        """Referred for charging after enrollment, often for an incident from before it."""
        rng = self._rng
        ids = _Ids()
        charge = rng.choice(CASE_CHARGES)
        court, jurisdiction = self._court(charge)
        opened_at = timeline.later(rng, 0.05, 0.7)
        opening = c.OpenCase(
            person_id=who.person_id,
            case_number=self._next_case_number(opened_at.date()),
            court=court,
            jurisdiction=jurisdiction,
            incident_date=opened_at.date() - timedelta(days=rng.randint(0, 120)),
            charges=(charge,),
            occurred_at=opened_at,
        )
        steps = [_Step(opened_at, partial(self._open_case, ids, opening), "cases", False)]
        decided_at = opened_at + (self._end - opened_at) * rng.uniform(0.05, 0.6)
        filed = decision is ChargingDecision.FILED
        command = c.RecordChargingDecision(
            decision=decision,
            decided_on=decided_at.date(),
            filing_date=decided_at.date() if filed else None,
            occurred_at=decided_at,
        )
        tally = "filings" if filed else None
        steps.append(_Step(decided_at, partial(self._update_case, ids, command), tally, False))
        if filed:
            steps += self._court_work(ids, timeline, court, decided_at, recommend=False)
        return steps

    def _court_work(
        self, ids: _Ids, timeline: _Timeline, court: str, after: datetime, *, recommend: bool
    ) -> list[_Step]:
        """Recommendation, hearing, disposition, in that order, since a disposition closes it."""
        rng, end = self._rng, self._end
        steps = []
        at = after + (end - after) * rng.uniform(0.02, 0.4)
        if recommend and rng.random() < 0.6:
            command: c.Command = c.RecordLiaisonRecommendation(
                recommendation=rng.choice(RECOMMENDATIONS),
                recommended_on=at.date(),
                occurred_at=at,
            )
            steps.append(_Step(at, partial(self._update_case, ids, command), None, False))
            at = at + (end - at) * rng.uniform(0.05, 0.5)
        if rng.random() < 0.6:
            hearing_at = _on_day(rng, at.date() + timedelta(days=rng.randint(7, 45)))
            kind = rng.choice(("review", "pretrial", "status")) if recommend else "arraignment"
            command = c.ScheduleHearing(
                hearing_at=hearing_at, kind=kind, court=court, occurred_at=at
            )
            steps.append(_Step(at, partial(self._update_case, ids, command), None, False))
            disposed_at = hearing_at + timedelta(hours=2)
            if disposed_at <= end and rng.random() < 0.7:
                command = c.RecordDisposition(
                    disposition=_weighted(rng, DISPOSITIONS),
                    disposed_on=disposed_at.date(),
                    occurred_at=disposed_at,
                )
                run = partial(self._update_case, ids, command)
                steps.append(_Step(disposed_at, run, None, False))
        return steps

    def _open_case(self, ids: _Ids, command: c.OpenCase) -> None:
        ids.case = self._app.open_case(command, LIAISON).id

    def _update_case(self, ids: _Ids, command: c.Command) -> None:
        assert ids.case is not None
        self._app.update_case(ids.case, command, LIAISON)
