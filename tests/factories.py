"""Builders for test data that reads like a real site's."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from aggregates.referral import Referral
from events.base import Actor, Role
from events.case import Severity
from events.policy import DivertibleOffense, PolicyTerms, SocialContactCriteria
from events.referral import Incident, Pathway, Person, Referrer

IN_MEMORY = {
    "PERSISTENCE_MODULE": "eventsourcing.popo",
    "MAPPER_TOPIC": "infra.postgres.mapper:PydanticMapper",
    "TRANSCODER_TOPIC": "infra.postgres.mapper:JSONBytesTranscoder",
}
"""An application environment for unit tests: events kept in memory, mapped as in production."""

OFFICER = Actor(principal="officer.reyes", role=Role.OFFICER, organisation="Seattle PD")
PARTNER = Actor(
    principal="outreach.lee",
    role=Role.COMMUNITY_PARTNER,
    organisation="Downtown Emergency Service Center",
)


def referrer_of(pathway: Pathway) -> Actor:
    """Who refers through `pathway`: an officer, or a community partner for community."""
    return PARTNER if pathway is Pathway.COMMUNITY else OFFICER


ACTOR_HEADERS = {
    "x-lead-principal": OFFICER.principal,
    "x-lead-role": OFFICER.role.value,
    "x-lead-organisation": OFFICER.organisation,
}


def received_referral(policy: Any, given_name: str, family_name: str) -> Referral:
    """A referral aggregate as an officer's arrest diversion starts it, not yet saved."""
    return Referral.receive(
        actor=OFFICER,
        pathway=Pathway.ARREST_DIVERSION,
        policy=policy,
        referrer=Referrer(principal=OFFICER.principal, organisation=OFFICER.organisation),
        incident=Incident(offense_code="69.50.4013", description="possession"),
        person=Person(given_name=given_name, family_name=family_name),
    )


def referral_body(
    *,
    organisation: str = "Seattle PD",
    pathway: str = "arrest_diversion",
    person_id: UUID | None = None,
    n: int = 0,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "pathway": pathway,
        "referrer": {"principal": "officer.reyes", "organisation": organisation},
        "incident": {
            "offense_code": "69.50.4013",
            "description": "possession of a controlled substance",
            "nibrs_code": "35A",
            "place": "3rd Ave & Pine St",
        },
        "person": {
            "given_name": f"Person{n}",
            "family_name": "Example",
            "birth_date": "1985-04-02",
            "race": "prefers_not_to_answer",
        },
    }
    if person_id is not None:
        body["person_id"] = str(person_id)
    return body


POLICY_TERMS = PolicyTerms(
    effective_from=date(2020, 1, 1),
    divertible_offenses=(
        DivertibleOffense(
            statute_code="69.50.4013",
            description="possession of a controlled substance",
            severity=Severity.FELONY,
            nibrs_code="35A",
        ),
        DivertibleOffense(
            statute_code="9A.52.080",
            description="criminal trespass",
            severity=Severity.MISDEMEANOR,
            nibrs_code="90J",
        ),
        DivertibleOffense(
            statute_code="9A.88.030", description="prostitution", severity=Severity.MISDEMEANOR
        ),
    ),
    social_contact=SocialContactCriteria(program_areas=("Belltown", "Downtown")),
    intake_deadline_days=14,
    program_capacity=100_000,  # the shared test stack seeds many sites' worth
)
POLICY = (1, POLICY_TERMS)
